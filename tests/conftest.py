"""Shared test fixtures: where the repository and the offline plan's fixture projects are, the plans
the tests share, and the program's steps."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any, Mapping

import pytest

from components.settings import from_config
from components.steps import Step, StepInputs, steps_for
from offline.model import Plan
from offline.plan import load_stack_config, run_plan

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


_PLANS: dict[tuple[str, str, str], Plan] = {}
_PLANS_LOCK = threading.Lock()


def cached_plan(stack: str, config_overrides: Mapping[str, Any] | None = None,
                project_dir: Path = REPO_ROOT) -> Plan:
    """`offline.plan.run_plan`, memoized per (stack, overrides, project) for tests that read the
    same plan. Callers share the returned Plan: read it, never change it."""
    key = (stack, json.dumps(config_overrides, sort_keys=True), str(Path(project_dir).resolve()))
    with _PLANS_LOCK:
        if key not in _PLANS:
            _PLANS[key] = run_plan(stack, config_overrides, project_dir)
        return _PLANS[key]


STACKS = ("staging", "prod")


@pytest.fixture(scope="session", params=STACKS)
def stack_plan(request) -> Plan:
    """The plan of each of the repository's stacks (shared: read it, never change it)."""
    return cached_plan(request.param)


def program_step(buildspec: str) -> Step:
    """The first step of the repository's stacks whose commands are `buildspecs/<buildspec>`, as the
    program lays it out for the stack's first service."""
    for stack in STACKS:
        settings = from_config(load_stack_config(REPO_ROOT, stack).values)
        steps = steps_for(settings, settings.services[0], StepInputs(deployment_role_arn=""))
        found = next((step for step in steps.steps if step.buildspec == buildspec), None)
        if found is not None:
            return found
    raise LookupError(f"no step of {', '.join(STACKS)} runs buildspecs/{buildspec}")
