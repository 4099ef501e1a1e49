"""status: services × environments with tag/digest and drift, as text and JSON."""

from __future__ import annotations

import json
import sys

from gitops.repo import inventory
from gitops.cli import main
from gitops.clients.git import GitClient, GitRunner
from tests.gitops.conftest import DIGEST_A, DIGEST_B, values_yaml


def _drifted_repo(gitops_repo):
    """api: staging ahead of prod; web: same everywhere; worker: prod only; cache: broken file."""
    gitops_repo.commit({
        "envs/staging/api/values.yaml": values_yaml("api", "1.1.0", DIGEST_B),
        "envs/staging/worker/values.yaml": None,
        "envs/prod/cache/values.yaml": "image: [oops\n",
        "envs/prod/cache/notes.md": "not read\n",
    }, "drift")
    return gitops_repo


def test_status_json(gitops_repo, token_env, capsys):
    repo = _drifted_repo(gitops_repo)
    code = main(["status", "--repo", repo.url, "--token-env", token_env, "--output", "json"])
    out, _ = capsys.readouterr()
    assert code == 0
    data = json.loads(out)
    assert data["commit"] == repo.refs()["refs/heads/main"]
    assert data["environments"] == ["prod", "staging"]
    services = {s["service"]: s for s in data["services"]}
    assert list(services) == ["api", "cache", "web", "worker"]
    assert services["api"] == {"service": "api", "drift": True, "environments": {
        "prod": {"tag": "1.0.0", "digest": DIGEST_A},
        "staging": {"tag": "1.1.0", "digest": DIGEST_B}}}
    assert services["web"]["drift"] is False
    assert services["worker"] == {"service": "worker", "drift": False, "environments": {
        "prod": {"tag": "1.0.0", "digest": DIGEST_A}, "staging": None}}
    assert services["cache"]["environments"]["staging"] is None
    assert services["cache"]["environments"]["prod"]["error"].startswith(
        "envs/prod/cache/values.yaml:2:1: did not find expected ',' or ']'")


def test_status_plain_text_marks_drift(gitops_repo, token_env, capsys):
    repo = _drifted_repo(gitops_repo)
    assert main(["status", "--repo", repo.url, "--token-env", token_env]) == 0
    lines = capsys.readouterr().out.splitlines()
    head = repo.refs()["refs/heads/main"]
    assert lines[0] == f"main at {head[:12]}"
    assert lines[1].split() == ["service", "prod", "staging"]
    assert lines[2].split() == ["api", "1.0.0", "@aaaaaaaaaaaa", "1.1.0", "@bbbbbbbbbbbb", "drift"]
    assert lines[3].split() == ["cache", "error", "(see", "below)", "-"]
    assert lines[4].split() == ["web", "1.0.0", "@aaaaaaaaaaaa", "1.0.0", "@aaaaaaaaaaaa"]
    assert lines[5].split() == ["worker", "1.0.0", "@aaaaaaaaaaaa", "-"]
    assert lines[6].startswith("prod/cache: envs/prod/cache/values.yaml:2:1: did not find expected ',' or ']'")
    assert lines[7:] == ["  image: [oops", "  " + " " * len("image: [oops") + "^"]


def test_status_on_a_terminal_is_a_rich_table(gitops_repo, token_env, capsys, monkeypatch):
    repo = _drifted_repo(gitops_repo)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert main(["status", "--repo", repo.url, "--token-env", token_env]) == 0
    out = capsys.readouterr().out
    assert "┏━" in out and "service" in out and "api" in out and "drift" in out
    assert "\x1b[" in out  # styled: the drifting row stands out


def test_status_reads_only_values_files_and_refuses_symlinks(gitops_repo):
    gitops_repo.commit({}, "symlink", symlinks={"envs/prod/evil/values.yaml": "/etc/passwd"})
    seen: list[str] = []

    class Recording(GitClient):
        def head(self, workdir):
            seen.extend(sorted(str(p.relative_to(workdir)) for p in workdir.rglob("*")
                               if not p.is_dir() and ".git" not in p.parts))
            return super().head(workdir)

    result = inventory.collect(gitops_repo.url, "main", Recording(GitRunner(gitops_repo.token)))
    assert all(path.startswith("envs/") and path.endswith("/values.yaml") for path in seen)
    assert len(seen) == 7
    assert result.services["evil"]["prod"].error == ("envs/prod/evil/values.yaml is a symlink; only regular files inside the repository are read")


FREEZE = """timezone: Europe/Berlin
freezes:
  - until: "2099-01-01T00:00:00+01:00"
    reason: year-end freeze
    by: Jane Doe <jane@example.com>
    since: "2020-01-01T00:00:00+01:00"
"""
STACK = """config:
  delivery-pipeline:environment:
    name: prod
  delivery-pipeline:promotion:
    mode: pull-request
    windows:
      cron: "* * 9-16 ? * MON-THU *"
      timeZone: Europe/Berlin
    blockingAlarms: [shop-prod-health]
    bakeMinutes: 30
"""


def test_status_shows_each_environments_gates_beside_its_freezes(gitops_repo, token_env, capsys, tmp_path):
    gitops_repo.commit({"envs/prod/freeze.yaml": FREEZE}, "freeze prod")
    stack = tmp_path / "Pulumi.prod.yaml"
    stack.write_text(STACK)
    assert main(["status", "--repo", gitops_repo.url, "--token-env", token_env, "--stack", str(stack)]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("prod: ")]
    window = "prod: release window * * 9-16 ? * MON-THU * (Europe/Berlin): "
    assert lines[0].startswith(window)
    assert lines[0][len(window):].split(" ")[0] in ("open", "closed,")
    assert lines[1:] == ["prod: blocking alarms: shop-prod-health; bake 30 min after Verify",
                         "prod: freeze of prod until 2099-01-01 00:00 CET: year-end freeze"]


def test_status_json_has_the_gates_and_freezes(gitops_repo, token_env, capsys, tmp_path):
    gitops_repo.commit({"envs/prod/freeze.yaml": FREEZE}, "freeze prod")
    stack = tmp_path / "Pulumi.prod.yaml"
    stack.write_text(STACK)
    assert main(["status", "--repo", gitops_repo.url, "--token-env", token_env, "--stack", str(stack),
                 "--output", "json"]) == 0
    prod = json.loads(capsys.readouterr().out)["environmentControls"]["prod"]
    window = prod.pop("window")
    assert (window["cron"], window["timeZone"]) == ("* * 9-16 ? * MON-THU *", "Europe/Berlin")
    assert (window["opensAt"] is None) == window["open"] == (window["closesAt"] is not None)
    assert prod == {"blockingAlarms": ["shop-prod-health"], "bakeMinutes": 30, "freezeError": None, "freezes": [
        {"kind": "freeze", "scope": "prod", "reason": "year-end freeze", "endsAt": "2099-01-01T00:00:00+01:00",
         "by": "Jane Doe <jane@example.com>"}]}


def test_status_without_gates_or_freezes_says_so_for_the_stacks_environment(gitops_repo, token_env, capsys, tmp_path):
    stack = tmp_path / "Pulumi.staging.yaml"
    stack.write_text("config:\n  delivery-pipeline:environment:\n    name: staging\n")
    assert main(["status", "--repo", gitops_repo.url, "--token-env", token_env, "--stack", str(stack)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "staging: no release gate, not frozen"


def test_a_bad_window_in_the_stack_file_is_refused_in_one_line(gitops_repo, token_env, capsys, tmp_path):
    stack = tmp_path / "Pulumi.prod.yaml"
    stack.write_text(STACK.replace("9-16 ?", "9-25 ?"))
    assert main(["status", "--repo", gitops_repo.url, "--token-env", token_env, "--stack", str(stack)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("delivery-pipeline:promotion.windows: hours 25 is outside 0-23") and "\n" not in err
