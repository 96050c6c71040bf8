"""Build the cloud function's deployment zip: the app, the runtime, and their dependencies.

The runtime is the ``dispatcher`` core (without the generators and the CLI) and the provider's
adapter; dependencies are copied from the installed distributions (the ``pydantic`` and
``orjson`` closures), leaving out what the platform provides (boto3 and its dependencies on
Lambda). Every module ships compiled too: Lambda's code directory is read-only, so Python could
not cache bytecode there and would compile every module on every cold start. The zip is
reproducible: sorted entries, fixed timestamps, hash-based bytecode.
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
from dataclasses import dataclass
from pathlib import Path

#: Distributions the runtime needs (the CLI's typer and rich are left out).
RUNTIME_REQUIREMENTS = ("pydantic", "orjson")
#: Distributions AWS Lambda's Python runtime already has.
PROVIDED = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "urllib3", "six"}
)
#: Source folders of ours that the function never imports.
EXCLUDED_PARTS = ("dispatcher/deploy/", "dispatcher/cli.py", "adapters/aws/infra.py")
#: Lambda's platform: compiled dependencies must match it.
TARGET = ("Linux", "x86_64", (3, 11))
FIXED_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Package:
    """A built zip: where it is, how big, and how many files it holds."""

    path: Path
    size: int
    files: int
    warnings: tuple[str, ...]


def _name(requirement: str) -> str:
    return re.split(r"[\s;<>=!~\[(]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def dependency_closure(roots: tuple[str, ...] = RUNTIME_REQUIREMENTS) -> list[str]:
    """The installed distributions ``roots`` need (extras left out), minus the provided ones."""
    found: dict[str, None] = {}
    pending = [r.lower() for r in roots]
    while pending:
        name = pending.pop()
        if name in found or name in PROVIDED:
            continue
        found[name] = None
        requires = importlib.metadata.distribution(name).requires or []
        pending += [_name(r) for r in requires if "extra ==" not in r]
    return sorted(found)


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
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"cannot find {package!r} to package it")
    origin = Path(spec.origin)
    if spec.submodule_search_locations is None:
        yield origin.name, origin
        return
    root = origin.parent
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            yield f"{package}/{path.relative_to(root).as_posix()}", path


def package_contents(reference: str, provider: str = "aws") -> dict[str, Path]:
    """Archive name -> file for the function of the app at ``reference``."""
    top = reference.partition(":")[0].split(".")[0]
    entries: dict[str, Path] = {}
    for package in dict.fromkeys([top, "dispatcher", "adapters"]):
        for name, path in _source_files(package):
            if package == "adapters" and not (
                name == "adapters/__init__.py" or name.startswith(f"adapters/{provider}/")
            ):
                continue
            if not name.startswith(EXCLUDED_PARTS):
                entries[name] = path
    for distribution in dependency_closure():
        entries.update(dict(_distribution_files(distribution)))
    return entries


def platform_warnings() -> list[str]:
    """Why the compiled dependencies of this interpreter may not run on the function."""
    system, machine, version = TARGET
    here = (platform.system(), platform.machine(), sys.version_info[:2])
    if here == (system, machine, version):
        return []
    return [
        f"this interpreter is {here[0]} {here[1]} Python {here[2][0]}.{here[2][1]}; the function "
        f"runs {system} {machine} Python {version[0]}.{version[1]}, so compiled dependencies "
        "(pydantic-core, orjson) must come from a matching environment"
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


def build_package(reference: str, out: Path, provider: str = "aws") -> Package:
    """Write the zip to ``out`` (replacing it) and describe it."""
    entries = package_contents(reference, provider)
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
    return Package(out, out.stat().st_size, len(files), tuple(platform_warnings()))
