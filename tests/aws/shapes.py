"""The SQS API's request shapes, checked in tests.

The backend's SQS client skips botocore's client-side parameter validation
(:mod:`adapters.aws.clients`), and moto accepts much that SQS refuses; so in tests every SQS
request the backend makes is checked against the SQS service model botocore ships
(``botocore.validate``), and a request of the wrong shape fails the test.
"""

from __future__ import annotations

from typing import Any

from botocore.validate import validate_parameters


def check_request_shapes(client: Any) -> None:
    """Validate each request of ``client`` (a boto3 SQS client) against the service model."""

    def validate(params: dict[str, Any], model: Any, **_: Any) -> None:
        validate_parameters(params, model.input_shape)

    client.meta.events.register("before-parameter-build.sqs", validate, unique_id="shapes")
