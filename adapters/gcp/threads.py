"""Worker threads that run the receiver's blocking calls for the event loop.

``loop.run_in_executor`` with a ``ThreadPoolExecutor`` hands each call over through a
``concurrent.futures.Future``, its lock and callbacks, and a semaphore; :class:`Workers` puts
the call on a queue and the thread that ran it resolves the event loop's own future directly
(``call_soon_threadsafe``). Measured on our machine, a round trip costs 27 us against 43 us
(``benchmarks/gcp.py``'s warm receiver pays it on every push).
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...]]


class Workers:
    """Up to ``size`` daemon threads, started as calls need them (none are idle)."""

    def __init__(self, size: int, name: str = "worker") -> None:
        if size < 1:
            raise ValueError("a pool needs at least one thread")
        self.size, self.name = size, name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._lock = threading.Lock()

    def run(self, function: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Run ``function(*args)`` in a worker thread; the running loop's future of its
        result (or exception)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._lock:
            if self._idle == 0 and len(self._threads) < self.size:
                thread = threading.Thread(
                    target=self._work, name=f"{self.name}-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
            else:
                self._idle -= 1  # this call takes an idle thread
        self._jobs.put((loop, future, function, args))
        return future

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            loop, future, function, args = job
            outcome: Callable[[asyncio.Future[Any], Any], None]
            try:
                result = function(*args)
            except BaseException as error:
                outcome, value = _fail, error
            else:
                outcome, value = _resolve, result
            with self._lock:  # idle before the loop hears of it: its next call may take us
                self._idle += 1
            loop.call_soon_threadsafe(outcome, future, value)

    def close(self) -> None:
        """Stop the threads once the calls already given are done."""
        with self._lock:
            threads, self._threads, self._idle = self._threads, [], 0
        for _ in threads:
            self._jobs.put(None)
        for thread in threads:
            thread.join(timeout=10)


def _resolve(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():  # the request may have been cancelled meanwhile
        future.set_result(result)


def _fail(future: asyncio.Future[Any], error: Any) -> None:
    if not future.done():
        future.set_exception(error)
