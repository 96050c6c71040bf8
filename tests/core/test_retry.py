"""The retry policy: the schedule, its cap and jitter, and which errors retry."""

from __future__ import annotations

import random

from dispatcher import NonRetryable, Retry


def test_schedule_grows_exponentially_up_to_the_cap() -> None:
    policy = Retry(attempts=6, delay=1, backoff=2, max_delay=5, jitter=False)
    assert [policy.delay_for(n) for n in range(1, 6)] == [1, 2, 4, 5, 5]
    assert policy.max_total_delay() == 17


def test_jitter_stays_between_half_and_all_of_the_delay() -> None:
    policy = Retry(attempts=10, delay=4, backoff=2, max_delay=100)
    rng = random.Random(7)
    for attempt in range(1, 8):
        base = min(100, 4 * 2 ** (attempt - 1))
        delays = [policy.delay_for(attempt, rng) for _ in range(200)]
        assert all(base / 2 <= d <= base for d in delays)
        assert max(delays) - min(delays) > base / 4  # it really varies


def test_which_errors_retry() -> None:
    policy = Retry(
        attempts=3, retry_on=(ConnectionError, TimeoutError), never_retry=(BrokenPipeError,)
    )
    assert policy.should_retry(ConnectionError(), 1)
    assert not policy.should_retry(ConnectionError(), 3)  # the last attempt
    assert not policy.should_retry(ValueError(), 1)  # not in retry_on
    assert not policy.should_retry(BrokenPipeError(), 1)  # a ConnectionError, but never retried
    assert not Retry().should_retry(NonRetryable("no"), 1)


def test_one_attempt_means_no_retries() -> None:
    assert not Retry(attempts=1).should_retry(Exception(), 1)
    assert Retry(attempts=1).describe() == "no retries"
