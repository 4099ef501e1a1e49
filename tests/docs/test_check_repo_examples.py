"""The example outputs of docs/reference/cli/check-repo.md are what check-repo prints: each fenced
block after `<!-- check-repo-example: <setup> -->` starts with the `$ python -m gitops check-repo …`
command, run here against the fake GitHub set up as <setup> says, followed by its stdout and
stderr."""

from __future__ import annotations

import shlex

import pytest

from gitops import cli
from sandbox.github_api import FakeGitHub
from tests.docs.pages import excerpt_mismatch, marked_blocks

TOKENS = {"STAGING_TOKEN": ("ghs_stagingApp000000000000000000000000", ("Integration", 101)),
          "PROD_TOKEN": ("ghs_prodApp00000000000000000000000000", ("Integration", 202))}
RELEASE_MANAGERS = ("Team", 7)
REVIEW = {"type": "pull_request", "parameters": {"required_approving_review_count": 1}}
PROD_PATHS = {"type": "file_path_restriction", "parameters": {"restricted_file_paths": ["envs/prod/**/*"]}}


def _always(actor: tuple[str, int]) -> dict:
    return {"actor_type": actor[0], "actor_id": actor[1], "bypass_mode": "always"}


def _staging_bypasses_review_unguarded(github: FakeGitHub, repo) -> None:
    github.add_ruleset(repo, "gitops-main", rules=[REVIEW], bypass=[_always(TOKENS["STAGING_TOKEN"][1])])


def _prod_app_not_on_push_bypass(github: FakeGitHub, repo) -> None:
    _staging_bypasses_review_unguarded(github, repo)
    github.add_ruleset(repo, "prod-paths", target="push", rules=[PROD_PATHS], bypass=[_always(RELEASE_MANAGERS)])


SETUPS = {"staging-bypasses-review-unguarded": _staging_bypasses_review_unguarded,
          "prod-app-not-on-push-bypass": _prod_app_not_on_push_bypass}
EXAMPLES = marked_blocks("check-repo-example")


def test_the_page_shows_both_examples():
    assert sorted(block.argument for block in EXAMPLES) == sorted(SETUPS)


@pytest.mark.parametrize("block", EXAMPLES, ids=lambda b: b.argument)
def test_the_example_is_what_check_repo_prints(block, capsys, monkeypatch):
    command, *printed = block.lines
    argv = shlex.split(command.removeprefix("$ "))
    assert argv[:4] == ["python", "-m", "gitops", "check-repo"], command
    argv = argv[3:]
    with FakeGitHub() as github:
        for token, actor in TOKENS.values():
            github.add_token(token, actor=actor)
        repo = github.add_repo("acme/gitops")
        SETUPS[block.argument](github, repo)
        argv[argv.index("--repo") + 1] = repo.clone_url
        variable = argv[argv.index("--token-env") + 1]
        monkeypatch.setenv(variable, TOKENS[variable][0])
        cli.main([*argv, "--github-api-url", github.api_url])
    out, err = capsys.readouterr()
    output = out.splitlines() + err.splitlines()
    assert excerpt_mismatch(tuple(printed), output) is None, excerpt_mismatch(tuple(printed), output)
    assert len(printed) == len(output)
