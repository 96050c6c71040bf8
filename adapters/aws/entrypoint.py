"""The Lambda entrypoint: ``adapters.aws.entrypoint.handler``.

The app comes from ``$DISPATCHER_APP`` (``module:attr``). Importing this module costs almost
nothing; the first invocation loads the app and creates only the clients it needs (DynamoDB
for results; SQS only to retry, hop, dead-letter or send; S3 only for claim checks). With
credentials in the environment or at the container credentials endpoint, as on Lambda,
DynamoDB and SQS are called through :mod:`adapters.aws.lite`, so the cold path never imports
boto3 unless S3 is needed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adapters.aws.receiver import SqsEventProcessor

_processor: SqsEventProcessor | None = None


def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, list[dict[str, str]]]:
    """Process one SQS event within the time ``context`` (the Lambda context) leaves;
    returns ``{"batchItemFailures": [...]}``."""
    global _processor
    if _processor is None:
        _processor = build()
    return _processor.handle(event, context)


def build(*, claim_grace: float | None = None) -> SqsEventProcessor:
    """The processor the handler uses: the app of ``$DISPATCHER_APP`` on the AWS backend
    through the small clients. ``claim_grace``: how long a claim outlives its invocation
    (:data:`dispatcher.execution.CLAIM_GRACE` unless given)."""
    from adapters.aws import pacing
    from adapters.aws.config import AwsConfig
    from adapters.aws.lite import LiteClients
    from adapters.aws.producer import AwsBackend
    from adapters.aws.receiver import SqsEventProcessor
    from dispatcher.errors import BackendNotConfigured
    from dispatcher.loading import load_app
    from dispatcher.naming import APP_ENV

    # Pydantic looks for plugins in every installed distribution's metadata when the first
    # model is built (about 15 ms of a cold start); set the variable to "" to keep plugins.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    reference = os.environ.get(APP_ENV)
    if not reference:
        raise BackendNotConfigured(f"set {APP_ENV} to the app, as module:attr")
    app = load_app(reference)
    pacing.install(app)  # a task's rate_limit: each run takes at least its pace
    spec = app.backend_spec if app.backend_spec.startswith("aws") else "aws"
    config = AwsConfig.from_spec(spec)
    backend = AwsBackend(app, config, clients=LiteClients(config))
    app.use(backend)
    if claim_grace is None:
        return SqsEventProcessor(app, backend)
    return SqsEventProcessor(app, backend, claim_grace=claim_grace)
