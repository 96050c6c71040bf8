"""Runnable example apps for faas-dispatcher."""
