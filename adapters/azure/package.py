"""The Functions project of an app (``dispatcher package APP --provider azure``): a folder to
publish to the Function App the generated infrastructure makes.

It holds ``function_app.py`` and ``host.json`` (:mod:`adapters.azure.project`, from the Azure
deploy policy's plan: the same values as the Terraform and ``dispatcher emulate azure``), a
``requirements.txt`` pinning every distribution the functions need to the version installed
here (the versions the tests ran with; the platform's remote build installs them for Linux),
a ``.funcignore``, and the sources: the app's top-level package, the ``dispatcher`` core
without its tooling and the ``adapters.azure`` runtime without its generators, emulator, local
host and packaging. Publish it with Azure Functions Core Tools (``func azure functionapp
publish APP``) or as a zip with a remote build (``az functionapp deployment source config-zip
--build-remote true``):
https://learn.microsoft.com/en-us/azure/azure-functions/functions-deployment-technologies.
The folder is replaced as a whole.
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

#: Left out of every package: caches and compiled files (the platform compiles).
FUNCIGNORE = "__pycache__/\n*.pyc\n.venv/\n"


@dataclass(frozen=True, kw_only=True)
class FunctionsPackager:
    """What the Functions project holds (see the module)."""

    platform: str
    packages: tuple[str, ...]
    requirements: tuple[str, ...]
    excluded: tuple[str, ...]
    target: Target
    folder: str

    def default_output(self, app: str) -> Path:
        """``build/<app>-functions``."""
        return Path("build") / self.folder.format(app=app)

    def requirements_text(self) -> str:
        """``name==version`` of every distribution the functions need, sorted."""
        names = dependency_closure(RUNTIME_REQUIREMENTS + self.requirements)
        pins = [f"{name}=={importlib.metadata.version(name)}" for name in names]
        return "\n".join(pins) + "\n"

    def build(self, reference: str, out: Path) -> Package:
        """Write the Functions project of the app at ``reference`` into the folder ``out``;
        raises :class:`~dispatcher.deploy.errors.UndeployableApp` when Azure cannot run it."""
        from adapters.azure.project import files, plan_for
        from dispatcher.loading import app_reference, load_app

        app = load_app(reference)
        plan = plan_for(app, app_reference(app, reference))
        sources = source_files(reference, self.packages, self.excluded)
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        try:
            for relative, path in sources.items():
                target = partial / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
            for name, text in files(plan).items():
                (partial / name).write_text(text)
            (partial / "requirements.txt").write_text(self.requirements_text())
            (partial / ".funcignore").write_text(FUNCIGNORE)
            if out.exists():
                shutil.rmtree(out)
            partial.rename(out)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        written = [p for p in out.rglob("*") if p.is_file()]
        return Package(out, sum(p.stat().st_size for p in written), len(written), plan.warnings)


PACKAGER = FunctionsPackager(
    platform="Azure Functions (Flex Consumption)",
    packages=("adapters.azure",),
    requirements=(
        "azure-functions",
        "azure-storage-queue",
        "azure-storage-blob",
        "azure-data-tables",
        "azure-identity",
    ),
    # Generators, the emulator, the local host and this packager: nothing a function imports.
    excluded=(
        "adapters/azure/deploy/",
        "adapters/azure/templates/",
        "adapters/azure/package.py",
        "adapters/azure/project.py",
        "adapters/azure/emulate.py",
        "adapters/azure/host.py",
        "adapters/azure/azurite.py",
        "adapters/azure/provision.py",
        "adapters/azure/README.md",
    ),
    target=Target(system="Linux", machine="x86_64", python=(3, 11)),
    folder="{app}-functions",
)
