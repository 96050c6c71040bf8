"""Backend specs: ``"local"``, ``"local:/path/db.sqlite3"``, ``"memory"``, ``"aws://region"``...

The part before the first ``:`` picks the adapter; the adapter reads the rest. Adapters are
imported only when their spec is used, so the core never imports a provider SDK.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from dispatcher.errors import BackendNotConfigured

if TYPE_CHECKING:
    from dispatcher.app import Dispatcher
    from dispatcher.backend import Backend

#: scheme -> "module:factory"; a factory takes ``(spec, app)`` and returns a Backend.
BACKENDS: dict[str, str] = {
    "local": "adapters.local:from_spec",
    "memory": "dispatcher.testing:from_spec",
    "aws": "adapters.aws:from_spec",
    "gcp": "adapters.gcp:from_spec",
    "azure": "adapters.azure:from_spec",
}


def resolve_backend(spec: str, app: Dispatcher) -> Backend:
    """Create the backend that ``spec`` names, for ``app``."""
    scheme = spec.split(":", 1)[0].strip().lower()
    target = BACKENDS.get(scheme)
    if target is None:
        raise BackendNotConfigured(
            f"unknown backend {spec!r}: use one of {', '.join(sorted(BACKENDS))}"
        )
    module_name, factory = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and module_name.startswith(error.name):
            raise BackendNotConfigured(
                f"backend {scheme!r} is not available in this release"
            ) from None
        raise
    backend: Backend = getattr(module, factory)(spec, app)
    return backend
