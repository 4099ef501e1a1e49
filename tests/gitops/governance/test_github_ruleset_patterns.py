"""GitHub's ruleset patterns (Ruby File.fnmatch with FNM_PATHNAME), checked against the cases of
ruby/spec's File.fnmatch spec (vendored in fixtures/ruby_fnmatch_pathname.json with its origin)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitops.governance.patterns import matches

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "ruby_fnmatch_pathname.json").read_text())


@pytest.mark.parametrize(("pattern", "name", "expected"), FIXTURE["cases"])
def test_ruby_fnmatch_with_fnm_pathname(pattern, name, expected):
    assert matches(pattern, name) is expected


@pytest.mark.parametrize(("pattern", "name"), FIXTURE["unsupported_by_github"]["cases"])
def test_syntax_github_does_not_support_is_unknown(pattern, name):
    assert matches(pattern, name) is None


@pytest.mark.parametrize(("pattern", "name", "expected"), [
    ("envs/prod/*", "envs/prod/api/values.yaml", False),       # one path level
    ("envs/prod/**", "envs/prod/api/values.yaml", False),      # `**` without `/` is one level too
    ("envs/prod/**/*", "envs/prod/api/values.yaml", True),
    ("envs/prod/**/*", "envs/prod/freeze.yaml", True),
    ("envs/prod/*/values*.yaml", "envs/prod/api/values-eu-west-1.yaml", True),
    ("refs/heads/*", "refs/heads/main", True),
    ("refs/heads/*", "refs/heads/release/main", False),
    ("refs/heads/**/*", "refs/heads/release/main", True),
    ("refs/heads/release/*", "refs/heads/release/main", True),
    ("refs/heads/qa**/**/*", "refs/heads/qa-x/y/z", True),     # GitHub's own example, "more inclusive"
    ("refs/heads/{main,dev}", "refs/heads/main", False),       # no FNM_EXTGLOB: braces are literal
])
def test_the_paths_and_refs_check_repo_asks_about(pattern, name, expected):
    assert matches(pattern, name) is expected


def test_a_hostile_pattern_is_bounded_work():
    pattern = "/".join(["**"] * 60 + ["*a"])
    assert matches(pattern, "/".join(["b"] * 60)) is False


SOME = "\x02"  # a service's name, not known where the question is asked


@pytest.mark.parametrize(("pattern", "expected"), [
    ("envs/prod/**/*", True),
    ("envs/prod/*/values.yaml", True),
    ("envs/prod/api/values.yaml", True),                       # api's promotions, at least
    ("envs/prod/a*/**/*", True),
    ("**/values.yaml", True),
    ("envs/*/api/values.yaml", True),
    ("envs/prod/api/values-*.yaml", False),                    # region files: promote writes values.yaml
    ("envs/prod/freeze.yaml", False),
    ("envs/prod/*", False),                                    # the service directories themselves
    ("envs/staging/**/*", False),
    ("envs/prod/.*/values.yaml", False),                       # a service's name never starts with "."
    ("charts/**/*", False),
])
def test_a_pattern_matching_the_values_file_of_some_service(pattern, expected):
    assert matches(pattern, f"envs/prod/{SOME}/values.yaml", some=SOME) is expected


def test_without_some_the_placeholder_is_an_ordinary_name():
    assert matches("envs/prod/api/values.yaml", f"envs/prod/{SOME}/values.yaml") is False
    assert matches("envs/prod/[^a]/values.yaml", f"envs/prod/{SOME}/values.yaml", some=SOME) is None
