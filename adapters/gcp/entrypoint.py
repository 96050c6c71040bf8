"""The Cloud Run entrypoint: ``adapters.gcp.entrypoint:app``, an ASGI app (Starlette) that
the container serves with uvicorn (``uvicorn adapters.gcp.entrypoint:app --host 0.0.0.0
--port $PORT``).

``POST /tasks``
    A Cloud Tasks push: the OIDC token is verified (401/403 otherwise, and nothing else
    happens), then the envelope runs (:class:`~adapters.gcp.receiver.PushReceiver`).
``POST /schedules/{task}``
    A Cloud Scheduler push for a periodic task (same token check): the task is sent.

The app comes from ``$DISPATCHER_APP`` (``module:attr``) and is loaded on the first push, with
the backend and the token verifier (see :mod:`adapters.gcp.config` for the environment).
Importing this module costs Starlette only. Task code runs in a worker thread, so that the
event loop keeps answering while a task runs, and an ``async def`` task gets its own loop.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from adapters.gcp.auth import Unauthorized
from adapters.gcp.config import PUSH_PATH, SCHEDULE_PATH

if TYPE_CHECKING:
    from adapters.gcp.auth import TokenVerifier
    from adapters.gcp.receiver import Answer, PushReceiver

log = logging.getLogger("dispatcher.gcp")


class Service:
    """The token check in front of the receiver: what each route calls."""

    def __init__(self, verifier: TokenVerifier, receiver: PushReceiver) -> None:
        self.verifier, self.receiver = verifier, receiver

    def push(self, authorization: str | None, body: bytes, headers: Mapping[str, str]) -> Answer:
        """Verify, then run one Cloud Tasks push."""
        from adapters.gcp.receiver import Answer

        try:
            self.verifier.verify(authorization)
        except Unauthorized as refused:
            log.warning("refused a push: %s", refused.reason)
            return Answer(refused.status, refused.reason)
        return self.receiver.handle(body, headers)

    def schedule(self, authorization: str | None, task: str, headers: Mapping[str, str]) -> Answer:
        """Verify, then send one periodic task's slot."""
        from adapters.gcp.receiver import Answer

        try:
            self.verifier.verify(authorization)
        except Unauthorized as refused:
            return Answer(refused.status, refused.reason)
        return self.receiver.schedule(task, headers)


def build_service(environ: Mapping[str, str] | None = None) -> Service:
    """The service for ``$DISPATCHER_APP`` on the backend its environment describes."""
    from adapters.gcp.auth import Certificates, TokenVerifier
    from adapters.gcp.config import GcpConfig
    from adapters.gcp.producer import GcpBackend
    from adapters.gcp.receiver import PushReceiver
    from dispatcher.errors import BackendNotConfigured
    from dispatcher.loading import load_app
    from dispatcher.naming import APP_ENV

    env = os.environ if environ is None else environ
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    reference = env.get(APP_ENV)
    if not reference:
        raise BackendNotConfigured(f"set {APP_ENV} to the app, as module:attr")
    app = load_app(reference)
    spec = app.backend_spec if app.backend_spec.startswith("gcp") else "gcp"
    config = GcpConfig.from_spec(spec, app.name, env)
    backend = GcpBackend(app, config)
    app.use(backend)
    verifier = TokenVerifier(
        audiences={config.audience_for(queue) for queue in app.queues},
        service_account=config.invoker(),
        issuers=config.issuers,
        certificates=Certificates(config.certs_url),
    )
    return Service(verifier, PushReceiver(app, backend))


def create_app(build: Callable[[], Service] = build_service) -> Starlette:
    """The ASGI app; ``build`` makes the service on the first request."""
    made: list[Service] = []
    lock = threading.Lock()

    def service() -> Service:
        if not made:
            with lock:
                if not made:
                    made.append(build())
        return made[0]

    def answer(result: Answer) -> PlainTextResponse:
        return PlainTextResponse(result.text, status_code=result.status, headers=result.headers)

    async def push(request: Request) -> PlainTextResponse:
        body = await request.body()
        authorization = request.headers.get("authorization")
        headers = dict(request.headers)

        def run() -> Answer:
            return service().push(authorization, body, headers)

        return answer(await run_in_threadpool(run))

    async def schedule(request: Request) -> PlainTextResponse:
        authorization = request.headers.get("authorization")
        task = request.path_params["task"]
        headers = dict(request.headers)

        def run() -> Answer:
            return service().schedule(authorization, task, headers)

        return answer(await run_in_threadpool(run))

    return Starlette(
        routes=[
            Route(PUSH_PATH, push, methods=["POST"]),
            Route(SCHEDULE_PATH + "/{task}", schedule, methods=["POST"]),
        ]
    )


app = create_app()
