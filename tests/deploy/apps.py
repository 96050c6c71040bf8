"""Apps for the builder tests: one no cloud could deploy, one at the limits."""

from __future__ import annotations

from dispatcher import Dispatcher, Retry

undeployable = Dispatcher("bad")


@undeployable.task(queue="big", memory=20_480)
def crunch(dataset: str) -> int:
    """Asks for 20 GB, twice Lambda's maximum."""
    return len(dataset)


@undeployable.task(queue="slow", timeout=1200)
def transcode(video: str) -> str:
    """Asks for 20 minutes, above Lambda's 15."""
    return video


@undeployable.task(queue="ledger", group_by="account", schedule="0 0 1 * MON")
def close_books(account: str = "all") -> str:
    """Ordered, on a day-of-month *and* a weekday, which EventBridge cannot express."""
    return account


@undeployable.task(queue="patient", retry=Retry(attempts=100, delay=3600, max_delay=7 * 86_400))
def chase(invoice: int) -> None:
    """A retry schedule longer than any queue keeps a message."""


edge = Dispatcher("edge")


@edge.task(queue="steady", timeout=890, memory=10_240, concurrency=1)
def longest(item: int) -> int:
    """At Lambda's limits (900 s less the 10 s a function keeps to record the result);
    concurrency 1 becomes reserved concurrency."""
    return item


@edge.task(queue="busy", timeout=5, concurrency=40, schedule="every 2 hours")
def ping() -> str:
    """A rate schedule and a maximum concurrency."""
    return "pong"


throttled = Dispatcher("throttled")


@throttled.task(queue="hourly", timeout=5, rate_limit="1/h")
def tick() -> None:
    """Once an hour at most: no Lambda function can pace that."""


paced = Dispatcher("paced")


@paced.task(queue="mail", timeout=10, rate_limit="50/s")
def mail(to: str) -> str:
    """Fifty a second, paced by the consumers."""
    return to


@paced.task(queue="slowly", timeout=2, rate_limit="6/m")
def crawl(url: str) -> str:
    """Six a minute: each of two consumers spends 20 s per run."""
    return url
