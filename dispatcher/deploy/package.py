"""Build what a provider deploys: a function's zip, or a container's build context.

``dispatcher package APP --provider NAME`` asks the provider's plug-in for its builder (any
object with ``platform``, ``default_output(app)`` and ``build(reference, out)``:
:class:`PackageBuilder`); this module's :class:`Packager` builds zips (AWS Lambda), and a
provider that deploys containers brings its own builder (``adapters.gcp.package``) on the
same helpers (:func:`source_files`, :func:`dependency_closure`).

A zip's runtime is the ``dispatcher`` core (without the generators and the CLI) and the
provider's own packages; dependencies are copied from the installed distributions (the
``pydantic`` and ``orjson`` closures). What differs per provider (which of its packages the
function needs, what the platform already provides, what is left out, the platform compiled
code must match, the zip's default name) comes from the provider's :class:`Packager`, found
through its plug-in. Every module ships compiled too: a function's code directory is read-only
on Lambda, so Python could not cache bytecode there and would compile every module on every
cold start. The zip is reproducible: sorted entries, fixed timestamps, hash-based bytecode.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import platform
import py_compile
import re
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

#: Distributions the core's runtime needs (the CLI's typer and rich are left out).
RUNTIME_REQUIREMENTS = ("pydantic", "orjson")
#: Source folders of the core that a function never imports.
EXCLUDED_PARTS = ("dispatcher/deploy/", "dispatcher/cli.py")
FIXED_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True, kw_only=True)
class Target:
    """The platform a function runs on: compiled dependencies must match it."""

    system: str
    machine: str
    python: tuple[int, int]


@dataclass(frozen=True, kw_only=True)
class Packager:
    """What one provider's function package holds, as its plug-in declares it.

    ``packages`` are the provider's import packages the function needs (``adapters.aws``);
    ``requirements`` the distributions it needs beyond the core's; ``provided`` the
    distributions the platform already has (boto3 on Lambda); ``excluded`` archive path
    prefixes left out (tooling the function never imports); ``archive`` the default zip name,
    with ``{app}`` for the app's name.
    """

    platform: str
    packages: tuple[str, ...]
    requirements: tuple[str, ...] = ()
    provided: frozenset[str] = field(default_factory=frozenset)
    excluded: tuple[str, ...] = ()
    target: Target
    archive: str

    def archive_name(self, app: str) -> str:
        """The zip's default file name for ``app``."""
        return self.archive.format(app=app)

    def default_output(self, app: str) -> Path:
        """Where the zip goes unless told: ``build/<archive name>``."""
        return Path("build") / self.archive_name(app)

    def build(self, reference: str, out: Path) -> Package:
        """Write the zip of the app at ``reference`` to ``out``."""
        return build_package(reference, out, self)


@dataclass(frozen=True)
class Package:
    """What was built (a zip, or a folder): where it is, how big, and how many files."""

    path: Path
    size: int
    files: int
    warnings: tuple[str, ...]


@runtime_checkable
class PackageBuilder(Protocol):
    """What ``dispatcher package`` needs of a provider's builder."""

    @property
    def platform(self) -> str:
        """What runs the package: ``"AWS Lambda"``, ``"Cloud Run"``."""

    def default_output(self, app: str) -> Path:
        """Where the package of ``app`` goes unless told."""

    def build(self, reference: str, out: Path) -> Package:
        """Build the package of the app at ``reference`` into ``out``."""


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


def _distribution_files(name: str) -> Iterator[tuple[str, Path]]:
    distribution = importlib.metadata.distribution(name)
    for file in distribution.files or []:
        relative = str(file)
        if relative.startswith("..") or "__pycache__" in relative or relative.endswith(".pyc"):
            continue
        source = Path(str(distribution.locate_file(file)))
        if source.is_file():
            yield relative, source


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


def package_contents(reference: str, packager: Packager) -> dict[str, Path]:
    """Archive name -> file for the function of the app at ``reference``."""
    entries = source_files(reference, packager.packages, packager.excluded)
    roots = RUNTIME_REQUIREMENTS + packager.requirements
    for distribution in dependency_closure(roots, packager.provided):
        entries.update(dict(_distribution_files(distribution)))
    return entries


def platform_warnings(packager: Packager) -> list[str]:
    """Why the compiled dependencies of this interpreter may not run on the function."""
    target = packager.target
    here = (platform.system(), platform.machine(), sys.version_info[:2])
    if here == (target.system, target.machine, target.python):
        return []
    major, minor = target.python
    return [
        f"this interpreter is {here[0]} {here[1]} Python {here[2][0]}.{here[2][1]}; "
        f"{packager.platform} runs {target.system} {target.machine} Python {major}.{minor}, so "
        "compiled dependencies (pydantic-core, orjson) must come from a matching environment"
    ]


def bytecode(name: str, source: Path) -> tuple[str, bytes] | None:
    """The compiled module for archive entry ``name``, where the importer looks for it, as an
    unchecked hash-based ``.pyc`` (PEP 552): the zip's fixed timestamps would make a
    timestamp-based one look stale. ``None`` if it does not compile here."""
    with tempfile.TemporaryDirectory() as folder:
        compiled = Path(folder) / "module.pyc"
        try:
            py_compile.compile(
                str(source),
                cfile=str(compiled),
                dfile=name,
                doraise=True,
                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            )
        except py_compile.PyCompileError:
            return None
        return importlib.util.cache_from_source(name), compiled.read_bytes()


def build_package(reference: str, out: Path, packager: Packager) -> Package:
    """Write the zip of ``packager``'s provider to ``out`` (replacing it) and describe it."""
    entries = package_contents(reference, packager)
    files = {name: path.read_bytes() for name, path in entries.items()}
    for name, path in entries.items():
        if name.endswith(".py"):
            compiled = bytecode(name, path)
            if compiled is not None:
                files[compiled[0]] = compiled[1]
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, files[name])
    partial.replace(out)
    return Package(out, out.stat().st_size, len(files), tuple(platform_warnings(packager)))
