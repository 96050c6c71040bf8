"""Renderers: the base a provider's format writers share, and how the core finds them.

A renderer prints the records its provider's deploy policy decided; it computes nothing. Each one
declares one handler per record type explicitly (no method names built from strings), so a
record it cannot print is an error, and a test checks every renderer covers every record type
of its provider. Renderers and policies are found through the provider plug-ins
(:mod:`dispatcher.plugins`), imported only when asked for: the core knows no provider.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from dispatcher.deploy.errors import UnknownFormat, UnsupportedResource
from dispatcher.deploy.policy import DeployPolicy, Plan

if TYPE_CHECKING:
    from dispatcher.plugins import Plugin

F = TypeVar("F")


class Renderer(ABC, Generic[F]):
    """Turns a policy's :class:`~dispatcher.deploy.policy.Plan` into files (relative path ->
    text). ``handlers`` maps each record type to a method returning this format's fragment."""

    format: ClassVar[str]
    provider: ClassVar[str]

    @abstractmethod
    def handlers(self) -> Mapping[type, Callable[[Any, Any], F]]:
        """The printing of each record type: ``handler(record, plan) -> fragment``."""

    @abstractmethod
    def render(self, plan: Any) -> dict[str, str]:
        """Every file of this format, by path relative to the output folder."""

    def fragments(self, plan: Plan) -> list[F]:
        """Each record printed, in the plan's order."""
        table = self.handlers()
        out: list[F] = []
        for record in plan.records:
            handler = table.get(type(record))
            if handler is None:
                raise UnsupportedResource(
                    f"the {self.format} renderer for {self.provider} cannot write "
                    f"{type(record).__name__} {getattr(record, 'name', '')!r}"
                )
            out.append(handler(record, plan))
        return out


def providers() -> list[str]:
    """The providers that generate infrastructure."""
    from dispatcher.plugins import with_formats

    return list(with_formats())


def _plugin(provider: str) -> Plugin:
    from dispatcher.plugins import with_formats

    plugin = with_formats().get(provider)
    if plugin is None:
        known = ", ".join(providers()) or "none"
        raise UnknownFormat(f"no provider {provider!r} generates infrastructure (known: {known})")
    return plugin


def formats(provider: str) -> list[str]:
    """The formats ``provider`` can be written in."""
    return sorted(_plugin(provider).formats)


def renderer_for(format: str, provider: str) -> Renderer[Any]:
    """A fresh renderer for ``format`` on ``provider``."""
    plugin = _plugin(provider)
    if format not in plugin.formats:
        known = ", ".join(sorted(plugin.formats))
        raise UnknownFormat(f"no {format!r} renderer for {provider!r} (known: {known})")
    renderer = plugin.renderer(format)
    if not isinstance(renderer, Renderer):
        raise TypeError(f"{plugin.formats[format]} is not a Renderer")
    return renderer


def policy_for(provider: str) -> DeployPolicy[Any]:
    """The deploy policy of ``provider``."""
    policy: DeployPolicy[Any] = _plugin(provider).deploy_policy()
    return policy
