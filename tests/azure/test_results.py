"""The Table result store on Azurite: records, the insert-only claim, take-overs conditioned on
the ETag, dedup keys, and Table storage's key and size rules."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.azure.lite import LiteEntities, TableRequestFailed
from adapters.azure.results import (
    RESULT_ROW,
    TEXT_PART,
    TableResults,
    entity_key,
    entity_size,
    get_text,
    put_text,
)
from adapters.azure.tables import Entities, SdkEntities
from dispatcher.backend import Claim, Status, TaskResult
from tests.azure.conftest import Deployed

pytestmark = pytest.mark.emulator


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sdk", "lite"])
def entities(request: pytest.FixtureRequest, deployed: Deployed) -> Entities:
    """The results table through azure-data-tables, and through the small signed client."""
    backend = deployed.backend
    if request.param == "sdk":
        return SdkEntities(backend.clients, backend.table)
    return LiteEntities(backend.config, backend.table)


def _store(entities: Entities, clock: Clock | None = None) -> TableResults:
    return TableResults(entities, "aztestresults", clock=clock or Clock())


def _result(task_id: str, status: Status, **fields: Any) -> TaskResult:
    return TaskResult(id=task_id, task="t", status=status, updated_at=datetime.now(UTC), **fields)


def test_a_record_round_trips(entities: Entities) -> None:
    store = _store(entities)
    assert store.get("a") is None
    store.save(_result("a", Status.SUCCEEDED, value={"n": [1, 2]}, attempt=2, root_id="r"))
    record = store.get("a")
    assert record is not None
    assert (record.status, record.value, record.attempt, record.root_id) == (
        Status.SUCCEEDED,
        {"n": [1, 2]},
        2,
        "r",
    )
    store.forget("a")
    assert store.get("a") is None
    store.forget("a")  # forgetting twice is fine


def test_claims_are_granted_once_until_final(entities: Entities) -> None:
    clock = Clock()
    store = _store(entities, clock)
    assert store.claim("m1", "t", 1, lease=40) is Claim.GRANTED
    assert store.claim("m1", "t", 1, lease=40) is Claim.BUSY
    clock.now += 41  # the first delivery died: its lease ran out
    assert store.claim("m1", "t", 2, lease=40) is Claim.GRANTED
    store.save(_result("m1", Status.RETRYING))  # a retryable failure releases the claim
    assert store.claim("m1", "t", 3, lease=40) is Claim.GRANTED
    store.save(_result("m1", Status.SUCCEEDED, value=3))
    assert store.claim("m1", "t", 4, lease=40) is Claim.DONE
    store.save(_result("m2", Status.REVOKED))
    assert store.claim("m2", "t", 1, lease=40) is Claim.DONE


class Interfering:
    """Real entities; before the first conditional replace, another writer changes the row."""

    def __init__(self, inner: Entities, change: dict[str, Any]) -> None:
        self.inner, self.change = inner, change

    def replace(self, entity: Any, etag: str | None = None) -> None:
        if etag is not None and self.change:
            change, self.change = self.change, {}
            self.inner.replace(change)
        self.inner.replace(entity, etag)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_take_over_loses_to_a_concurrent_change(entities: Entities) -> None:
    clock = Clock()
    first = _store(entities, clock)
    assert first.claim("m", "t", 1, lease=10) is Claim.GRANTED
    clock.now += 11
    rival = {
        "PartitionKey": "m",
        "RowKey": RESULT_ROW,
        "task": "t",
        "status": "running",
        "attempt": 2,
        "lease_until": clock.now + 10,
        "updated_at": "x",
    }
    second = TableResults(Interfering(entities, rival), "t", clock=clock)
    assert second.claim("m", "t", 2, lease=10) is Claim.BUSY  # 412: the rival got it first


def test_unsafe_ids_are_hashed_into_keys(entities: Entities) -> None:
    store = _store(entities)
    for task_id in ("a/b#c?d", "tab\there", "x" * 600, "it's 100% é+&=", "sp ace"):
        assert not any(c in entity_key(task_id) for c in "/\\#?\t")
        store.save(_result(task_id, Status.SUCCEEDED, value=1))
        record = store.get(task_id)
        assert record is not None and record.id == task_id
        assert store.claim(task_id, "t", 1, lease=10) is Claim.DONE
    assert entity_key("3f2c-uuid") == "3f2c-uuid"


def test_long_texts_are_split_into_properties_azure_accepts(entities: Entities) -> None:
    # A string property holds 64 KiB of UTF-16: 16 000 characters of 4 bytes each at most.
    assert len("😀".encode("utf-16-le")) * TEXT_PART <= 64 * 1024
    entity: dict[str, Any] = {}
    put_text(entity, "value", "😀" * (TEXT_PART * 2 + 5))
    assert [len(entity[k]) for k in ("value", "value__1", "value__2")] == [TEXT_PART] * 2 + [5]
    assert get_text(entity, "value") == "😀" * (TEXT_PART * 2 + 5)
    value = ["ab" * 50_000, "😀" * 1000]
    _store(entities).save(_result("big", Status.SUCCEEDED, value=value))
    record = _store(entities).get("big")
    assert record is not None and record.value == value


def test_dedup_keys_are_held_for_their_window(entities: Entities) -> None:
    clock = Clock()
    store = _store(entities, clock)
    assert store.hold_key("q#k", "first", 300) == "first"
    assert store.hold_key("q#k", "second", 300) == "first"
    store.release_key("q#k", "second")  # not the holder: nothing happens
    assert store.hold_key("q#k", "third", 300) == "first"
    clock.now += 301
    assert store.hold_key("q#k", "fourth", 300) == "fourth"
    store.release_key("q#k", "fourth")
    assert store.hold_key("q#k", "fifth", 300) == "fifth"


def test_a_partition_is_read_whole(entities: Entities) -> None:
    for row in range(5):
        entities.insert({"PartitionKey": "p'q", "RowKey": f"r{row}", "n": row})
    assert sorted(e["n"] for e in entities.partition("p'q")) == [0, 1, 2, 3, 4]
    assert entities.partition("other") == []


@pytest.mark.slow
def test_a_long_partition_is_read_across_pages(deployed: Deployed) -> None:
    lite = LiteEntities(deployed.backend.config, deployed.backend.table)
    for row in range(1_005):  # Table storage answers at most 1 000 entities a page
        lite.insert({"PartitionKey": "long", "RowKey": f"{row:05d}"})
    assert len(lite.partition("long")) == 1_005


def test_the_small_client_reports_statuses_and_unreachable_storage(deployed: Deployed) -> None:
    lite = LiteEntities(deployed.backend.config, deployed.backend.table)
    lite.insert({"PartitionKey": "a", "RowKey": "b"})
    with pytest.raises(TableRequestFailed) as caught:
        lite.insert({"PartitionKey": "a", "RowKey": "b"})
    assert caught.value.status_code == 409 and caught.value.error_code == "EntityAlreadyExists"
    gone = LiteEntities(deployed.backend.config._replace(table_url="http://127.0.0.1:9/x"), "t")
    from adapters.azure.errors import translate
    from dispatcher.errors import BackendUnavailable

    with pytest.raises(Exception) as unreachable:
        gone.read("a", "b")
    assert isinstance(translate(unreachable.value, "reading"), BackendUnavailable)
    wrong = LiteEntities(deployed.backend.config._replace(key="a2V5"), deployed.backend.table)
    with pytest.raises(TableRequestFailed) as refused:
        wrong.read("a", "b")
    assert refused.value.status_code == 403


def test_an_entity_is_sized_as_azure_counts_it() -> None:
    # Microsoft's example: "Mountain View" for Address, Age 23, AmountDue 200.23, ...
    entity = {"PartitionKey": "Customer", "RowKey": "1", "Address": "Mountain View", "Age": 23}
    assert entity_size(entity) == 4 + (8 + 1) * 2 + (8 + 7 * 2 + 4 + 13 * 2) + (8 + 3 * 2 + 4)
    assert entity_size({"PartitionKey": "", "RowKey": "", "x": 1.5, "b": True}) == 4 + 18 + 11


def test_a_result_too_large_for_an_entity_is_recorded_as_failed(entities: Entities) -> None:
    store = _store(entities)
    value = ["x" * 400_000, "y" * 200_000]  # 1.2 MB in UTF-16: above Azure's 1 MiB
    store.save(_result("huge", Status.SUCCEEDED, value=value))
    record = store.get("huge")
    assert record is not None and record.status is Status.FAILED and record.value is None
    assert record.reason is not None and "a Table entity holds 1,048,576" in record.reason
    store.save(_result("err", Status.FAILED, error_message="e" * 100_000))
    record = store.get("err")
    assert record is not None and record.error_message == "e" * 32_000
