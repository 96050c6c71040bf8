"""Serve one of the receivers the GCP benchmark compares, with uvicorn on 127.0.0.1:

``python -m benchmarks.gcp_serve ours|bare PORT``: ours (token check, the execution core,
in-memory results; its instance concurrency from ``DISPATCHER_GCP_CONCURRENCY``) or a bare
Starlette endpoint that parses the JSON and calls the function.
``python -m benchmarks.gcp_serve fastapi PORT``: the minimal FastAPI app of the cold-start
comparison.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route


def bare() -> Starlette:
    """Parse the JSON body and call the function."""
    from benchmarks.gcp_app import work

    async def run(request: Request) -> PlainTextResponse:
        body = await request.json()
        return PlainTextResponse(str(work.fn(*body["args"])))

    return Starlette(routes=[Route("/tasks", run, methods=["POST"])])


def ours() -> Any:
    """The receiver as Cloud Run runs it, with results in memory."""
    from adapters.gcp.auth import Certificates, TokenVerifier
    from adapters.gcp.config import GcpConfig
    from adapters.gcp.entrypoint import Service, create_app, instance_concurrency
    from adapters.gcp.producer import GcpBackend
    from adapters.gcp.receiver import PushReceiver
    from benchmarks.gcp_app import app
    from dispatcher.testing import MemoryResults

    config = GcpConfig.from_spec(app.backend_spec, app.name)
    backend = GcpBackend(app, config)
    app.use(backend)
    verifier = TokenVerifier(
        audiences={config.audience_for(q) for q in app.queues},
        service_account=config.invoker(),
        issuers=config.issuers,
        certificates=Certificates(config.certs_url),
    )
    receiver = PushReceiver(app, backend, results=MemoryResults())
    service = Service(verifier, receiver, concurrency=instance_concurrency(os.environ))
    return create_app(lambda: service)


def fastapi() -> Any:
    """A minimal FastAPI app doing the same call."""
    from fastapi import FastAPI

    from benchmarks.aws_plain import add

    made = FastAPI()

    @made.post("/tasks")
    async def run(request: Request) -> dict[str, int]:
        body = await request.json()
        return {"result": add(*body["args"])}

    return made


if __name__ == "__main__":
    import uvicorn

    kind, port = sys.argv[1], int(sys.argv[2])
    target = {"ours": ours, "bare": bare, "fastapi": fastapi}[kind]()
    uvicorn.run(target, host="127.0.0.1", port=port, log_level="error")
