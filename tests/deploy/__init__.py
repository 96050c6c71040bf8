"""Tests of the infrastructure generators (dispatcher.deploy and adapters.aws.infra)."""
