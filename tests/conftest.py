"""Shared test fixtures: where the repository and the offline plan's fixture projects are, the plans
the tests share, and the program's steps."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any, Mapping

import pytest
import yaml

from components.settings import PROJECT, Settings, parse
from components.steps import Step, StepInputs, steps_for
from offline.model import Plan
from offline.plan import run_plan

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


# The plans of the repository's stacks, made once per test process; shared: read them, never change them.
@pytest.fixture(scope="session", params=STACKS)
def plan(request) -> Plan:
    """Each of the repository's stacks' plans in turn."""
    return cached_plan(request.param)


@pytest.fixture(scope="session")
def staging() -> Plan:
    return cached_plan("staging")


@pytest.fixture(scope="session")
def prod() -> Plan:
    return cached_plan("prod")


def stack_config(stack: str) -> dict[str, Any]:
    """The config of the repository's stack as written in Pulumi.<stack>.yaml: full keys, as the
    engine passes them to the program."""
    return yaml.safe_load((REPO_ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]


def stack_data(stack: str) -> dict[str, Any]:
    """The stack's settings as `components.settings.parse` takes them: the project's keys, unprefixed."""
    prefix = f"{PROJECT}:"
    return {key[len(prefix):]: value for key, value in stack_config(stack).items() if key.startswith(prefix)}


def stack_settings(stack: str) -> Settings:
    return parse(stack_data(stack))


def program_step(buildspec: str) -> Step:
    """The first step of the repository's stacks whose commands are `buildspecs/<buildspec>`, as the
    program lays it out for the stack's first service."""
    for stack in STACKS:
        settings = stack_settings(stack)
        steps = steps_for(settings, settings.services[0], StepInputs(deployment_role_arn=""))
        found = next((step for step in steps.steps if step.buildspec == buildspec), None)
        if found is not None:
            return found
    raise LookupError(f"no step of {', '.join(STACKS)} runs buildspecs/{buildspec}")
