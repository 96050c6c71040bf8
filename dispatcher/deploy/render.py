"""Renderers: the registry of (format, provider) -> renderer, and the base they share.

Each renderer declares one handler per resource type explicitly (no method names built from
strings), so a missing translation is an error, and a test checks every pair covers every type.
Renderers are imported lazily: the core never imports a provider's code until it is asked for.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Generic, TypeVar

from dispatcher.deploy.errors import UnknownFormat, UnsupportedResource
from dispatcher.deploy.model import Deployment, Resource

F = TypeVar("F")

#: (format, provider) -> "module:Class" of the renderer.
RENDERERS: dict[tuple[str, str], str] = {
    ("terraform", "aws"): "adapters.aws.infra:TerraformRenderer",
    ("cloudformation", "aws"): "adapters.aws.infra:CloudFormationRenderer",
    ("sam", "aws"): "adapters.aws.infra:SamRenderer",
    ("serverless", "aws"): "adapters.aws.infra:ServerlessRenderer",
}

#: provider -> "module:ATTRIBUTE" of its :class:`~dispatcher.deploy.provider.Provider`.
PROVIDERS: dict[str, str] = {"aws": "adapters.aws.infra:AWS"}


class Renderer(ABC, Generic[F]):
    """Turns a :class:`Deployment` into files (relative path -> text).

    ``handlers`` maps each resource type to a method returning this format's fragment ``F``.
    """

    format: ClassVar[str]
    provider: ClassVar[str]

    @abstractmethod
    def handlers(self) -> Mapping[type[Resource], Callable[[Any, Deployment], F]]:
        """The translation of each resource type."""

    @abstractmethod
    def render(self, deployment: Deployment) -> dict[str, str]:
        """Every file of this format, by path relative to the output folder."""

    def fragments(self, deployment: Deployment) -> list[F]:
        """Each resource translated, in dependency order."""
        table = self.handlers()
        out: list[F] = []
        for resource in deployment.resources:
            handler = table.get(type(resource))
            if handler is None:
                raise UnsupportedResource(
                    f"the {self.format} renderer for {self.provider} cannot render "
                    f"{type(resource).__name__} {resource.name!r}"
                )
            out.append(handler(resource, deployment))
        return out


def register(format: str, provider: str, target: str) -> None:
    """Register a renderer, given as ``"module:Class"``."""
    RENDERERS[(format, provider)] = target


def formats(provider: str) -> list[str]:
    """The formats a provider can be rendered to."""
    return sorted(f for f, p in RENDERERS if p == provider)


def _load(target: str) -> Any:
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


def renderer_for(format: str, provider: str) -> Renderer[Any]:
    """A fresh renderer for ``format`` on ``provider``."""
    target = RENDERERS.get((format, provider))
    if target is None:
        known = ", ".join(formats(provider)) or "none"
        raise UnknownFormat(f"no {format!r} renderer for {provider!r} (known: {known})")
    renderer = _load(target)()
    if not isinstance(renderer, Renderer):
        raise TypeError(f"{target} is not a Renderer")
    return renderer


def provider_profile(provider: str) -> Any:
    """The :class:`~dispatcher.deploy.provider.Provider` registered as ``provider``."""
    target = PROVIDERS.get(provider)
    if target is None:
        raise UnknownFormat(f"unknown provider {provider!r} (known: {', '.join(PROVIDERS)})")
    return _load(target)
