"""The checks that hold the code's shape are the same everywhere: `make lint`, the pre-commit hooks and CI."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
UV_RUN = "python3 -m uv run --frozen "


def make_lint_commands() -> list[str]:
    """The commands of the Makefile's `lint` target, without the `@$(RUN) ` prefix."""
    text = (ROOT / "Makefile").read_text()
    match = re.search(r"^lint:[^\n]*\n((?:\t[^\n]*\n)+)", text, re.MULTILINE)
    assert match, "the Makefile has no lint target"
    commands = []
    for line in match.group(1).splitlines():
        line = line.strip()
        assert line.startswith("@$(RUN) "), f"lint runs something other than a project tool: {line!r}"
        commands.append(line.removeprefix("@$(RUN) "))
    return commands


def test_make_lint_runs_ruff_check_ruff_format_and_mypy() -> None:
    assert make_lint_commands() == ["ruff check .", "ruff format --check .", "mypy"]


def test_pre_commit_hooks_run_the_make_lint_commands_from_the_locked_environment() -> None:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = [hook for repo in config["repos"] for hook in repo["hooks"]]
    assert [repo["repo"] for repo in config["repos"]] == ["local"], "a remote hook repository would be fetched"
    for hook in hooks:
        assert hook["language"] == "system", hook
        assert hook["entry"].startswith(UV_RUN), hook
        assert hook.get("pass_filenames") is False, f"{hook['id']} must check what make lint checks, not one file"
    assert [hook["entry"].removeprefix(UV_RUN) for hook in hooks] == make_lint_commands()


def test_ci_runs_make_lint_before_make_test_and_stops_on_failure() -> None:
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    commands = [line for line in lines if line and not line.startswith("#")]
    assert "set -euo pipefail" in commands
    assert "make lint" in commands and "make test" in commands
    assert commands.index("make lint") < commands.index("make test")
