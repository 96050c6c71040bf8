"""The AWS, GCP and Azure fixtures, for the tests that run the same operations on every
backend."""

from tests.aws.conftest import aws
from tests.azure.conftest import storage
from tests.gcp.conftest import gcp_env, issuer

__all__ = ["aws", "gcp_env", "issuer", "storage"]
