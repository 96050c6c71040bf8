"""Azure SDK errors, raised by Azurite for real, become dispatcher errors with one clear line."""

from __future__ import annotations

import pytest

from adapters.azure.clients import Clients
from adapters.azure.config import AzureConfig, development_connection_string
from adapters.azure.errors import code_of, status_of, translate, translated
from dispatcher.errors import (
    BackendError,
    BackendNotConfigured,
    BackendUnavailable,
    EnvelopeTooLarge,
    QueueNotFound,
)

pytestmark = pytest.mark.emulator


def _raised(action: object) -> BaseException:
    try:
        action()  # type: ignore[operator]
    except Exception as error:
        return error
    raise AssertionError("nothing was raised")


def test_storage_errors_are_translated(storage: str) -> None:
    clients = Clients(AzureConfig.from_connection_string(storage), retries=0)
    missing = _raised(lambda: clients.queue("nowhere").send_message("x"))
    assert (status_of(missing), code_of(missing)) == (404, "QueueNotFound")
    assert isinstance(translate(missing, "sending"), QueueNotFound)
    clients.queue("sized").create_queue()
    large = _raised(lambda: clients.queue("sized").send_message("x" * 70_000))
    assert isinstance(translate(large, "sending"), EnvelopeTooLarge)
    table = _raised(lambda: clients.table("nosuchtable").get_entity("a", "b"))
    mapped = translate(table, "reading")
    assert isinstance(mapped, BackendNotConfigured) and "TableNotFound" in str(mapped)


def test_bad_credentials_and_unreachable_storage(storage: str) -> None:
    wrong = AzureConfig.from_connection_string(storage.replace("Eby8", "Xby8"))
    refused = _raised(lambda: Clients(wrong, retries=0).queue("queue").create_queue())
    mapped = translate(refused, "creating a queue")
    assert isinstance(mapped, BackendNotConfigured) and "rejected the credentials" in str(mapped)
    nowhere = development_connection_string(
        {s: "http://127.0.0.1:9/devstoreaccount1" for s in ("queue", "blob", "table")}
    )
    gone = AzureConfig.from_connection_string(nowhere)
    unreachable = _raised(lambda: Clients(gone, retries=0).queue("queue").create_queue())
    with (
        pytest.raises(BackendUnavailable, match=r"^creating a queue: cannot reach Azure Storage"),
        translated("creating a queue"),
    ):
        raise unreachable


def test_other_errors_pass_through() -> None:
    assert translate(ValueError("not ours"), "doing") is None
    with pytest.raises(ValueError), translated("doing"):
        raise ValueError("not ours")
    assert isinstance(BackendError("x"), Exception)
