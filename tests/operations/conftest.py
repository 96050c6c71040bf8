"""The AWS fixtures, for the tests that run the same operations on every backend."""

from tests.aws.conftest import aws

__all__ = ["aws"]
