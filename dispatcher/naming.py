"""Names of the cloud resources an app uses, shared by the adapters and the infrastructure
generators so that what is deployed and what is called always agree."""

from __future__ import annotations

#: The environment variable that tells a cloud function which app to load (``module:attr``).
APP_ENV = "DISPATCHER_APP"


def queue_name(app: str, queue: str, ordered: bool = False) -> str:
    """The provider queue of a task queue: ``shop-payments`` (``.fifo`` when ordered, for SQS)."""
    return f"{app}-{queue}" + (".fifo" if ordered else "")


def dead_letter_queue_name(app: str, queue: str, ordered: bool = False) -> str:
    """The dead-letter queue of a task queue: ``shop-payments-dlq``."""
    return f"{app}-{queue}-dlq" + (".fifo" if ordered else "")


def results_table_name(app: str) -> str:
    """The result and idempotency table: ``shop-results``."""
    return f"{app}-results"


def claim_check_bucket_name(app: str) -> str:
    """The bucket for message bodies too large for the queue: ``shop-claim-checks``."""
    return f"{app}-claim-checks"


def function_name(app: str, queue: str) -> str:
    """The cloud function that runs a task queue's messages: ``shop-payments-worker``."""
    return f"{app}-{queue}-worker"
