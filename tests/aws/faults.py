"""A real client with one call made to fail: the smallest fault that a test needs, over the
real thing (moto behind it), never a mock of the service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError


def client_error(code: str, message: str = "", status: int = 400) -> ClientError:
    """A botocore ``ClientError`` as AWS would answer it."""
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "Operation",
    )


class Faulty:
    """Passes every call to ``client`` except ``operation``, which ``fault`` handles the first
    ``times`` times that ``when(params)`` holds: it gets the real call (to make, or not) and
    the parameters, and returns the answer or raises."""

    def __init__(
        self,
        client: Any,
        operation: str,
        fault: Callable[[Callable[..., Any], dict[str, Any]], Any],
        *,
        times: int = 1,
        when: Callable[[dict[str, Any]], bool] = lambda params: True,
    ) -> None:
        self.client, self.operation, self.fault = client, operation, fault
        self.times, self.when = times, when
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        real = getattr(self.client, name)
        if not callable(real):
            return real

        def call(**params: Any) -> Any:
            self.calls.append(name)
            if name == self.operation and self.times > 0 and self.when(params):
                self.times -= 1
                return self.fault(real, params)
            return real(**params)

        return call


def fail_with(error: Exception) -> Callable[[Callable[..., Any], dict[str, Any]], Any]:
    """A fault that raises ``error`` without making the call."""

    def fault(real: Callable[..., Any], params: dict[str, Any]) -> Any:
        raise error

    return fault
