"""The envelope: the one versioned message format every backend carries, as JSON (never pickle).

Its JSON Schema, ``dispatcher/schema/envelope.v1.json``, is the contract for producers in other
languages, and :func:`decode` accepts exactly the bodies it describes, by one rule (a
property-based test, ``tests/core/test_envelope_fuzz.py``, holds the two together):

* The body is JSON text (RFC 8259) in UTF-8 without a byte order mark, at most
  :data:`MAX_BODY_BYTES` long. ``NaN`` and ``Infinity`` are not JSON; strings must be valid
  Unicode (an unpaired surrogate escape such as ``"\\ud800"`` is refused, RFC 8259 §8.2); of
  duplicate names in an object the last one counts (RFC 8259 §4).
* Numbers in ``args`` and ``kwargs`` lie within the range of an IEEE 754 double, ±(2 - 2**-52)
  * 2**1023 (RFC 8259 §6); integers are kept exact. Lists and objects nest at most
  :data:`MAX_NESTING` deep inside one argument (so at most ``MAX_NESTING + 2`` in the body).
* ``version`` and ``attempt`` are integers, ``attempt`` at most :data:`MAX_ATTEMPT`. As in JSON
  Schema, where a number with a zero fractional part *is* an integer, ``2.0`` is read as ``2``
  (the encoder always writes ``2``).
* Times are RFC 3339 ``date-time``s (§5.6): ``T`` or ``t``, seconds required, an optional
  fraction, then ``Z``, ``z`` or a ``±hh:mm`` offset. Python's datetime holds neither year 0000
  nor a leap second (``:60``), so both are refused; the schema's ``pattern`` says so too.
* Strings are no longer than the schema says (ids 128, task names 256, header names 128 and
  values 8,192, at most 64 headers).

A body outside the rule raises :class:`~dispatcher.errors.InvalidMessage` naming the rule; no
body makes :func:`decode` raise anything else, recurse without bound or run in more than linear
time.

The envelope is a plain record (:mod:`dispatcher.records`) checked by hand, not a pydantic model:
every Lambda cold start decodes one, and pydantic's import alone costs more than a Powertools
batch handler.

Parsing and writing go through orjson, chosen by measuring (CPython 3.11 on a shared 2-core
machine; a typical envelope of 420 bytes; ``make bench`` prints ``envelope_vs_json``):

* stdlib ``json.dumps`` + ``json.loads`` of the same dict, with no checks, take 6.3 µs, and
  ``json.loads`` alone 3.5 µs: the standard library leaves no room for checks. This module
  with ``json`` in place of orjson (the same checks) takes 11.8 µs, 1.86x the baseline;
* orjson parses in 0.7 µs and writes in 0.2 µs: encode + decode with every check take 4.8 µs
  (``envelope_vs_json`` 0.77). Its import costs a cold start 2.8 ms, mostly the ``uuid`` and
  ``platform`` modules it loads (the Lambda cold-start benchmark: 65.1 ms before, 68.3 ms
  after, against 75.8 ms for Powertools);
* msgspec is as fast, but its import costs 7.5 ms (uuid, platform, decimal, typing_extensions),
  and its date-time parser accepts what RFC 3339 does not (a space for ``T``, ``+0200``), so
  the times would be checked here all the same.

Where orjson cannot be exact, the standard library takes over: a body with a run of 19 or more
digits is parsed again with ``json`` (orjson reads an integer beyond 64 bits as a float), and
an envelope holding such an integer is written with it.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson

from dispatcher import checks
from dispatcher.errors import (
    EnvelopeTooLarge,
    InvalidField,
    InvalidMessage,
    MalformedMessage,
    UnsupportedEnvelopeVersion,
)
from dispatcher.records import Record, setattr_

ENVELOPE_VERSION = 1
#: The shipped schema, next to this module (package data).
SCHEMA_PATH = os.path.join(os.path.dirname(__file__), "schema", "envelope.v1.json")

#: The largest body, in bytes. Four times the largest message of any queue we carry (SQS and
#: Cloud Tasks take 1 MiB), leaving room for claim-checked bodies, yet small enough to decode
#: within a 128 MB Lambda.
MAX_BODY_BYTES = 4 * 1024 * 1024
#: How deep lists and objects may nest inside one argument (``[[1]]`` is 2 deep).
MAX_NESTING = 64
#: The largest magnitude of a number in the arguments: the largest finite IEEE 754 double.
MAX_NUMBER = sys.float_info.max
#: The largest ``attempt`` (it fits a signed 32-bit integer in every language).
MAX_ATTEMPT = 2**31 - 1
MAX_ID_LENGTH = 128
MAX_TASK_LENGTH = 256
MAX_KEY_LENGTH = 128
MAX_HEADERS = 64
MAX_HEADER_NAME_LENGTH = 128
MAX_HEADER_VALUE_LENGTH = 8192

#: RFC 3339 ``date-time``, less year 0000 and leap seconds; the schema carries the same pattern.
DATE_TIME_PATTERN = (
    r"^(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})"
    r"-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r"[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?"
    r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
)
TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
_DATE_TIME = re.compile(DATE_TIME_PATTERN).fullmatch
_TRACEPARENT = TRACEPARENT.fullmatch
_BODY_DEPTH = MAX_NESTING + 2  # the envelope object, then the args list or kwargs object
#: orjson's words for a body beyond a limit of the rule, and how the rule words that limit.
_LIMITS_ORJSON_SEES = (
    ("number is infinity when parsed as double", f"a number is beyond ±{MAX_NUMBER:.17g}"),
    ("depth limit exceeded", f"lists and objects should nest at most {MAX_NESTING} deep"),
)
#: The reason for every body that is not JSON text in UTF-8 (receivers' tests quote it).
_NOT_JSON = "message body is not JSON"
_MINUTE = timedelta(minutes=1)
#: The default of the list and dict fields: each envelope gets new ones.
_FRESH: Any = object()


def new_id() -> str:
    """A fresh message id: a UUID version 7 (RFC 9562, section 5.7), lowercase hex with
    dashes. Its first 48 bits are the Unix time in milliseconds, so ids sent together sort
    together: the local backend's results index and DynamoDB's partitions see writes close to
    each other instead of scattered (a random UUID4 cost the local worker 3-5 us of CPU per
    task in page writes). The other 74 bits are random. Written here, not with :mod:`uuid`
    (no version 7 before Python 3.14, and it imports :mod:`platform` on a cold start)."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # variant 10
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class Envelope(Record):
    """One task invocation on the wire. Every field is checked when an envelope is made
    (:class:`~dispatcher.errors.InvalidField` names the first bad one).

    ``attempt`` is the attempt number this copy of the message starts at (1 for a fresh send);
    a backend that counts deliveries adds its redeliveries to it. ``args`` and ``kwargs`` hold
    JSON values within the limits of the module docstring; times are timezone-aware.
    """

    # No __slots__: the fields live in a __dict__, in this order, so that decode sets them all
    # at once (0.4 us, not 1.2) and encode copies them.
    FIELDS = (
        "version",
        "id",
        "task",
        "args",
        "kwargs",
        "attempt",
        "created_at",
        "eta",
        "expires_at",
        "dedup_key",
        "group_key",
        "traceparent",
        "parent_id",
        "root_id",
        "headers",
    )
    version: Literal[1]
    id: str
    task: str
    args: list[Any]
    kwargs: dict[str, Any]
    attempt: int
    created_at: datetime
    eta: datetime | None
    expires_at: datetime | None
    dedup_key: str | None
    group_key: str | None
    traceparent: str | None
    parent_id: str | None
    root_id: str | None
    headers: dict[str, str]

    def __init__(
        self,
        *,
        version: Literal[1] = 1,
        id: str,
        task: str,
        args: list[Any] = _FRESH,
        kwargs: dict[str, Any] = _FRESH,
        attempt: int = 1,
        created_at: datetime,
        eta: datetime | None = None,
        expires_at: datetime | None = None,
        dedup_key: str | None = None,
        group_key: str | None = None,
        traceparent: str | None = None,
        parent_id: str | None = None,
        root_id: str | None = None,
        headers: dict[str, str] = _FRESH,
    ) -> None:
        fields = {
            "version": version,
            "id": id,
            "task": task,
            "args": [] if args is _FRESH else args,
            "kwargs": {} if kwargs is _FRESH else kwargs,
            "attempt": attempt,
            "created_at": created_at,
            "eta": eta,
            "expires_at": expires_at,
            "dedup_key": dedup_key,
            "group_key": group_key,
            "traceparent": traceparent,
            "parent_id": parent_id,
            "root_id": root_id,
            "headers": {} if headers is _FRESH else headers,
        }
        setattr_(self, "__dict__", fields)
        self._check()

    def _check(self) -> None:
        if self.version != ENVELOPE_VERSION or type(self.version) is not int:
            raise InvalidField("version", f"Input should be {ENVELOPE_VERSION}")
        if type(self.args) is not list:
            raise InvalidField("args", "Input should be a valid list")
        if type(self.kwargs) is not dict:
            raise InvalidField("kwargs", "Input should be a valid dictionary")
        if not all(type(key) is str for key in self.kwargs):
            raise InvalidField("kwargs", "Object keys should be strings")
        for name, values in (("args", self.args), ("kwargs", self.kwargs.values())):
            for value in values:
                checks.json_value(name, value, max_depth=MAX_NESTING, max_number=MAX_NUMBER)
        checks.integer("attempt", self.attempt, ge=1, le=MAX_ATTEMPT)
        _check_moment("created_at", self.created_at)
        if self.eta is not None:
            _check_moment("eta", self.eta)
        if self.expires_at is not None:
            _check_moment("expires_at", self.expires_at)
        _check_strings(self.__dict__)

    def encode(self) -> bytes:
        """The JSON bytes that backends carry (``None`` fields left out).

        Raises :class:`~dispatcher.errors.InvalidField` for a string that is not valid Unicode
        and :class:`~dispatcher.errors.EnvelopeTooLarge` past :data:`MAX_BODY_BYTES`."""
        data = self.__dict__.copy()  # the fields in order
        for name in _OMITTED_IF_NONE:
            if data[name] is None:
                del data[name]
        try:
            body = orjson.dumps(data, option=orjson.OPT_UTC_Z)
        except orjson.JSONEncodeError:  # an integer beyond 64 bits, or a lone surrogate
            body = _exact_dumps(data)
        if len(body) > MAX_BODY_BYTES:
            raise EnvelopeTooLarge(
                f"the envelope of {self.task} is {len(body):,} bytes, over the limit of"
                f" {MAX_BODY_BYTES:,} bytes"
            )
        return body


_REQUIRED = ("id", "task", "created_at")
_OMITTED_IF_NONE = (
    "eta",
    "expires_at",
    "dedup_key",
    "group_key",
    "traceparent",
    "parent_id",
    "root_id",
)
#: Maps digits to ``0``, ``[`` and ``{`` to ``[``, every other byte to ``.``: more ``[`` in the
#: result than the body may nest means the nesting must be measured, and a run of 19 zeros is a
#: number orjson may have read as a float (or digits in a string: a second parse, no harm).
_SHAPE = bytes(
    0x30 if 0x30 <= byte <= 0x39 else 0x5B if byte in b"[{" else 0x2E for byte in range(256)
)
_LONG_NUMBER = b"0" * 19


def decode(body: bytes | bytearray | memoryview | str) -> Envelope:
    """Parse an envelope, raising a typed :class:`InvalidMessage` that names the problem."""
    raw = body if isinstance(body, bytes) else _as_bytes(body)
    if len(raw) > MAX_BODY_BYTES:
        raise InvalidMessage(
            f"message body is {len(raw):,} bytes, over the limit of {MAX_BODY_BYTES:,} bytes"
        )
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        for words, limit in _LIMITS_ORJSON_SEES:  # maybe JSON, but beyond a limit of the rule
            if words in str(error):
                raise InvalidMessage(f"invalid envelope: {limit} ({error})") from None
        raise MalformedMessage(_NOT_JSON) from None
    if type(data) is not dict:
        raise MalformedMessage(f"message body is a JSON {type(data).__name__}, not an object")
    shape = raw.translate(_SHAPE)
    if shape.count(b"[") > _BODY_DEPTH or _LONG_NUMBER in shape:
        data = _exact_loads(data, raw, long_numbers=_LONG_NUMBER in shape)
    version = data.get("version")
    if version != ENVELOPE_VERSION or type(version) is bool:
        raise UnsupportedEnvelopeVersion(
            f"unsupported envelope version {version!r} (this release reads {ENVELOPE_VERSION})"
        )
    try:
        return _envelope(data)
    except InvalidField as error:
        raise InvalidMessage(f"invalid envelope: {error}") from None


def json_schema() -> dict[str, Any]:
    """The envelope's JSON Schema (draft 2020-12), as shipped."""
    with open(SCHEMA_PATH, encoding="utf-8") as stream:
        schema: dict[str, Any] = json.load(stream)
    return schema


def _envelope(data: dict[str, Any]) -> Envelope:
    """The envelope of a parsed body whose numbers and nesting are within the limits."""
    fields = {**_ABSENT, **data}
    if len(fields) != len(_ABSENT):
        raise InvalidField(min(data.keys() - _ABSENT.keys()), "Extra inputs are not permitted")
    if "id" not in data or "task" not in data or "created_at" not in data:
        raise InvalidField(next(n for n in _REQUIRED if n not in data), "Field required")
    if type(fields["args"]) is not list:
        if "args" in data:
            raise InvalidField("args", "Input should be a valid list")
        fields["args"] = []
    if type(fields["kwargs"]) is not dict:
        if "kwargs" in data:
            raise InvalidField("kwargs", "Input should be a valid dictionary")
        fields["kwargs"] = {}
    if fields["headers"] is None and "headers" not in data:
        fields["headers"] = {}
    attempt = fields["attempt"]
    if type(attempt) is not int or not 0 < attempt <= MAX_ATTEMPT:
        if type(attempt) is float and attempt.is_integer():
            attempt = int(attempt)
        fields["attempt"] = checks.integer("attempt", attempt, ge=1, le=MAX_ATTEMPT)
    fields["version"] = ENVELOPE_VERSION
    fields["created_at"] = _parse_time("created_at", fields["created_at"])
    if fields["eta"] is not None:
        fields["eta"] = _parse_time("eta", fields["eta"])
    if fields["expires_at"] is not None:
        fields["expires_at"] = _parse_time("expires_at", fields["expires_at"])
    _check_strings(fields)
    envelope = _new(Envelope)
    _set(envelope, "__dict__", fields)  # checked here, so not by __init__ again
    return envelope


_new = object.__new__
_set = object.__setattr__
#: Every field, in order, as it is when the body leaves it out (args, kwargs, headers: new ones).
_ABSENT: dict[str, Any] = dict.fromkeys(Envelope.FIELDS) | {"attempt": 1}


def _check_strings(fields: dict[str, Any]) -> None:
    """The checks of the string fields and headers, shared by making and decoding: a quick
    test of each value, then the check that words the error only where it fails."""
    ident, task, traceparent = fields["id"], fields["task"], fields["traceparent"]
    if type(ident) is not str or not 0 < len(ident) <= MAX_ID_LENGTH:
        checks.text("id", ident, min_length=1, max_length=MAX_ID_LENGTH)
    if type(task) is not str or not 0 < len(task) <= MAX_TASK_LENGTH:
        checks.text("task", task, min_length=1, max_length=MAX_TASK_LENGTH)
    for name, limit in _SHORT_TEXTS:
        value = fields[name]
        if value is not None and (type(value) is not str or len(value) > limit):
            checks.text(name, value, max_length=limit)
    if traceparent is not None and (type(traceparent) is not str or not _TRACEPARENT(traceparent)):
        checks.text("traceparent", traceparent, pattern=TRACEPARENT)
    headers = fields["headers"]
    if type(headers) is not dict:
        raise InvalidField("headers", "Input should be an object of strings")
    if len(headers) > MAX_HEADERS:
        raise InvalidField("headers", f"Object should have at most {MAX_HEADERS} items")
    for name, value in headers.items():
        if type(value) is not str or type(name) is not str:
            raise InvalidField("headers", "Input should be an object of strings")
        if len(name) > MAX_HEADER_NAME_LENGTH:
            raise InvalidField(
                "headers", f"Names should have at most {MAX_HEADER_NAME_LENGTH} characters"
            )
        if len(value) > MAX_HEADER_VALUE_LENGTH:
            raise InvalidField(
                f"headers.{name}",
                f"String should have at most {MAX_HEADER_VALUE_LENGTH} characters",
            )


_SHORT_TEXTS = (
    ("dedup_key", MAX_KEY_LENGTH),
    ("group_key", MAX_KEY_LENGTH),
    ("parent_id", MAX_ID_LENGTH),
    ("root_id", MAX_ID_LENGTH),
)


def _check_moment(name: str, value: Any) -> None:
    """A timezone-aware datetime whose offset is whole minutes (RFC 3339 has no seconds)."""
    offset = value.utcoffset() if isinstance(value, datetime) else None
    if offset is None:
        raise InvalidField(name, "Input should be a timezone-aware datetime")
    if offset % _MINUTE:
        raise InvalidField(name, "Time zone offset should be a whole number of minutes")


def _parse_time(name: str, value: Any) -> datetime:
    """An RFC 3339 date-time (:data:`DATE_TIME_PATTERN`) that is a real date."""
    if type(value) is str and _DATE_TIME(value):
        try:
            return datetime.fromisoformat(value.upper())
        except ValueError:  # a day the month does not have
            pass
    raise InvalidField(name, "Input should be an RFC 3339 date-time with a time zone offset")


def _as_bytes(body: bytearray | memoryview | str) -> bytes:
    try:
        return body.encode() if isinstance(body, str) else bytes(body)
    except (UnicodeEncodeError, TypeError):
        raise MalformedMessage(_NOT_JSON) from None


def _exact_loads(parsed: dict[str, Any], raw: bytes, *, long_numbers: bool) -> dict[str, Any]:
    """The slow path of bodies with many lists or long numbers: the nesting checked, then the
    body parsed again with exact integers if it may hold one beyond 64 bits."""
    try:
        _check_values(parsed)
        if not long_numbers:
            return parsed
        data: dict[str, Any] = json.loads(raw)  # valid UTF-8 and nested shallowly: safe
        _check_values(data)
        return data
    except InvalidField as error:
        raise InvalidMessage(f"invalid envelope: {error}") from None


def _check_values(data: dict[str, Any]) -> None:
    """Every value of a parsed body is within the nesting and number limits: each argument
    nests at most :data:`MAX_NESTING` deep, and no other field deeper (its own check then says
    what is wrong with it)."""
    for name, value in data.items():
        if name == "args" and type(value) is list:
            members: Any = value
        elif name == "kwargs" and type(value) is dict:
            members = value.values()
        else:
            members = (value,)
        for member in members:
            checks.json_value(name, member, max_depth=MAX_NESTING, max_number=MAX_NUMBER)


def _exact_dumps(data: dict[str, Any]) -> bytes:
    """``data`` written by the standard library (for integers beyond 64 bits)."""
    text = json.dumps(
        data, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_rfc3339
    )
    try:
        return text.encode()
    except UnicodeEncodeError:
        raise InvalidField("body", "Strings should be valid Unicode (no lone surrogates)") from None


def _rfc3339(moment: datetime) -> str:
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text
