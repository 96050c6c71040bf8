"""Claim check: bodies too large for a Cloud Tasks task go to the app's bucket, and the task
carries a pointer (in the ``X-Dispatcher-Claim-Check`` header and the small JSON body).

A task is at most 1 MB (https://cloud.google.com/tasks/docs/quotas, "Maximum task size";
the CreateTask reference's "100KB" is the App Engine queue limit, as the v2beta2 reference
says). The receiver reads pointers into the app's own bucket, under ``payloads/``, only: any
other pointer is refused (dead-lettered), so a push cannot make it read someone else's data.
"""

from __future__ import annotations

import json
from typing import NamedTuple

from adapters.gcp.objects import Objects

#: The push header that carries a claim-check pointer (``gs://bucket/payloads/...``).
HEADER = "X-Dispatcher-Claim-Check"
PREFIX = "payloads/"


class ClaimCheckError(LookupError):
    """A claim-check pointer that cannot be followed (missing, foreign or malformed)."""


class Pointer(NamedTuple):
    """Where a claim-checked body lives."""

    bucket: str
    key: str

    @property
    def url(self) -> str:
        """``gs://bucket/key``."""
        return f"gs://{self.bucket}/{self.key}"

    def body(self) -> bytes:
        """The small JSON body sent through Cloud Tasks in place of the envelope."""
        return json.dumps({"claim_check": self.url}).encode()

    @classmethod
    def parse(cls, url: str) -> Pointer:
        """Read a ``gs://bucket/key`` URL."""
        bucket, _, key = url.removeprefix("gs://").partition("/")
        if not url.startswith("gs://") or not bucket or not key:
            raise ClaimCheckError(f"not a gs:// claim-check pointer: {url!r}")
        return cls(bucket, key)


class ClaimChecks:
    """Puts, gets and deletes claim-checked bodies in the app's bucket."""

    def __init__(self, objects: Objects) -> None:
        self.objects = objects

    def put(self, queue: str, message_id: str, body: bytes) -> Pointer:
        """Store ``body`` and return its pointer."""
        key = f"{PREFIX}{queue}/{message_id}.json"
        self.objects.write(key, body)
        return Pointer(self.objects.bucket, key)

    def get(self, url: str) -> tuple[Pointer, bytes]:
        """The body behind ``url``; :class:`ClaimCheckError` if it is not in the app's
        bucket under ``payloads/``, or is gone."""
        pointer = Pointer.parse(url)
        if pointer.bucket != self.objects.bucket or not pointer.key.startswith(PREFIX):
            raise ClaimCheckError(
                f"claim-check pointer {url} is outside gs://{self.objects.bucket}/{PREFIX}"
            )
        found = self.objects.read(pointer.key)
        if found is None:
            raise ClaimCheckError(f"claim-check object {url} is missing")
        return pointer, found.data

    def delete(self, pointer: Pointer) -> None:
        """Remove the object once its task is done."""
        self.objects.delete(pointer.key)
