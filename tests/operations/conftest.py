"""The AWS and Azure fixtures, for the tests that run the same operations on every backend."""

from tests.aws.conftest import aws
from tests.azure.conftest import storage

__all__ = ["aws", "storage"]
