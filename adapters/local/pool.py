"""A pool of local worker processes, as ``dispatcher worker APP -c N`` runs it.

Each process runs a :class:`~adapters.local.worker.Worker` and sends what it did (one list of
events per recorded batch) through its own pipe to the parent, which reports them: every
concurrency prints the same lines. A process that dies while the pool is not stopping (killed
by a signal, say) is replaced at once; one that keeps failing on start is not, after a few
tries. Its leased messages are delivered again when their leases run out.

The first Ctrl-C (or SIGTERM) stops the processes gracefully within ``grace`` seconds; a second
one kills them.
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from types import FrameType
from typing import TYPE_CHECKING, Any

from adapters.local.events import Event, WorkerExit
from adapters.local.worker import BURST_HORIZON, Worker
from dispatcher.loading import load_app

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess
    from multiprocessing.synchronize import Event as StopFlag

OnEvents = Callable[[list[Event]], None]

#: A process that fails (exits with an error, not killed) this soon after its start is
#: failing on start; after `GIVE_UP_AFTER` such failures in a row its slot stays empty.
QUICK_FAILURE = 2.0
GIVE_UP_AFTER = 3


@dataclass(frozen=True)
class WorkerOptions:
    """What each worker process runs: the app (``module:attr``), its queues, and whether to
    stop when nothing is due within ``horizon`` seconds (``burst``)."""

    app_ref: str
    queues: list[str] | None = None
    burst: bool = False
    horizon: float = BURST_HORIZON


def _child(options: WorkerOptions, stop: StopFlag, sender: Connection | None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; it sets `stop`
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    app = load_app(options.app_ref)
    worker = Worker(app, queues=options.queues, on_events=sender.send if sender else None)

    def stop_when_told() -> None:
        stop.wait()
        worker.stop()

    threading.Thread(target=stop_when_told, daemon=True).start()
    try:
        worker.run(burst=options.burst, horizon=options.horizon)
    finally:
        app.close()
        if sender is not None:
            sender.close()


@dataclass
class _Slot:
    name: str
    process: BaseProcess
    reader: Connection | None
    started: float
    failures: int = 0
    done: bool = False


class Pool:
    """``concurrency`` worker processes; :meth:`run` until they are done."""

    def __init__(
        self,
        options: WorkerOptions,
        concurrency: int,
        *,
        grace: float = 30.0,
        on_events: OnEvents | None = None,
        on_signal: Callable[[str], None] | None = None,
    ) -> None:
        self.options, self.concurrency, self.grace = options, concurrency, grace
        self.on_events, self.on_signal = on_events, on_signal
        # Fork where it is safe (a single-threaded parent on a platform that has it): no new
        # interpreter, no second import of the app. Otherwise spawn.
        single = threading.active_count() == 1
        fork = single and "fork" in multiprocessing.get_all_start_methods()
        self.context: Any = multiprocessing.get_context("fork" if fork else "spawn")
        self.stop = self.context.Event()
        self.slots: list[_Slot] = []
        self.failed = 0
        self._interrupted = 0

    def _start(self, name: str, failures: int = 0) -> _Slot:
        reader: Connection | None = None
        sender: Connection | None = None
        if self.on_events is not None:
            reader, sender = self.context.Pipe(duplex=False)
        process = self.context.Process(
            target=_child, args=(self.options, self.stop, sender), name=name
        )
        process.start()
        if sender is not None:
            sender.close()  # the child's end: closed here so that its death reads as EOF
        return _Slot(name, process, reader, time.monotonic(), failures)

    def run(self) -> int:
        """Run until every process is done; the number that ended with an error."""
        previous: dict[int, Any] = {
            sig: signal.signal(sig, self._on_interrupt) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            self.slots = [self._start(f"worker-{i + 1}") for i in range(self.concurrency)]
            deadline: float | None = None
            while not all(slot.done for slot in self.slots):
                if self._interrupted and deadline is None:
                    self.stop.set()
                    deadline = time.monotonic() + self.grace
                    if self.on_signal:
                        self.on_signal("stopping gracefully; press Ctrl-C again to stop at once")
                if self._interrupted > 1 or (deadline is not None and time.monotonic() > deadline):
                    self._kill_all()
                self._pump(0.1)
                for index, slot in enumerate(self.slots):
                    if not slot.done and slot.process.exitcode is not None:
                        self.slots[index] = self._ended(slot)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for slot in self.slots:
                if slot.reader is not None:
                    slot.reader.close()
        return self.failed

    def _on_interrupt(self, signum: int, frame: FrameType | None) -> None:
        # No locks in here: the main thread may hold one (a multiprocessing Event's, say)
        # at the moment the signal arrives. The loop reacts to the count.
        self._interrupted += 1
        if self._interrupted > 1:
            self._kill_all()

    def _kill_all(self) -> None:
        for slot in self.slots:
            if slot.process.exitcode is None:
                slot.process.kill()

    def _pump(self, timeout: float) -> None:
        """Wait up to ``timeout`` for events or an exit; pass the events on."""
        readers = [s.reader for s in self.slots if s.reader is not None and not s.done]
        sentinels = [s.process.sentinel for s in self.slots if not s.done]
        for ready in wait([*readers, *sentinels], timeout):
            if isinstance(ready, Connection):
                self._receive(ready)

    def _receive(self, reader: Connection) -> bool:
        """Pass on one batch of events; False at the end of the pipe (its process is gone,
        perhaps killed halfway through a batch: that batch is dropped)."""
        try:
            events = reader.recv()
        except Exception:  # EOF, or a batch torn by a kill that cannot be unpickled
            return False
        if self.on_events is not None:
            self.on_events(events)
        return True

    def _ended(self, slot: _Slot) -> _Slot:
        """A process ended: read what it still had to say, then replace it if it should."""
        slot.process.join()
        if slot.reader is not None:
            while slot.reader.poll() and self._receive(slot.reader):
                pass
            slot.reader.close()
            slot.reader = None
        code = slot.process.exitcode
        stopping = self.stop.is_set() or self._interrupted
        finished = code == 0 and self.options.burst
        killed = code is not None and code < 0
        failures = 0 if killed else slot.failures + 1
        quick = time.monotonic() - slot.started < QUICK_FAILURE
        give_up = not killed and quick and failures >= GIVE_UP_AFTER
        replace = not (stopping or finished or give_up)
        if self.on_events is not None and not (finished or (stopping and code == 0)):
            pid = slot.process.pid or 0
            self.on_events([WorkerExit(slot.name, pid, code, replace)])
        if code not in (0, -signal.SIGKILL) and not replace and not stopping:
            self.failed += 1
        if not replace:
            slot.done = True
            return slot
        if not killed and quick:
            time.sleep(1.0)  # failing on start: do not spin
        return self._start(slot.name, failures if quick else 0)


def run_pool(
    app_ref: str,
    concurrency: int,
    *,
    queues: list[str] | None = None,
    burst: bool = False,
    horizon: float = BURST_HORIZON,
    grace: float = 30.0,
    on_events: OnEvents | None = None,
    on_signal: Callable[[str], None] | None = None,
) -> int:
    """Run ``concurrency`` worker processes for the app at ``app_ref`` (``module:attr``)
    until they are done (with ``burst``) or stopped; the number that ended with an error.
    ``on_events`` hears every process's events (without it, the processes send none)."""
    options = WorkerOptions(app_ref, queues, burst, horizon)
    pool = Pool(options, concurrency, grace=grace, on_events=on_events, on_signal=on_signal)
    return pool.run()


__all__ = ["Pool", "WorkerOptions", "run_pool"]
