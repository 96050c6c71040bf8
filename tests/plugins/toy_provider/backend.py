"""The toy backend: every message body is appended to a file, one per line."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dispatcher import Dispatcher, Outgoing, Receipt, SendFailure
from dispatcher.testing import MemoryResults


class FileBackend:
    """Writes each message's queue and body to ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.results = MemoryResults()

    def send(self, message: Outgoing) -> Receipt:
        with self.path.open("a") as out:
            out.write(f"{message.queue} {message.body.decode()}\n")
        return Receipt(message.envelope.id)

    def send_many(self, messages: Sequence[Outgoing]) -> list[Receipt | SendFailure]:
        return [self.send(m) for m in messages]

    def close(self) -> None:
        return None


def from_spec(spec: str, app: Dispatcher) -> FileBackend:
    """``toy:PATH``."""
    return FileBackend(Path(spec.partition(":")[2]))
