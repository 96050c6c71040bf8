"""Claim check: bodies too large for a Storage Queue message go to Blob storage, in the app's
own container, and the message carries a small pointer instead.

A pointer is the JSON object ``{"claim_check":"<container>/<blob name>"}``. It names a blob of
the app's own container only: a pointer to any other container is refused (the receiver
dead-letters it), so a crafted message cannot make a function read someone else's data.
"""

from __future__ import annotations

import json
from typing import NamedTuple

from adapters.azure.clients import Clients
from adapters.azure.errors import NOT_FOUND, status_of, translated

#: How every pointer body starts (the receiver's cheap test before parsing).
PREFIX = b'{"claim_check":'


class MissingClaimCheck(LookupError):
    """The blob a message points at is gone, or is not in the app's container."""


class Pointer(NamedTuple):
    """Where a claim-checked body lives."""

    container: str
    name: str

    def body(self) -> bytes:
        """The small JSON body sent through the queue in place of the envelope."""
        return json.dumps(
            {"claim_check": f"{self.container}/{self.name}"}, separators=(",", ":")
        ).encode()

    @classmethod
    def parse(cls, body: bytes, container: str) -> Pointer:
        """Read a pointer body; :class:`MissingClaimCheck` unless it names a blob of
        ``container`` (the app's own)."""
        try:
            target = json.loads(body)["claim_check"]
        except (ValueError, KeyError, TypeError):
            raise MissingClaimCheck("not a claim-check pointer") from None
        if not isinstance(target, str):
            raise MissingClaimCheck("not a claim-check pointer")
        found, _, name = target.partition("/")
        if found != container or not name:
            raise MissingClaimCheck(
                f"claim-check pointer {target!r} is not in the app's container {container!r}"
            )
        return cls(found, name)


def is_pointer(body: bytes) -> bool:
    """Whether ``body`` looks like a pointer (parse it to be sure)."""
    return body.startswith(PREFIX)


class ClaimChecks:
    """Puts, gets and deletes claim-checked bodies in the app's container."""

    def __init__(self, clients: Clients, container: str) -> None:
        self.clients, self.container = clients, container

    def put(self, name: str, body: bytes) -> Pointer:
        """Store ``body`` as blob ``name`` (a new name each time) and return its pointer."""
        with translated(f"storing a large message in container {self.container!r}"):
            self.clients.container(self.container).upload_blob(name, body)
        return Pointer(self.container, name)

    def get(self, pointer: Pointer) -> bytes:
        """The body behind ``pointer``; :class:`MissingClaimCheck` if it is gone."""
        try:
            download = self.clients.container(self.container).download_blob(pointer.name)
            return download.readall()
        except Exception as error:
            if status_of(error) == NOT_FOUND:
                raise MissingClaimCheck(
                    f"claim-check blob {pointer.container}/{pointer.name} is missing"
                ) from None
            with translated(f"reading claim-check blob {pointer.name!r}"):
                raise

    def delete(self, pointer: Pointer) -> None:
        """Remove the blob once its message is done with (a missing blob is fine)."""
        try:
            self.clients.container(self.container).delete_blob(pointer.name)
        except Exception as error:
            if status_of(error) != NOT_FOUND:
                with translated(f"deleting claim-check blob {pointer.name!r}"):
                    raise
