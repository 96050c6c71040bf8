"""Claim check: bodies too large for SQS go to S3, and the message carries a pointer."""

from __future__ import annotations

import json
from typing import NamedTuple

from adapters.aws.clients import Clients
from adapters.aws.errors import error_code, translated

#: The message attribute that marks a claim-checked message (its value is the ``s3://`` URL).
ATTRIBUTE = "claim_check"


class MissingClaimCheck(LookupError):
    """The S3 object a message points at is gone."""


class Pointer(NamedTuple):
    """Where a claim-checked body lives."""

    bucket: str
    key: str

    @property
    def url(self) -> str:
        """``s3://bucket/key``."""
        return f"s3://{self.bucket}/{self.key}"

    def body(self) -> str:
        """The small JSON body sent through SQS in place of the envelope."""
        return json.dumps({"claim_check": self.url})

    @classmethod
    def parse(cls, url: str) -> Pointer:
        """Read an ``s3://bucket/key`` URL."""
        bucket, _, key = url.removeprefix("s3://").partition("/")
        if not bucket or not key:
            raise ValueError(f"not an s3:// claim-check pointer: {url!r}")
        return cls(bucket, key)


class ClaimChecks:
    """Puts, gets and deletes claim-checked bodies in one bucket."""

    def __init__(self, clients: Clients, bucket: str) -> None:
        self.clients, self.bucket = clients, bucket

    def put(self, key: str, body: bytes) -> Pointer:
        """Store ``body`` and return its pointer."""
        with translated(f"storing a large message in s3://{self.bucket}"):
            self.clients.s3.put_object(
                Bucket=self.bucket, Key=key, Body=body, ContentType="application/json"
            )
        return Pointer(self.bucket, key)

    def get(self, pointer: Pointer) -> bytes:
        """The body behind ``pointer``; :class:`MissingClaimCheck` if it is gone."""
        try:
            response = self.clients.s3.get_object(Bucket=pointer.bucket, Key=pointer.key)
        except Exception as error:
            if error_code(error) in ("NoSuchKey", "NoSuchBucket", "404"):
                raise MissingClaimCheck(f"claim-check object {pointer.url} is missing") from None
            raise
        body: bytes = response["Body"].read()
        return body

    def delete(self, pointer: Pointer) -> None:
        """Remove the object once its message succeeded."""
        with translated(f"deleting {pointer.url}"):
            self.clients.s3.delete_object(Bucket=pointer.bucket, Key=pointer.key)
