"""The spec and the environment: what the backend talks to and the names it uses."""

from __future__ import annotations

import pytest

from adapters.gcp.config import GcpConfig, bucket_name
from dispatcher.errors import BackendNotConfigured


def test_the_spec_names_project_and_location() -> None:
    config = GcpConfig.from_spec("gcp://my-project/europe-west1", "shop", {})
    assert (config.project, config.location) == ("my-project", "europe-west1")
    assert config.queue_path("payments") == (
        "projects/my-project/locations/europe-west1/queues/shop-payments"
    )
    assert config.task_queue("shop-payments") == "payments"
    assert config.bucket == "shop-dispatcher-my-project-europe-west1"
    assert not config.emulated


def test_a_stage_follows_the_app_in_every_name() -> None:
    env = {
        "DISPATCHER_STAGE": "dev",
        "DISPATCHER_GCP_SERVICE_URL": "https://{service}-123456789012.europe-west1.run.app",
    }
    config = GcpConfig.from_spec("gcp://my-project/europe-west1", "shop", env)
    assert config.queue_id("payments") == "shop-dev-payments"
    assert config.task_queue("projects/p/locations/l/queues/shop-dev-payments") == "payments"
    assert config.service_name("payments") == "shop-dev-payments-worker"
    assert config.push_url("payments") == (
        "https://shop-dev-payments-worker-123456789012.europe-west1.run.app/tasks"
    )
    assert config.bucket == "shop-dev-dispatcher-my-project-europe-west1"


@pytest.mark.parametrize("stage", ["Dev", "-dev", "dev-", "a" * 13, "dev_1"])
def test_a_bad_stage_is_refused(stage: str) -> None:
    with pytest.raises(BackendNotConfigured, match=r"DISPATCHER_STAGE: stage .* is not valid"):
        GcpConfig.from_spec("gcp://my-project/europe-west1", "shop", {"DISPATCHER_STAGE": stage})


def test_the_environment_fills_in_a_bare_spec() -> None:
    env = {"GOOGLE_CLOUD_PROJECT": "from-env-1", "DISPATCHER_GCP_LOCATION": "us-east1"}
    config = GcpConfig.from_spec("gcp", "shop", env)
    assert (config.project, config.location) == ("from-env-1", "us-east1")


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("gcp", "use gcp://PROJECT/LOCATION"),
        ("gcp://my-project", "use gcp://PROJECT/LOCATION"),
        ("gcp://My_Project/europe-west1", "is not a GCP project id"),
        ("gcp://my-project/Europe West", "is not a GCP location"),
        ("aws://eu-west-1", "not a GCP backend spec"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec: str, problem: str) -> None:
    with pytest.raises(BackendNotConfigured, match=problem):
        GcpConfig.from_spec(spec, "shop", {})


def test_service_urls_and_audiences() -> None:
    env = {"DISPATCHER_GCP_SERVICE_URL": "https://{service}-abc.a.run.app/"}
    config = GcpConfig.from_spec("gcp://my-project/europe-west1", "shop", env)
    assert config.push_url("payments") == "https://shop-payments-worker-abc.a.run.app/tasks"
    assert config.audience_for("payments") == "https://shop-payments-worker-abc.a.run.app"
    with pytest.raises(BackendNotConfigured, match="DISPATCHER_GCP_SERVICE_ACCOUNT"):
        config.invoker()
    bare = GcpConfig.from_spec("gcp://my-project/europe-west1", "shop", {})
    with pytest.raises(BackendNotConfigured, match="DISPATCHER_GCP_SERVICE_URL"):
        bare.push_url("payments")


def test_bucket_names_fit_63_characters() -> None:
    name = bucket_name("an-app", "prod-eu-west", "a-very-long-project-id-here", "europe-west1")
    assert len(name) <= 63 and name.startswith("an-app-prod-eu-west-dispatcher-a-very-long-")
    assert name == bucket_name(
        "an-app", "prod-eu-west", "a-very-long-project-id-here", "europe-west1"
    )


def test_the_plugin_is_found_and_makes_the_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    from adapters.gcp.producer import GcpBackend
    from dispatcher import Dispatcher, plugins

    assert plugins.for_scheme("gcp").name == "gcp"
    app = Dispatcher("shop", backend="gcp://my-project/europe-west1")
    assert isinstance(app.backend, GcpBackend)
