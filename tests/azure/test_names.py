"""Azure's naming rules, applied to the names derived from the app (Azurite checks few)."""

from __future__ import annotations

import pytest

from adapters.azure import names
from dispatcher import naming
from dispatcher.errors import BackendNotConfigured


def test_queue_names_come_from_dispatcher_naming() -> None:
    assert names.queue_name("shop", "payments") == "shop-payments"
    assert names.poison_queue_name("shop-payments") == "shop-payments-poison"
    assert names.source_of_poison_queue("shop-payments-poison") == "shop-payments"
    assert names.task_queue_of("shop", "shop-payments") == "payments"


def test_a_queue_name_leaves_room_for_its_poison_queue() -> None:
    longest = "a" * (56 - len("shop-"))
    assert len(names.queue_name("shop", longest)) == 56
    assert len(names.poison_queue_name(names.queue_name("shop", longest))) == 63
    with pytest.raises(names.InvalidAzureName, match="at most 56 characters"):
        names.queue_name("shop", longest + "b")


@pytest.mark.parametrize(
    ("app", "queue"),
    [("shop", "a--b"), ("shop-", "x"), ("shop", "x-"), ("Shop", "x")],
)
def test_queue_names_follow_azure_rules(app: str, queue: str) -> None:
    with pytest.raises(names.InvalidAzureName) as caught:
        names.queue_name(app, queue)
    assert isinstance(caught.value, BackendNotConfigured)
    assert caught.value.kind == "queue"


def test_table_names_are_letters_and_digits_starting_with_a_letter() -> None:
    assert names.table_name("shop") == "shopresults"
    assert names.table_name("my-shop-2") == "myshop2results"
    with pytest.raises(names.InvalidAzureName, match="start with a letter"):
        names.table_name("2shop")


def test_container_names_follow_azure_rules() -> None:
    assert names.container_name("shop") == "shop-claim-checks"
    with pytest.raises(names.InvalidAzureName, match="single hyphens"):
        names.container_name("a--b")


def test_every_name_follows_the_stage() -> None:
    assert names.prefix("shop", "dev") == "shop-dev"
    assert names.queue_name("shop", "payments", "dev") == "shop-dev-payments"
    assert names.table_name("shop", "prod-eu") == "shopprodeuresults"
    assert names.container_name("shop", "dev") == "shop-dev-claim-checks"
    assert names.task_queue_of("shop", "shop-dev-payments", "dev") == "payments"
    assert names.queue_name("shop", "payments", "") == names.queue_name("shop", "payments")


@pytest.mark.parametrize("stage", ["Dev", "-dev", "dev-", "a" * 13, "d_v"])
def test_a_bad_stage_is_named(stage: str) -> None:
    with pytest.raises(naming.InvalidStage, match="is not valid"):
        names.queue_name("shop", "payments", stage)
