"""Declaring tasks: names, options and their import-time errors."""

from __future__ import annotations

import pytest

from dispatcher import (
    BackendNotConfigured,
    Dispatcher,
    DuplicateTask,
    InvalidTaskOption,
    RateLimit,
    Retry,
)
from dispatcher.options import Schedule


def test_default_name_is_module_and_function(app: Dispatcher) -> None:
    @app.task
    def charge(order_id: int) -> str:
        return f"ch_{order_id}"

    assert charge.name == f"{__name__}.test_default_name_is_module_and_function.charge"
    assert app.get_task(charge.name) is charge


def test_plain_call_runs_in_process(app: Dispatcher) -> None:
    @app.task(name="charge", queue="payments")
    def charge(order_id: int, amount_cents: int) -> str:
        return f"ch_{order_id}_{amount_cents}"

    assert charge(42, 1999) == "ch_42_1999"
    assert charge.options.queue == "payments"


def test_options_are_recorded(app: Dispatcher) -> None:
    @app.task(
        name="charge",
        queue="payments",
        timeout=30,
        memory=512,
        retry=Retry(attempts=5, backoff=2.0, max_delay=300),
        expires=3600,
        dedup_by="order_id",
        rate_limit="10/s",
        concurrency=4,
    )
    def charge(order_id: int) -> None: ...

    options = charge.options
    assert (options.timeout, options.memory, options.expires) == (30, 512, 3600)
    assert options.retry.attempts == 5
    assert options.rate_limit == RateLimit(count=10, per=1)
    assert options.concurrency == 4
    assert not options.ordered


@pytest.mark.parametrize(
    ("options", "option", "fragment"),
    [
        ({"timeout": 0}, "timeout", "greater than 0"),
        ({"timeout": -5}, "timeout", "greater than 0"),
        ({"memory": 10}, "memory", "greater than or equal to 64"),
        ({"queue": "Payments!"}, "queue", "pattern"),
        ({"rate_limit": "fast"}, "rate_limit", "is not a rate"),
        ({"concurrency": 0}, "concurrency", "greater than or equal to 1"),
        ({"expires": -1}, "expires", "greater than 0"),
        ({"group_by": "customer"}, "group_by", "'customer' is not a parameter"),
        ({"dedup_by": "nope"}, "dedup_by", "'nope' is not a parameter"),
        ({"schedule": "sometimes"}, "schedule", "is not 'every N"),
        ({"schedule": "every 5 minutes"}, "schedule", "order_id has no default"),
        ({"queu": "payments"}, "queu", "Unexpected option"),
        ({"timeout": "30"}, "timeout", "valid number"),
        ({"memory": 512.5}, "memory", "valid integer"),
        ({"retry": 3}, "retry", "a Retry policy"),
        ({"dedup_by": 7}, "dedup_by", "a parameter name or a function"),
    ],
)
def test_invalid_options_name_task_and_option(
    app: Dispatcher, options: dict[str, object], option: str, fragment: str
) -> None:
    with pytest.raises(InvalidTaskOption) as caught:

        @app.task(name="shop.charge", **options)  # type: ignore[call-overload,untyped-decorator]
        def charge(order_id: int) -> None: ...

    assert caught.value.task == "shop.charge"
    assert caught.value.option == option
    assert str(caught.value).startswith(f"task 'shop.charge': option '{option}':")
    assert fragment in str(caught.value)


def test_invalid_retry_policy_is_rejected() -> None:
    with pytest.raises(ValueError, match="max_delay"):
        Retry(delay=10, max_delay=5)
    with pytest.raises(ValueError, match="not an exception class"):
        Retry(retry_on=(int,))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="attempts: Input should be greater than or equal to 1"):
        Retry(attempts=0)


def test_type_hints_that_cannot_be_json_fail_at_import(app: Dispatcher) -> None:
    class Socket:
        pass

    with pytest.raises(InvalidTaskOption, match="option 'signature'"):

        @app.task(name="send")
        def send(sock: Socket) -> None: ...


def test_duplicate_names_are_rejected(app: Dispatcher) -> None:
    @app.task(name="charge")
    def first() -> None: ...

    with pytest.raises(DuplicateTask, match="charge"):

        @app.task(name="charge")
        def second() -> None: ...


def test_one_queue_cannot_be_both_ordered_and_not(app: Dispatcher) -> None:
    @app.task(name="stock", queue="inventory", group_by="sku")
    def stock(sku: str) -> None: ...

    with pytest.raises(InvalidTaskOption, match="queue 'inventory' would be ordered"):

        @app.task(name="audit", queue="inventory")
        def audit(sku: str) -> None: ...


def test_queues_summarise_the_tasks(app: Dispatcher) -> None:
    @app.task(name="a", queue="q", timeout=5)
    def a() -> None: ...

    @app.task(name="b", queue="q", timeout=50)
    def b() -> None: ...

    @app.task(name="c", queue="fifo", group_by="key")
    def c(key: str) -> None: ...

    queues = app.queues
    assert queues["q"].tasks == ("a", "b") and queues["q"].timeout == 50
    assert queues["fifo"].ordered and not queues["q"].ordered


@pytest.mark.parametrize(
    ("text", "count", "per"),
    [("10/s", 10, 1), ("100/m", 100, 60), ("5/10s", 5, 10), ("1/h", 1, 3600)],
)
def test_rate_limits_parse(text: str, count: int, per: float) -> None:
    assert RateLimit.parse(text) == RateLimit(count=count, per=per)


def test_schedules_parse() -> None:
    assert Schedule.parse("every 5 minutes").every_seconds == 300
    assert Schedule.parse("every 1 day").every_seconds == 86_400
    assert Schedule.parse("0 3 * * *").kind == "cron"


def test_app_names_are_checked() -> None:
    with pytest.raises(ValueError, match="lowercase"):
        Dispatcher("My Shop")


def test_importing_an_app_does_not_touch_the_backend() -> None:
    app = Dispatcher("shop", backend="nonsense://nowhere")

    @app.task
    def noop() -> None: ...

    with pytest.raises(BackendNotConfigured, match="unknown backend 'nonsense://nowhere'"):
        noop.delay()  # the spec is read on first use, not at import
