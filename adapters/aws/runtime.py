"""The local Lambda runtime behind ``dispatcher emulate aws``: what the SQS event source
mapping and the Lambda service do, on this machine, against any SQS endpoint.

For each queue: long-poll SQS, build the exact SQS event (Records with messageId,
receiptHandle, body, attributes, messageAttributes, md5OfBody, eventSource, eventSourceARN,
awsRegion), invoke the handler in a separate, reused process (a warm container) with a Lambda
context whose ``get_remaining_time_in_millis()`` runs down to the function's timeout, kill the
invocation at that timeout, as Lambda does, then delete the records that succeeded and leave
those in ``batchItemFailures``. A handler that crashes, is killed or times out leaves every
record of its batch on the queue, where it becomes visible again after the visibility timeout.
The function's timeout and batch size are the ones the AWS deploy policy decides for the
queue (:func:`function_settings`), the values a deployment gets.
"""

from __future__ import annotations

import base64
import json
import os
import select
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import IO, TYPE_CHECKING, Any

from adapters.aws.errors import translated

if TYPE_CHECKING:
    from adapters.aws.producer import AwsBackend
    from dispatcher.app import Dispatcher

DEFAULT_HANDLER = "adapters.aws.entrypoint:handler"
#: SQS's largest ReceiveMessage batch (the event source mapping assembles larger ones).
MAX_RECEIVE = 10


@dataclass(frozen=True)
class LambdaContext:
    """The context Lambda passes a Python handler, with the fields a handler reads
    (https://docs.aws.amazon.com/lambda/latest/dg/python-context.html). ``deadline_ms`` is
    when the invocation is stopped, in epoch milliseconds."""

    function_name: str
    memory_limit_in_mb: int
    deadline_ms: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    invoked_function_arn: str = ""
    log_group_name: str = ""
    log_stream_name: str = ""

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds until the invocation is stopped."""
        return max(0, self.deadline_ms - int(time.time() * 1000))

    @classmethod
    def starting_now(cls, function: FunctionSettings, region: str) -> LambdaContext:
        """The context of an invocation of ``function`` that starts now."""
        return cls(
            function_name=function.name,
            memory_limit_in_mb=function.memory_mb,
            deadline_ms=int(time.time() * 1000) + int(function.timeout * 1000),
            invoked_function_arn=f"arn:aws:lambda:{region}:123456789012:function:{function.name}",
            log_group_name=f"/aws/lambda/{function.name}",
        )


@dataclass(frozen=True)
class FunctionSettings:
    """A queue's function as deployed: its name, timeout (s), memory and batch size."""

    name: str
    timeout: float
    memory_mb: int
    batch_size: int


def function_settings(
    app: Dispatcher, reference: str, stage: str | None = None
) -> dict[str, FunctionSettings]:
    """Each task queue's function, as the AWS deploy policy decides it (named for ``stage``)."""
    from adapters.aws.deploy.policy import POLICY
    from adapters.aws.deploy.records import EventSourceMapping, LambdaFunction
    from dispatcher.deploy.model import Queue, Worker
    from dispatcher.deploy.policy import plan

    decided = plan(app, POLICY, reference)
    queues = {q.name: q.queue for q in decided.deployment.of_type(Queue)}
    workers = {w.name: queues[w.queue] for w in decided.deployment.of_type(Worker)}
    sizes = {queues[m.queue]: m.batch_size for m in decided.of_type(EventSourceMapping)}
    return {
        workers[f.name]: FunctionSettings(
            f.function_name.resolve(stage), float(f.timeout), f.memory_mb, sizes[workers[f.name]]
        )
        for f in decided.of_type(LambdaFunction)
    }


#: Runs one event for a queue with a context; ``None`` when the invocation died.
Invoke = Callable[[str, dict[str, Any], LambdaContext], "dict[str, Any] | None"]


def sqs_record(message: Mapping[str, Any], arn: str, region: str) -> dict[str, Any]:
    """The Lambda SQS event record for a ReceiveMessage message."""
    attributes: dict[str, dict[str, Any]] = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        entry: dict[str, Any] = {
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value["DataType"],
        }
        if "StringValue" in value:
            entry["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            entry["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
        attributes[name] = entry
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": attributes,
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


class HandlerProcess:
    """A Python process that imports the handler once and runs invocations sent to it."""

    def __init__(self, handler: str, env: Mapping[str, str]) -> None:
        self.handler, self.env = handler, dict(env)
        self.process: subprocess.Popen[bytes] | None = None
        self.cold_starts = 0

    @property
    def pid(self) -> int | None:
        """The process id while it runs."""
        return self.process.pid if self.process and self.process.poll() is None else None

    def invoke(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any] | None:
        """The handler's response, or ``None`` when it crashed, or was killed at the
        context's deadline (as Lambda stops a function at its timeout)."""
        process = self._ensure()
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(
                json.dumps({"event": event, "context": asdict(context)}).encode() + b"\n"
            )
            process.stdin.flush()
        except (BrokenPipeError, OSError):
            self.stop()
            return None
        try:
            line = _read_line(process.stdout, context.get_remaining_time_in_millis() / 1000)
        except (OSError, ValueError):  # stopped from another thread
            line = None
        if line is None:
            self.stop()
            return None
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _ensure(self) -> subprocess.Popen[bytes]:
        if self.process is None or self.process.poll() is not None:
            self.cold_starts += 1
            self.process = subprocess.Popen(
                [sys.executable, "-m", "adapters.aws.runtime", self.handler],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=self.env,
            )
        return self.process

    def stop(self) -> None:
        """Kill the process (the next invocation starts a new one: a cold start)."""
        process, self.process = self.process, None
        if process is not None:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()


def _read_line(stream: IO[bytes], timeout: float) -> bytes | None:
    ready, _, _ = select.select([stream], [], [], max(0.0, timeout))
    if not ready:
        return None
    line = stream.readline()
    return line or None


@dataclass
class RuntimeStats:
    """What the runtime did: invocations, records deleted and left, crashed invocations."""

    invocations: int = 0
    deleted: int = 0
    left: int = 0
    crashed: int = 0
    by_queue: dict[str, int] = field(default_factory=dict)


class LocalLambdaRuntime:
    """Polls the app's queues and feeds them to the handler, as Lambda does: in a separate
    process per queue (``queue_env`` adds a queue's own variables, as each function has its
    own environment and role), or through ``invoke`` (in this process; for tests and
    benchmarks). ``functions`` replaces the decided settings of some queues' functions."""

    def __init__(
        self,
        backend: AwsBackend,
        app_ref: str,
        *,
        handler: str = DEFAULT_HANDLER,
        batch_size: int = MAX_RECEIVE,
        wait: float = 1.0,
        env: Mapping[str, str] | None = None,
        queue_env: Mapping[str, Mapping[str, str]] | None = None,
        on_batch: Callable[[str, int, int], None] | None = None,
        invoke: Invoke | None = None,
        functions: Mapping[str, FunctionSettings] | None = None,
    ) -> None:
        self.backend, self.app_ref, self.handler = backend, app_ref, handler
        self.invoke = invoke
        self.batch_size, self.wait, self.on_batch = batch_size, wait, on_batch
        decided = function_settings(backend.app, app_ref, backend.config.stage)
        self.functions = {**decided, **(functions or {})}
        self.env = {**os.environ, **self._handler_env(), **(env or {})}
        self.queues = list(backend.app.queues)
        # Each queue's function has its own environment (and role's credentials) on Lambda.
        self.processes = {
            q: HandlerProcess(handler, {**self.env, **(queue_env or {}).get(q, {})})
            for q in self.queues
        }
        self.stats = RuntimeStats()
        self._arns: dict[str, str] = {}
        self._lock = threading.Lock()

    def _handler_env(self) -> dict[str, str]:
        from dispatcher.naming import APP_ENV

        config = self.backend.config
        env = {
            APP_ENV: self.app_ref,
            "DISPATCHER_BACKEND": f"aws://{config.region}",
            "AWS_REGION": config.region,
            "AWS_DEFAULT_REGION": config.region,
            "PYTHONPATH": os.pathsep.join(p for p in [os.getcwd(), *sys.path] if p),
        }
        if config.endpoint:
            env["AWS_ENDPOINT_URL"] = config.endpoint
        return env

    def arn(self, queue: str) -> str:
        """The ARN of task queue ``queue``'s SQS queue."""
        if queue not in self._arns:
            url = self.backend.target(queue).url
            with translated(f"reading the attributes of {url}"):
                response = self.backend.clients.sqs.get_queue_attributes(
                    QueueUrl=url, AttributeNames=["QueueArn"]
                )
            self._arns[queue] = str(response["Attributes"]["QueueArn"])
        return self._arns[queue]

    def poll(self, queue: str, wait: float | None = None) -> int:
        """Receive one batch from ``queue`` and run it; returns how many records it had."""
        target = self.backend.target(queue)
        sqs = self.backend.clients.sqs
        function = self.functions[queue]
        with translated(f"receiving from SQS queue {target.name!r}"):
            response = sqs.receive_message(
                QueueUrl=target.url,
                MaxNumberOfMessages=min(MAX_RECEIVE, self.batch_size, function.batch_size),
                WaitTimeSeconds=round(self.wait if wait is None else wait),
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["All"],
            )
        messages = response.get("Messages") or []
        if not messages:
            return 0
        arn = self.arn(queue)
        records = [sqs_record(m, arn, self.backend.config.region) for m in messages]
        event = {"Records": records}
        context = LambdaContext.starting_now(function, self.backend.config.region)
        if self.invoke is not None:
            answer = self.invoke(queue, event, context)
        else:
            answer = self.processes[queue].invoke(event, context)
        failed = self._failed_ids(answer, records)
        done = [r for r in records if r["messageId"] not in failed]
        if done:
            with translated(f"deleting messages from SQS queue {target.name!r}"):
                sqs.delete_message_batch(
                    QueueUrl=target.url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": r["receiptHandle"]}
                        for i, r in enumerate(done)
                    ],
                )
        with self._lock:
            self.stats.invocations += 1
            self.stats.deleted += len(done)
            self.stats.left += len(records) - len(done)
            self.stats.crashed += answer is None or "error" in (answer or {})
            self.stats.by_queue[queue] = self.stats.by_queue.get(queue, 0) + len(records)
        if self.on_batch is not None:
            self.on_batch(queue, len(done), len(records) - len(done))
        return len(records)

    @staticmethod
    def _failed_ids(answer: dict[str, Any] | None, records: list[dict[str, Any]]) -> set[str]:
        everything = {str(r["messageId"]) for r in records}
        if answer is None or "error" in answer:
            return everything
        failures = answer.get("batchItemFailures")
        if not isinstance(failures, list):
            return set() if failures is None and "batchItemFailures" in answer else everything
        ids = {str(f.get("itemIdentifier")) for f in failures if isinstance(f, dict)}
        return everything if ids - everything else ids  # an unknown id fails the whole batch

    def run_until(self, done: Callable[[], bool], timeout: float = 30.0) -> bool:
        """Poll every queue in turn (short polls) until ``done()`` or ``timeout``;
        returns whether ``done()`` became true."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done():
                return True
            received = sum(self.poll(queue, wait=0) for queue in self.queues)
            if not received:
                time.sleep(0.05)
        return done()

    def run(self, stop: threading.Event) -> None:
        """Long-poll every queue in its own thread until ``stop`` is set (or Ctrl-C); polls
        in progress get ``wait`` + 1 s to finish, then :meth:`close` kills what still runs."""

        def loop(queue: str) -> None:
            while not stop.is_set():
                self.poll(queue)

        threads = [threading.Thread(target=loop, args=(q,), daemon=True) for q in self.queues]
        for thread in threads:
            thread.start()
        try:
            while any(t.is_alive() for t in threads):
                for thread in threads:
                    thread.join(timeout=0.2)
        finally:
            stop.set()
            deadline = time.monotonic() + self.wait + 1.0  # let the current polls finish
            for thread in threads:
                thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        """Stop the handler processes."""
        for process in self.processes.values():
            process.stop()


def child_main(handler_ref: str) -> None:
    """The handler process: one JSON invocation (event and context) per stdin line, one JSON
    answer per line on the original stdout (the task's own prints go to stderr)."""
    import importlib
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the runtime stops us
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    module_name, _, attribute = handler_ref.partition(":")
    handler = getattr(importlib.import_module(module_name), attribute or "handler")
    for line in sys.stdin:
        invocation = json.loads(line)
        context = LambdaContext(**invocation["context"])
        try:
            answer = handler(invocation["event"], context)
        except Exception as error:  # Lambda reports it; the whole batch is retried
            import traceback

            traceback.print_exc()
            answer = {"error": f"{type(error).__name__}: {error}"}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


if __name__ == "__main__":
    child_main(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_HANDLER)
