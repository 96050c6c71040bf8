"""Wake idle workers the moment a message is sent, instead of letting them poll.

A named pipe (FIFO) lies beside the database file (``queue.sqlite3-doorbell``). A worker with
nothing to do waits on its read end; a producer writes one byte to it after each committed send,
and one waiting worker wakes within microseconds. SQLite has no notification of its own across
processes, and polling costs either latency (a long interval) or idle CPU (a short one).

The doorbell is only an optimisation: a ring that finds no worker (or a platform without named
pipes, or a producer that does not ring, such as another program writing rows) costs nothing,
and waiting workers still look at the queue every ``poll`` seconds and when a delayed message
falls due. Nothing ever blocks on it: both ends are non-blocking, and a full pipe drops the ring
(a worker is already awake).
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import stat
import time
from pathlib import Path

#: Suffix of the named pipe beside the database file.
SUFFIX = "-doorbell"
_READ_CHUNK = 4096


class Doorbell:
    """The named pipe beside ``database`` (created by the first worker that waits on it)."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + SUFFIX)
        self._ring_fd: int | None = None
        self._ring_pid = 0
        self._wait_fds: tuple[int, int] | None = None  # (read end, our own write end)
        self._wait_pid = 0

    # --- the producer's side ---------------------------------------------------------------

    def ring(self) -> None:
        """Wake one waiting worker, if any (never blocks, never raises)."""
        fd = self._ring_fd if self._ring_pid == os.getpid() else None
        if fd is None:
            try:
                # Fails at once (ENXIO) when no worker holds the read end: nobody to wake.
                fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError:
                return
            self._ring_fd, self._ring_pid = fd, os.getpid()
        try:
            os.write(fd, b"\x01")
        except BlockingIOError:
            pass  # the pipe is full of rings: workers are awake already
        except OSError:  # every worker went away (EPIPE); reopen at the next ring
            self._close_ring()

    def _close_ring(self) -> None:
        if self._ring_fd is not None and self._ring_pid == os.getpid():
            os.close(self._ring_fd)
        self._ring_fd = None

    # --- the worker's side -----------------------------------------------------------------

    def wait(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for a ring; True if one came (all pending rings are taken)."""
        if seconds <= 0:
            return False
        fds = self._listening()
        if fds is None:
            time.sleep(seconds)
            return False
        poller = select.poll()  # not select(): it fails on descriptors above 1023
        poller.register(fds[0], select.POLLIN)
        if not poller.poll(seconds * 1000):
            return False
        try:
            while len(os.read(fds[0], _READ_CHUNK)) == _READ_CHUNK:
                pass
        except BlockingIOError:
            pass
        return True

    def _listening(self) -> tuple[int, int] | None:
        if self._wait_fds is not None and self._wait_pid == os.getpid():
            return self._wait_fds
        self._wait_fds = None
        if not hasattr(os, "mkfifo"):
            return None
        try:
            os.mkfifo(self.path, 0o660)
        except FileExistsError:
            pass
        except OSError:
            return None  # a filesystem without named pipes: poll instead
        try:
            if not stat.S_ISFIFO(os.stat(self.path).st_mode):
                return None  # something else has the name: leave it alone
            read = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            # Our own write end keeps the pipe from reading as closed (EOF, always "ready")
            # while no producer has it open.
            write = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as error:
            if error.errno not in (errno.ENXIO, errno.EACCES, errno.ENOENT, errno.EPERM):
                raise
            return None
        self._wait_fds, self._wait_pid = (read, write), os.getpid()
        return self._wait_fds

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # at interpreter exit, modules may be gone
            self.close()

    def close(self) -> None:
        """Close this process's ends of the pipe."""
        self._close_ring()
        if self._wait_fds is not None and self._wait_pid == os.getpid():
            for fd in self._wait_fds:
                os.close(fd)
        self._wait_fds = None


__all__ = ["SUFFIX", "Doorbell"]
