"""What a provider's deploy policy is: its function limits, and one method that decides every
provider value from the neutral model.

The neutral builder (:mod:`dispatcher.deploy.graph`) records intent; a policy turns it into the
provider's own decided records (for AWS: SQS attributes, Lambda settings, event source
mappings, IAM statements, schedule expressions, checkov skips), which the provider's format
writers only print. Nothing here knows a provider: a policy is found through its plug-in
(``dispatcher.plugins.get(name).deploy_policy()``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from dispatcher.deploy.errors import UndeployableApp

if TYPE_CHECKING:
    from dispatcher.app import Dispatcher
    from dispatcher.deploy.model import Deployment


@dataclass(frozen=True, slots=True)
class Skip:
    """A checkov check that does not fit a resource, skipped in the generated file with the
    reason (every provider's records carry their own)."""

    check: str
    reason: str


class FunctionLimits(BaseModel):
    """What a provider's functions allow, checked by the neutral builder."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str = Field(description='how messages name its functions: "AWS Lambda function"')
    min_memory_mb: int
    max_memory_mb: int
    max_timeout_seconds: int


class DeploySettings(BaseModel):
    """Deployment settings that are not task options: per queue (``{"orders": {"batch_size":
    50}}``), and for every function: its ``runtime`` and ``architecture`` (the provider's
    default when ``None``), SnapStart (AWS), and where the packaged zip is, relative to the
    folder the files are written to (``artifact``; the provider's default path when ``None``).
    Each policy reads the settings it knows and reports any other, or a value it does not
    offer, as a problem."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    queues: dict[str, dict[str, int]] = Field(default_factory=dict)
    runtime: str | None = None
    architecture: str | None = None
    snapstart: bool = False
    artifact: str | None = None


class Plan(Protocol):
    """What a policy decided for one deployment: plain records, in dependency order."""

    @property
    def deployment(self) -> Deployment:
        """The neutral model the records were decided from."""

    @property
    def records(self) -> Sequence[object]:
        """The decided records, which writers print and never recompute."""


P_co = TypeVar("P_co", bound=Plan, covariant=True)


class DeployPolicy(Protocol[P_co]):
    """A provider's deploy policy."""

    @property
    def name(self) -> str:
        """The provider's name, as its plug-in is called."""

    @property
    def limits(self) -> FunctionLimits:
        """Its functions' limits."""

    def decide(self, deployment: Deployment, settings: DeploySettings) -> P_co:
        """Every provider value for ``deployment``; raises
        :class:`~dispatcher.deploy.errors.UndeployableApp` listing every problem."""


def plan(
    app: Dispatcher,
    policy: DeployPolicy[P_co],
    reference: str,
    settings: DeploySettings | None = None,
) -> P_co:
    """Build the neutral model of ``app`` and let ``policy`` decide it. The builder's problems
    and the policy's are raised together as one :class:`UndeployableApp`, one line each."""
    from dispatcher.deploy.graph import collect

    settings = settings or DeploySettings()
    deployment, problems = collect(app, policy.limits, policy.name, reference, settings)
    try:
        decided = policy.decide(deployment, settings)
    except UndeployableApp as error:
        problems += error.problems
    if problems:
        raise UndeployableApp(app.name, problems)
    return decided
