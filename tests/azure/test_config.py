"""Backend specs and connection strings."""

from __future__ import annotations

import pytest

from adapters.azure.config import (
    DEVELOPMENT_ACCOUNT,
    DEVELOPMENT_KEY,
    AzureConfig,
    development_connection_string,
)
from dispatcher.errors import BackendNotConfigured

AZURITE = development_connection_string(
    {
        s: f"http://127.0.0.1:{p}/devstoreaccount1"
        for s, p in [("blob", 1), ("queue", 2), ("table", 3)]
    }
)


def test_a_connection_string_from_the_environment() -> None:
    config = AzureConfig.from_spec("azure", {"AZURE_STORAGE_CONNECTION_STRING": AZURITE})
    assert config.account == DEVELOPMENT_ACCOUNT
    assert config.key == DEVELOPMENT_KEY
    assert config.queue_url == "http://127.0.0.1:2/devstoreaccount1"
    assert config.table_url == "http://127.0.0.1:3/devstoreaccount1"
    assert config.connection_string == AZURITE


def test_the_function_apps_setting_is_read_too() -> None:
    config = AzureConfig.from_spec("azure://devstoreaccount1", {"AzureWebJobsStorage": AZURITE})
    assert config.blob_url == "http://127.0.0.1:1/devstoreaccount1"


def test_use_development_storage() -> None:
    config = AzureConfig.from_connection_string("UseDevelopmentStorage=true")
    assert config.queue_url == "http://127.0.0.1:10001/devstoreaccount1"
    assert config.key == DEVELOPMENT_KEY
    assert config.connection_string is not None
    assert "QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1" in config.connection_string


def test_a_cloud_connection_string() -> None:
    connection = (
        "DefaultEndpointsProtocol=https;AccountName=shopdata;AccountKey=a2V5;"
        "EndpointSuffix=core.windows.net"
    )
    config = AzureConfig.from_spec("azure://shopdata", {"AzureWebJobsStorage": connection})
    assert config.queue_url == "https://shopdata.queue.core.windows.net"
    assert config.key == "a2V5"


def test_an_account_without_a_connection_string_uses_its_endpoints() -> None:
    config = AzureConfig.from_spec("azure://shopdata", {"AZURE_STORAGE_KEY": "a2V5"})
    assert config.table_url == "https://shopdata.table.core.windows.net"
    assert config.key == "a2V5"
    assert config.connection_string is None
    assert AzureConfig.from_spec("azure://shopdata", {}).key is None  # an Azure AD identity


@pytest.mark.parametrize(
    ("spec", "env", "problem"),
    [
        ("azure", {}, "no Azure storage account"),
        ("azure://Bad_Name", {}, "not a storage account name"),
        ("aws://eu-west-1", {}, "not an Azure backend spec"),
        (
            "azure://other",
            {"AZURE_STORAGE_CONNECTION_STRING": AZURITE},
            "is for 'devstoreaccount1'",
        ),
        ("azure", {"AZURE_STORAGE_CONNECTION_STRING": "AccountKey=x"}, "has no AccountName"),
        ("azure", {"AZURE_STORAGE_CONNECTION_STRING": "garbage"}, "a part without '='"),
    ],
)
def test_bad_configuration_is_named(spec: str, env: dict[str, str], problem: str) -> None:
    with pytest.raises(BackendNotConfigured, match=problem):
        AzureConfig.from_spec(spec, env)


def test_a_function_apps_identity_based_connection() -> None:
    """What the generated infrastructure sets: an account name and the client id of the
    user-assigned identity, no key."""
    env = {
        "AzureWebJobsStorage__accountName": "shopab12cd34",
        "AzureWebJobsStorage__credential": "managedidentity",
        "AzureWebJobsStorage__clientId": "0f1e2d3c-0000-1111-2222-333344445555",
        "DISPATCHER_STAGE": "dev",
    }
    config = AzureConfig.from_spec("azure", env)
    assert config.account == "shopab12cd34"
    assert config.table_url == "https://shopab12cd34.table.core.windows.net"
    assert (config.key, config.connection_string) == (None, None)
    assert config.client_id == "0f1e2d3c-0000-1111-2222-333344445555"
    assert config.stage == "dev"
    uri = {"AzureWebJobsStorage__queueServiceUri": "https://other.queue.core.windows.net"}
    assert AzureConfig.from_spec("azure", uri).account == "other"
    with pytest.raises(BackendNotConfigured, match="is 'shopab12cd34'"):
        AzureConfig.from_spec("azure://elsewhere", env)


def test_the_stage_comes_from_the_environment() -> None:
    config = AzureConfig.from_spec("azure", {"AZURE_STORAGE_CONNECTION_STRING": AZURITE})
    assert config.stage is None
    staged = {"AZURE_STORAGE_CONNECTION_STRING": AZURITE, "DISPATCHER_STAGE": "dev"}
    assert AzureConfig.from_spec("azure", staged).stage == "dev"
    with pytest.raises(BackendNotConfigured, match="DISPATCHER_STAGE: stage 'Dev' is not valid"):
        AzureConfig.from_spec("azure", {**staged, "DISPATCHER_STAGE": "Dev"})
