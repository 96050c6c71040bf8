"""Property-based: ``decode`` accepts exactly the bodies the rule accepts (the shipped JSON
Schema with a strict RFC 3339 checker, over strict JSON text: ``tests/core/envelope_rule.py``),
and ``Executor.process`` returns an outcome for every body whatever it holds.

Bodies come from the schema itself (``schema_strategies``) and from mutations of valid
envelopes: fields dropped, added, duplicated or retyped; deep nesting; huge and odd numbers; odd
date-times; strings at their length limits; bytes that are not UTF-8 JSON text. The examples
per test come from the Hypothesis profile: ``ci`` (the default, derandomized, a few seconds)
or ``fuzz`` (``make fuzz``: ``HYPOTHESIS_PROFILE=fuzz``, many more); see ``tests/conftest.py``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from dispatcher import Ack, DeadLetter, Delivery, Dispatcher, Executor, RetryLater, decode
from dispatcher.backend import Cause
from dispatcher.envelope import (
    MAX_ATTEMPT,
    MAX_BODY_BYTES,
    MAX_HEADER_NAME_LENGTH,
    MAX_HEADER_VALUE_LENGTH,
    MAX_HEADERS,
    MAX_ID_LENGTH,
    MAX_KEY_LENGTH,
    MAX_NESTING,
    MAX_TASK_LENGTH,
    json_schema,
)
from dispatcher.errors import InvalidMessage, NonRetryable
from dispatcher.retry import Retry
from dispatcher.testing import MemoryResults
from tests.core import envelope_rule
from tests.core.schema_strategies import Generator

# --- the app whose executor runs every body --------------------------------------------------

app = Dispatcher("fuzz", backend="memory")


@app.task(name="echo")
def echo(*args: Any, **kwargs: Any) -> Any:
    """Accepts any arguments."""
    return [list(args), kwargs]


@app.task(name="typed")
def typed(count: int, note: str = "", tags: list[str] | None = None) -> int:
    """Arguments that pydantic checks and coerces."""
    return count


@app.task(name="fail", retry=Retry(attempts=3, delay=1, jitter=False))
def fail(*args: Any, **kwargs: Any) -> None:
    """Always fails: the retry and dead-letter reasons get written, with the attempt."""
    raise ValueError("failing on purpose")


@app.task(name="refuse")
def refuse(*args: Any, **kwargs: Any) -> None:
    """Fails for good at once."""
    raise NonRetryable("refused on purpose")


TASKS = ("echo", "typed", "fail", "refuse")


def outcome_of(body: bytes) -> Ack | RetryLater | DeadLetter:
    """What the execution core makes of ``body`` (a fresh result store each time, so that no
    claim of an earlier example is in the way)."""
    outcome = Executor(app, MemoryResults()).process(Delivery(body))
    assert isinstance(outcome, Ack | RetryLater | DeadLetter), outcome
    return outcome


def decodes(body: bytes) -> bool:
    """Whether ``decode`` accepts ``body`` (any error but InvalidMessage fails the test)."""
    try:
        decode(body)
    except InvalidMessage:
        return False
    return True


def check(body: bytes) -> None:
    """The two properties for one body."""
    expected = envelope_rule.accepts(body)
    assert decodes(body) is expected, f"the rule {'accepts' if expected else 'refuses'} {body!r}"
    outcome = outcome_of(body)
    verdict = "accepted" if expected else "refused"
    event(f"{verdict}, {type(outcome).__name__} {outcome_cause(outcome)}")
    if expected:  # the execution core reads it as the decoder does
        assert isinstance(outcome, Ack) or outcome.cause is not Cause.MALFORMED, outcome
    else:
        assert isinstance(outcome, DeadLetter) and outcome.cause is Cause.MALFORMED, outcome


def outcome_cause(outcome: Ack | RetryLater | DeadLetter) -> str:
    return "" if isinstance(outcome, Ack) else outcome.cause.value


# --- bodies ----------------------------------------------------------------------------------

SCHEMA = json_schema()
documents = Generator(SCHEMA).documents()


def _containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)


#: JSON values of every kind, for retyped fields and arguments.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    _containers,
    max_leaves=8,
)
FIELDS = tuple(SCHEMA["properties"])
DATE_FIELDS = ("created_at", "eta", "expires_at")
ODD_DATE_TIMES = [
    "2026-11-27T06:00:00Z",
    "2026-11-27t06:00:00z",
    "2026-11-27T06:00:00.123456789+02:00",
    "2026-11-27T06:00:00-00:00",
    "2026-11-27 06:00:00Z",
    "2026-11-27T06:00Z",
    "2026-11-27T06:00:00+0200",
    "2026-11-27T06:00:00+02",
    "2026-W48-5T06:00:00Z",
    "2026-331T06:00:00Z",
    "20261127T060000Z",
    "2026-11-27T06:00:00",
    "2026-11-27",
    "2026-11-27T06:00:00.Z",
    "2026-11-27T06:00:00,5Z",
    "2026-11-27T24:00:00Z",
    "2026-12-31T23:59:60Z",
    "2026-02-29T00:00:00Z",
    "2028-02-29T00:00:00Z",
    "2026-04-31T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-23:59",
    "2026-11-27T06:00:00+24:00",
    "2026-11-27T06:00:00Z\n",
    " 2026-11-27T06:00:00Z",
    "\uff12\uff10\uff12\uff16-11-27T06:00:00Z",  # full-width digits: Unicode, not ASCII
    "2026-11-27T06:00:00+02:00:30",
]
loose_date_times = st.from_regex(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2})?(\.[0-9]{0,3})?"
    r"([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)?",
    fullmatch=True,
)
NUMBER_TEXTS = [
    "1",
    "2.0",
    "1.0",
    "1e0",
    "1E0",
    "-0",
    "0.0",
    "1.5",
    "2e9",
    "2147483647",
    "2147483648",
    "1e400",
    "-1e400",
    "1e-400",
    "NaN",
    "Infinity",
    "-Infinity",
    "01",
    "+1",
    "1.",
    ".5",
    "0x10",
    "true",
    str(int(sys.float_info.max)),
    str(int(sys.float_info.max) + 1),
    "-" + str(int(sys.float_info.max) + 1),
]
DIGIT_COUNTS = [18, 19, 20, 21, 40, 308, 309, 310, 4299, 4300, 4301, 5000]
DEPTHS = [MAX_NESTING - 1, MAX_NESTING, MAX_NESTING + 1, MAX_NESTING + 2, 200, 1_000, 20_000]


def dumps(items: list[tuple[str, str]]) -> str:
    """An object written from (name, raw JSON text) pairs, so that raw numbers and duplicate
    names can be written too."""
    return "{" + ",".join(f"{json.dumps(name)}:{value}" for name, value in items) + "}"


def raw_items(document: dict[str, Any]) -> list[tuple[str, str]]:
    return [(name, json.dumps(value)) for name, value in document.items()]


def nested(depth: int, leaf: str = "1") -> str:
    """A list nested ``depth`` deep around ``leaf`` (as text: no recursion to write it)."""
    return "[" * depth + leaf + "]" * depth


@st.composite
def valid_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A document from the schema, usually naming a task of the app."""
    document: dict[str, Any] = draw(documents)
    if draw(st.integers(0, 3)):
        document["task"] = draw(st.sampled_from(TASKS))
    if draw(st.booleans()):  # random times are mostly past or far ahead: the task would not run
        document.pop("eta", None)
        document.pop("expires_at", None)
    return document


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid document, then one mutation."""
    document = draw(valid_documents())
    items = raw_items(document)
    kind = draw(st.integers(0, 12))
    if kind == 0 and items:  # drop a field
        items.pop(draw(st.integers(0, len(items) - 1)))
    elif kind == 1:  # add a field, known or not
        name = draw(st.sampled_from(FIELDS) | st.text(max_size=8))
        items.append((name, json.dumps(draw(json_values))))
    elif kind == 2:  # retype a field
        name = draw(st.sampled_from(FIELDS))
        items = [(n, v) for n, v in items if n != name] + [(name, json.dumps(draw(json_values)))]
    elif kind == 3:  # nest deeply somewhere
        where = draw(st.sampled_from(["args", "kwargs", "headers", "surprise", "attempt"]))
        depth = draw(st.sampled_from(DEPTHS))
        text = nested(depth)
        value = "{" + f'"k":{text}' + "}" if where in ("kwargs", "headers") else f"[{text}]"
        items = [(n, v) for n, v in items if n != where] + [(where, value)]
    elif kind == 4:  # a raw number where numbers go, and where they do not
        where = draw(st.sampled_from(["attempt", "version", "args", "kwargs", "id"]))
        text = draw(st.sampled_from(NUMBER_TEXTS) | long_numbers())
        value = f"[{text}]" if where == "args" else f'{{"n":{text}}}' if where == "kwargs" else text
        items = [(n, v) for n, v in items if n != where] + [(where, value)]
    elif kind == 5:  # an odd date-time
        name = draw(st.sampled_from(DATE_FIELDS))
        moment = draw(st.sampled_from(ODD_DATE_TIMES) | loose_date_times)
        items = [(n, v) for n, v in items if n != name] + [(name, json.dumps(moment))]
    elif kind == 6:  # a string at its length limit, or one past it
        name, value = draw(strings_near_limits())
        items = [(n, v) for n, v in items if n != name] + [(name, value)]
    elif kind == 7:  # a name twice, with another value
        name = draw(st.sampled_from(FIELDS))
        items.append((name, json.dumps(draw(json_values))))
    elif kind == 8:  # a string that is not valid Unicode
        text = draw(st.sampled_from(['"\\ud800"', '"\\udc00x"', '"a\\ud83d"', '"\\ud83d\\ude00"']))
        name = draw(st.sampled_from(["id", "args", "headers", "kwargs"]))
        wrapped = {"args": f"[{text}]", "headers": f'{{"h":{text}}}', "kwargs": f"{{{text}:1}}"}
        items = [(n, v) for n, v in items if n != name] + [(name, wrapped.get(name, text))]
    if kind <= 8:
        return dumps(items).encode()
    return draw(damaged(dumps(items).encode(), kind))


@st.composite
def long_numbers(draw: st.DrawFn) -> str:
    digits = draw(st.sampled_from(DIGIT_COUNTS))
    first = draw(st.sampled_from("123456789"))
    return draw(st.sampled_from(["", "-"])) + first + "9" * (digits - 1)


@st.composite
def strings_near_limits(draw: st.DrawFn) -> tuple[str, str]:
    """A (field, raw JSON value) with a string of a length at or just past a limit."""
    limits = {
        "id": MAX_ID_LENGTH,
        "task": MAX_TASK_LENGTH,
        "dedup_key": MAX_KEY_LENGTH,
        "group_key": MAX_KEY_LENGTH,
        "parent_id": MAX_ID_LENGTH,
        "root_id": MAX_ID_LENGTH,
        "headers": MAX_HEADER_VALUE_LENGTH,
        "header names": MAX_HEADER_NAME_LENGTH,
        "header count": MAX_HEADERS,
        "traceparent": 55,
    }
    name = draw(st.sampled_from(sorted(limits)))
    size = limits[name] + draw(st.sampled_from([-1, 0, 1]))
    char = draw(st.sampled_from(["x", "é", "😀"]))  # 1, 2 and 4 bytes; one character each
    if name == "headers":
        return name, json.dumps({"h": char * size})
    if name == "header names":
        return "headers", json.dumps({char * size: "v"})
    if name == "header count":
        return "headers", json.dumps({f"h{i}": "v" for i in range(size)})
    if name == "traceparent":
        base = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
        return name, json.dumps(draw(st.sampled_from([base, base + "\n", base.upper(), base[1:]])))
    return name, json.dumps(char * size)


@st.composite
def damaged(draw: st.DrawFn, body: bytes, kind: int) -> bytes:
    """``body`` re-encoded, cut, padded or with bytes that are not UTF-8 JSON text."""
    if kind == 9:  # another encoding, or a byte order mark
        encoding = draw(st.sampled_from(["utf-16", "utf-16-le", "utf-16-be", "utf-32", "bom"]))
        return b"\xef\xbb\xbf" + body if encoding == "bom" else body.decode().encode(encoding)
    if kind == 10:  # stray bytes somewhere
        at = draw(st.integers(0, len(body)))
        junk = draw(
            st.sampled_from([b"\x80", b"\xff", b"\xed\xa0\x80", b"\xc0\xaf", b"\x00", b"\x1f"])
            | st.binary(min_size=1, max_size=3)
        )
        return body[:at] + junk + body[at:]
    if kind == 11:  # cut short
        return body[: draw(st.integers(0, max(0, len(body) - 1)))]
    # padded with white space to the size limit, or one byte past it
    size = MAX_BODY_BYTES + draw(st.sampled_from([0, 1]))
    return body[:-1] + b" " * max(0, size - len(body)) + b"}"


# --- the properties --------------------------------------------------------------------------


@pytest.mark.slow
@given(valid_documents(), st.booleans())
def test_documents_from_the_schema(document: dict[str, Any], ascii_only: bool) -> None:
    check(json.dumps(document, ensure_ascii=ascii_only).encode())


@pytest.mark.slow
@given(mutated())
def test_mutated_envelopes(body: bytes) -> None:
    check(body)


@given(st.binary(max_size=200))
def test_arbitrary_bytes(body: bytes) -> None:
    check(body)


@pytest.mark.parametrize("attempt", [1, MAX_ATTEMPT])
def test_the_failure_reason_of_any_attempt_can_be_written(attempt: int) -> None:
    body = dumps(
        [
            ("version", "1"),
            ("id", '"x"'),
            ("task", '"fail"'),
            ("attempt", str(attempt)),
            ("created_at", '"2026-01-01T00:00:00Z"'),
        ]
    ).encode()
    outcome = outcome_of(body)
    assert isinstance(outcome, RetryLater if attempt == 1 else DeadLetter)
    assert "failing on purpose" in outcome.reason
