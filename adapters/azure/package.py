"""The Functions project of an app (``dispatcher package APP --provider azure``): a zip to publish
to the Function App the generated infrastructure makes.

It holds ``function_app.py`` and ``host.json`` (:mod:`adapters.azure.project`, from the Azure
deploy policy's plan: the same values as the Terraform and ``dispatcher emulate azure``), a
``requirements.txt`` pinning every distribution the functions need to the version installed
here (the versions the tests ran with), the sources (the app's top-level package, the
``dispatcher`` core without its tooling, the ``adapters.azure`` runtime without its generators,
emulator, local host and packaging), and the dependencies, installed by pip for the platform
(Linux x86_64, the runtime's Python) into ``.python_packages/lib/site-packages``, where the
Python worker finds a package's own dependencies, so that no remote build is needed:
https://learn.microsoft.com/en-us/azure/azure-functions/functions-reference-python#folder-structure
and https://learn.microsoft.com/en-us/azure/azure-functions/functions-deployment-technologies.
Every module ships compiled, as in the Lambda zip (:mod:`dispatcher.deploy.package`): a Flex
Consumption app runs from its package, read-only, so Python could not cache bytecode there.
Publish it with ``az functionapp deployment source config-zip -g GROUP -n APP --src ZIP``.

Flex Consumption's Python versions:
https://learn.microsoft.com/en-us/azure/azure-functions/flex-consumption-plan#supported-language-stack-versions
(3.10 and 3.11 when the plan came out, 3.12 since); our code needs 3.11 or newer, and the
default is 3.11, the version the tests run on. Flex Consumption runs on x86_64 only.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dispatcher.deploy.package import (
    Architecture,
    Package,
    Packager,
    Target,
    compiled_or_warned,
    constraints,
    install_dependencies,
    source_contents,
    write_zip,
)

#: Where the Python worker looks for a package's own dependencies.
SITE_PACKAGES = ".python_packages/lib/site-packages"


@dataclass(frozen=True, kw_only=True)
class FunctionsPackager(Packager):
    """A :class:`~dispatcher.deploy.package.Packager` whose zip is an Azure Functions
    project (see the module)."""

    def build(self, reference: str, out: Path, target: Target | None = None) -> Package:
        """Write the project of the app at ``reference`` for ``target`` to the zip ``out``;
        raises :class:`~dispatcher.deploy.errors.UndeployableApp` when Azure cannot run it."""
        from adapters.azure.project import files, plan_for
        from dispatcher.loading import app_reference, load_app

        target = target or self.target()
        app = load_app(reference)
        plan = plan_for(app, app_reference(app, reference))
        with tempfile.TemporaryDirectory(prefix="dispatcher-functions-") as scratch:
            tree = Path(scratch) / "tree"
            entries = dict(source_contents(reference, self))
            dependencies = install_dependencies(self, target, Path(scratch) / "deps")
            entries.update({f"{SITE_PACKAGES}/{n}": p for n, p in dependencies.items()})
            for name, path in entries.items():
                destination = tree / name
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, destination)
            for name, text in files(plan).items():
                (tree / name).write_text(text)
            (tree / "requirements.txt").write_text("\n".join(constraints(self)) + "\n")
            warnings = compiled_or_warned(self, target, tree)
            count = write_zip(tree, out)
        return Package(out, out.stat().st_size, count, target, (*plan.warnings, *warnings))


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
    runtimes={"python3.11": (3, 11), "python3.12": (3, 12)},
    default_runtime="python3.11",
    architectures={"x86_64": Architecture(machine="x86_64", platform="manylinux2014_x86_64")},
    default_architecture="x86_64",
    archive="{app}-functions.zip",
)
