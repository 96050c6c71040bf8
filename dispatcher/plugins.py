"""Providers are plug-ins: each one names, in one object, everything the core may ask of it.

A provider package (``adapters.local``, ``adapters.aws``, or any separately installed
distribution) exposes a :class:`Plugin` and declares it in the ``faas_dispatcher.providers``
entry-point group::

    [project.entry-points."faas_dispatcher.providers"]
    aws = "adapters.aws.plugin:PLUGIN"

The plug-in object holds only names (``"module:attribute"`` strings), so finding the plug-ins
imports each provider's small ``__init__`` and nothing else: the backend factory, the CLI
commands, the renderers, the deploy policy and the packager are imported when they are used.
A Lambda cold start never looks here (its entrypoint builds its backend directly).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from dispatcher.errors import BackendNotConfigured, DispatcherError

if TYPE_CHECKING:
    from dispatcher.app import Dispatcher
    from dispatcher.backend import Backend

#: The entry-point group providers declare themselves in.
GROUP = "faas_dispatcher.providers"


class PluginError(DispatcherError):
    """A provider plug-in cannot be found or loaded, or lacks what was asked of it."""


@dataclass(frozen=True, kw_only=True)
class Plugin:
    """What one provider offers the core. Every reference is ``"module:attribute"``.

    ``schemes``
        Backend spec schemes it serves (``aws`` serves ``aws://eu-west-1``).
    ``backend``
        The factory ``(spec, app) -> Backend`` for those schemes.
    ``entrypoints``
        What the platform calls, by name (``{"lambda": "adapters.aws.entrypoint:handler"}``).
    ``commands``
        Functions ``register(cli, groups)`` that add its CLI commands (``emulate aws``...).
    ``formats``
        Infrastructure format -> renderer class (``{"terraform": "...:TerraformRenderer"}``).
    ``policy``
        The deploy policy: the provider's limits and every value it decides for a model.
    ``packager``
        What ``dispatcher package --provider NAME`` calls.
    ``extra``
        The pip extra that installs its SDKs, for error messages.
    """

    name: str
    description: str
    schemes: tuple[str, ...] = ()
    backend: str | None = None
    entrypoints: Mapping[str, str] = field(default_factory=dict)
    commands: tuple[str, ...] = ()
    formats: Mapping[str, str] = field(default_factory=dict)
    policy: str | None = None
    packager: str | None = None
    extra: str | None = None

    def make_backend(self, spec: str, app: Dispatcher) -> Backend:
        """The backend for ``spec`` (one of this plug-in's schemes)."""
        if self.backend is None:
            raise PluginError(f"provider {self.name!r} has no backend")
        backend: Backend = load(self.backend, self)(spec, app)
        return backend

    def renderer(self, format: str) -> Any:
        """A fresh renderer for infrastructure ``format``."""
        target = self.formats.get(format)
        if target is None:
            known = ", ".join(sorted(self.formats)) or "none"
            raise PluginError(f"no {format!r} format for provider {self.name!r} (known: {known})")
        return load(target, self)()

    def deploy_policy(self) -> Any:
        """The provider's deploy policy."""
        if self.policy is None:
            raise PluginError(f"provider {self.name!r} generates no infrastructure")
        return load(self.policy, self)

    def package_builder(self) -> Any:
        """The provider's packager."""
        if self.packager is None:
            raise PluginError(f"provider {self.name!r} has no packager")
        return load(self.packager, self)


def load(target: str, plugin: Plugin | None = None) -> Any:
    """Import ``"module:attribute"`` and return the attribute."""
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        missing = error.name or module_name
        if plugin is not None and plugin.extra and not module_name.startswith(missing):
            from dispatcher.errors import MissingDependency

            raise MissingDependency(missing, plugin.extra) from None
        raise
    return getattr(module, attribute) if attribute else module


@cache
def plugins() -> dict[str, Plugin]:
    """Every installed provider, by name (read from the entry points once per process)."""
    from importlib.metadata import entry_points

    found: dict[str, Plugin] = {}
    for point in entry_points(group=GROUP):
        try:
            plugin = point.load()
        except Exception as error:
            raise PluginError(
                f"provider plug-in {point.name!r} ({point.value}) cannot be loaded: {error}"
            ) from error
        if not isinstance(plugin, Plugin):
            raise PluginError(f"{point.value} is not a dispatcher.plugins.Plugin")
        if plugin.name in found:
            raise PluginError(f"two provider plug-ins are named {plugin.name!r}")
        found[plugin.name] = plugin
    return dict(sorted(found.items()))


def get(name: str) -> Plugin:
    """The provider called ``name``."""
    found = plugins().get(name)
    if found is None:
        raise PluginError(f"unknown provider {name!r} (installed: {', '.join(plugins())})")
    return found


def for_scheme(scheme: str, spec: str | None = None) -> Plugin:
    """The provider serving backend specs that start with ``scheme:`` (``spec``, the whole
    spec, is for the error message)."""
    for plugin in plugins().values():
        if scheme in plugin.schemes:
            return plugin
    schemes = sorted(s for p in plugins().values() for s in p.schemes)
    raise BackendNotConfigured(
        f"unknown backend {spec or scheme!r}: use one of {', '.join(schemes)}"
    )


def with_formats() -> dict[str, Plugin]:
    """The providers that generate infrastructure, by name."""
    return {name: p for name, p in plugins().items() if p.formats}


__all__ = ["GROUP", "Plugin", "PluginError", "for_scheme", "get", "load", "plugins"]
