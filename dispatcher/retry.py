"""Retry policy: how many attempts, how long to wait between them, which errors retry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dispatcher import checks, declaring
from dispatcher.errors import InvalidField, NonRetryable, TaskTimedOut
from dispatcher.records import Record, setattr_

if TYPE_CHECKING:
    import random


def _exception_types(name: str, value: Any) -> tuple[type[BaseException], ...]:
    items = tuple(value) if isinstance(value, tuple | list) else (value,)
    for item in items:
        if not (isinstance(item, type) and issubclass(item, BaseException)):
            raise InvalidField(name, f"{item!r} is not an exception class")
    return items


def matches(error: BaseException, types: tuple[type[BaseException], ...]) -> bool:
    """Whether ``error`` is an instance of one of ``types``; a
    :class:`~dispatcher.errors.TaskTimedOut` (a ``BaseException``) matches where a
    ``TimeoutError`` would."""
    if isinstance(error, types):
        return True
    return isinstance(error, TaskTimedOut) and issubclass(TimeoutError, types)


class Retry(Record):
    """Exponential backoff: after failed attempt *n* the next one waits
    ``min(max_delay, delay * backoff ** (n - 1))`` seconds (with jitter: half to all of it).

    ``attempts`` counts every run, the first included: ``attempts=1`` never retries.
    An exception is retried when it is an instance of ``retry_on`` and not of ``never_retry``;
    :class:`~dispatcher.errors.NonRetryable` is never retried. A bad value raises
    :class:`~dispatcher.errors.InvalidField` (a ``ValueError``) naming it.
    """

    FIELDS = ("attempts", "delay", "backoff", "max_delay", "jitter", "retry_on", "never_retry")
    __slots__ = FIELDS
    attempts: int
    delay: float
    backoff: float
    max_delay: float
    jitter: bool
    retry_on: tuple[type[BaseException], ...]
    never_retry: tuple[type[BaseException], ...]

    def __init__(
        self,
        attempts: int = 3,
        delay: float = 1.0,
        backoff: float = 2.0,
        max_delay: float = 600.0,
        jitter: bool = True,
        retry_on: tuple[type[BaseException], ...] = (Exception,),
        never_retry: tuple[type[BaseException], ...] = (),
    ) -> None:
        setattr_(self, "attempts", attempts)
        setattr_(self, "delay", delay)
        setattr_(self, "backoff", backoff)
        setattr_(self, "max_delay", max_delay)
        setattr_(self, "jitter", jitter)
        setattr_(self, "retry_on", retry_on)
        setattr_(self, "never_retry", never_retry)
        try:
            self._check()
        except InvalidField as error:
            collector = declaring.current()
            if collector is None:
                raise
            collector.retries[id(self)] = error  # reported with the task that uses it

    def _check(self) -> None:
        checked = {
            "attempts": checks.integer("attempts", self.attempts, ge=1, le=100),
            "delay": checks.number("delay", self.delay, ge=0, le=43_200),
            "backoff": checks.number("backoff", self.backoff, ge=1.0, le=10.0),
            "max_delay": checks.number("max_delay", self.max_delay, ge=0, le=7 * 86_400),
            "jitter": checks.boolean("jitter", self.jitter),
            "retry_on": _exception_types("retry_on", self.retry_on),
            "never_retry": _exception_types("never_retry", self.never_retry),
        }
        for name, value in checked.items():
            setattr_(self, name, value)
        if self.max_delay < self.delay:
            raise InvalidField(
                "max_delay", f"max_delay ({self.max_delay:g}) is below delay ({self.delay:g})"
            )

    def delay_for(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        base = min(self.max_delay, self.delay * self.backoff ** max(0, attempt - 1))
        if not self.jitter or base == 0:
            return base
        if rng is None:
            import random  # here: only a retry with jitter needs it (cold starts)

            return random.uniform(base / 2, base)
        return rng.uniform(base / 2, base)

    def max_total_delay(self) -> float:
        """The longest the whole schedule can wait, summed over every retry."""
        return sum(
            min(self.max_delay, self.delay * self.backoff ** (n - 1))
            for n in range(1, self.attempts)
        )

    def should_retry(self, error: BaseException, attempt: int) -> bool:
        """Whether ``error``, raised by attempt number ``attempt``, earns another attempt."""
        if attempt >= self.attempts or self.never_retries(error):
            return False
        return matches(error, self.retry_on)

    def never_retries(self, error: BaseException) -> bool:
        """Whether ``error`` is never retried (``NonRetryable`` or one of ``never_retry``)."""
        return isinstance(error, NonRetryable) or matches(error, self.never_retry)

    def describe(self) -> str:
        """A one-line summary for ``dispatcher tasks``."""
        if self.attempts == 1:
            return "no retries"
        return (
            f"{self.attempts} attempts, {self.delay:g}s x{self.backoff:g} "
            f"(max {self.max_delay:g}s{', jitter' if self.jitter else ''})"
        )


DEFAULT_RETRY = Retry()
NO_RETRY = Retry(attempts=1)
