"""`make plan`'s variables: SUMMARY and DIAGRAMS read as yes/no (or refused, never ignored), and the
plan's files under plan-output/, which git ignores."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

# The virtualenv is taken as built: these tests look at the command make runs, not at the install.
MAKE = ["make", "--no-print-directory", "-o", ".venv/.installed"]


def planned_command(*variables: str) -> str:
    """The offline-plan command `make plan` would run (make -n: nothing runs)."""
    result = subprocess.run([*MAKE, "-n", "plan", *variables], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return next(line for line in result.stdout.splitlines() if "-m offline.plan" in line)


@pytest.mark.parametrize("variables, flags", [
    ((), []),
    (("SUMMARY=1",), ["--summary"]), (("SUMMARY=yes",), ["--summary"]), (("SUMMARY=TRUE",), ["--summary"]),
    (("SUMMARY=no",), []), (("DIAGRAMS=0",), ["--no-diagrams"]), (("DIAGRAMS=false",), ["--no-diagrams"]),
    (("DIAGRAMS=yes",), []), (("SUMMARY=yes", "DIAGRAMS=no"), ["--summary"]),
])
def test_summary_and_diagrams_are_yes_or_no_in_any_spelling(variables, flags) -> None:
    words = planned_command(*variables).split()
    assert [word for word in words if word in ("--summary", "--no-diagrams")] == flags


@pytest.mark.parametrize("variable", ["SUMMARY=maybe", "DIAGRAMS=off-please", "SUMMARY=it's"])
def test_any_other_value_stops_make_naming_the_variable(variable: str) -> None:
    result = subprocess.run([*MAKE, "-n", "plan", variable], cwd=REPO_ROOT, capture_output=True, text=True)
    name, value = variable.split("=")
    assert result.returncode == 2
    assert f"{name}={value} is neither yes nor no: write {name}=yes or {name}=no" in result.stderr
    assert "offline.plan" not in result.stdout


def test_relative_output_paths_land_in_plan_output_and_absolute_ones_stay(tmp_path: Path) -> None:
    words = planned_command("PLAN_JSON=prod.json", f"DIAGRAM_DIR={tmp_path}",
                            f"WITH=staging.json {tmp_path}/qa.json").split()
    assert words[words.index("--json") + 1] == "plan-output/prod.json"
    assert words[words.index("--diagram-dir") + 1] == str(tmp_path)
    # The other stacks' plans are read where PLAN_JSON wrote them.
    assert [words[i + 1] for i, word in enumerate(words) if word == "--with-plan"] == [
        "plan-output/staging.json", f"{tmp_path}/qa.json"]


def test_git_ignores_what_make_plan_writes() -> None:
    for path in ("plan-output/prod.json", "plan-output/diagrams/shop-api-prod.svg"):
        assert subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO_ROOT).returncode == 0, path


def test_make_plan_writes_the_json_under_plan_output(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(REPO_ROOT, project, symlinks=True, ignore=shutil.ignore_patterns(
        ".venv", ".git", "tests", "docs", "bench", "build", "plan-output", "__pycache__", ".pytest_cache",
        ".hypothesis"))
    (project / ".venv").symlink_to(REPO_ROOT / ".venv")
    result = subprocess.run([*MAKE, "plan", "STACK=staging", "SUMMARY=yes", "PLAN_JSON=staging.json"],
                            cwd=project, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "wrote plan-output/staging.json" in result.stdout
    assert (project / "plan-output" / "staging.json").is_file()
