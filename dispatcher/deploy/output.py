"""Generate and write files: everything is rendered first, then each file is replaced atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from dispatcher.deploy.policy import DeploySettings, plan
from dispatcher.deploy.render import policy_for, renderer_for
from dispatcher.loading import app_reference, load_app


def generate(
    reference: str, format: str, provider: str = "aws", settings: DeploySettings | None = None
) -> dict[str, str]:
    """The files of ``format`` for the app at ``reference`` (path -> text); nothing is written.

    Raises :class:`~dispatcher.deploy.errors.UndeployableApp` when the declarations cannot be
    deployed, :class:`~dispatcher.deploy.errors.UnknownFormat` for a format or provider no
    plug-in offers."""
    renderer = renderer_for(format, provider)
    app = load_app(reference)
    decided = plan(app, policy_for(provider), app_reference(app, reference), settings)
    return renderer.render(decided)


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
