"""Build what a provider deploys: a function's zip (this module's :class:`Packager`), or a
container's build context (a provider's own builder, such as ``adapters.gcp.package``, on the
same helpers: :func:`source_files`, :func:`dependency_closure`). ``dispatcher package APP
--provider NAME`` asks the provider's plug-in for its builder, any :class:`PackageBuilder`.

A zip's runtime is the ``dispatcher`` core (without the generators and the CLI) and the provider's
own packages, copied from this checkout or installation. Dependencies (the ``pydantic``
and ``orjson`` closures) are installed by pip for the function's platform and Python version
(``--platform manylinux2014_x86_64 --only-binary=:all: --python-version 3.14``), never copied
from this interpreter, whose compiled extensions may be for another system, machine or Python;
the versions installed here are the constraints, so a zip holds what the tests ran. What differs
per provider (its packages, what the platform already provides, what is left out, its runtimes
and architectures, the zip's default name) comes from the provider's :class:`Packager`, found
through its plug-in.

Every module ships compiled too, by an interpreter of the function's Python version when this
machine has one (a function's code directory is read-only on Lambda, so Python could not cache
bytecode there and would compile every module on every cold start); without one, the zip holds
sources only and :attr:`Package.warnings` says so. The zip is reproducible: sorted entries,
fixed timestamps, hash-based bytecode.
"""

from __future__ import annotations

import glob
import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from dispatcher.errors import DispatcherError

#: Distributions the core's runtime needs (the CLI's typer and rich are left out).
RUNTIME_REQUIREMENTS = ("pydantic", "orjson")
#: Source folders of the core that a function never imports.
EXCLUDED_PARTS = ("dispatcher/deploy/", "dispatcher/cli.py")
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
PIP_TIMEOUT = 600


class PackagingError(DispatcherError, RuntimeError):
    """The zip cannot be built: an unknown runtime or architecture, or pip failed."""


@dataclass(frozen=True, kw_only=True)
class Architecture:
    """A function architecture: the machine Python reports there, and pip's platform tag for
    wheels that run on it."""

    machine: str
    platform: str


@dataclass(frozen=True, kw_only=True)
class Target:
    """The platform one zip is built for."""

    runtime: str
    python: tuple[int, int]
    architecture: str
    machine: str
    platform: str


@dataclass(frozen=True, kw_only=True)
class Packager:
    """What one provider's function package holds, as its plug-in declares it.

    ``packages`` are the provider's import packages the function needs (``adapters.aws``);
    ``requirements`` the distributions it needs beyond the core's; ``provided`` the
    distributions the platform already has (boto3 on Lambda); ``excluded`` archive path
    prefixes left out (tooling the function never imports); ``runtimes`` the platform's
    runtime names and their Python versions, ``architectures`` its architectures, each with a
    default; ``archive`` the default zip name, with ``{app}`` for the app's name.
    """

    platform: str
    packages: tuple[str, ...]
    requirements: tuple[str, ...] = ()
    provided: frozenset[str] = field(default_factory=frozenset)
    excluded: tuple[str, ...] = ()
    runtimes: Mapping[str, tuple[int, int]]
    default_runtime: str
    architectures: Mapping[str, Architecture]
    default_architecture: str
    archive: str

    def archive_name(self, app: str) -> str:
        """The zip's default file name for ``app``."""
        return self.archive.format(app=app)

    def default_output(self, app: str) -> Path:
        """Where the zip goes unless told: ``build/<archive name>``."""
        from dispatcher.deploy.output import PACKAGE_FOLDER

        return Path(PACKAGE_FOLDER) / self.archive_name(app)

    def build(self, reference: str, out: Path, target: Target | None = None) -> Package:
        """Write the zip of the app at ``reference`` for ``target`` to ``out``
        (:func:`build_package`); a provider whose platform wants another layout of a zip
        overrides this (``adapters.azure.package``)."""
        return build_package(reference, out, self, target)

    def target(self, runtime: str | None = None, architecture: str | None = None) -> Target:
        """The platform for ``runtime`` and ``architecture`` (the defaults when ``None``);
        :class:`PackagingError` names what is not offered."""
        return choose_target(self, runtime, architecture)


class Offers(Protocol):
    """What a packager offers: its platform's runtimes and architectures, with defaults."""

    @property
    def platform(self) -> str: ...
    @property
    def runtimes(self) -> Mapping[str, tuple[int, int]]: ...
    @property
    def default_runtime(self) -> str: ...
    @property
    def architectures(self) -> Mapping[str, Architecture]: ...
    @property
    def default_architecture(self) -> str: ...


def choose_target(offers: Offers, runtime: str | None, architecture: str | None) -> Target:
    """The :class:`Target` for ``runtime`` and ``architecture`` among what ``offers`` (the
    defaults when ``None``); :class:`PackagingError` names everything that is not offered."""
    runtime = runtime or offers.default_runtime
    architecture = architecture or offers.default_architecture
    problems = []
    if runtime not in offers.runtimes:
        known = ", ".join(offers.runtimes)
        problems.append(f"runtime {runtime!r} is not one of {offers.platform}'s ({known})")
    if architecture not in offers.architectures:
        known = ", ".join(offers.architectures)
        problems.append(
            f"architecture {architecture!r} is not one of {offers.platform}'s ({known})"
        )
    if problems:
        raise PackagingError("; ".join(problems))
    arch = offers.architectures[architecture]
    return Target(
        runtime=runtime,
        python=offers.runtimes[runtime],
        architecture=architecture,
        machine=arch.machine,
        platform=arch.platform,
    )


@dataclass(frozen=True)
class Package:
    """What was built (a zip, or a folder): where it is, how big, how many files, and for
    which platform."""

    path: Path
    size: int
    files: int
    target: Target
    warnings: tuple[str, ...]


@runtime_checkable
class PackageBuilder(Protocol):
    """What ``dispatcher package`` needs of a provider's builder."""

    @property
    def platform(self) -> str:
        """What runs the package: ``"AWS Lambda"``, ``"Cloud Run"``."""

    def target(self, runtime: str | None = None, architecture: str | None = None) -> Target:
        """The platform for ``runtime`` and ``architecture`` (its defaults when ``None``);
        :class:`PackagingError` names what is not offered."""

    def default_output(self, app: str) -> Path:
        """Where the package of ``app`` goes unless told."""

    def build(self, reference: str, out: Path, target: Target | None = None) -> Package:
        """Build the package of the app at ``reference`` for ``target`` into ``out``."""


def _name(requirement: str) -> str:
    return re.split(r"[\s;<>=!~\[(]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def dependency_closure(
    roots: tuple[str, ...] = RUNTIME_REQUIREMENTS, provided: frozenset[str] = frozenset()
) -> list[str]:
    """The installed distributions ``roots`` need (extras left out), minus ``provided``. A
    requirement under an environment marker that is not installed is one this environment
    does not need (``exceptiongroup; python_version < "3.11"``) and is left out."""
    found: dict[str, None] = {}
    pending = [r.lower() for r in roots]
    while pending:
        name = pending.pop()
        if name in found or name in provided:
            continue
        found[name] = None
        requires = importlib.metadata.distribution(name).requires or []
        for requirement in requires:
            if "extra ==" in requirement:
                continue
            needed = _name(requirement)
            if ";" in requirement and not _installed(needed):
                continue
            pending.append(needed)
    return sorted(found)


def _installed(name: str) -> bool:
    try:
        importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def _source_files(package: str) -> Iterator[tuple[str, Path]]:
    """Archive name -> file of every file of ``package`` (dotted), and the ``__init__`` of each
    package above it."""
    parts = package.split(".")
    for depth in range(1, len(parts)):
        parent = importlib.util.find_spec(".".join(parts[:depth]))
        if parent is not None and parent.origin is not None:
            yield f"{'/'.join(parts[:depth])}/__init__.py", Path(parent.origin)
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"cannot find {package!r} to package it")
    origin = Path(spec.origin)
    if spec.submodule_search_locations is None:
        yield f"{'/'.join([*parts[:-1], origin.name])}", origin
        return
    root, prefix = origin.parent, "/".join(parts)
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            yield f"{prefix}/{path.relative_to(root).as_posix()}", path


def source_files(
    reference: str, packages: tuple[str, ...], excluded: tuple[str, ...] = ()
) -> dict[str, Path]:
    """Relative path -> file of the app at ``reference`` (its whole top-level package), the
    core's runtime and ``packages``, without the ``excluded`` path prefixes."""
    top = reference.partition(":")[0].split(".")[0]
    left_out = EXCLUDED_PARTS + excluded
    entries: dict[str, Path] = {}
    for package in dict.fromkeys([top, "dispatcher", *packages]):
        for name, path in _source_files(package):
            if not name.startswith(left_out):
                entries[name] = path
    return entries


def source_contents(reference: str, packager: Packager) -> dict[str, Path]:
    """Archive name -> file of the app, the core's runtime and the provider's packages."""
    return source_files(reference, packager.packages, packager.excluded)


def constraints(packager: Packager) -> list[str]:
    """``name==version`` of every distribution of the runtime's closure installed here."""
    roots = RUNTIME_REQUIREMENTS + packager.requirements
    return [
        f"{name}=={importlib.metadata.version(name)}"
        for name in dependency_closure(roots, packager.provided)
    ]


def install_dependencies(packager: Packager, target: Target, folder: Path) -> dict[str, Path]:
    """pip-install the runtime's dependencies for ``target`` into ``folder``; archive name ->
    file of each, without the distributions the platform provides."""
    pins = folder.parent / "constraints.txt"
    pins.write_text("\n".join(constraints(packager)) + "\n")
    major, minor = target.python
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-input",
        "--no-compile",
        "--target",
        str(folder),
        "--platform",
        target.platform,
        "--implementation",
        "cp",
        "--python-version",
        f"{major}.{minor}",
        "--only-binary=:all:",
        "--constraint",
        str(pins),
        *RUNTIME_REQUIREMENTS,
        *packager.requirements,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT, check=False)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        why = lines[-1].strip() if lines else f"pip exited with {done.returncode}"
        raise PackagingError(
            f"pip could not install the dependencies for {target.runtime} on "
            f"{target.architecture} ({target.platform}): {why}"
        )
    files: dict[str, Path] = {}
    for distribution in importlib.metadata.distributions(path=[str(folder)]):
        name = _name(distribution.metadata["Name"])
        if name in packager.provided:
            continue
        for file in distribution.files or []:
            relative = str(file)
            if relative.startswith(("..", "bin/")) or "__pycache__" in relative:
                continue
            path = folder / relative
            if path.is_file():
                files[relative] = path
    return files


def find_interpreter(python: tuple[int, int]) -> str | None:
    """A working interpreter of Python ``python`` on this machine: this one, ``pythonX.Y`` on
    the PATH, or one pyenv installed."""
    if sys.version_info[:2] == python:
        return sys.executable
    major, minor = python
    candidates = [shutil.which(f"python{major}.{minor}")]
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    candidates += sorted(glob.glob(f"{root}/versions/{major}.{minor}.*/bin/python{major}.{minor}"))
    for candidate in candidates:
        if candidate is None:
            continue
        try:
            answer = subprocess.run(
                [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except OSError:
            continue
        if answer.returncode == 0 and answer.stdout.strip() == f"{major}.{minor}":
            return candidate
    return None


def compile_tree(interpreter: str, root: Path) -> None:
    """Compile every module under ``root`` with ``interpreter``, as unchecked hash-based
    ``.pyc`` files (PEP 552: the zip's fixed timestamps would make timestamp-based ones look
    stale) whose recorded paths are relative to ``root``; a module that does not compile for
    that Python is left as source."""
    subprocess.run(
        [
            interpreter,
            "-m",
            "compileall",
            "-qq",
            "-s",
            str(root),
            "--invalidation-mode",
            "unchecked-hash",
            str(root),
        ],
        capture_output=True,
        timeout=PIP_TIMEOUT,
        check=False,
    )


def build_package(
    reference: str, out: Path, packager: Packager, target: Target | None = None
) -> Package:
    """Write the zip of ``packager``'s provider for ``target`` (its default when ``None``) to
    ``out``, replacing it, and describe it."""
    target = target or packager.target()
    warnings: list[str] = []
    with tempfile.TemporaryDirectory(prefix="dispatcher-package-") as scratch:
        tree = Path(scratch) / "tree"
        entries = dict(source_contents(reference, packager))
        entries.update(install_dependencies(packager, target, Path(scratch) / "deps"))
        for name, path in entries.items():
            destination = tree / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, destination)
        warnings += compiled_or_warned(packager, target, tree)
        count = write_zip(tree, out)
    return Package(out, out.stat().st_size, count, target, tuple(warnings))


def compiled_or_warned(packager: Packager, target: Target, tree: Path) -> list[str]:
    """Compile ``tree`` with an interpreter of the target's Python; without one, the warning
    that says so."""
    interpreter = find_interpreter(target.python)
    if interpreter is not None:
        compile_tree(interpreter, tree)
        return []
    major, minor = target.python
    return [
        f"no Python {major}.{minor} interpreter here (python{major}.{minor}): the zip "
        f"holds sources only, so {packager.platform} compiles every module on each cold "
        f"start; install Python {major}.{minor}, or choose the runtime of an "
        "interpreter you have"
    ]


def write_zip(tree: Path, out: Path) -> int:
    """Write every file under ``tree`` to the zip ``out`` (replacing it), reproducibly: sorted
    entries, fixed timestamps; how many files."""
    files = sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file())
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name in files:
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, (tree / name).read_bytes())
    partial.replace(out)
    return len(files)
