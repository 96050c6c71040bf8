"""The producer side: each envelope becomes an HTTP task on its Cloud Tasks queue, addressed
to the Cloud Run receiver with an OIDC token.

The rules of Cloud Tasks it relies on (https://cloud.google.com/tasks/docs/quotas and the
CreateTask / Task references, https://cloud.google.com/tasks/docs/reference/rest/v2/
projects.locations.queues.tasks):

* A task is at most 1 MB: larger bodies go to the app's bucket (claim check).
* ``schedule_time`` is at most 30 days ahead: a later eta is scheduled 30 days out and the
  receiver re-creates it with the remaining delay when it arrives early (a hop).
* ``dispatch_deadline`` of an HTTP task lies between 15 seconds and 30 minutes: the task's
  timeout plus a margin, within that range; a task whose timeout is above 30 minutes is
  refused before anything is sent.
* Task ids hold letters, digits, hyphens and underscores, at most 500 characters; a named
  task's id cannot be reused while the task exists and for about an hour after it ran or was
  deleted (ALREADY_EXISTS). A dedup key becomes the task id (hashed, as the reference
  advises), so Cloud Tasks itself refuses a second task with the same key; the app's bucket
  remembers which message holds the key, so a duplicate's handle follows the first message
  (and dedup works on the emulator, which does not enforce names).
* Batches (``.map``) are created concurrently: Cloud Tasks has no batch create.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from adapters.gcp.clients import Clients
from adapters.gcp.config import GcpConfig
from adapters.gcp.dead_letters import GcsDeadLetters
from adapters.gcp.errors import translated
from adapters.gcp.payloads import HEADER as CLAIM_CHECK_HEADER
from adapters.gcp.payloads import ClaimChecks
from adapters.gcp.results import GcsResults
from dispatcher.app import DEFAULT_MAX_DELAY
from dispatcher.backend import Outgoing, Receipt, SendFailure, TaskResult
from dispatcher.errors import (
    BackendError,
    BackendNotConfigured,
    InvalidTaskOption,
    QueueNotFound,
)

if TYPE_CHECKING:
    from adapters.gcp.tokens import LocalIssuer
    from dispatcher.app import Dispatcher
    from dispatcher.operations import QueueStat

log = logging.getLogger("dispatcher.gcp")

#: Cloud Tasks' largest task (body, headers, URL and name together): 1 MB.
MAX_TASK_SIZE = 1_000_000
#: Room kept in a task for everything but the body (URL, headers, name, token).
TASK_OVERHEAD = 8_192
#: Cloud Tasks' furthest schedule_time, 30 days, less a minute for clock differences.
MAX_SCHEDULE = 30 * 86_400 - 60
#: An HTTP task's dispatch deadline lies in [15 s, 30 min].
MIN_DEADLINE, MAX_DEADLINE = 15, 1_800
#: Seconds the deadline leaves on top of the task's timeout, to record the result.
DEADLINE_MARGIN = 10
#: How long a dedup key holds after its task is due: Cloud Tasks' name reuse window (~1 h).
DEDUP_WINDOW = 3_600.0
#: Concurrent CreateTask calls of one batch.
BATCH_WORKERS = 16
#: The push header with the deliveries made before this task was re-created.
ATTEMPTS_HEADER = "X-Dispatcher-Attempts-Before"
#: The longest countdown: the core's year holds, since a task due past Cloud Tasks' 30-day
#: horizon hops (the receiver re-creates it every 30 days); the deploy policy keeps claim
#: checks and dedup holds in the bucket that long.
MAX_DELAY = DEFAULT_MAX_DELAY


class TaskNameTaken(BackendError):
    """Cloud Tasks already has (or recently had) a task with this name."""


class GcpBackend:
    """:class:`~dispatcher.backend.Backend` on Cloud Tasks (messages) and GCS (results,
    dedup holds, dead letters, large bodies)."""

    #: The longest countdown it holds (see :data:`MAX_DELAY`).
    max_delay = MAX_DELAY

    def __init__(
        self,
        app: Dispatcher,
        config: GcpConfig,
        *,
        clients: Clients | None = None,
        max_task_size: int = MAX_TASK_SIZE,
    ) -> None:
        self.app, self.config = app, config
        self.clients = clients or Clients(config)
        self.max_task_size = max_task_size
        self.results = GcsResults(self.clients.objects)
        self.claim_checks = ClaimChecks(self.clients.objects)
        self.dead_letters = GcsDeadLetters(self)
        self._issuer: LocalIssuer | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        where = self.config.tasks_endpoint or "cloudtasks.googleapis.com"
        return f"<GcpBackend {self.app.name} {self.config.parent} {where}>"

    # --- sending -----------------------------------------------------------------------------

    def send(self, message: Outgoing) -> Receipt:
        """Create one HTTP task (unless its dedup key is held by an earlier message: the
        receipt then names that message)."""
        deadline = dispatch_deadline(message)
        queue_id = self.config.queue_id(message.queue)
        envelope = message.envelope
        key = envelope.dedup_key
        if key is None:
            name = self._create(message, deadline=deadline)
            return Receipt(envelope.id, name)
        window = DEDUP_WINDOW + message.delay
        hold = self.results.hold_key(queue_id, key, envelope.id, window)
        if hold.holder != envelope.id:
            return Receipt(envelope.id, duplicate_of=hold.holder)
        try:
            name = self._create(message, deadline=deadline, name=dedup_task_id(queue_id, key))
        except TaskNameTaken:
            if hold.previous is None:  # no record of the first: say so, keep nothing held
                self.results.release_key(queue_id, key, envelope.id)
                raise
            self.results.restore_key(queue_id, key, hold.previous, window)
            return Receipt(envelope.id, duplicate_of=hold.previous)
        except Exception:
            self.results.release_key(queue_id, key, envelope.id)
            raise
        return Receipt(envelope.id, name)

    def send_many(self, messages: Sequence[Outgoing]) -> list[Receipt | SendFailure]:
        """Create the tasks concurrently; one entry per message, in order."""
        if len(messages) <= 1:
            return [self._try_send(m) for m in messages]
        return list(self._workers().map(self._try_send, messages))

    def _try_send(self, message: Outgoing) -> Receipt | SendFailure:
        try:
            return self.send(message)
        except (QueueNotFound, BackendNotConfigured, InvalidTaskOption):
            raise
        except BackendError as error:
            return SendFailure(message.envelope.id, str(error), retryable=True)

    def resend(self, message: Outgoing) -> Receipt:
        """Create a task for ``message`` without dedup (a replayed dead letter)."""
        name = self._create(message, deadline=dispatch_deadline(message))
        return Receipt(message.envelope.id, name)

    def recreate(
        self,
        queue: str,
        body: bytes,
        *,
        delay: float,
        timeout: float,
        name: str,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """Create a task with ``body`` as it is (a retry with the task's own backoff, or a
        hop), named ``name`` so that doing it twice creates it once."""
        deadline = deadline_for(timeout)
        try:
            return self.create_task(queue, body, headers or {}, deadline, delay, name)
        except TaskNameTaken:
            return f"{self.config.queue_path(queue)}/tasks/{name}"

    def _create(self, message: Outgoing, *, deadline: int, name: str | None = None) -> str:
        body, headers = message.body, {}
        if len(body) + TASK_OVERHEAD > self.max_task_size:
            pointer = self.claim_checks.put(message.queue, message.envelope.id, body)
            body, headers = pointer.body(), {CLAIM_CHECK_HEADER: pointer.url}
        return self.create_task(message.queue, body, headers, deadline, message.delay, name)

    def create_task(
        self,
        queue: str,
        body: bytes,
        headers: Mapping[str, str],
        deadline: int,
        delay: float,
        name: str | None,
    ) -> str:
        """CreateTask; the created task's name. :class:`TaskNameTaken` on ALREADY_EXISTS."""
        from google.api_core.exceptions import AlreadyExists

        parent = self.config.queue_path(queue)
        task = self.task_message(queue, body, headers, deadline, delay, name)
        request = _types().request(parent=parent, task=task)
        try:
            with translated(f"creating a task on Cloud Tasks queue {parent}"):
                return self.clients.create_task(request)
        except BackendError as error:
            if isinstance(error.__cause__, AlreadyExists):
                raise TaskNameTaken(f"task {task.name} already exists") from error
            raise

    def build_task(
        self,
        queue: str,
        body: bytes,
        headers: Mapping[str, str],
        deadline: int,
        delay: float,
        name: str | None = None,
        *,
        now: float | None = None,
    ) -> Any:
        """The ``tasks_v2.Task`` for one push (see :meth:`task_message`), as the client
        library's message type."""
        from google.cloud import tasks_v2

        message = self.task_message(queue, body, headers, deadline, delay, name, now=now)
        return tasks_v2.Task.wrap(message)

    def task_message(
        self,
        queue: str,
        body: bytes,
        headers: Mapping[str, str],
        deadline: int,
        delay: float,
        name: str | None = None,
        *,
        now: float | None = None,
    ) -> Any:
        """The ``Task`` protobuf message for one push: POST ``body`` as JSON to the receiver,
        with an OIDC token for the invoker service account and the service's audience."""
        types = _types()
        audience, invoker = self.config.audience_for(queue), self.config.invoker()
        sent_headers = {"Content-Type": "application/json", **headers}
        if self.config.signing_key is not None:  # the emulator sends no token: we do
            sent_headers["Authorization"] = f"Bearer {self.issuer().token_for(audience, invoker)}"
        task = types.task(
            http_request=types.http_request(
                url=self.config.push_url(queue),
                http_method=types.post,
                headers=sent_headers,
                body=body,
                oidc_token=types.oidc_token(service_account_email=invoker, audience=audience),
            ),
        )
        task.dispatch_deadline.seconds = deadline
        if delay > 0:
            at = (time.time() if now is None else now) + min(delay, MAX_SCHEDULE)
            task.schedule_time.seconds, task.schedule_time.nanos = int(at), int((at % 1) * 1e9)
        if name is not None:
            task.name = f"{self.config.queue_path(queue)}/tasks/{name}"
        return task

    def issuer(self) -> LocalIssuer:
        """The local token issuer (emulators only)."""
        if self._issuer is None:
            from adapters.gcp.tokens import LocalIssuer

            assert self.config.signing_key is not None
            self._issuer = LocalIssuer.from_file(self.config.signing_key)
        return self._issuer

    def _workers(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(BATCH_WORKERS, thread_name_prefix="gcp-send")
            return self._pool

    # --- operations --------------------------------------------------------------------------

    def queue_stats(self, queues: Sequence[str]) -> list[QueueStat]:
        """Counts from ListTasks: due tasks (depth), dispatched without an answer yet
        (in flight), scheduled later (delayed); dead letters from the bucket."""
        from dispatcher.operations import QueueStat  # an operator's call

        now = datetime.now(UTC)
        stats = []
        for queue in queues:
            depth = in_flight = delayed = 0
            for task in self._tasks(queue):
                attempt = task.last_attempt
                if attempt and attempt.dispatch_time and not attempt.response_time:
                    in_flight += 1
                elif task.schedule_time and task.schedule_time > now:
                    delayed += 1
                else:
                    depth += 1
            dead = len(self.clients.objects.keys(f"dead-letters/{queue}/"))
            stats.append(QueueStat(queue, depth, in_flight, delayed, dead))
        return stats

    def revoke(self, message_id: str, task: str) -> None:
        """Record ``revoked`` (the receiver acknowledges such a task without running it),
        then delete its Cloud Tasks task if it can be found (DeleteTask)."""
        self.results.save(TaskResult.revoked(message_id, task, datetime.now(UTC)))
        declared = self.app.tasks.get(task)
        if declared is None:
            return
        name = self.find_task(declared.options.queue, message_id)
        if name is not None:
            self.delete_task(name)

    def find_task(self, queue: str, message_id: str) -> str | None:
        """The name of the task that carries message ``message_id``, if it is queued."""
        needle = message_id.encode()
        for task in self._tasks(queue, full=True):
            if needle in task.http_request.body:
                return str(task.name)
        return None

    def delete_task(self, name: str) -> bool:
        """DeleteTask; ``False`` when the task is gone or the service cannot delete it (the
        revoked record still keeps it from running)."""
        from google.api_core.exceptions import MethodNotImplemented, NotFound

        try:
            with translated(f"deleting task {name}"):
                self.clients.tasks.delete_task(name=name)
        except BackendError as error:
            if isinstance(error.__cause__, NotFound | MethodNotImplemented):
                log.info("task %s not deleted: %s", name, error.__cause__)
                return False
            raise
        return True

    def purge(self, queue: str) -> int | None:
        """PurgeQueue; how many tasks it held just before."""
        count = sum(1 for _ in self._tasks(queue))
        with translated(f"purging Cloud Tasks queue {self.config.queue_path(queue)}"):
            self.clients.tasks.purge_queue(name=self.config.queue_path(queue))
        return count

    def _tasks(self, queue: str, *, full: bool = False) -> list[Any]:
        from google.cloud import tasks_v2

        view = tasks_v2.Task.View.FULL if full else tasks_v2.Task.View.BASIC
        parent = self.config.queue_path(queue)
        with translated(f"listing the tasks of Cloud Tasks queue {parent}"):
            request = tasks_v2.ListTasksRequest(parent=parent, response_view=view)
            return list(self.clients.tasks.list_tasks(request=request))

    def close(self) -> None:
        """Close the clients and the batch workers."""
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
        self.clients.close()


@dataclass(frozen=True, slots=True)
class _Types:
    """The protobuf message classes of a push (the client library's, unwrapped: building
    them directly costs a fraction of building proto-plus messages)."""

    task: Any
    http_request: Any
    oidc_token: Any
    request: Any
    post: int


@cache
def _types() -> _Types:
    from google.cloud import tasks_v2

    return _Types(
        task=tasks_v2.Task.pb(),
        http_request=tasks_v2.HttpRequest.pb(),
        oidc_token=tasks_v2.OidcToken.pb(),
        request=tasks_v2.CreateTaskRequest.pb(),
        post=int(tasks_v2.HttpMethod.POST),
    )


def dispatch_deadline(message: Outgoing) -> int:
    """The dispatch deadline for ``message``'s task; refuses a timeout above 30 minutes."""
    problem = deadline_problem(message.timeout)
    if problem is not None:
        raise InvalidTaskOption(message.task, "timeout", problem)
    return deadline_for(message.timeout)


def deadline_problem(timeout: float) -> str | None:
    """Why a task with ``timeout`` cannot be an HTTP task, or ``None`` (the deploy policy
    refuses the same declarations with the same words)."""
    if timeout <= MAX_DEADLINE:
        return None
    return (
        f"{timeout:g}s is longer than the {MAX_DEADLINE // 60} minutes Cloud Tasks allows an "
        "HTTP task (dispatch_deadline 15 s to 30 min)"
    )


def deadline_for(timeout: float) -> int:
    """The dispatch deadline of a task with ``timeout``: the timeout and a margin to record
    the result, within Cloud Tasks' range."""
    return min(MAX_DEADLINE, max(MIN_DEADLINE, math.ceil(timeout) + DEADLINE_MARGIN))


def dedup_task_id(queue_id: str, key: str) -> str:
    """The task id for dedup ``key`` on a queue: a hash (ids are ``[A-Za-z0-9_-]``, at most
    500 characters, and hashed ids spread load)."""
    return hashlib.sha256(f"{queue_id}\0{key}".encode()).hexdigest()


def derived_task_id(*parts: str) -> str:
    """A task id derived from ``parts`` (a retry or a hop of one message)."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()
