"""Backends for faas-dispatcher: one package per provider (local, aws, gcp, azure)."""
