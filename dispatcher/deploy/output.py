"""Generate and write files: everything is rendered first, then each file is replaced atomically."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dispatcher.deploy.policy import DeploySettings, plan
from dispatcher.deploy.render import policy_for, renderer_for
from dispatcher.loading import app_reference, load_app


@dataclass(frozen=True)
class Generated:
    """The files of one format (path -> text), and what the deployer should know about them:
    the plan's ``warnings`` (a provider that leaves something out says so there)."""

    files: dict[str, str]
    warnings: tuple[str, ...]


def generate(
    reference: str, format: str, provider: str = "aws", settings: DeploySettings | None = None
) -> dict[str, str]:
    """The files of ``format`` for the app at ``reference`` (path -> text); nothing is written.

    Raises :class:`~dispatcher.deploy.errors.UndeployableApp` when the declarations cannot be
    deployed, :class:`~dispatcher.deploy.errors.UnknownFormat` for a format or provider no
    plug-in offers."""
    return generate_with_warnings(reference, format, provider, settings).files


def generate_with_warnings(
    reference: str, format: str, provider: str = "aws", settings: DeploySettings | None = None
) -> Generated:
    """:func:`generate`, with the plan's warnings (a plan may have a ``warnings`` tuple of
    lines; none when it has not)."""
    renderer = renderer_for(format, provider)
    app = load_app(reference)
    decided = plan(app, policy_for(provider), app_reference(app, reference), settings)
    warnings = tuple(str(w) for w in getattr(decided, "warnings", ()))
    return Generated(renderer.render(decided), warnings)


def write_files(files: dict[str, str], out: Path) -> list[Path]:
    """Write each file under ``out`` (via a temporary file and a rename); the written paths."""
    written: list[Path] = []
    for relative, text in files.items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
                stream.write(text)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        written.append(path)
    return written
