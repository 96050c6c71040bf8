"""Where the GCP backend talks to, and the names of what it uses: the project and location
from the spec, endpoints, the Cloud Run service and its invoker from the environment.

The spec is ``gcp://PROJECT/LOCATION`` (or ``gcp``, with ``GOOGLE_CLOUD_PROJECT`` and
``DISPATCHER_GCP_LOCATION``). Every other setting is an environment variable, so that the
same app module runs on the emulators and in the cloud:

``CLOUD_TASKS_EMULATOR_HOST``
    ``host:port`` of a Cloud Tasks emulator (plain gRPC, no credentials).
``STORAGE_EMULATOR_HOST``
    ``http://host:port`` of a GCS emulator (anonymous credentials); the variable
    google-cloud-storage reads too.
``DISPATCHER_GCP_SERVICE_URL``
    The Cloud Run service that runs the receiver; tasks are pushed to ``URL/tasks``. It may
    hold ``{queue}`` (the task queue) or ``{service}`` (``app-queue-worker``) when each queue
    has its own service.
``DISPATCHER_GCP_SERVICE_ACCOUNT``
    The invoker service account: Cloud Tasks signs each push's OIDC token as this account,
    and the receiver accepts tokens of this account only.
``DISPATCHER_GCP_AUDIENCE``
    The tokens' audience (default: the service URL, as Cloud Run expects).
``DISPATCHER_STAGE``
    The deployment's stage (``dev``, ``prod``...), empty for none: every name starts with
    the app's name and the stage, ``shop-dev-payments``, as :mod:`dispatcher.naming` builds
    them for every provider and the generated infrastructure names them (its Terraform
    variable ``stage``, passed to the services as this variable).
``DISPATCHER_GCP_BUCKET``
    The app's bucket (results, claims, dead letters, large bodies); default
    ``APP[-STAGE]-dispatcher-PROJECT-LOCATION``, the convention's form for global names.
``DISPATCHER_GCP_ISSUERS`` / ``DISPATCHER_GCP_CERTS_URL``
    What the receiver trusts (default Google's issuers and certificates; ``file://`` works).
``DISPATCHER_GCP_CONCURRENCY``
    The requests Cloud Run sends one instance of the service at once (its
    ``max_instance_request_concurrency``, which the generated infrastructure sets from the
    queue's tasks and passes here); default 40. At 1 the receiver runs the tasks in its event
    loop's thread, since no other request can be waiting (see :mod:`adapters.gcp.entrypoint`).
``DISPATCHER_GCP_SIGNING_KEY``
    Emulators only: a PEM private key with which the producer signs the OIDC token itself,
    since the Cloud Tasks emulator sends none (``dispatcher emulate gcp`` makes one).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from dispatcher import naming
from dispatcher.errors import BackendNotConfigured

TASKS_EMULATOR_ENV = "CLOUD_TASKS_EMULATOR_HOST"
STORAGE_EMULATOR_ENV = "STORAGE_EMULATOR_HOST"
PROJECT_ENV = "GOOGLE_CLOUD_PROJECT"
LOCATION_ENV = "DISPATCHER_GCP_LOCATION"
SERVICE_URL_ENV = "DISPATCHER_GCP_SERVICE_URL"
SERVICE_ACCOUNT_ENV = "DISPATCHER_GCP_SERVICE_ACCOUNT"
AUDIENCE_ENV = "DISPATCHER_GCP_AUDIENCE"
BUCKET_ENV = "DISPATCHER_GCP_BUCKET"
ISSUERS_ENV = "DISPATCHER_GCP_ISSUERS"
CERTS_URL_ENV = "DISPATCHER_GCP_CERTS_URL"
SIGNING_KEY_ENV = "DISPATCHER_GCP_SIGNING_KEY"
CONCURRENCY_ENV = "DISPATCHER_GCP_CONCURRENCY"
#: The stage, as every provider reads it (:mod:`dispatcher.naming`).
STAGE_ENV = naming.STAGE_ENV

#: Where Cloud Tasks pushes, below the service URL.
PUSH_PATH = "/tasks"
#: Where Cloud Scheduler pushes a periodic task's slot, below the service URL.
SCHEDULE_PATH = "/schedules"
#: Google's ID-token issuers and signing certificates (what google-auth's
#: ``id_token.verify_oauth2_token`` trusts).
GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")
GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"

# https://cloud.google.com/resource-manager/docs/creating-managing-projects: 6 to 30
# lowercase letters, digits or hyphens, starting with a letter, not ending with a hyphen.
_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_LOCATION = re.compile(r"^[a-z]+(-[a-z]+)*[0-9]*$")
# https://cloud.google.com/storage/docs/buckets#naming: 3 to 63 characters.
_MAX_BUCKET = 63
#: A bucket name longer than 63 characters keeps this many, then a hyphen and 12 hex digits
#: of its hash (the Terraform writer computes the same name).
BUCKET_KEPT = _MAX_BUCKET - 13
#: The app's bucket, a global name (it ends with the project and the location).
BUCKET = "dispatcher"


@dataclass(frozen=True, slots=True)
class GcpConfig:
    """Everything the backend's clients and the receiver need to know."""

    app: str
    project: str
    location: str
    stage: str | None = None
    tasks_endpoint: str | None = None
    storage_endpoint: str | None = None
    service_url: str | None = None
    service_account: str | None = None
    audience: str | None = None
    bucket: str = ""
    issuers: tuple[str, ...] = GOOGLE_ISSUERS
    certs_url: str = GOOGLE_CERTS_URL
    signing_key: str | None = None

    @classmethod
    def from_spec(cls, spec: str, app: str, environ: Mapping[str, str] | None = None) -> GcpConfig:
        """``gcp://PROJECT/LOCATION`` (or ``gcp``) plus the environment (see the module)."""
        env = os.environ if environ is None else environ
        scheme, _, rest = spec.partition(":")
        if scheme.strip().lower() != "gcp":
            raise BackendNotConfigured(f"not a GCP backend spec: {spec!r}")
        project, _, location = rest.removeprefix("//").strip("/ ").partition("/")
        project = project or env.get(PROJECT_ENV, "")
        location = location.strip("/") or env.get(LOCATION_ENV, "")
        if not project or not location:
            raise BackendNotConfigured(
                f"GCP backend {spec!r}: use gcp://PROJECT/LOCATION (or set {PROJECT_ENV} "
                f"and {LOCATION_ENV})"
            )
        if not _PROJECT.match(project):
            raise BackendNotConfigured(f"{project!r} is not a GCP project id (like my-project)")
        if not _LOCATION.match(location):
            raise BackendNotConfigured(f"{location!r} is not a GCP location (like europe-west1)")
        try:
            stage = naming.check_stage(env.get(STAGE_ENV, "").strip())
        except naming.InvalidStage as error:
            raise BackendNotConfigured(f"{STAGE_ENV}: {error}") from None
        issuers = tuple(i for i in env.get(ISSUERS_ENV, "").split(",") if i.strip())
        return cls(
            app=app,
            project=project,
            location=location,
            stage=stage,
            tasks_endpoint=env.get(TASKS_EMULATOR_ENV) or None,
            storage_endpoint=env.get(STORAGE_EMULATOR_ENV) or None,
            service_url=(env.get(SERVICE_URL_ENV) or "").rstrip("/") or None,
            service_account=env.get(SERVICE_ACCOUNT_ENV) or None,
            audience=env.get(AUDIENCE_ENV) or None,
            bucket=env.get(BUCKET_ENV) or bucket_name(app, stage, project, location),
            issuers=tuple(i.strip() for i in issuers) or GOOGLE_ISSUERS,
            certs_url=env.get(CERTS_URL_ENV) or GOOGLE_CERTS_URL,
            signing_key=env.get(SIGNING_KEY_ENV) or None,
        )

    @property
    def emulated(self) -> bool:
        """Whether Cloud Tasks is an emulator (it ignores retry settings and OIDC)."""
        return self.tasks_endpoint is not None

    @property
    def prefix(self) -> str:
        """What every name of the app starts with: ``shop`` or ``shop-dev``."""
        return naming.prefix(self.app, self.stage)

    @property
    def parent(self) -> str:
        """``projects/P/locations/L``: the parent of the app's queues."""
        return f"projects/{self.project}/locations/{self.location}"

    def queue_id(self, queue: str) -> str:
        """The Cloud Tasks queue of task queue ``queue``: ``shop-payments`` (``shop-dev-payments``
        with a stage)."""
        return naming.queue_name(self.app, queue, stage=self.stage)

    def queue_path(self, queue: str) -> str:
        """The full name of the Cloud Tasks queue of task queue ``queue``."""
        return f"{self.parent}/queues/{self.queue_id(queue)}"

    def task_queue(self, queue_id: str) -> str:
        """The task queue of a Cloud Tasks queue id (``shop-payments`` -> ``payments``)."""
        return queue_id.rsplit("/", 1)[-1].removeprefix(f"{self.prefix}-")

    def service_url_for(self, queue: str) -> str:
        """The receiver's base URL for task queue ``queue``."""
        if not self.service_url:
            raise BackendNotConfigured(
                f"set {SERVICE_URL_ENV} to the Cloud Run service that runs the receiver "
                "(or run `dispatcher emulate gcp APP`)"
            )
        return self.service_url.format(queue=queue, service=self.service_name(queue))

    def service_name(self, queue: str) -> str:
        """The Cloud Run service that runs task queue ``queue``: ``shop-payments-worker``."""
        return naming.function_name(self.app, queue, stage=self.stage)

    def push_url(self, queue: str) -> str:
        """Where Cloud Tasks pushes the tasks of ``queue``."""
        return self.service_url_for(queue) + PUSH_PATH

    def audience_for(self, queue: str) -> str:
        """The OIDC audience of the pushes of ``queue`` (Cloud Run expects its URL)."""
        return self.audience or self.service_url_for(queue)

    def invoker(self) -> str:
        """The service account whose OIDC token each push carries."""
        if not self.service_account:
            raise BackendNotConfigured(
                f"set {SERVICE_ACCOUNT_ENV} to the service account that may invoke the "
                "Cloud Run receiver (Cloud Tasks signs each push's OIDC token as it)"
            )
        return self.service_account


def bucket_name(app: str, stage: str | None, project: str, location: str) -> str:
    """The app's bucket: ``APP[-STAGE]-dispatcher-PROJECT-LOCATION``
    (``shop-dev-dispatcher-my-project-europe-west1``, as :mod:`dispatcher.naming` ends global
    names with the account and the region), hashed down to GCS's 63 characters."""
    name = naming.Name(app, BUCKET, scoped=True).resolve(stage, project, location)
    return shortened(name)


def shortened(name: str) -> str:
    """``name`` if it fits a bucket name, else its first :data:`BUCKET_KEPT` characters (no
    trailing hyphen), a hyphen and 12 hex digits of its hash."""
    if len(name) <= _MAX_BUCKET:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:12]
    return f"{name[:BUCKET_KEPT].rstrip('-')}-{digest}"
