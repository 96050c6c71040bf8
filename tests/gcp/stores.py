"""An in-memory bucket that enforces GCS's generation preconditions (the emulator ignores
them), to test the logic that relies on them."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable

from adapters.gcp.objects import PreconditionFailed, Stored


class StrictObjects:
    """:class:`~adapters.gcp.objects.Objects` in a dict: ``if_generation_match=0`` fails on
    an existing object and a generation fails on any other version, with 412's meaning.
    ``before_write`` runs before each write (a test races another writer there)."""

    def __init__(self, bucket: str = "strict-bucket") -> None:
        self._bucket = bucket
        self.objects: dict[str, Stored] = {}
        self.writes: list[tuple[str, int | None]] = []
        self.before_write: Callable[[str], object] | None = None
        self._generations = itertools.count(1_000)
        self._lock = threading.Lock()

    @property
    def bucket(self) -> str:
        return self._bucket

    def read(self, key: str) -> Stored | None:
        return self.objects.get(key)

    def write(
        self,
        key: str,
        data: bytes,
        *,
        if_generation_match: int | None = None,
        content_type: str = "application/json",
    ) -> None:
        hook, self.before_write = self.before_write, None
        if hook is not None:
            hook(key)
        with self._lock:
            self.writes.append((key, if_generation_match))
            current = self.objects.get(key)
            if if_generation_match is not None:
                generation = current.generation if current is not None else 0
                if generation != if_generation_match:
                    raise PreconditionFailed(key)
            self.objects[key] = Stored(data, next(self._generations))

    def delete(self, key: str, *, if_generation_match: int | None = None) -> bool:
        with self._lock:
            current = self.objects.get(key)
            if current is None:
                return False
            if if_generation_match is not None and current.generation != if_generation_match:
                raise PreconditionFailed(key)
            del self.objects[key]
            return True

    def keys(self, prefix: str) -> list[str]:
        return sorted(k for k in self.objects if k.startswith(prefix))
