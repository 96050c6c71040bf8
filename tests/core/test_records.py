"""The core's records (``dispatcher.records``): what a frozen dataclass gave them, kept."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

import pytest
from pydantic import BaseModel, ValidationError

from dispatcher import Delivery, Envelope, Outgoing, RateLimit, Retry, TaskOptions, TaskResult
from dispatcher.backend import Status
from dispatcher.errors import InvalidField
from dispatcher.naming import Name
from dispatcher.records import Record

AT = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def envelope(**changes: object) -> Envelope:
    return Envelope(id="m1", task="add", args=[1, 2], created_at=AT).copy_with(**changes)


def test_records_are_equal_by_their_fields_and_hash_alike() -> None:
    assert Retry(attempts=5) == Retry(attempts=5)
    assert Retry(attempts=5) != Retry(attempts=4)
    assert hash(Name("shop", "payments")) == hash(Name("shop", "payments"))
    assert len({RateLimit(10, 1), RateLimit(10, 1.0), RateLimit(5, 1)}) == 2
    assert envelope() == envelope()


def test_records_of_different_classes_are_never_equal() -> None:
    assert RateLimit(3, 1) != (3, 1.0)
    assert Name("a", "b") != ("a", "b", "", False)
    assert Delivery(b"x") == Delivery(b"x", 1, "", "", {})


def test_a_record_refuses_to_change() -> None:
    retry = Retry()
    with pytest.raises(AttributeError, match="Retry is immutable"):
        retry.attempts = 9
    with pytest.raises(AttributeError, match="cannot delete field 'attempts'"):
        del retry.attempts
    env = envelope()
    with pytest.raises(AttributeError, match="Envelope is immutable"):
        env.task = "other"


def test_the_repr_names_every_field_in_order() -> None:
    assert repr(Name("shop", "payments")) == (
        "Name(app='shop', part='payments', suffix='', scoped=False)"
    )
    assert repr(RateLimit(10, 2)) == "RateLimit(count=10, per=2.0)"


def test_copy_with_checks_the_copy_as_a_new_record() -> None:
    env = envelope()
    later = env.copy_with(attempt=2)
    assert later.attempt == 2 and env.attempt == 1
    assert later.args == env.args
    with pytest.raises(InvalidField, match="attempt"):
        env.copy_with(attempt=0)
    with pytest.raises(TypeError, match="no field 'attempts'"):
        env.copy_with(attempts=2)
    with pytest.raises(InvalidField, match="count"):
        RateLimit(10, 1).copy_with(count=0)


def test_each_new_record_gets_its_own_lists_and_dicts() -> None:
    first, second = envelope(), envelope()
    first.kwargs["x"] = 1
    assert second.kwargs == {}
    assert Delivery(b"a").meta is not Delivery(b"a").meta
    assert Envelope(id="m2", task="t", created_at=AT).headers == {}


def test_an_envelope_keeps_its_fields_in_wire_order() -> None:
    assert list(vars(envelope())) == list(Envelope.FIELDS)


def test_records_survive_pickling_unchanged() -> None:
    result = TaskResult(id="m1", task="add", status=Status.SUCCEEDED, value=3, updated_at=AT)
    records: list[Record] = [
        result,
        envelope(),
        Outgoing(envelope(), b"{}", "payments", delay=2.0),
        Retry(attempts=2, retry_on=(ValueError,)),
        TaskOptions(name="add", rate_limit="10/s", schedule="every 5 minutes"),
    ]
    for record in records:
        assert pickle.loads(pickle.dumps(record)) == record


def test_a_record_is_a_field_of_a_pydantic_model() -> None:
    class Holder(BaseModel):
        name: Name

    assert Holder(name=Name("shop", "x")).name == Name("shop", "x")
    with pytest.raises(ValidationError, match="instance of Name"):
        Holder(name={"app": "shop", "part": "x"})


def test_a_record_class_must_name_its_fields() -> None:
    with pytest.raises(TypeError, match=r"Nameless\.FIELDS must name every field"):

        class Nameless(Record):
            __slots__ = ("a",)

    with pytest.raises(TypeError, match=r"Partial\.FIELDS must name every field"):

        class Partial(Record):
            FIELDS = ("a",)
            __slots__ = ("a", "b")
