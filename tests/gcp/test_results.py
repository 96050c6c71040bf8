"""Results and idempotency claims in GCS: the compare-and-swap logic on a store that enforces
preconditions, and the preconditions GCS receives from the real client (on the emulator)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.gcp.results import GcsResults
from dispatcher.backend import Claim, Status, TaskResult
from tests.gcp.conftest import Gcp
from tests.gcp.stores import StrictObjects


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _final(task_id: str, status: Status = Status.SUCCEEDED) -> TaskResult:
    return TaskResult(id=task_id, task="t", status=status, value=1, updated_at=datetime.now(UTC))


def test_a_fresh_claim_is_a_create_only_write() -> None:
    store = StrictObjects()
    results = GcsResults(store)
    assert results.claim("m1", "t", 1, 40) is Claim.GRANTED
    assert store.writes == [("results/m1.json", 0)]
    record = results.get("m1")
    assert record is not None and record.status is Status.RUNNING


def test_a_live_claim_is_busy_and_a_final_record_is_done() -> None:
    clock = Clock()
    results = GcsResults(StrictObjects(), clock=clock)
    assert results.claim("m1", "t", 1, 40) is Claim.GRANTED
    clock.now += 39
    assert results.claim("m1", "t", 2, 40) is Claim.BUSY
    for status in (Status.SUCCEEDED, Status.FAILED, Status.REVOKED):
        results.save(_final("m1", status))
        assert results.claim("m1", "t", 2, 40) is Claim.DONE


def test_an_expired_claim_is_taken_over_on_its_generation() -> None:
    clock = Clock()
    store = StrictObjects()
    results = GcsResults(store, clock=clock)
    results.claim("m1", "t", 1, 40)
    generation = store.objects["results/m1.json"].generation
    clock.now += 41
    assert results.claim("m1", "t", 2, 40) is Claim.GRANTED
    assert store.writes[-1] == ("results/m1.json", generation)


def test_a_retrying_record_can_be_claimed_at_once() -> None:
    results = GcsResults(StrictObjects())
    results.save(_final("m1", Status.RETRYING))
    assert results.claim("m1", "t", 2, 40) is Claim.GRANTED


def test_two_deliveries_racing_for_a_fresh_claim_run_it_once() -> None:
    store = StrictObjects()
    results = GcsResults(store)
    # The other delivery claims between our read and our create-only write.
    store.before_write = lambda key: GcsResults(store).claim("m1", "t", 1, 40)
    assert results.claim("m1", "t", 1, 40) is Claim.BUSY


def test_racing_for_an_expired_claim_lets_one_win() -> None:
    clock = Clock()
    store = StrictObjects()
    results = GcsResults(store, clock=clock)
    results.claim("m1", "t", 1, 40)
    clock.now += 100
    store.before_write = lambda key: GcsResults(store, clock=clock).claim("m1", "t", 2, 40)
    assert results.claim("m1", "t", 2, 40) is Claim.BUSY


def test_dedup_holds_are_create_only_and_expire() -> None:
    clock = Clock()
    store = StrictObjects()
    results = GcsResults(store, clock=clock)
    assert results.hold_key("q", "k", "first", 60).holder == "first"
    assert results.hold_key("q", "k", "second", 60).holder == "first"
    clock.now += 61
    hold = results.hold_key("q", "k", "third", 60)
    assert (hold.holder, hold.previous) == ("third", "first")
    results.release_key("q", "k", "someone-else")
    assert results.hold_key("q", "k", "fourth", 60).holder == "third"
    results.release_key("q", "k", "third")
    assert results.hold_key("q", "k", "fifth", 60).holder == "fifth"


def test_racing_producers_of_one_dedup_key_agree_on_the_holder() -> None:
    store = StrictObjects()
    results = GcsResults(store)
    store.before_write = lambda key: GcsResults(store).hold_key("q", "k", "other", 60)
    assert results.hold_key("q", "k", "mine", 60).holder == "other"


@pytest.mark.emulator
def test_gcs_receives_the_preconditions(deployed: Gcp) -> None:
    results = deployed.backend.results
    assert results.claim("pre-1", "t", 1, 40) is Claim.GRANTED
    uploads = [r for r in deployed.gcs.requests() if r.startswith("POST /upload/")]
    assert "ifGenerationMatch=0" in uploads[-1].split("?", 1)[1]
    results.save(
        TaskResult(id="pre-1", task="t", status=Status.RETRYING, updated_at=datetime.now(UTC))
    )
    stored = deployed.backend.clients.objects.read(results.key("pre-1"))
    assert stored is not None and stored.generation > 0
    assert results.claim("pre-1", "t", 2, 40) is Claim.GRANTED
    uploads = [r for r in deployed.gcs.requests() if r.startswith("POST /upload/")]
    assert f"ifGenerationMatch={stored.generation}" in uploads[-1]


@pytest.mark.emulator
def test_records_round_trip_on_the_emulator(deployed: Gcp) -> None:
    results = deployed.backend.results
    assert results.get("nothing") is None
    results.save(_final("r-1"))
    record = results.get("r-1")
    assert record is not None and record.value == 1 and record.status is Status.SUCCEEDED
    assert results.claim("r-1", "t", 1, 40) is Claim.DONE
    results.forget("r-1")
    assert results.get("r-1") is None
