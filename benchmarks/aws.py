"""The AWS backend on one moto server: enqueue cost, batching, the warm handler and cold starts.
Every comparison measures ours and its baseline on the same server in the same run.

``sqs_enqueue_vs_boto3``
    Per-message time of ``add.delay(i, i)`` (validate, build the envelope, SendMessage with
    attributes) over a raw boto3 ``send_message`` of the same body to the same queue; ``N``
    each, one of each in turn, each timed alone, the median per side.
``sqs_batch_vs_boto3_batch``
    Throughput of ``add.map(...)`` (validate, build ten envelopes, SendMessageBatch) over a raw
    boto3 ``send_message_batch`` of the same ten messages (bodies and attributes as ours sends
    them), ten at a time, in turn, the queue emptied (untimed) in between.
``lambda_handler_vs_powertools_idempotent``
    Warm handler time per message, an event of ten records of a 1 ms task, with a Lambda
    context: ours (claims and results in DynamoDB, through the clients the Lambda handler
    uses) over a Powertools ``BatchProcessor`` handler whose record handler is made idempotent
    by Powertools' ``DynamoDBPersistenceLayer`` (its own table on the same server; keyed by
    the message id) and calls the same 1 ms function.
``lambda_handler_overhead``
    The same handler on an in-memory result store over calling the 1 ms function directly:
    the handler's own cost.
``lambda_cold_start_overhead_ms`` and ``lambda_cold_start_vs_powertools``
    A fresh interpreter (``python -c``) imports a Lambda entrypoint and processes one SQS event
    of one message of a trivial task; wall time from spawning it to the handler's answer
    (interpreter teardown excluded: on Lambda the process lives on), median of ``COLD_RUNS``
    after one uncounted run of each. Our packages are byte-compiled first, as installed
    packages are (a deployment package should ship its ``.pyc`` files too: Lambda's code
    directory is read-only, so Python cannot cache them there).
    Ours: ``adapters.aws.entrypoint.handler``. The floor: a hand-written handler that
    imports boto3, json-decodes the body and calls the function. Powertools: a
    ``BatchProcessor`` (``EventType.SQS``) handler with ``process_partial_response`` doing
    the same. Ours also loads the app, claims the message and records its result in DynamoDB.
"""

from __future__ import annotations

import compileall
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.report import Line, raw

N = 400
BATCH_N = 300
WARM_EVENTS = 20
COLD_RUNS = 11
REGION = "us-east-1"
ROOT = Path(__file__).resolve().parent.parent

_FLOOR = """
import json
import boto3
from benchmarks.aws_plain import add

def handler(event, context):
    for record in event["Records"]:
        body = json.loads(record["body"])
        add(*body["args"])
    return {"batchItemFailures": []}
"""

_POWERTOOLS = """
import json
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor, EventType, process_partial_response,
)
from benchmarks.aws_plain import add

processor = BatchProcessor(event_type=EventType.SQS)

def record_handler(record):
    body = json.loads(record.body)
    return add(*body["args"])

def handler(event, context):
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
"""

_OURS = """
from adapters.aws.entrypoint import handler
"""

_RUN = """
import json, sys, time
event = json.loads(sys.argv[1])
answer = handler(event, None)
done = time.time()
assert answer == {"batchItemFailures": []}, answer
print(done)
"""


def run() -> list[Line]:
    """Start a moto server, measure, stop it; the summary lines."""
    from tests.servers import moto_server

    saved = dict(os.environ)
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
        DISPATCHER_BACKEND=f"aws://{REGION}",
        DISPATCHER_APP="benchmarks.aws_app:app",
    )
    try:
        with moto_server() as endpoint:
            os.environ["AWS_ENDPOINT_URL"] = endpoint
            return _measure(endpoint)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _measure(endpoint: str) -> list[Line]:
    from adapters.aws.producer import AwsBackend
    from adapters.aws.provision import provision
    from benchmarks import aws_app

    app = aws_app.app
    app.use(f"aws://{REGION}")
    backend = app.backend
    assert isinstance(backend, AwsBackend)
    made = provision(backend)
    url = made.queues["bench"]
    try:
        enqueue = _enqueue(backend, url)
        batch = _batch(backend, url)
        _purge(backend, url)
        powertools, overhead = _warm(backend, url)
        _purge(backend, url)
        cold = _cold(backend)
    finally:
        app.close()
    return [
        Line("sqs_enqueue_vs_boto3", enqueue, op="<=", goal=1.10),
        Line("sqs_batch_vs_boto3_batch", batch, op=">=", goal=0.95),
        Line("lambda_handler_vs_powertools_idempotent", powertools, op="<=", goal=0.60),
        Line("lambda_handler_overhead", overhead, op="<=", goal=1.05),
        Line("lambda_cold_start_overhead_ms", cold[0], unit="ms", op="<=", goal=30),
        Line("lambda_cold_start_vs_powertools", cold[1], op="<=", goal=1.0),
    ]


def _purge(backend: Any, url: str) -> None:
    # moto scans the whole queue on every send, so a growing queue slows each send down;
    # emptying it (untimed) keeps both sides of a comparison on a queue of at most ten.
    backend.clients.sqs.purge_queue(QueueUrl=url)


def _enqueue(backend: Any, url: str) -> float:
    from benchmarks import aws_app

    raw_client = _boto3_client()
    body = aws_app.add.message((1, 1)).body.decode()
    aws_app.add.delay(0, 0)  # warm: queue URL looked up, client created
    raw_client.send_message(QueueUrl=url, MessageBody=body)
    ours: list[float] = []
    theirs: list[float] = []
    for i in range(N):  # one of each in turn, each timed alone; the medians are compared
        if i % 10 == 0:
            _purge(backend, url)
        ours.append(_per_op(lambda i: aws_app.add.delay(i, i), 1))
        theirs.append(_per_op(lambda i: raw_client.send_message(QueueUrl=url, MessageBody=body), 1))
    ours_ms, theirs_ms = statistics.median(ours) * 1e3, statistics.median(theirs) * 1e3
    raw("enqueue, ours (add.delay)", ours_ms, "ms/message")
    raw("enqueue, raw boto3 send_message", theirs_ms, "ms/message")
    raw_client.close()
    return ours_ms / theirs_ms


def _batch(backend: Any, url: str) -> float:
    from benchmarks import aws_app

    raw_client = _boto3_client()
    target = backend.target("bench")
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(BATCH_N // 10):  # the same ten messages each way, in turn, each timed alone
        messages = [aws_app.add.message((i, i)) for i in range(10)]
        entries = [{"Id": str(i), **backend.entry(m, target)} for i, m in enumerate(messages)]
        _purge(backend, url)
        started = time.perf_counter()
        aws_app.add.map((i, i) for i in range(10))
        ours.append(time.perf_counter() - started)
        _purge(backend, url)
        started = time.perf_counter()
        raw_client.send_message_batch(QueueUrl=url, Entries=entries)
        theirs.append(time.perf_counter() - started)
    raw_client.close()
    ours_rate, theirs_rate = 10 / statistics.median(ours), 10 / statistics.median(theirs)
    raw("enqueue, batch (add.map of ten)", ours_rate, "messages/s")
    raw("enqueue, raw boto3 send_message_batch of the same ten", theirs_rate, "messages/s")
    return ours_rate / theirs_rate


class _Context:
    """A Lambda context with the time left of a fresh 15-minute invocation."""

    def __init__(self) -> None:
        self.deadline = time.monotonic() + 900
        self.function_name = "bench-bench"
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:bench"
        self.aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - time.monotonic()) * 1000)


_POWERTOOLS_TABLE = "bench-powertools-idempotency"


def _powertools_handler() -> Callable[[dict[str, Any], Any], Any]:
    """A Powertools BatchProcessor handler whose record handler is idempotent (Powertools'
    DynamoDB persistence layer, on the same server) and calls the same 1 ms function."""
    from aws_lambda_powertools.utilities.batch import (
        BatchProcessor,
        EventType,
        process_partial_response,
    )
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    from benchmarks import aws_app

    client = _boto3_client("dynamodb")
    client.create_table(
        TableName=_POWERTOOLS_TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    persistence = DynamoDBPersistenceLayer(table_name=_POWERTOOLS_TABLE, boto3_client=client)
    config = IdempotencyConfig(event_key_jmespath="messageId")
    processor = BatchProcessor(event_type=EventType.SQS)

    def work(record: SQSRecord) -> int:
        body = json.loads(record.body)
        return aws_app.busy_ms(*body["args"])

    record_handler: Callable[..., Any] = idempotent_function(
        work, data_keyword_argument="record", persistence_store=persistence, config=config
    )

    def handler(event: dict[str, Any], context: Any) -> Any:
        config.register_lambda_context(context)
        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )

    return handler


def _warm(backend: Any, url: str) -> tuple[float, float]:
    from adapters.aws.lite import LiteClients
    from adapters.aws.producer import AwsBackend
    from adapters.aws.receiver import SqsEventProcessor
    from adapters.aws.runtime import sqs_record
    from benchmarks import aws_app
    from dispatcher.testing import MemoryResults

    arn = backend.clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]

    def event() -> dict[str, Any]:
        records = []
        for i in range(10):
            message = aws_app.work.message((i,))
            fake = {
                "MessageId": message.envelope.id,
                "ReceiptHandle": f"rh-{i}",
                "Body": message.body.decode(),
                "Attributes": {"ApproximateReceiveCount": "1"},
                "MD5OfBody": "",
            }
            records.append(sqs_record(fake, arn, REGION))
        return {"Records": records}

    def per_message(handle: Callable[[dict[str, Any], Any], Any]) -> float:
        events = [event() for _ in range(WARM_EVENTS)]
        handle(event(), _Context())  # warm
        started = time.perf_counter()
        for each in events:
            assert handle(each, _Context()) == {"batchItemFailures": []}
        return (time.perf_counter() - started) / (WARM_EVENTS * 10)

    lite = AwsBackend(aws_app.app, backend.config, clients=LiteClients(backend.config))
    ours = SqsEventProcessor(aws_app.app, lite)
    powertools = _powertools_handler()
    memory_processor = SqsEventProcessor(aws_app.app, backend)
    memory_processor.executor = type(memory_processor.executor)(aws_app.app, MemoryResults())
    dynamo_times, powertools_times = [], []
    for _ in range(3):  # in turn, so that a slower moment of the machine hits both
        dynamo_times.append(per_message(ours.handle))
        powertools_times.append(per_message(powertools))
    dynamo, theirs = min(dynamo_times), min(powertools_times)
    memory = min(per_message(memory_processor.handle) for _ in range(3))
    direct = min(_per_op(aws_app.busy_ms, 200) for _ in range(3))
    lite.close()
    raw("warm handler, ours, DynamoDB claims and results", dynamo * 1e3, "ms/message")
    raw(
        "warm handler, Powertools batch + idempotency (DynamoDB)",
        theirs * 1e3,
        "ms/message",
    )
    raw("warm handler, ours, in-memory results", memory * 1e3, "ms/message")
    raw("1 ms function called directly", direct * 1e3, "ms/call")
    return dynamo / theirs, memory / direct


def _cold(backend: Any) -> tuple[float, float]:
    from adapters.aws.runtime import sqs_record
    from benchmarks import aws_app

    def event() -> str:
        message = aws_app.add.message((1, 2))
        fake = {
            "MessageId": message.envelope.id,
            "ReceiptHandle": "rh",
            "Body": message.body.decode(),
            "Attributes": {"ApproximateReceiveCount": "1"},
            "MD5OfBody": "",
        }
        arn = f"arn:aws:sqs:{REGION}:123456789012:bench-bench"
        return json.dumps({"Records": [sqs_record(fake, arn, REGION)]})

    # Installed packages (boto3, Powertools, pydantic) come with compiled bytecode; ours must
    # too, or every run would compile it (this checkout may run with PYTHONDONTWRITEBYTECODE).
    for package in ("dispatcher", "adapters", "benchmarks"):
        compileall.compile_dir(ROOT / package, quiet=1)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    variants = {"ours": _OURS, "floor": _FLOOR, "powertools": _POWERTOOLS}
    for source in variants.values():  # warm the file cache; not counted
        _spawn(source + _RUN, event(), env)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(COLD_RUNS):
        for name, source in variants.items():
            times[name].append(_spawn(source + _RUN, event(), env))
    ours, floor, powertools = (statistics.median(times[n]) * 1e3 for n in variants)
    raw("cold start, ours", ours, "ms")
    raw("cold start, floor (boto3 + json + call)", floor, "ms")
    raw("cold start, Powertools BatchProcessor", powertools, "ms")
    return ours - floor, ours / powertools


def _spawn(code: str, event: str, env: dict[str, str]) -> float:
    """Seconds from spawning the interpreter to the handler's answer (teardown excluded, as
    on Lambda, where the process lives on after the first invocation)."""
    started = time.time()
    out = subprocess.run(
        [sys.executable, "-c", code, event], env=env, cwd=ROOT, check=True, capture_output=True
    )
    return float(out.stdout.decode().split()[-1]) - started


def _per_op(fn: Callable[[int], Any], count: int) -> float:
    started = time.perf_counter()
    for i in range(count):
        fn(i)
    return (time.perf_counter() - started) / count


def _boto3_client(service: str = "sqs") -> Any:
    import boto3

    return boto3.session.Session().client(
        service, region_name=REGION, endpoint_url=os.environ["AWS_ENDPOINT_URL"]
    )


if __name__ == "__main__":
    for line in run():
        print(line)
