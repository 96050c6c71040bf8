"""The Azure backend on one Azurite: enqueue cost, the warm function and cold starts.

``azure_enqueue_vs_sdk``
    Per-message time of ``add.delay(i, i)`` (validate, build the envelope, base64, Put Message)
    over a raw ``QueueClient.send_message`` of the same base64 text to the same queue; ``N`` of
    each, one of each in turn, each timed alone, the medians compared.
``azure_function_overhead``
    Per message, the generated ``function_app.py``'s queue function (the execution core with
    an in-memory result store, a 1 ms task) over a bare queue-triggered function that
    json-decodes the body and calls the same 1 ms function; both called with a built
    ``azure.functions.QueueMessage``, ``N`` of each, one of each in turn, each timed alone, the
    medians compared. The same function with its results in Table storage on Azurite (through
    the small signed client, as on Azure) is printed as a raw figure.
``azure_cold_start_vs_bare_function``
    A fresh interpreter (``python -c``) imports a function app and hands its first message to
    its queue function; wall time from spawning it to the function's return (interpreter
    teardown excluded: on Azure the worker lives on), median of ``COLD_RUNS`` after one
    uncounted run of each. Ours: the generated function app of the benchmark app, claim and
    result in Table storage included (through :mod:`adapters.azure.lite`: with an account
    key the cold path imports no Azure SDK). The baseline: a bare ``azure.functions`` app whose
    function json-decodes the body and calls the plain function. Our packages are
    byte-compiled first, as installed packages are. Printed beside it, as a raw figure: ours
    with its results in memory (as the warm line measures it), which makes no request to
    Table storage (the time its process takes to import the in-memory store is left out).
"""

from __future__ import annotations

import base64
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.report import Line, raw

N = 400
WARM_BATCH = 50
COLD_RUNS = 21
ROOT = Path(__file__).resolve().parent.parent
REFERENCE = "benchmarks.azure_app:app"

_BARE = """
import json

import azure.functions as func

from benchmarks.azure_plain import {function}

app = func.FunctionApp()


@app.queue_trigger(arg_name="msg", queue_name="benchaz-bench", connection="AzureWebJobsStorage")
def bare(msg: func.QueueMessage) -> None:
    body = json.loads(msg.get_body())
    {function}(*body["args"])
"""

_RUN = """
import base64, sys, time
sys.path.insert(0, sys.argv[1])
import function_app
app = function_app.app
imported = time.time()
store = 0.0  # the time to import the in-memory store, not counted
if sys.argv[4:] == ["memory"]:  # ours with its results in memory: no Table storage request
    from adapters.azure import entrypoint
    from dispatcher.execution import Executor
    store = time.time()
    from dispatcher.testing import MemoryResults
    store = time.time() - store
    receiver = entrypoint.receiver(function_app.APP)
    receiver.executor = Executor(receiver.app, MemoryResults())
from azure.functions import queue
[function] = [f for f in app.get_functions() if f.get_function_name() == sys.argv[2]]
message = queue.QueueMessage(id="m1", body=base64.b64decode(sys.argv[3]), dequeue_count=1)
function.get_user_function()(message)
print(imported, time.time() - store)
"""


def run() -> list[Line]:
    """Start Azurite, measure, stop it; the summary lines."""
    from adapters.azure.azurite import azurite
    from adapters.azure.config import FUNCTIONS_CONNECTION

    saved = dict(os.environ)
    try:
        with azurite() as connection:
            os.environ["AZURE_STORAGE_CONNECTION_STRING"] = connection
            os.environ[FUNCTIONS_CONNECTION] = connection
            os.environ["DISPATCHER_BACKEND"] = "azure"
            return _measure()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _measure() -> list[Line]:
    from adapters.azure.producer import AzureBackend
    from adapters.azure.provision import provision
    from benchmarks import azure_app

    app = azure_app.app
    app.use("azure")
    backend = app.backend
    assert isinstance(backend, AzureBackend)
    provision(backend)
    queue = backend.clients.queue(backend.queue_name("bench"))
    with tempfile.TemporaryDirectory(prefix="bench-functions-") as folder:
        try:
            enqueue = _enqueue(queue)
            queue.clear_messages()
            warm = _warm(Path(folder))
            cold = _cold(Path(folder))
        finally:
            app.close()
    return [
        Line("azure_enqueue_vs_sdk", enqueue, op="<=", goal=1.10),
        Line("azure_function_overhead", warm, op="<=", goal=1.05),
        Line("azure_cold_start_vs_bare_function", cold, op="<=", goal=1.10),
    ]


def _enqueue(queue: Any) -> float:
    from benchmarks import azure_app

    text = base64.b64encode(azure_app.add.message((1, 1)).body).decode()
    azure_app.add.delay(0, 0)  # warm: names checked, client made
    queue.send_message(text)
    ours: list[float] = []
    theirs: list[float] = []
    for i in range(N):
        if i % 50 == 0:
            queue.clear_messages()  # untimed: both sides on a short queue
        if i % 2:  # each goes first half of the time
            ours.append(_timed(azure_app.add.delay, i, i))
            theirs.append(_timed(queue.send_message, text))
        else:
            theirs.append(_timed(queue.send_message, text))
            ours.append(_timed(azure_app.add.delay, i, i))
    ours_ms, theirs_ms = statistics.median(ours) * 1e3, statistics.median(theirs) * 1e3
    raw("enqueue, ours (add.delay)", ours_ms, "ms/message")
    raw("enqueue, raw QueueClient.send_message", theirs_ms, "ms/message")
    return ours_ms / theirs_ms


def _warm(folder: Path) -> float:
    from adapters.azure import entrypoint, project
    from adapters.azure.host import functions_of, load_function_app
    from benchmarks import azure_app
    from dispatcher.execution import Executor
    from dispatcher.testing import MemoryResults

    ours_dir, bare_dir = folder / "ours", folder / "bare"
    project.write(project.plan_for(azure_app.app, REFERENCE), ours_dir)
    bare_dir.mkdir()
    (bare_dir / "function_app.py").write_text(_BARE.format(function="busy_ms"))
    [ours] = [
        f
        for f in functions_of(load_function_app(ours_dir / "function_app.py"))
        if f.get_function_name() == "queue_bench"
    ]
    [bare] = functions_of(load_function_app(bare_dir / "function_app.py"))
    receiver = entrypoint.receiver(REFERENCE)
    call_ours, call_bare = ours.get_user_function(), bare.get_user_function()

    def messages(count: int) -> list[Any]:
        return [_message(azure_app.work.message((i,)).body) for i in range(count)]

    for message in messages(WARM_BATCH):  # warm: app loaded, Table client connected
        call_ours(message)
    table = [_timed(call_ours, message) for message in messages(WARM_BATCH)]
    receiver.executor = Executor(azure_app.app, MemoryResults())
    for message in messages(WARM_BATCH):
        call_ours(message)
        call_bare(message)
    ours_times: list[float] = []
    bare_times: list[float] = []
    for i, message in enumerate(messages(N)):  # one of each in turn, each first half the time
        if i % 2:
            ours_times.append(_timed(call_ours, message))
            bare_times.append(_timed(call_bare, message))
        else:
            bare_times.append(_timed(call_bare, message))
            ours_times.append(_timed(call_ours, message))
    ours_ms = statistics.median(ours_times) * 1e3
    bare_ms = statistics.median(bare_times) * 1e3
    raw("warm function, in-memory results", ours_ms, "ms/message")
    raw("warm function, results in Table storage", statistics.median(table) * 1e3, "ms/message")
    raw("bare queue function (json + call)", bare_ms, "ms/message")
    entrypoint.reset()
    return ours_ms / bare_ms


def _cold(folder: Path) -> float:
    from benchmarks import azure_app

    bare_dir = folder / "bare-add"
    bare_dir.mkdir()
    (bare_dir / "function_app.py").write_text(_BARE.format(function="add"))
    for package in ("dispatcher", "adapters", "benchmarks"):
        compileall.compile_dir(ROOT / package, quiet=1)
    compileall.compile_dir(folder, quiet=1)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": ""}
    variants = {
        "ours": (folder / "ours", "queue_bench", ()),
        "bare": (bare_dir, "bare", ()),
        "memory": (folder / "ours", "queue_bench", ("memory",)),
    }

    def body() -> str:
        return base64.b64encode(azure_app.add.message((1, 2)).body).decode()

    for where, name, extra in variants.values():  # warm the file cache; not counted
        _spawn(where, name, body(), env, *extra)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for _ in range(COLD_RUNS):
        for variant, (where, name, extra) in variants.items():
            times[variant].append(_spawn(where, name, body(), env, *extra))
    ours, bare, memory = (statistics.median(total for _, total in times[v]) * 1e3 for v in variants)
    imports = {v: statistics.median(i for i, _ in times[v]) * 1e3 for v in variants}
    raw("cold start, ours (claim and result in Table storage)", ours, "ms")
    raw("cold start, bare azure.functions app (json + call)", bare, "ms")
    raw("  of which: start and import the function app, ours", imports["ours"], "ms")
    raw("  of which: start and import the function app, bare", imports["bare"], "ms")
    raw("cold start, ours with in-memory results (no Table request)", memory, "ms")
    raw("  the same over the bare app", memory / bare, "x")
    return ours / bare


def _spawn(
    folder: Path, function: str, body: str, env: dict[str, str], *extra: str
) -> tuple[float, float]:
    """(seconds to the function app imported, seconds to the first message's return)."""
    started = time.time()
    out = subprocess.run(
        [sys.executable, "-c", _RUN, str(folder), function, body, *extra],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    imported, done = (float(x) for x in out.stdout.decode().split()[-2:])
    return imported - started, done - started


def _message(body: bytes) -> Any:
    from azure.functions import queue

    make: Any = queue.QueueMessage
    return make(id="m", body=body, dequeue_count=1)


def _timed(fn: Callable[..., Any], *args: Any) -> float:
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


if __name__ == "__main__":
    for line in run():
        print(line)
