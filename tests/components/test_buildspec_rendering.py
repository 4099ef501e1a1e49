"""A buildspec is rendered from its step: the exports and the tool bundle's install phase come
from the `Step`, the commands from the file of buildspecs/."""

from __future__ import annotations

import pytest
import yaml

from components import buildspec
from components.buildspec import BuildspecError, render
from tests.conftest import program_step

COMMANDS = "# Says hello.\nphases:\n  build:\n    commands:\n      - echo hello\n"


@pytest.fixture
def buildspecs(tmp_path, monkeypatch):
    """A buildspecs/ directory of the test's own; its files are read afresh."""
    monkeypatch.setattr(buildspec, "BUILDSPECS", tmp_path)
    buildspec._parts.cache_clear()
    yield tmp_path
    buildspec._parts.cache_clear()


def test_the_exports_are_the_steps_and_the_file_keeps_its_comment_and_commands(buildspecs):
    (buildspecs / "hello.yml").write_text(COMMANDS)
    text = render("hello.yml", ("GREETING", "NAME"), tool_bundle=False)
    assert text.startswith("# Says hello.\nversion: 0.2\n")
    spec = yaml.safe_load(text)
    assert spec == {"version": 0.2, "env": {"shell": "bash", "exported-variables": ["GREETING", "NAME"]},
                    "phases": {"build": {"commands": ["echo hello"]}}}


def test_a_step_with_the_tool_bundle_installs_it_before_its_own_phases(buildspecs):
    (buildspecs / "hello.yml").write_text(COMMANDS)
    spec = yaml.safe_load(render("hello.yml", (), tool_bundle=True))
    assert "exported-variables" not in spec["env"]
    assert list(spec["phases"]) == ["install", "build"]
    assert spec["phases"]["install"]["commands"][1] == 'aws s3 cp --only-show-errors "$TOOLS_BUNDLE" /tmp/tools.zip'


def test_a_file_that_states_what_the_step_renders_is_refused(buildspecs):
    (buildspecs / "versioned.yml").write_text("version: 0.2\n" + COMMANDS)
    with pytest.raises(BuildspecError, match=r"buildspecs/versioned.yml: only comments may precede `phases:`"):
        render("versioned.yml", (), tool_bundle=False)
    (buildspecs / "installs.yml").write_text("phases:\n  install:\n    commands:\n      - true\n")
    assert "install" in yaml.safe_load(render("installs.yml", (), tool_bundle=False))["phases"]
    with pytest.raises(BuildspecError, match=r"buildspecs/installs.yml has an install phase"):
        render("installs.yml", (), tool_bundle=True)


@pytest.mark.parametrize("file", ["build.yml", "resolve.yml", "promote.yml", "verify.yml"])
def test_the_programs_steps_export_what_their_stage_declares(file):
    step = program_step(file)
    spec = yaml.safe_load(step.buildspec_text)
    assert spec["env"].get("exported-variables", []) == list(step.exports)
    assert ("install" in spec["phases"]) == step.needs_tool_bundle
