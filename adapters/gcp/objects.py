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
from typing import Any, Protocol

from adapters.gcp.errors import translated


class PreconditionFailed(Exception):
    """The object exists (for a create-only write) or changed since it was read."""


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
    """:class:`Objects` on a google-cloud-storage bucket; ``client`` makes the storage
    client on first use (so that nothing is imported before a call needs it)."""

    def __init__(self, client: Callable[[], Any], bucket: str) -> None:
        self._client = client
        self._name = bucket
        self._handle: Any = None

    @property
    def bucket(self) -> str:
        """The bucket's name."""
        return self._name

    @property
    def client(self) -> Any:
        """The storage client."""
        return self._client()

    def reset(self) -> None:
        """Forget the bucket handle (its client was closed)."""
        self._handle = None

    @property
    def _bucket(self) -> Any:
        if self._handle is None:
            self._handle = self.client.bucket(self._name)
        return self._handle

    def read(self, key: str) -> Stored | None:
        """Download the object; its generation comes from the download's
        ``x-goog-generation`` header (a metadata request where an emulator leaves it out)."""
        from google.api_core.exceptions import NotFound

        blob = self._bucket.blob(key)
        with translated(f"reading gs://{self.bucket}/{key}"):
            try:
                data: bytes = blob.download_as_bytes()
                if blob.generation is None:
                    blob.reload()
            except NotFound:
                return None
        return Stored(data, int(blob.generation or 0))

    def write(
        self,
        key: str,
        data: bytes,
        *,
        if_generation_match: int | None = None,
        content_type: str = "application/json",
    ) -> None:
        """Upload the object, with the precondition when one is given."""
        from google.api_core.exceptions import PreconditionFailed as Failed

        blob = self._bucket.blob(key)
        with translated(f"writing gs://{self.bucket}/{key}"):
            try:
                blob.upload_from_string(
                    data, content_type=content_type, if_generation_match=if_generation_match
                )
            except Failed:
                raise PreconditionFailed(key) from None

    def delete(self, key: str, *, if_generation_match: int | None = None) -> bool:
        """Delete the object."""
        from google.api_core.exceptions import NotFound
        from google.api_core.exceptions import PreconditionFailed as Failed

        with translated(f"deleting gs://{self.bucket}/{key}"):
            try:
                self._bucket.delete_blob(key, if_generation_match=if_generation_match)
            except NotFound:
                return False
            except Failed:
                raise PreconditionFailed(key) from None
        return True

    def keys(self, prefix: str) -> list[str]:
        """List the object names under ``prefix``."""
        with translated(f"listing gs://{self.bucket}/{prefix}"):
            return sorted(
                str(blob.name) for blob in self.client.list_blobs(self._bucket, prefix=prefix)
            )
