"""Workers for the local backend: one loop in this process, or a pool of processes.

A worker leases a small batch, runs each message through the execution core, and settles
outcomes and results together in one transaction (every ``flush_after`` seconds at the
latest). Stopping is graceful: the message being run finishes and is settled, the leased but
unstarted ones go back to the queue at once.
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Any

from adapters.local.store import Limits, LocalBackend
from dispatcher.backend import Delivery, Outcome
from dispatcher.beat import Beat
from dispatcher.execution import Executor
from dispatcher.receiving import BufferedResults

if TYPE_CHECKING:
    from multiprocessing.synchronize import Event

    from dispatcher.app import Dispatcher

OnOutcome = Callable[[Delivery, Outcome], None]


@dataclass
class WorkerStats:
    """What a worker did: runs by outcome kind (``ack``, ``retry``, ``dead_letter``)."""

    outcomes: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        """Every message run."""
        return sum(self.outcomes.values())


class Worker:
    """Runs messages of ``app`` from a :class:`LocalBackend` in the calling thread."""

    def __init__(
        self,
        app: Dispatcher,
        backend: LocalBackend | None = None,
        *,
        queues: Sequence[str] | None = None,
        prefetch: int = 100,
        flush_after: float = 0.05,
        on_outcome: OnOutcome | None = None,
    ) -> None:
        resolved = backend or app.backend
        if not isinstance(resolved, LocalBackend):
            raise TypeError(f"the local worker needs the local backend, not {resolved!r}")
        self.app, self.backend = app, resolved
        self.queues = list(queues or app.queues)
        self.prefetch, self.flush_after = prefetch, flush_after
        self.on_outcome = on_outcome
        self.results = BufferedResults(resolved.results)
        self.executor = Executor(app, self.results)
        self.limits = Limits(
            concurrency={
                n: t.options.concurrency for n, t in app.tasks.items() if t.options.concurrency
            },
            rate={
                n: (t.options.rate_limit.count, t.options.rate_limit.per)
                for n, t in app.tasks.items()
                if t.options.rate_limit
            },
        )
        self.stats = WorkerStats()
        self.stopping = threading.Event()
        self.beat = Beat(app, self.queues)
        self._pace = 0.0  # seconds one message takes, a moving average

    def run(self, *, burst: bool = False, idle_wait: float = 0.25) -> WorkerStats:
        """Work until :meth:`stop` (or, with ``burst``, until the queues hold nothing at all,
        delayed and leased messages included). Outside ``burst``, periodic tasks are sent
        when they fall due."""
        while not self.stopping.is_set():
            if not burst:
                self.beat.tick()
            if self.step(wait=0.0 if burst else idle_wait) == 0 and burst:
                if self.backend.pending(self.queues) == 0:
                    break
                time.sleep(0.02)
        return self.stats

    def stop(self) -> None:
        """Finish the message being run, hand back the rest, and return from :meth:`run`."""
        self.stopping.set()

    def step(self, wait: float = 0.0) -> int:
        """Lease one batch and run it; return how many messages were run."""
        deliveries = self.backend.receive(self.queues, self._batch_size(), wait, self.limits)
        self.results.expect(self.backend.results, [d.meta["id"] for d in deliveries])
        settled: list[tuple[Delivery, Outcome]] = []
        flushed_at = time.monotonic()
        ran = 0
        for index, delivery in enumerate(deliveries):
            if self.stopping.is_set() or not self._lease_left(delivery):
                for unstarted in deliveries[index:]:
                    self.backend.release(unstarted)
                break
            started = time.monotonic()
            outcome = self.executor.process(delivery)
            self._pace = 0.8 * self._pace + 0.2 * (time.monotonic() - started)
            settled.append((delivery, outcome))
            ran += 1
            self.stats.outcomes[outcome.kind] += 1
            if time.monotonic() - flushed_at > self.flush_after:
                self._flush(settled)
                flushed_at = time.monotonic()
        self._flush(settled)
        return ran

    def _batch_size(self) -> int:
        # Lease about as many messages as run in `flush_after` seconds (at most `prefetch`):
        # fast tasks share a transaction, slow ones are not held back from other workers.
        if self._pace <= 0:
            return 1
        return max(1, min(self.prefetch, int(self.flush_after / self._pace)))

    def _lease_left(self, delivery: Delivery) -> bool:
        # A message whose lease would run out before its timeout is left to the next lease.
        return float(delivery.meta["lease_until"]) - self.backend.lease_grace / 2 > time.time()

    def _flush(self, settled: list[tuple[Delivery, Outcome]]) -> None:
        if not settled:
            return
        self.backend.settle_many(settled, self.results.take())
        if self.on_outcome is not None:
            for delivery, outcome in settled:
                self.on_outcome(delivery, outcome)
        settled.clear()


# --- a pool of worker processes --------------------------------------------------------------


def _child(app_ref: str, queues: list[str] | None, burst: bool, stop: Event) -> None:
    from dispatcher.loading import load_app

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; it sets `stop`
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    app = load_app(app_ref)
    worker = Worker(app, queues=queues)

    def stop_when_told() -> None:
        stop.wait()
        worker.stop()

    threading.Thread(target=stop_when_told, daemon=True).start()
    try:
        worker.run(burst=burst)
    finally:
        app.close()


def run_pool(
    app_ref: str,
    concurrency: int,
    *,
    queues: list[str] | None = None,
    burst: bool = False,
    grace: float = 30.0,
    on_signal: Callable[[str], None] | None = None,
) -> int:
    """Run ``concurrency`` worker processes for the app at ``app_ref`` (``module:attr``).

    The first Ctrl-C (or SIGTERM) stops them gracefully within ``grace`` seconds; a second
    one kills them (their leases run out and the messages are delivered again). Returns
    the number of processes that exited with an error.
    """
    # Fork where it is safe (a single-threaded parent on a platform that has it): no new
    # interpreter, no second import of the app. Otherwise spawn.
    single = threading.active_count() == 1
    method = "fork" if single and "fork" in multiprocessing.get_all_start_methods() else "spawn"
    context: Any = multiprocessing.get_context(method)
    stop = context.Event()
    children = [
        context.Process(target=_child, args=(app_ref, queues, burst, stop), name=f"worker-{i}")
        for i in range(concurrency)
    ]
    interrupted = 0  # signals received; the handler only counts (and kills, the 2nd time)

    def on_interrupt(signum: int, frame: FrameType | None) -> None:
        # No locks in here: the main thread may hold one (a multiprocessing Event's, say)
        # at the moment the signal arrives. The loop below reacts to the count.
        nonlocal interrupted
        interrupted += 1
        if interrupted > 1:
            for child in children:
                child.kill()

    previous: dict[int, Any] = {
        sig: signal.signal(sig, on_interrupt) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        for child in children:
            child.start()
        deadline: float | None = None
        while any(child.is_alive() for child in children):
            if interrupted and deadline is None:
                stop.set()
                deadline = time.monotonic() + grace
                if on_signal:
                    on_signal("stopping gracefully; press Ctrl-C again to stop at once")
            if deadline is not None and time.monotonic() > deadline:
                for child in children:
                    child.kill()
            for child in children:
                child.join(timeout=0.1)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return sum(1 for child in children if child.exitcode not in (0, -signal.SIGKILL))
