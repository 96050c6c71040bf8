"""Retry policy: how many attempts, how long to wait between them, which errors retry."""

from __future__ import annotations

import random
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dispatcher.errors import NonRetryable


def _exception_types(value: Any) -> tuple[type[BaseException], ...]:
    items = value if isinstance(value, tuple | list) else (value,)
    for item in items:
        if not (isinstance(item, type) and issubclass(item, BaseException)):
            raise ValueError(f"{item!r} is not an exception class")
    return tuple(items)


class Retry(BaseModel):
    """Exponential backoff: after failed attempt *n* the next one waits
    ``min(max_delay, delay * backoff ** (n - 1))`` seconds (with jitter: half to all of it).

    ``attempts`` counts every run, the first included: ``attempts=1`` never retries.
    An exception is retried when it is an instance of ``retry_on`` and not of ``never_retry``;
    :class:`~dispatcher.errors.NonRetryable` is never retried.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    attempts: int = Field(default=3, ge=1, le=100)
    delay: float = Field(default=1.0, ge=0, le=43_200)
    backoff: float = Field(default=2.0, ge=1.0, le=10.0)
    max_delay: float = Field(default=600.0, ge=0, le=7 * 86_400)
    jitter: bool = True
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    never_retry: tuple[type[BaseException], ...] = ()

    @field_validator("retry_on", "never_retry", mode="before")
    @classmethod
    def _types(cls, value: Any) -> tuple[type[BaseException], ...]:
        return _exception_types(value)

    @model_validator(mode="after")
    def _cap_not_below_delay(self) -> Retry:
        if self.max_delay < self.delay:
            raise ValueError(f"max_delay ({self.max_delay}) is below delay ({self.delay})")
        return self

    def delay_for(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        base = min(self.max_delay, self.delay * self.backoff ** max(0, attempt - 1))
        if not self.jitter or base == 0:
            return base
        return (rng or random).uniform(base / 2, base)

    def max_total_delay(self) -> float:
        """The longest the whole schedule can wait, summed over every retry."""
        return sum(
            min(self.max_delay, self.delay * self.backoff ** (n - 1))
            for n in range(1, self.attempts)
        )

    def should_retry(self, error: BaseException, attempt: int) -> bool:
        """Whether ``error``, raised by attempt number ``attempt``, earns another attempt."""
        if attempt >= self.attempts or isinstance(error, (NonRetryable, *self.never_retry)):
            return False
        return isinstance(error, self.retry_on)

    def describe(self) -> str:
        """A one-line summary for ``dispatcher tasks``."""
        if self.attempts == 1:
            return "no retries"
        return (
            f"{self.attempts} attempts, {self.delay:g}s x{self.backoff:g} "
            f"(max {self.max_delay:g}s{', jitter' if self.jitter else ''})"
        )


NO_RETRY = Retry(attempts=1)
