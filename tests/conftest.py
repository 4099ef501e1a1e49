"""Shared test fixtures: where the repository and the offline plan's fixture projects are."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = REPO_ROOT / "tests" / "fixtures"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def fixture_project() -> Path:
    """A small Pulumi project shaped like the real program (tests/fixtures/project)."""
    return FIXTURES / "project"


@pytest.fixture(scope="session")
def python() -> str:
    """The interpreter running the tests, for CLI subprocesses."""
    return sys.executable
