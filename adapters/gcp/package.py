"""The Cloud Run receiver's build context (``dispatcher package APP --provider gcp``): a folder
any container builder takes (``gcloud builds submit``, ``docker build``).

It holds ``app/`` (the app's top-level package, the ``dispatcher`` core without its tooling and
the ``adapters.gcp`` runtime without its deploy, emulator and packaging modules), a
``requirements.txt`` pinning every distribution the receiver needs to the version installed
here (the versions the tests ran with), and a ``Dockerfile`` (``templates/gcp/Dockerfile.j2``)
that installs them, compiles the bytecode and serves ``adapters.gcp.entrypoint:app`` with
uvicorn on ``$PORT`` as an unprivileged user. The folder is replaced as a whole.
"""

from __future__ import annotations

import importlib.metadata
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dispatcher.deploy.package import (
    RUNTIME_REQUIREMENTS,
    Architecture,
    Package,
    Target,
    choose_target,
    dependency_closure,
    source_files,
)
from dispatcher.deploy.text import render_template
from dispatcher.naming import APP_ENV

TEMPLATES = "adapters.gcp.deploy"
ENTRYPOINT = "adapters.gcp.entrypoint:app"
PORT = 8080


@dataclass(frozen=True, kw_only=True)
class ContainerPackager:
    """What the receiver's image holds (see the module)."""

    platform: str
    packages: tuple[str, ...]
    requirements: tuple[str, ...]
    excluded: tuple[str, ...]
    runtimes: Mapping[str, tuple[int, int]]
    default_runtime: str
    architectures: Mapping[str, Architecture]
    default_architecture: str
    folder: str

    def target(self, runtime: str | None = None, architecture: str | None = None) -> Target:
        """The image's Python (``runtime``) and machine; :class:`PackagingError` names what
        is not offered."""
        return choose_target(self, runtime, architecture)

    def default_output(self, app: str) -> Path:
        """``build/<app>-cloudrun``."""
        from dispatcher.deploy.output import PACKAGE_FOLDER

        return Path(PACKAGE_FOLDER) / self.folder.format(app=app)

    def requirements_text(self) -> str:
        """``name==version`` of every distribution the receiver needs, sorted."""
        names = dependency_closure(RUNTIME_REQUIREMENTS + self.requirements)
        pins = [f"{name}=={importlib.metadata.version(name)}" for name in names]
        return "\n".join(pins) + "\n"

    def dockerfile(self, reference: str, app: str, target: Target) -> str:
        """The Dockerfile's text."""
        major, minor = target.python
        return render_template(
            TEMPLATES,
            "Dockerfile.j2",
            app=app,
            reference=reference,
            entrypoint=ENTRYPOINT,
            python=f"{major}.{minor}",
            port=PORT,
            app_env=APP_ENV,
            platform=target.platform,
        )

    def build(self, reference: str, out: Path, target: Target | None = None) -> Package:
        """Write the build context of the app at ``reference`` for ``target`` (the defaults
        when ``None``) into the folder ``out``."""
        target = target or self.target()
        app = _app_name(reference)
        sources = source_files(reference, self.packages, self.excluded)
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        try:
            for relative, path in sources.items():
                copy = partial / "app" / relative
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, copy)
            (partial / "requirements.txt").write_text(self.requirements_text())
            (partial / "Dockerfile").write_text(self.dockerfile(reference, app, target))
            (partial / ".dockerignore").write_text("**/__pycache__\n**/*.pyc\n")
            if out.exists():
                shutil.rmtree(out)
            partial.rename(out)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        files = [p for p in out.rglob("*") if p.is_file()]
        return Package(out, sum(p.stat().st_size for p in files), len(files), target, ())


def _app_name(reference: str) -> str:
    from dispatcher.loading import load_app

    return load_app(reference).name


PACKAGER = ContainerPackager(
    platform="Cloud Run",
    packages=("adapters.gcp",),
    requirements=(
        "uvicorn",
        "google-auth",
        "google-cloud-tasks",
    ),
    # Generators, emulators, the local token issuer and this packager: nothing the receiver
    # imports.
    excluded=(
        "adapters/gcp/deploy/",
        "adapters/gcp/package.py",
        "adapters/gcp/emulate.py",
        "adapters/gcp/emulators.py",
        "adapters/gcp/tasks_emulator.py",
        "adapters/gcp/provision.py",
        "adapters/gcp/tokens.py",
        "adapters/gcp/README.md",
    ),
    # The image's Python: the version the tests ran on by default (the pins are its versions).
    runtimes={"python3.11": (3, 11), "python3.12": (3, 12), "python3.13": (3, 13)},
    default_runtime="python3.11",
    # Cloud Run runs linux/amd64 images (https://cloud.google.com/run/docs/container-contract).
    architectures={"x86_64": Architecture(machine="x86_64", platform="linux/amd64")},
    default_architecture="x86_64",
    folder="{app}-cloudrun",
)
