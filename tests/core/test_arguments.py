"""Arguments are validated and coerced with the task's type hints at send time and run time."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from dispatcher import Dispatcher, InvalidArguments
from dispatcher.signature import Signature


class Address(BaseModel):
    street: str
    country: str


def test_bad_call_raises_before_sending_and_names_the_argument(app: Dispatcher) -> None:
    @app.task(name="charge")
    def charge(order_id: int, amount_cents: int) -> str:
        return ""

    with pytest.raises(InvalidArguments) as caught:
        charge.delay(42, "lots")  # type: ignore[arg-type]
    assert "argument 'amount_cents'" in str(caught.value)
    assert caught.value.task == "charge"
    assert app.backend.sent == []  # type: ignore[attr-defined]


def test_missing_and_unexpected_arguments(app: Dispatcher) -> None:
    @app.task(name="charge")
    def charge(order_id: int, amount_cents: int) -> str:
        return ""

    with pytest.raises(InvalidArguments, match="missing a required argument: 'amount_cents'"):
        charge.delay(42)  # type: ignore[call-arg]
    with pytest.raises(InvalidArguments, match="unexpected keyword argument 'tip'"):
        charge.send(args=(1, 2), kwargs={"tip": 3})


def test_values_are_coerced_and_carried_as_json(app: Dispatcher) -> None:
    @app.task(name="ship")
    def ship(
        order_id: int, to: Address, at: datetime, price: Decimal, express: bool = False
    ) -> None:
        pass

    message = ship.message(
        ("42", {"street": "1 Main St", "country": "GB"}, "2026-11-25T10:00:00Z", "9.99"),
        {"express": "yes"},
    )
    assert message.envelope.args == [
        42,
        {"street": "1 Main St", "country": "GB"},
        "2026-11-25T10:00:00Z",
        "9.99",
        True,  # a positional-or-keyword parameter travels positionally
    ]
    assert message.envelope.kwargs == {}
    args, kwargs = ship.signature.load(message.envelope.args, message.envelope.kwargs)
    assert isinstance(args[1], Address) and isinstance(args[2], datetime)
    assert args[3] == Decimal("9.99") and args[4] is True and kwargs == {}


def test_nested_model_errors_name_the_field(app: Dispatcher) -> None:
    @app.task(name="ship")
    def ship(to: Address) -> None: ...

    with pytest.raises(InvalidArguments, match=r"argument 'to\.country': Field required"):
        ship.delay({"street": "x"})  # type: ignore[arg-type]


def test_defaults_are_not_sent(app: Dispatcher) -> None:
    @app.task(name="greet")
    def greet(name: str, greeting: str = "hello") -> str:
        return f"{greeting} {name}"

    assert greet.message(("ada",)).envelope.kwargs == {}
    assert greet.message(("ada",)).envelope.args == ["ada"]


def test_star_args_and_kwargs(app: Dispatcher) -> None:
    @app.task(name="total")
    def total(*amounts: int, **labels: str) -> int:
        return sum(amounts)

    message = total.message(("1", 2), {"why": "x"})
    assert message.envelope.args == [1, 2] and message.envelope.kwargs == {"why": "x"}


def test_keys_come_from_arguments_or_the_call(app: Dispatcher) -> None:
    @app.task(name="stock", group_by="sku", dedup_by=lambda sku, delta: f"{sku}:{delta}")
    def stock(sku: str, delta: int) -> None: ...

    envelope = stock.message(("MUG", 2)).envelope
    assert (envelope.group_key, envelope.dedup_key) == ("MUG", "MUG:2")
    overridden = stock.message(("MUG", 2), dedup_key="mine", group_key="g").envelope
    assert (overridden.group_key, overridden.dedup_key) == ("g", "mine")


def test_countdown_eta_and_expiry(app: Dispatcher) -> None:
    @app.task(name="later", expires=60)
    def later() -> None: ...

    message = later.message(countdown=30)
    envelope = message.envelope
    assert 29.5 < message.delay <= 30
    assert envelope.eta is not None and envelope.expires_at is not None
    assert (envelope.expires_at - envelope.created_at).total_seconds() == 60
    with pytest.raises(InvalidArguments, match="countdown must be >= 0"):
        later.message(countdown=-1)
    with pytest.raises(InvalidArguments, match="timezone-aware"):
        later.message(eta=datetime(2030, 1, 1))


# Plain JSON hints skip pydantic when a value already has exactly the hinted type; these tests
# hold that shortcut to pydantic's own answers, and keep pydantic off the cold path.

EXACT_CASES: list[tuple[object, list[object]]] = [
    (int, [5, "5", 5.0, True, None, "x"]),
    (float, [1.5, 1, "2.5", float("inf"), None]),
    (str, ["a", 5, None]),
    (bool, [True, 1, "yes", None]),
    (list[int], [[1, 2], [1, "2"], (1, 2), "12"]),
    (dict[str, float], [{"a": 1.5}, {"a": 1}, {"a": "x"}]),
    (int | None, [None, 3, "3", "x"]),
    (Annotated[int, Field(gt=0)], [5, 0]),
    (Any, [1, [1, {"a": None}], (1, 2), {1: 2}]),
]


@pytest.mark.parametrize(("hint", "values"), EXACT_CASES)
def test_the_exact_type_shortcut_answers_as_pydantic_does(hint: Any, values: list[object]) -> None:
    def fn(x):  # type: ignore[no-untyped-def]
        return x

    fn.__annotations__ = {"x": hint, "return": hint}
    signature = Signature("t", fn)
    adapter: TypeAdapter[Any] = TypeAdapter(hint)
    for value in values:
        try:
            expected = adapter.validate_python(value)
        except ValidationError:
            with pytest.raises(InvalidArguments):
                signature.load([value], {})
            continue
        loaded = signature.load([value], {})[0][0]
        assert loaded == expected and type(loaded) is type(expected), (hint, value)
        dumped = signature.dump([value], {})[0][0]
        assert dumped == adapter.dump_python(expected, mode="json"), (hint, value)
        assert signature.dump_result(expected) == adapter.dump_python(expected, mode="json")


def test_plain_tasks_run_without_importing_pydantic() -> None:
    program = """
import sys
from dispatcher import Dispatcher, Executor, Delivery
from dispatcher.testing import MemoryResults
app = Dispatcher("cold", backend="memory")

@app.task(name="add", retry=None)
def add(a: int, b: float, tags: list[str], note: str | None = None) -> dict[str, float]:
    return {"sum": a + b}

body = add.message((1, 2.5, ["x"])).body
outcome = Executor(app, MemoryResults()).process(Delivery(body))
assert type(outcome).__name__ == "Ack", outcome
print("pydantic" in sys.modules)
"""
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "False", "the cold path imported pydantic"


def test_bad_call_options_and_non_json_floats_are_refused_at_send(app: Dispatcher) -> None:
    @app.task(name="measure")
    def measure(value: float) -> None: ...

    with pytest.raises(InvalidArguments, match="headers: Input should be an object of strings"):
        measure.send((1.0,), headers={"n": 1})  # type: ignore[dict-item]
    with pytest.raises(InvalidArguments, match="dedup_key: String should have at most 128"):
        measure.send((1.0,), dedup_key="k" * 200)
    with pytest.raises(InvalidArguments, match="NaN and Infinity are not JSON"):
        measure.delay(float("nan"))
