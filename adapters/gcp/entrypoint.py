"""The Cloud Run entrypoint: ``adapters.gcp.entrypoint:app``, an ASGI app that the container
serves with uvicorn (``uvicorn adapters.gcp.entrypoint:app --host 0.0.0.0 --port $PORT``).

``POST /tasks``
    A Cloud Tasks push: the OIDC token is verified (401/403 otherwise, and nothing else
    happens), then the envelope runs (:class:`~adapters.gcp.receiver.PushReceiver`).
``POST /schedules/{task}``
    A Cloud Scheduler push for a periodic task (same token check): the task is sent.

The app comes from ``$DISPATCHER_APP`` (``module:attr``) and is loaded on the first push, with
the backend and the token verifier (see :mod:`adapters.gcp.config` for the environment).
Task code runs in a pool of worker threads (as many as Cloud Run sends the instance at once,
at most :data:`THREADS`), so that the event loop keeps answering while a task runs, and an
``async def`` task gets its own loop. A service whose instances take one request at a time
(``DISPATCHER_GCP_CONCURRENCY=1``: an ordered queue, or tasks declared with
``concurrency=1``) runs the tasks in the event loop's thread, as a plain endpoint would: no
other request can be waiting, and the two hops between threads (about 150 us a push,
measured by ``benchmarks/gcp.py``) are saved. The task runs as it would in a worker thread:
the serving loop is hidden from it meanwhile (``asyncio``'s running-loop marker, the hook
alternative loops such as uvloop set), so that an ``async def`` task gets its own loop and a
sync task may call ``asyncio.run``; and its timeout interrupts it when that thread is the
main thread, as ``uvicorn`` runs it.

The ASGI app is written here, not with Starlette: two routes need no framework, and measured by
``benchmarks/gcp.py`` Starlette cost each push about 25 us of request and response objects and
routing, and each cold start its import (60 to 85 ms, with AnyIO); the hop to a worker thread
(:mod:`adapters.gcp.threads`) costs about a third of Starlette's ``run_in_threadpool`` (27 us
against 79 us on our machine).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from adapters.gcp.auth import Unauthorized
from adapters.gcp.config import PUSH_PATH, SCHEDULE_PATH
from adapters.gcp.threads import Workers

if TYPE_CHECKING:
    from adapters.gcp.auth import TokenVerifier
    from adapters.gcp.receiver import Answer, PushReceiver

log = logging.getLogger("dispatcher.gcp")

#: Worker threads running tasks at most: the requests Cloud Run sends one instance at once by
#: default (the deploy policy's ``INSTANCE_CONCURRENCY``).
THREADS = 40


class Service:
    """The token check in front of the receiver: what each route calls. ``concurrency`` is
    the requests the instance is sent at once; at 1 the routes run in the event loop's
    thread (``on_loop``)."""

    def __init__(
        self, verifier: TokenVerifier, receiver: PushReceiver, *, concurrency: int = THREADS
    ) -> None:
        self.verifier, self.receiver, self.concurrency = verifier, receiver, concurrency
        self.on_loop = concurrency == 1

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
    return Service(verifier, PushReceiver(app, backend), concurrency=instance_concurrency(env))


def instance_concurrency(environ: Mapping[str, str]) -> int:
    """``$DISPATCHER_GCP_CONCURRENCY``: the requests one instance is sent at once (default
    :data:`THREADS`)."""
    from adapters.gcp.config import CONCURRENCY_ENV
    from dispatcher.errors import BackendNotConfigured

    text = environ.get(CONCURRENCY_ENV, "").strip()
    if not text:
        return THREADS
    if not text.isdigit() or int(text) < 1:
        raise BackendNotConfigured(
            f"{CONCURRENCY_ENV} must be a whole number of requests, 1 or more (got {text!r})"
        )
    return int(text)


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class ReceiverApp:
    """The ASGI app: the two routes, the token check and the receiver, in a worker thread
    unless the service runs on the loop (see the module). ``build`` makes the
    :class:`Service` on the first request, in a worker thread."""

    def __init__(self, build: Callable[[], Service] = build_service) -> None:
        self._build = build
        self._service: Service | None = None
        self._pool: Workers | None = None
        self._lock = threading.Lock()

    def service(self) -> Service:
        """The service, built once."""
        if self._service is None:
            with self._lock:
                if self._service is None:
                    self._service = self._build()
        return self._service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path == PUSH_PATH:
            run: Callable[..., Answer] = self._push
        elif path.startswith(SCHEDULE_PATH + "/") and len(path) > len(SCHEDULE_PATH) + 1:
            run = self._schedule
        else:
            await _respond(send, _answer(404, "not found"))
            return
        if scope["method"] != "POST":
            await _respond(send, _answer(405, "method not allowed", {"allow": "POST"}))
            return
        body = await _body(receive)
        if body is None:
            return  # the client went away
        headers = {
            name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]
        }
        service = self._service
        if service is None:  # the first request loads the app, off the loop
            service = await self._workers().run(self.service)
        if service.on_loop:
            answer = _beside_the_loop(run, service, path, body, headers)
        else:
            answer = await self._workers().run(run, service, path, body, headers)
        await _respond(send, answer)

    def _push(self, service: Service, path: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        return service.push(headers.get("authorization"), body, headers)

    def _schedule(
        self, service: Service, path: str, body: bytes, headers: Mapping[str, str]
    ) -> Answer:
        task = unquote(path[len(SCHEDULE_PATH) + 1 :])
        return service.schedule(headers.get("authorization"), task, headers)

    def _workers(self) -> Workers:
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = Workers(THREADS, "receiver")
        return self._pool


def _beside_the_loop(run: Callable[..., Answer], *args: Any) -> Answer:
    """``run(*args)`` in the running loop's thread, the loop hidden from it meanwhile (as in a
    worker thread, the code it calls may start an event loop of its own)."""
    serving = asyncio.events._get_running_loop()
    asyncio.events._set_running_loop(None)
    try:
        return run(*args)
    finally:
        asyncio.events._set_running_loop(serving)


def create_app(build: Callable[[], Service] = build_service) -> ReceiverApp:
    """The ASGI app; ``build`` makes the service on the first request."""
    return ReceiverApp(build)


def _answer(status: int, text: str, headers: dict[str, str] | None = None) -> Answer:
    from adapters.gcp.receiver import Answer

    return Answer(status, text, headers or {})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _body(receive: Receive) -> bytes | None:
    """The request's whole body, or ``None`` if the client disconnected."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(send: Send, answer: Answer) -> None:
    text = answer.text.encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(text)).encode()),
        *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers.items()),
    ]
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": text})


app = create_app()
