"""The GCP backend on the Cloud Tasks and GCS emulators: enqueue cost, the warm receiver and
cold starts.

``cloudtasks_enqueue_vs_client``
    Per-message time of ``add.delay(i, i)`` (validate, build the envelope, CreateTask with the
    OIDC token settings and deadline) over a raw ``CloudTasksClient.create_task`` of an HTTP
    task with the same body, URL and token settings, built per call; one of each in turn,
    each timed alone, the medians compared. The queue is paused (nothing is pushed) and
    purged (untimed) every hundred.
``cloudrun_receiver_vs_bare_asgi``
    Per request, over one keep-alive connection: our receiver (OIDC token check, the
    execution core, results in memory) over a bare Starlette endpoint that parses the JSON
    and calls the function; the task is about 1 ms of work; each served alone by uvicorn in
    its own process; rounds of each in turn, the medians of the rounds compared. Both serve
    one request at a time, the task on the event loop: the bare endpoint can do nothing
    else (its task blocks the loop), and ours does so as a service of instance concurrency
    1 (``DISPATCHER_GCP_CONCURRENCY=1``). Ours at the default concurrency, 40, where the
    task runs in a worker thread so that the loop keeps serving the other requests, is
    measured in the same rounds and printed as a raw figure (its ratio included).
``cloudrun_cold_start_vs_fastapi``
    A fresh ``python -m uvicorn`` process serving ``adapters.gcp.entrypoint:app`` (the Cloud
    Run entrypoint: loads the app, checks the token, claims and records the result in GCS on
    the emulator) over one serving a minimal FastAPI app that parses the JSON and calls the
    function: wall time from spawning it to the answer of its first task, median of
    ``COLD_RUNS`` after one uncounted run of each.
"""

from __future__ import annotations

import compileall
import http.client
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from benchmarks.report import Line, raw

N = 400
WARM_ROUNDS = 10
WARM_PER_ROUND = 50
COLD_RUNS = 9
ROOT = Path(__file__).resolve().parent.parent
PROJECT, LOCATION = "bench-project", "us-central1"
ACCOUNT = "invoker@bench-project.iam.gserviceaccount.com"


def run() -> list[Line]:
    """Start the emulators, measure, stop them; the summary lines."""
    from adapters.gcp.emulators import free_port, storage_emulator, tasks_emulator
    from adapters.gcp.tokens import LocalIssuer

    saved = dict(os.environ)
    try:
        with (
            tempfile.TemporaryDirectory() as folder,
            tasks_emulator() as tasks,
            storage_emulator() as storage,
        ):
            issuer = LocalIssuer.generate()
            _, certs = issuer.write(Path(folder))
            receiver_port = free_port()
            os.environ.update(
                DISPATCHER_BACKEND=f"gcp://{PROJECT}/{LOCATION}",
                DISPATCHER_APP="benchmarks.gcp_app:app",
                CLOUD_TASKS_EMULATOR_HOST=tasks,
                STORAGE_EMULATOR_HOST=storage,
                DISPATCHER_GCP_SERVICE_URL=f"http://127.0.0.1:{receiver_port}",
                DISPATCHER_GCP_SERVICE_ACCOUNT=ACCOUNT,
                DISPATCHER_GCP_CERTS_URL=certs.as_uri(),
                PYTHONPATH=str(ROOT),
            )
            enqueue = _enqueue(tasks)
            warm = _warm(issuer)
            cold = _cold(issuer, receiver_port)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return [
        Line("cloudtasks_enqueue_vs_client", enqueue, op="<=", goal=1.10),
        Line("cloudrun_receiver_vs_bare_asgi", warm, op="<=", goal=1.10),
        Line("cloudrun_cold_start_vs_fastapi", cold, op="<=", goal=1.0),
    ]


def _enqueue(tasks_host: str) -> float:
    import grpc
    from google.cloud import tasks_v2
    from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

    from adapters.gcp.producer import GcpBackend
    from adapters.gcp.provision import provision
    from benchmarks import gcp_app

    app = gcp_app.app
    app.use(os.environ["DISPATCHER_BACKEND"])
    backend = app.backend
    assert isinstance(backend, GcpBackend)
    provision(backend)
    config = backend.config
    parent = config.queue_path("bench")
    backend.clients.tasks.pause_queue(name=parent)
    client = tasks_v2.CloudTasksClient(
        transport=CloudTasksGrpcTransport(channel=grpc.insecure_channel(tasks_host))
    )
    body = gcp_app.add.message((1, 1)).body
    url, audience = config.push_url("bench"), config.audience_for("bench")

    def raw_create(i: int) -> Any:
        task = tasks_v2.Task(
            http_request=tasks_v2.HttpRequest(
                url=url,
                http_method=tasks_v2.HttpMethod.POST,
                headers={"Content-Type": "application/json"},
                body=body,
                oidc_token=tasks_v2.OidcToken(service_account_email=ACCOUNT, audience=audience),
            )
        )
        return client.create_task(parent=parent, task=task)

    gcp_app.add.delay(0, 0)  # warm: clients created
    raw_create(0)
    built = [gcp_app.add.message((i, i)) for i in range(N)]
    ours: list[float] = []
    sends: list[float] = []
    theirs: list[float] = []
    try:
        for i in range(N):
            if i % 100 == 0:
                backend.clients.tasks.purge_queue(name=parent)
            ours.append(_per_op(lambda i: gcp_app.add.delay(i, i), 1))
            sends.append(_per_op(lambda i: backend.send(built[i]), 1))
            theirs.append(_per_op(raw_create, 1))
    finally:
        client.transport.close()
        app.close()
    ours_ms, theirs_ms = statistics.median(ours) * 1e3, statistics.median(theirs) * 1e3
    raw("enqueue, ours (add.delay)", ours_ms, "ms/message")
    raw("  of which the backend's send of a built message", statistics.median(sends) * 1e3, "ms")
    raw("enqueue, raw CloudTasksClient.create_task", theirs_ms, "ms/message")
    return ours_ms / theirs_ms


@contextmanager
def _served(
    command: list[str], port: int, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **(env or {})})
    try:
        _wait_listening(port, process)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{process.args!r} did not listen on {port}")
        time.sleep(0.002)


def _warm(issuer: Any) -> float:
    from adapters.gcp.config import CONCURRENCY_ENV
    from adapters.gcp.emulators import free_port
    from benchmarks import gcp_app

    token = issuer.token_for(os.environ["DISPATCHER_GCP_SERVICE_URL"], ACCOUNT)
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {token}",
        "X-CloudTasks-QueueName": "bench-bench",
        "X-CloudTasks-TaskRetryCount": "0",
    }
    kinds = {  # what each serves, and its instance concurrency
        "ours": ("benchmarks.gcp_serve:ours", "1"),
        "ours at 40": ("benchmarks.gcp_serve:ours", "40"),
        "bare": ("benchmarks.gcp_serve:bare", "1"),
    }
    ports = {kind: free_port() for kind in kinds}
    rounds: dict[str, list[float]] = {kind: [] for kind in kinds}
    with ExitStack() as stack:
        for kind, (target, concurrency) in kinds.items():
            command = _uvicorn(target, ports[kind])
            stack.enter_context(_served(command, ports[kind], {CONCURRENCY_ENV: concurrency}))
        connections = {k: http.client.HTTPConnection("127.0.0.1", p) for k, p in ports.items()}

        def post(kind: str, body: bytes) -> None:
            connection = connections[kind]
            connection.request("POST", "/tasks", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            assert response.status == 200, (kind, response.status)

        for kind in rounds:  # warm: app loaded, first token checked
            post(kind, gcp_app.work.message((0,)).body)
        for _ in range(WARM_ROUNDS):
            for kind in rounds:
                bodies = [gcp_app.work.message((i,)).body for i in range(WARM_PER_ROUND)]
                started = time.perf_counter()
                for body in bodies:
                    post(kind, body)
                rounds[kind].append((time.perf_counter() - started) / WARM_PER_ROUND)
        for connection in connections.values():
            connection.close()
    ours, threaded, bare = (statistics.median(rounds[k]) * 1e3 for k in kinds)
    raw("warm receiver, ours, one request at a time (the task on the loop)", ours, "ms/request")
    raw("warm receiver, ours, 40 at a time (the task in a worker thread)", threaded, "ms/request")
    raw("warm receiver, bare Starlette endpoint", bare, "ms/request")
    raw("  ours, 40 at a time, over the bare endpoint", threaded / bare, "x")
    return ours / bare


def _uvicorn(target: str, port: int, factory: bool = True) -> list[str]:
    command = [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1"]
    command += ["--port", str(port), "--log-level", "error"]
    return command + (["--factory"] if factory else [])


def _cold(issuer: Any, port: int) -> float:
    from benchmarks import gcp_app

    for package in ("dispatcher", "adapters", "benchmarks"):
        compileall.compile_dir(ROOT / package, quiet=1)
    token = issuer.token_for(os.environ["DISPATCHER_GCP_SERVICE_URL"], ACCOUNT)
    variants = {
        "ours": _uvicorn("adapters.gcp.entrypoint:app", port, factory=False),
        "fastapi": _uvicorn("benchmarks.gcp_serve:fastapi", port),
    }

    def first_answer(command: list[str]) -> float:
        body = gcp_app.add.message((1, 2)).body
        started = time.time()
        process = subprocess.Popen(command, cwd=ROOT, env=dict(os.environ))
        try:
            _wait_listening(port, process)
            connection = http.client.HTTPConnection("127.0.0.1", port)
            connection.request(
                "POST",
                "/tasks",
                body=body,
                headers={
                    "Content-Type": "application/json",
                    "Authorization": f"Bearer {token}",
                    "X-CloudTasks-QueueName": "bench-bench",
                },
            )
            response = connection.getresponse()
            response.read()
            done = time.time()
            assert response.status == 200, response.status
            connection.close()
            return done - started
        finally:
            process.terminate()
            process.wait(timeout=10)

    for command in variants.values():  # warm the file cache; not counted
        first_answer(command)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(COLD_RUNS):
        for name, command in variants.items():
            times[name].append(first_answer(command))
    ours, fastapi = (statistics.median(times[n]) * 1e3 for n in variants)
    raw("cold start to first answer, ours (GCS claim and result)", ours, "ms")
    raw("cold start to first answer, minimal FastAPI", fastapi, "ms")
    return ours / fastapi


def _per_op(fn: Callable[[int], Any], count: int) -> float:
    started = time.perf_counter()
    for i in range(count):
        fn(i)
    return (time.perf_counter() - started) / count


if __name__ == "__main__":
    for line in run():
        print(line)
