"""Generate and write files: everything is rendered first, then each file is replaced atomically,
with the usual mode (``0666`` less the umask: ``0644`` by default)."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dispatcher.deploy.policy import DeploySettings, plan
from dispatcher.deploy.render import policy_for, renderer_for
from dispatcher.loading import app_reference, load_app

#: Where ``dispatcher package`` writes a zip by default, relative to the working directory.
PACKAGE_FOLDER = "build"


@dataclass(frozen=True)
class Generated:
    """The files of one format (path -> text), and what the deployer should know about them:
    the plan's ``warnings`` (a provider that leaves something out says so there)."""

    files: dict[str, str]
    warnings: tuple[str, ...]


def generate(
    reference: str,
    format: str,
    provider: str = "aws",
    settings: DeploySettings | None = None,
    *,
    out: Path | None = None,
) -> dict[str, str]:
    """The files of ``format`` for the app at ``reference`` (:func:`generate_with_warnings`
    without its warnings)."""
    return generate_with_warnings(reference, format, provider, settings, out=out).files


def generate_with_warnings(
    reference: str,
    format: str,
    provider: str = "aws",
    settings: DeploySettings | None = None,
    *,
    out: Path | None = None,
) -> Generated:
    """The files of ``format`` for the app at ``reference`` (path -> text); nothing is written.

    ``out`` is the folder they will be written to: a format that names the packaged zip by a
    relative path (serverless.yml's ``artifact``) names it from there, as ``dispatcher
    package`` writes it by default (``build/`` of the working directory), unless ``settings``
    name another. The warnings are the plan's ``warnings`` (none when it has no such tuple of
    lines). Raises :class:`~dispatcher.deploy.errors.UndeployableApp` when the
    declarations cannot be deployed, :class:`~dispatcher.deploy.errors.UnknownFormat` for a
    format or provider no plug-in offers."""
    renderer = renderer_for(format, provider)
    app = load_app(reference)
    settings = settings or DeploySettings()
    if out is not None and settings.artifact is None:
        archive = default_archive(provider, app.name)
        if archive is not None:
            settings = settings.model_copy(update={"artifact": relative_artifact(archive, out)})
    decided = plan(app, policy_for(provider), app_reference(app, reference), settings)
    warnings = tuple(str(w) for w in getattr(decided, "warnings", ()))
    return Generated(renderer.render(decided), warnings)


def default_archive(provider: str, app: str) -> Path | None:
    """Where ``dispatcher package`` writes ``app``'s zip for ``provider`` by default."""
    from dispatcher.plugins import plugins

    plugin = plugins().get(provider)
    if plugin is None or plugin.packager is None:
        return None
    default: Path = plugin.package_builder().default_output(app)
    return Path.cwd() / default


def relative_artifact(archive: Path, out: Path) -> str:
    """``archive`` as a path relative to the folder ``out`` (``/``-separated)."""
    return Path(os.path.relpath(archive.resolve(), out.resolve())).as_posix()


def _file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def write_files(files: dict[str, str], out: Path) -> list[Path]:
    """Write each file under ``out`` (via a temporary file and a rename, with the usual mode);
    the written paths."""
    written: list[Path] = []
    mode = _file_mode()
    for relative, text in files.items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
                stream.write(text)
            os.chmod(temporary, mode)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        written.append(path)
    return written
