"""``dispatcher emulate aws APP``: create the app's queues, DLQs, table, bucket and schedule
group in an endpoint (``AWS_ENDPOINT_URL``, LocalStack included; an embedded moto server when
none is given) and run the local Lambda runtime and the local scheduler of long delays on them
until Ctrl-C. Names follow ``DISPATCHER_STAGE`` when it is set (no stage by default). Cheap to
import: boto3 and moto load only when the command runs."""

from __future__ import annotations

import importlib.util
import os
import signal
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from collections.abc import Iterator
    from contextlib import AbstractContextManager

    from rich.console import Console


def register(cli: typer.Typer, groups: Mapping[str, typer.Typer]) -> None:
    """Add ``emulate aws`` to the ``dispatcher`` command's ``emulate`` group."""
    groups["emulate"].command("aws")(emulate_aws)


def emulate_aws(
    app: Annotated[str, typer.Argument(help="The app: package.module[:attr], e.g. samples.shop")],
    endpoint: Annotated[
        str | None,
        typer.Option(
            help="SQS/DynamoDB/S3 endpoint; default $AWS_ENDPOINT_URL, else embedded moto."
        ),
    ] = None,
    region: Annotated[
        str | None, typer.Option(help="AWS region; default $AWS_REGION, else us-east-1.")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=10, help="Records per invocation.")] = 10,
    wait: Annotated[int, typer.Option(min=0, max=20, help="Long-poll seconds.")] = 5,
) -> None:
    """Create the app's AWS resources in a local endpoint and run its Lambda handlers there."""
    from dispatcher.console import console, fail

    endpoint = endpoint or os.environ.get("AWS_ENDPOINT_URL")
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    region = region or "us-east-1"
    if endpoint is None and importlib.util.find_spec("moto") is None:
        fail(
            "the embedded AWS emulator needs moto; install it with: "
            "pip install 'faas-dispatcher[aws,emulate]' (or give --endpoint)"
        )
    with _endpoint(endpoint) as url:
        os.environ["AWS_ENDPOINT_URL"] = url
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        try:
            _run(app, url, region, batch_size, wait, console)
        except Exception as error:
            from dispatcher.errors import DispatcherError
            from dispatcher.loading import AppNotFound

            if not isinstance(error, DispatcherError | AppNotFound):
                raise
            fail(str(error))


def _run(app_ref: str, url: str, region: str, batch_size: int, wait: int, console: Console) -> None:
    from rich.text import Text

    from adapters.aws.local_scheduler import LocalScheduler
    from adapters.aws.producer import AwsBackend
    from adapters.aws.provision import provision
    from adapters.aws.runtime import LocalLambdaRuntime
    from adapters.aws.scheduler import GROUP_ENV, ROLE_ENV
    from dispatcher.loading import app_reference, load_app
    from dispatcher.naming import STAGE_ENV

    app = load_app(app_ref)
    app.use(f"aws://{region}")
    backend = app.backend
    assert isinstance(backend, AwsBackend)
    made = provision(backend, reference=app_reference(app, app_ref))
    # The handlers (and anything started from here) schedule long delays in the group.
    os.environ[GROUP_ENV], os.environ[ROLE_ENV] = made.scheduler.group, made.scheduler.role_arn
    console.print(
        f"[bold]{app.name}[/] on {url} ({region}): {len(made.queues)} queues, "
        f"table {made.table}, bucket {made.bucket}, schedule group {made.scheduler.group}",
        soft_wrap=True,
    )
    stage = f" {STAGE_ENV}={backend.config.stage}" if backend.config.stage else ""
    credentials = (
        f"AWS_ACCESS_KEY_ID={os.environ['AWS_ACCESS_KEY_ID']} "
        f"AWS_SECRET_ACCESS_KEY={os.environ['AWS_SECRET_ACCESS_KEY']}"
    )
    console.print(
        Text(
            f"send with: AWS_ENDPOINT_URL={url} DISPATCHER_BACKEND=aws://{region}{stage} "
            f"{credentials} {GROUP_ENV}={made.scheduler.group} {ROLE_ENV}={made.scheduler.role_arn}"
        )
    )

    def report(queue: str, done: int, left: int) -> None:
        console.print(f"  {queue}: {done} done" + (f", {left} left for retry" if left else ""))

    runtime = LocalLambdaRuntime(
        backend, app_reference(app, app_ref), batch_size=batch_size, wait=wait, on_batch=report
    )
    stop = threading.Event()
    scheduler = LocalScheduler(
        backend.clients,
        made.scheduler.group,
        on_fire=lambda name: console.print(f"  schedule {name}: due, sent", highlight=False),
    )
    firing = threading.Thread(target=scheduler.run, args=(stop,), daemon=True)
    firing.start()
    # Our own handlers: a script that starts us in the background (where the shell makes
    # SIGINT ignored) must still be able to stop us with Ctrl-C's signal or SIGTERM.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda number, frame: stop.set())
    console.print("running the handlers; Ctrl-C stops")
    try:
        runtime.run(stop)
    except KeyboardInterrupt:
        stop.set()
    finally:
        stop.set()
        firing.join(timeout=5)
        runtime.close()
        app.close()


def _endpoint(url: str | None) -> AbstractContextManager[str]:
    from contextlib import contextmanager

    @contextmanager
    def embedded() -> Iterator[str]:
        import logging
        import socket

        from moto.server import ThreadedMotoServer

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.stop()

    @contextmanager
    def given() -> Iterator[str]:
        assert url is not None
        yield url

    return given() if url else embedded()
