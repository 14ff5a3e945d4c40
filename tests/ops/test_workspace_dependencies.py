"""Every workspace member declares, in its own ``pyproject.toml``, exactly what it imports.

The member's package source is read with ``ast``; each top-level import that is neither the standard library nor
the member's own package is either another workspace member (declared by its project name) or a third-party
package, mapped to its distribution(s) with ``importlib.metadata.packages_distributions()``. A member may not rely
on another member bundling its dependencies for it, and may not declare what it does not use, except for the few
packages that are needed at run time without an import (listed below, each with its reason).
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: member → distributions it needs at run time without importing them, and why
RUNTIME_ONLY: dict[str, dict[str, str]] = {
    "tenant-service": {
        "aiosqlite": "SQLAlchemy's driver for the default sqlite+aiosqlite:// database URL",
        "asyncpg": "SQLAlchemy's driver for postgresql+asyncpg:// database URLs",
        "uvloop": "uvicorn's event loop when installed (loop='auto')",
        "httptools": "uvicorn's HTTP parser when installed (http='auto')",
    },
    "notification-service": {
        "aiosqlite": "SQLAlchemy's driver for the default sqlite+aiosqlite:// database URL",
        "uvloop": "uvicorn's event loop when installed (loop='auto')",
        "httptools": "uvicorn's HTTP parser when installed (http='auto')",
    },
    "whatsapp-sandbox": {
        "python-multipart": "Starlette's Request.form() for the multipart media upload (POST /<PHONE_NUMBER_ID>/media)",
        "uvloop": "uvicorn's event loop when installed (loop='auto')",
        "httptools": "uvicorn's HTTP parser when installed (http='auto')",
    },
}


def normalize(name: str) -> str:
    """PEP 503 form of a distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Member:
    path: str
    name: str
    packages: tuple[str, ...]
    dependencies: frozenset[str]


@cache
def members() -> tuple[Member, ...]:
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    found = []
    for path in root["tool"]["uv"]["workspace"]["members"]:
        project = tomllib.loads((ROOT / path / "pyproject.toml").read_text())
        requirements = project["project"].get("dependencies", [])
        found.append(
            Member(
                path=path,
                name=normalize(project["project"]["name"]),
                packages=tuple(project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]),
                dependencies=frozenset(normalize(re.split(r"[\s\[<>=!~;]", r, maxsplit=1)[0]) for r in requirements),
            )
        )
    return tuple(found)


def first_party() -> dict[str, str]:
    """import name of each member's package → the member's project name"""
    return {package: member.name for member in members() for package in member.packages}


def top_level_imports(member: Member) -> dict[str, list[str]]:
    """top-level import name → the files (relative) that import it, for every absolute import in the member."""
    found: dict[str, list[str]] = {}
    for package in member.packages:
        for path in sorted((ROOT / member.path / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.partition(".")[0]
                    if top in sys.stdlib_module_names or top == "__future__" or top in member.packages:
                        continue
                    found.setdefault(top, []).append(str(path.relative_to(ROOT)))
    return found


def imported_distributions(member: Member) -> dict[str, set[str]]:
    """import name → the distributions that provide it (a workspace member's project name for its package)."""
    providers = packages_distributions()
    ours = first_party()
    out: dict[str, set[str]] = {}
    for name in top_level_imports(member):
        if name in ours:
            out[name] = {ours[name]}
        else:
            out[name] = {normalize(dist) for dist in providers.get(name, [])}
    return out


MEMBER_IDS = [m.path for m in members()]


@pytest.mark.parametrize("member", members(), ids=MEMBER_IDS)
def test_every_direct_import_is_declared(member: Member) -> None:
    files = top_level_imports(member)
    missing = [
        f"{name} (distribution {' or '.join(sorted(dists)) or 'unknown: not installed'}; imported in {files[name][0]})"
        for name, dists in sorted(imported_distributions(member).items())
        if not dists & member.dependencies
    ]
    where = f"{member.path}/pyproject.toml ({member.name})"
    assert not missing, f"{where} does not declare what it imports: {'; '.join(missing)}"


@pytest.mark.parametrize("member", members(), ids=MEMBER_IDS)
def test_every_declared_dependency_is_imported_or_needed_at_run_time(member: Member) -> None:
    used = set().union(*imported_distributions(member).values())
    runtime = {normalize(name) for name in RUNTIME_ONLY.get(member.name, {})}
    unused = sorted(member.dependencies - used - runtime)
    assert not unused, (
        f"{member.path}/pyproject.toml ({member.name}) declares dependencies it never imports: {', '.join(unused)} "
        "(declare them in the member that imports them, or list them in RUNTIME_ONLY with the reason)"
    )


def test_runtime_only_dependencies_are_declared_and_not_imported() -> None:
    """The exceptions stay true: each is declared by its member and really is not imported there."""
    by_name = {member.name: member for member in members()}
    for name, runtime in RUNTIME_ONLY.items():
        member = by_name[name]
        used = set().union(*imported_distributions(member).values())
        for dist in runtime:
            assert normalize(dist) in member.dependencies, f"{member.path} does not declare {dist}"
            assert normalize(dist) not in used, f"{member.path} imports {dist}: it needs no RUNTIME_ONLY entry"


def test_the_scan_sees_the_imports() -> None:
    """Guards the scanner itself: the CLI's imports are found and mapped to their distributions."""
    cli = next(member for member in members() if member.name == "bakery-cli")
    dists = imported_distributions(cli)
    assert dists["typer"] == {"typer"}
    assert dists["bakery_shared"] == {"bakery-shared"}
    assert "json" not in dists and "bakery_cli" not in dists
