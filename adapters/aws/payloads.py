"""Claim check: bodies too large for SQS, and results too large for DynamoDB, go to the app's
S3 bucket, and the message (or the result's item) carries a pointer.

Only the app's own bucket is read: a pointer to any other bucket is refused
(:class:`ForeignClaimCheck`; the handler dead-letters the message as tampered with). A GET of
a missing object is a 404 only for a role that may list the bucket (``s3:ListBucket``); without
it S3 answers 403 AccessDenied
(https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html#API_GetObject_RequestSyntax,
"Permissions"), so a 403 is reported as a missing or unreadable object, not retried.
"""

from __future__ import annotations

import json
from typing import NamedTuple

from adapters.aws.clients import Clients
from adapters.aws.errors import error_code, translated

#: The message attribute that marks a claim-checked message (its value is the ``s3://`` URL).
ATTRIBUTE = "claim_check"
#: S3's answers to a GET of an object that is not there (AccessDenied without s3:ListBucket).
_MISSING = {"NoSuchKey", "NoSuchBucket", "404"}
_DENIED = {"AccessDenied", "403"}


class MissingClaimCheck(LookupError):
    """The S3 object a message points at is gone (or this role may not read it)."""


class ForeignClaimCheck(ValueError):
    """A pointer names a bucket other than the app's own."""


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
        if not url.startswith("s3://"):
            raise ValueError(f"not an s3:// claim-check pointer: {url!r}")
        bucket, _, key = url.removeprefix("s3://").partition("/")
        if not bucket or not key:
            raise ValueError(f"not an s3:// claim-check pointer: {url!r}")
        return cls(bucket, key)


class ClaimChecks:
    """Puts, gets and deletes claim-checked bodies in the app's bucket."""

    def __init__(self, clients: Clients, bucket: str) -> None:
        self.clients, self.bucket = clients, bucket

    def put(self, key: str, body: bytes) -> Pointer:
        """Store ``body`` and return its pointer."""
        with translated(f"storing a large message in s3://{self.bucket}"):
            self.clients.s3.put_object(
                Bucket=self.bucket, Key=key, Body=body, ContentType="application/json"
            )
        return Pointer(self.bucket, key)

    def own(self, pointer: Pointer) -> Pointer:
        """``pointer`` if it names the app's bucket; :class:`ForeignClaimCheck` if not."""
        if pointer.bucket != self.bucket:
            raise ForeignClaimCheck(
                f"claim check {pointer.url} points outside the app's bucket "
                f"s3://{self.bucket} (tampered with?)"
            )
        return pointer

    def get(self, pointer: Pointer) -> bytes:
        """The body behind ``pointer`` (in the app's bucket only); :class:`MissingClaimCheck`
        if it is gone or this role may not read it."""
        self.own(pointer)
        try:
            response = self.clients.s3.get_object(Bucket=pointer.bucket, Key=pointer.key)
        except Exception as error:
            code = error_code(error)
            if code in _MISSING:
                raise MissingClaimCheck(f"claim-check object {pointer.url} is missing") from None
            if code in _DENIED:
                raise MissingClaimCheck(
                    f"claim-check object {pointer.url} is missing or may not be read "
                    "(S3 answered AccessDenied; without s3:ListBucket it answers so for a "
                    "missing object too)"
                ) from None
            with translated(f"reading {pointer.url}"):
                raise
        body: bytes = response["Body"].read()
        return body

    def delete(self, pointer: Pointer) -> None:
        """Remove the object (its message succeeded, or was never sent)."""
        self.own(pointer)
        with translated(f"deleting {pointer.url}"):
            self.clients.s3.delete_object(Bucket=pointer.bucket, Key=pointer.key)
