"""Hostile values and chart files: bounded work, refused with the limit named, never a traceback;
status reports the bad cell and goes on; show never waits on a FIFO; chart files reached through a
symlink are refused unread."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path

import pytest

from gitops.yaml import document
from gitops.cli import main
from gitops.errors import ValuesError
from gitops.repo.schema import validate_values
from gitops.repo.values import parse_image, set_image
from sandbox import git_http
from tests.gitops.conftest import DIGEST_A, values_yaml

WORKTREE = Path(__file__).resolve().parents[3]
GOOD = values_yaml("api", "1.0.0", DIGEST_A)


def billion_laughs(levels: int = 10, fan: int = 10) -> str:
    """A few hundred bytes standing for fan**levels nodes, under a key promote does not edit."""
    lines = ["lol0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        lines.append(f"lol{i}: &l{i} [{', '.join([f'*l{i - 1}'] * fan)}]")
    return GOOD + "bomb:\n  " + "\n  ".join(lines) + "\n"


def deep(depth: int, flow: bool) -> str:
    if flow:
        return GOOD + "deep: " + "[" * depth + "]" * depth + "\n"
    return GOOD + "".join(" " * i + f"k{i}:\n" for i in range(depth)) + " " * depth + "leaf: 1\n"


@pytest.mark.parametrize("text,limit", [
    (billion_laughs(), "MAX_NODES"),
    (deep(5000, flow=True), "MAX_DEPTH"),
    (deep(700, flow=False), "MAX_DEPTH"),
    (deep(document.MAX_DEPTH + 1, flow=True), "MAX_DEPTH"),
    # Within the depth limit as written, past it through aliases.
    (GOOD + "a: &a " + "[" * 40 + "]" * 40 + "\nb: " + "[" * 40 + "*a" + "]" * 40 + "\n", "MAX_DEPTH"),
    ("x" * (document.MAX_BYTES + 1), "MAX_BYTES"),
])
def test_past_a_limit_is_refused_in_little_memory(text: str, limit: str) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(ValuesError, match=limit):
            set_image(text, "2.0.0", None, "envs/staging/api/values.yaml")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The alias bomb stands for 10**10 nodes; refusing it must not build them.
    assert peak < 64 * 2 ** 20


def test_the_limits_allow_what_real_files_hold() -> None:
    anchors = GOOD + "defaults: &d {cpu: 1, memory: 2}\n" + "".join(
        f"svc{i}: *d\n" for i in range(1000))
    assert parse_image(anchors, "f").tag == "1.0.0"
    assert parse_image(deep(document.MAX_DEPTH - 1, flow=True), "f").tag == "1.0.0"


def test_a_recursive_alias_is_refused() -> None:
    with pytest.raises(ValuesError, match="f:3:7: a recursive alias"):
        parse_image("image:\n  tag: a\nloop: &x\n  - *x\n", "f")


@pytest.mark.parametrize("text", ["image: {tag: !!int abc}\n", "x: !!float y\nimage: {tag: a}\n",
                                  "image: {tag: !!binary '%%%'}\n"])
def test_explicit_tags_helm_cannot_read_are_refused_with_their_place(text: str) -> None:
    with pytest.raises(ValuesError, match=r"^f:1:\d+: "):
        parse_image(text, "f")


def _commit_gitlink(bare: Path, path: str) -> None:
    """A submodule entry (mode 160000) at `path` on main."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        parent = git_http.ref_sha(bare, "refs/heads/main")
        git_http._git(bare, "read-tree", parent, env=env)
        git_http._git(bare, "update-index", "--add", "--index-info", env=env,
                       input=f"160000 {parent}\t{path}\n".encode())
        tree = git_http._git(bare, "write-tree", env=env).strip()
        sha = git_http._git(bare, "commit-tree", tree, "-p", parent, "-m", "gitlink").strip()
    git_http._git(bare, "update-ref", "refs/heads/main", sha, parent)


def test_status_reports_each_bad_file_in_its_cell_and_exits_0(gitops_repo, token_env, capsys) -> None:
    gitops_repo.commit({
        "envs/prod/bomb/values.yaml": billion_laughs(),
        "envs/prod/deep/values.yaml": deep(5000, flow=True),
        "envs/prod/int/values.yaml": "image:\n  tag: !!int abc\n",
        "envs/prod/dir/values.yaml/inside.yaml": "a: 1\n",
        "envs/prod/big/values.yaml": "# " + "c" * document.MAX_BYTES + "\n",
    })
    _commit_gitlink(gitops_repo.bare, "envs/prod/sub/values.yaml")
    code = main(["status", "--repo", gitops_repo.url, "--token-env", token_env, "--output", "json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    cells = {s["service"]: s["environments"]["prod"] for s in data["services"]}
    assert cells["api"] == {"tag": "1.0.0", "digest": DIGEST_A}
    assert "MAX_NODES" in cells["bomb"]["error"]
    assert "MAX_DEPTH" in cells["deep"]["error"]
    assert "Helm cannot read 'abc' as !!int" in cells["int"]["error"]
    assert "envs/prod/dir/values.yaml is a directory" in cells["dir"]["error"]
    assert "envs/prod/sub/values.yaml is a directory" in cells["sub"]["error"]
    assert "MAX_BYTES" in cells["big"]["error"]
    assert all(tempfile.gettempdir() not in str(cell) for cell in cells.values())


@pytest.fixture
def artifact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "envs/staging/api").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_show_on_a_fifo_fails_at_once(artifact: Path) -> None:
    os.mkfifo(artifact / "envs/staging/api/values.yaml")
    proc = subprocess.run([sys.executable, "-m", "gitops", "show", "--file",
                           "envs/staging/api/values.yaml"], cwd=artifact, capture_output=True,
                          text=True, timeout=30, env={**os.environ, "PYTHONPATH": str(WORKTREE)})
    assert proc.returncode == 3
    assert proc.stderr == ("error: envs/staging/api/values.yaml is not a regular file (a FIFO, "
                           "socket or device); not read\n")


def test_show_on_a_directory_fails(artifact: Path, capsys) -> None:
    (artifact / "envs/staging/api/values.yaml").mkdir()
    assert main(["show", "--file", "envs/staging/api/values.yaml"]) == 3
    assert "envs/staging/api/values.yaml is a directory" in capsys.readouterr().err


@pytest.mark.parametrize("chart_file", ["values.yaml", "values.schema.json"])
def test_chart_files_through_a_symlink_are_refused_unread(tmp_path: Path, chart_file: str) -> None:
    repo = tmp_path / "repo"
    (repo / "charts/api").mkdir(parents=True)
    (repo / "charts/api/values.schema.json").write_text('{"type": "object"}')
    (repo / "charts/api/values.yaml").write_text("replicaCount: 1\n")
    outside = tmp_path / "outside.txt"
    outside.write_text("not: [valid, json, or yaml: SECRET-CONTENT\n")
    (repo / "charts/api" / chart_file).unlink()
    (repo / "charts/api" / chart_file).symlink_to(outside)
    with pytest.raises(ValuesError) as caught:
        validate_values(repo, "api", GOOD, source="envs/prod/api/values.yaml")
    assert str(caught.value).startswith(f"charts/api/{chart_file} is a symlink")
    assert "SECRET-CONTENT" not in str(caught.value)


def test_a_chart_directory_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    repo, elsewhere = tmp_path / "repo", tmp_path / "elsewhere"
    (elsewhere / "api").mkdir(parents=True)
    (elsewhere / "api/values.schema.json").write_text('{"type": "object", "required": ["SECRET"]}')
    (repo / "charts").mkdir(parents=True)
    (repo / "charts/api").symlink_to(elsewhere / "api")
    with pytest.raises(ValuesError, match=r"^charts/api is a symlink \(a directory on the way"):
        validate_values(repo, "api", GOOD)


# --- The freeze file and the block lists: the same reader as values files -------------------------

FREEZE_FILE = "envs/prod/freeze.yaml"
BLOCKLIST = "envs/staging/blocklist.yaml"


def _bomb(first_line: str) -> str:
    return first_line + billion_laughs()[len(GOOD):]


@pytest.mark.parametrize("path", [FREEZE_FILE, BLOCKLIST])
@pytest.mark.parametrize("text,limit", [
    (_bomb("windows: []\n"), "MAX_NODES"),
    ("freezes: " + "[" * 5000 + "]" * 5000 + "\n", "MAX_DEPTH"),
    ("# " + "c" * document.MAX_BYTES + "\n", "MAX_BYTES"),
])
def test_a_hostile_freeze_file_or_block_list_stops_promote_naming_the_limit(
        gitops_repo, token_env, capsys, path: str, text: str, limit: str) -> None:
    gitops_repo.commit({path: text}, "hostile")
    code = main(["promote", "--repo", gitops_repo.url, "--token-env", token_env, "--env", "prod",
                 "--service", "api", "--tag", "2.0.0"])
    err = capsys.readouterr().err
    assert code == 3
    assert err.startswith(f"error: {path}") and limit in err.splitlines()[0]
    assert "Traceback" not in err


@pytest.mark.parametrize("path", [FREEZE_FILE, BLOCKLIST])
def test_a_symlinked_freeze_file_or_block_list_stops_promote(gitops_repo, token_env, capsys,
                                                             path: str) -> None:
    gitops_repo.commit({}, "symlink", symlinks={path: "../../charts/api/values.yaml"})
    code = main(["promote", "--repo", gitops_repo.url, "--token-env", token_env, "--env", "prod",
                 "--service", "api", "--tag", "2.0.0"])
    assert code == 3
    assert capsys.readouterr().err == (f"error: {path} is a symlink; only regular files inside the "
                                       "repository are read\n")


@pytest.mark.parametrize("command", ["block", "unblock"])
def test_block_never_reads_or_writes_through_a_symlinked_block_list(
        gitops_repo, token_env, capsys, tmp_path: Path, command: str) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text("blocked: []\n")
    gitops_repo.commit({}, "symlink", symlinks={BLOCKLIST: str(outside)})
    refs = gitops_repo.refs()
    code = main([command, "--repo", gitops_repo.url, "--token-env", token_env, "--env", "staging",
                 "--service", "api", "--digest", DIGEST_A, "--reason", "bad"])
    assert code == 3
    assert capsys.readouterr().err.startswith(f"error: {BLOCKLIST} is a symlink")
    assert outside.read_text() == "blocked: []\n" and gitops_repo.refs() == refs


def test_block_of_a_service_without_values_is_one_line(gitops_repo, token_env, capsys) -> None:
    code = main(["block", "--repo", gitops_repo.url, "--token-env", token_env, "--env", "staging",
                 "--service", "nope", "--digest", DIGEST_A, "--reason", "bad"])
    assert code == 3
    assert capsys.readouterr().err == ("error: envs/staging/nope does not exist on main (services in "
                                       "envs/staging: api, web, worker); check --env and --service\n")
