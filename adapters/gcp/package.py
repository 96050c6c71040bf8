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
from dataclasses import dataclass
from pathlib import Path

from dispatcher.deploy.package import (
    RUNTIME_REQUIREMENTS,
    Package,
    Target,
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
    target: Target
    folder: str

    def default_output(self, app: str) -> Path:
        """``build/<app>-cloudrun``."""
        return Path("build") / self.folder.format(app=app)

    def requirements_text(self) -> str:
        """``name==version`` of every distribution the receiver needs, sorted."""
        names = dependency_closure(RUNTIME_REQUIREMENTS + self.requirements)
        pins = [f"{name}=={importlib.metadata.version(name)}" for name in names]
        return "\n".join(pins) + "\n"

    def dockerfile(self, reference: str, app: str) -> str:
        """The Dockerfile's text."""
        major, minor = self.target.python
        return render_template(
            TEMPLATES,
            "Dockerfile.j2",
            app=app,
            reference=reference,
            entrypoint=ENTRYPOINT,
            python=f"{major}.{minor}",
            port=PORT,
            app_env=APP_ENV,
        )

    def build(self, reference: str, out: Path) -> Package:
        """Write the build context of the app at ``reference`` into the folder ``out``."""
        app = _app_name(reference)
        sources = source_files(reference, self.packages, self.excluded)
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        try:
            for relative, path in sources.items():
                target = partial / "app" / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
            (partial / "requirements.txt").write_text(self.requirements_text())
            (partial / "Dockerfile").write_text(self.dockerfile(reference, app))
            (partial / ".dockerignore").write_text("**/__pycache__\n**/*.pyc\n")
            if out.exists():
                shutil.rmtree(out)
            partial.rename(out)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        files = [p for p in out.rglob("*") if p.is_file()]
        return Package(out, sum(p.stat().st_size for p in files), len(files), ())


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
    target=Target(system="Linux", machine="x86_64", python=(3, 11)),
    folder="{app}-cloudrun",
)
