"""The receiver's worker threads: results and errors reach the event loop, calls run side by
side up to the pool's size, and closing stops the threads."""

from __future__ import annotations

import asyncio
import threading

import pytest

from adapters.gcp.threads import Workers


def test_results_and_errors_reach_the_loop() -> None:
    workers = Workers(2)

    def fail() -> None:
        raise ValueError("boom")

    async def main() -> None:
        assert await workers.run(lambda a, b: a + b, 2, 3) == 5
        assert await workers.run(threading.current_thread) is not threading.main_thread()
        with pytest.raises(ValueError, match="boom"):
            await workers.run(fail)

    asyncio.run(main())
    workers.close()


def test_calls_run_side_by_side_up_to_the_size() -> None:
    workers = Workers(3)
    barrier = threading.Barrier(3, timeout=10)  # broken unless three calls wait at once

    async def main() -> list[int]:
        return list(await asyncio.gather(*(workers.run(barrier.wait) for _ in range(3))))

    assert sorted(asyncio.run(main())) == [0, 1, 2]

    async def more() -> None:  # sequential calls reuse the idle threads
        for _ in range(10):
            await workers.run(lambda: None)

    asyncio.run(more())
    assert len(workers._threads) == 3
    workers.close()
    assert workers._threads == []


def test_a_pool_needs_a_thread() -> None:
    with pytest.raises(ValueError, match="at least one thread"):
        Workers(0)
