"""Backend specs: ``"local"``, ``"local:/path/db.sqlite3"``, ``"memory"``, ``"aws://region"``...

The part before the first ``:`` is a scheme; the provider plug-in serving it
(:mod:`dispatcher.plugins`) reads the rest. Providers are imported only when their spec is
used, so the core never imports a provider SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dispatcher.app import Dispatcher
    from dispatcher.backend import Backend


def scheme_of(spec: str) -> str:
    """``"aws://eu-west-1"`` -> ``"aws"``."""
    return spec.split(":", 1)[0].strip().lower()


def resolve_backend(spec: str, app: Dispatcher) -> Backend:
    """Create the backend that ``spec`` names, for ``app``."""
    from dispatcher import plugins

    return plugins.for_scheme(scheme_of(spec), spec).make_backend(spec, app)
