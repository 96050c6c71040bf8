"""The AWS and GCP fixtures, for the tests that run the same operations on every backend."""

from tests.aws.conftest import aws
from tests.gcp.conftest import gcp_env, issuer

__all__ = ["aws", "gcp_env", "issuer"]
