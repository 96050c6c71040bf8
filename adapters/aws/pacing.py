"""A task's ``rate_limit`` on Lambda, honoured by the consumers' own pacing.

An SQS event source mapping has no rate limit, only a maximum concurrency
(https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html). So the deploy policy
caps the queue's concurrency at ``C`` (the event source mapping's maximum concurrency, or the
function's reserved concurrency) and sets ``DISPATCHER_AWS_CONCURRENCY=C`` on the function; each
run of a task limited to ``count`` per ``per`` seconds then takes at least ``C * per / count``
seconds (:class:`Pacing` sleeps for what the task left of it). At most ``C`` runs are under way
at once, each holding its place for that long, so no window of ``W`` seconds starts more than
``count * W / per + C`` of them: the rate, with a burst of at most ``C``. The deploy policy counts
the pacing in the function's timeout, and refuses a rate whose pace no Lambda timeout can hold.
Without the variable (the local runtime runs one handler per queue) ``C`` is 1.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dispatcher.middleware import Middleware

if TYPE_CHECKING:
    from dispatcher.app import Dispatcher
    from dispatcher.backend import Outcome
    from dispatcher.envelope import Envelope
    from dispatcher.task import Task

#: The function's concurrency cap, set by the generated infrastructure.
CONCURRENCY_ENV = "DISPATCHER_AWS_CONCURRENCY"


def pace_seconds(count: int, per: float, concurrency: int) -> float:
    """How long each run of a task limited to ``count`` per ``per`` seconds must take when up
    to ``concurrency`` run at once."""
    return concurrency * per / count


class Pacing(Middleware):
    """Makes each run of a rate-limited task last at least its pace (see the module)."""

    def __init__(self, concurrency: int, sleep: Callable[[float], None] = time.sleep) -> None:
        self.concurrency, self.sleep = concurrency, sleep

    def after_run(
        self,
        app: Dispatcher,
        task: Task[Any, Any],
        envelope: Envelope,
        attempt: int,
        outcome: Outcome,
        seconds: float,
    ) -> None:
        rate = task.options.rate_limit
        if rate is not None:
            left = pace_seconds(rate.count, rate.per, self.concurrency) - seconds
            if left > 0:
                self.sleep(left)


def install(app: Dispatcher) -> None:
    """Add :class:`Pacing` to ``app`` when one of its tasks has a rate limit, with the
    concurrency ``DISPATCHER_AWS_CONCURRENCY`` names (1 when unset)."""
    if not any(task.options.rate_limit is not None for task in app.tasks.values()):
        return
    text = os.environ.get(CONCURRENCY_ENV, "1")
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{CONCURRENCY_ENV}={text!r} is not a positive whole number")
    app.add_middleware(Pacing(int(text)))
