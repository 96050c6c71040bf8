"""Apps for the GCP policy tests: one Google Cloud cannot run, and one at its edges."""

from __future__ import annotations

from dispatcher import Dispatcher, Retry

undeployable = Dispatcher("gcpbad")


@undeployable.task(queue="render", timeout=2_400)
def render(scene: str) -> str:
    """40 minutes: Cloud Run allows it, Cloud Tasks' dispatch deadline does not."""
    return scene


@undeployable.task(queue="huge", memory=40_960)
def crunch(dataset: str) -> int:
    """40 GB, above Cloud Run's 32."""
    return len(dataset)


@undeployable.task(queue="ledger", schedule="0 0 */2 * MON")
def close_books() -> None:
    """Every other day *and* Mondays only, which Cloud Scheduler would OR."""


@undeployable.task(queue="digest", schedule="every 7 minutes")
def digest() -> None:
    """Every 7 minutes since the epoch: no cron line fires at those times."""


@undeployable.task(queue="a-rather-long-queue-name-here")
def wordy() -> None:
    """Its Cloud Run service name cannot fit the deterministic URL."""


edge = Dispatcher("gcpedge")


@edge.task(queue="steady", timeout=1_800, memory=16_384, concurrency=100)
def longest(item: int) -> int:
    """At the dispatch deadline's limit, with 16 GiB (4 CPUs) and 100 at a time."""
    return item


@edge.task(queue="native", retry=Retry(attempts=4, delay=2, max_delay=30, jitter=False))
def native(item: int) -> int:
    """A schedule Cloud Tasks follows itself (doubling from 2 s, no jitter)."""
    return item


@edge.task(queue="native", retry=Retry(attempts=6, delay=2, max_delay=30, jitter=False))
def native_too(item: int) -> int:
    """The same schedule, more attempts: the queue keeps the most."""
    return item


@edge.task(queue="paced", rate_limit="1000/s", schedule="every 2 hours")
def paced() -> str:
    """A rate above Cloud Tasks' 500/s maximum, and a rate schedule."""
    return "ok"
