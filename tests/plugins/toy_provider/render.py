"""The toy provider's deploy policy and its one format, ``toyfile``: a line per queue."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dispatcher.deploy.errors import UndeployableApp
from dispatcher.deploy.model import Deployment, Queue
from dispatcher.deploy.policy import DeploySettings, FunctionLimits
from dispatcher.deploy.render import Renderer


@dataclass(frozen=True)
class ToyQueue:
    """What the toy cloud needs to know of a queue."""

    name: str
    tasks: tuple[str, ...]
    longest_timeout: float


@dataclass(frozen=True)
class ToyPlan:
    """The decided records."""

    deployment: Deployment
    records: Sequence[object]


class ToyPolicy:
    """The toy cloud runs any function up to ten minutes."""

    name = "toy"
    limits = FunctionLimits(
        kind="toy function", min_memory_mb=64, max_memory_mb=1_024, max_timeout_seconds=600
    )

    def decide(self, deployment: Deployment, settings: DeploySettings) -> ToyPlan:
        if settings.queues:
            raise UndeployableApp(deployment.app, ["settings: the toy cloud takes none"])
        records = [
            ToyQueue(
                name=q.physical_name.resolve(),  # the toy cloud has no stages
                tasks=q.tasks,
                longest_timeout=max(t.timeout_seconds for t in deployment.tasks_of(q.tasks)),
            )
            for q in deployment.of_type(Queue)
        ]
        return ToyPlan(deployment, records)


POLICY = ToyPolicy()


class ToyRenderer(Renderer[str]):
    """``toy.txt``: one line per queue."""

    format = "toyfile"
    provider = "toy"

    def handlers(self) -> Mapping[type, Callable[[Any, Any], str]]:
        return {ToyQueue: self.queue}

    def queue(self, record: ToyQueue, plan: ToyPlan) -> str:
        return f"{record.name}: {', '.join(record.tasks)} (up to {record.longest_timeout:g} s)"

    def render(self, plan: Any) -> dict[str, str]:
        return {"toy.txt": "\n".join(self.fragments(plan)) + "\n"}
