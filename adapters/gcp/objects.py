"""Named object operations on the app's bucket, with GCS's generation preconditions.

Everything the backend keeps in GCS (results and idempotency claims, dedup holds, dead
letters, claim-checked bodies) goes through :class:`Objects`, so that the create-only and
compare-and-swap logic can be tested against a store that enforces preconditions (the GCS
emulator ignores them) and the requests can be checked on the emulator.

Preconditions: ``if_generation_match=0`` writes only if the object does not exist; a
generation number writes only if the object is still that version; otherwise GCS answers
412 Precondition Failed (https://cloud.google.com/storage/docs/request-preconditions).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from adapters.gcp.lite import PreconditionFailed, StorageApi

__all__ = ["GcsObjects", "Objects", "PreconditionFailed", "Stored"]


@dataclass(frozen=True, slots=True)
class Stored:
    """An object's bytes and the generation they belong to."""

    data: bytes
    generation: int


class Objects(Protocol):
    """The operations the backend needs from a bucket."""

    @property
    def bucket(self) -> str:
        """The bucket's name."""
        ...

    def read(self, key: str) -> Stored | None:
        """The object and its generation, or ``None`` if there is none."""
        ...

    def write(
        self,
        key: str,
        data: bytes,
        *,
        if_generation_match: int | None = None,
        content_type: str = "application/json",
    ) -> None:
        """Write the object; with ``if_generation_match``, only if that precondition holds
        (:class:`PreconditionFailed` otherwise)."""
        ...

    def delete(self, key: str, *, if_generation_match: int | None = None) -> bool:
        """Delete the object; ``False`` if there was none."""
        ...

    def keys(self, prefix: str) -> list[str]:
        """The names of the objects under ``prefix``, in name order."""
        ...


class GcsObjects:
    """:class:`Objects` on a Cloud Storage bucket through :class:`~adapters.gcp.lite.
    StorageApi`; ``api`` makes the client on first use."""

    def __init__(self, api: Callable[[], StorageApi], bucket: str) -> None:
        self._api = api
        self._name = bucket

    @property
    def bucket(self) -> str:
        """The bucket's name."""
        return self._name

    def read(self, key: str) -> Stored | None:
        """Download the object; its generation comes from the download's
        ``x-goog-generation`` header (a metadata request where an emulator leaves it out)."""
        found = self._api().download(self._name, key)
        if found is None:
            return None
        data, generation = found
        if generation is None:
            metadata = self._api().metadata(self._name, key)
            if metadata is None:
                return None
            generation = int(metadata.get("generation", 0))
        return Stored(data, generation)

    def write(
        self,
        key: str,
        data: bytes,
        *,
        if_generation_match: int | None = None,
        content_type: str = "application/json",
    ) -> None:
        """Upload the object, with the precondition when one is given."""
        self._api().upload(
            self._name,
            key,
            data,
            content_type=content_type,
            if_generation_match=if_generation_match,
        )

    def delete(self, key: str, *, if_generation_match: int | None = None) -> bool:
        """Delete the object."""
        return self._api().delete(self._name, key, if_generation_match=if_generation_match)

    def keys(self, prefix: str) -> list[str]:
        """List the object names under ``prefix``."""
        return self._api().names(self._name, prefix)
