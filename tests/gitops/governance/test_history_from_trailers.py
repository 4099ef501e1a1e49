"""history against a generated GitOps history with known content, served by the smart-HTTP git
server: what landed, when, with which trailers, in the three output formats."""

from __future__ import annotations

import csv
import io
import itertools
import json

import pytest

from gitops.cli import main
from gitops.clients.git import GitRunner
from gitops.clients.revisions import HistoryClient
from gitops.governance.history import read_history
from tests.gitops.histories import Commit, at, known_history, message, write_history

_numbers = itertools.count()


@pytest.fixture
def known_repo(git_server):
    """(url, {name: sha}) of the known history on the test git server."""
    commits, named = known_history()
    name = f"acme/history-{next(_numbers)}"
    shas = write_history(git_server.root / f"{name}.git", commits)
    named_shas = {key: shas[id(commit)] for key, commit in named.items()}
    named_shas["web w2 proposal"] = shas[id(named["web w2"].merged)]
    return git_server.url(name), named_shas, named


def _history(capsys, url, token_env, *extra):
    code = main(["history", "--repo", url, "--token-env", token_env, *extra])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_prod_history_lists_every_change_in_landing_order(known_repo, token_env, capsys):
    url, shas, named = known_repo
    rows = json.loads(_history(capsys, url, token_env, "--env", "prod", "--output", "json"))
    # The seed changed three services of prod: one row each. Not "staging api".
    expected = ["seed", "seed", "seed", "api v0", "api v1", "web w1", "api v2", "revert api v2",
                "freeze", "api v3", "unfreeze", "web w2", "web w3", "revert web w3", "manual",
                "block web w2", "api v4", "worker k1", "block worker k1", "revert api v4", "web w4"]
    assert [row["commit"] for row in rows] == [shas[name] for name in expected]
    assert [row["service"] for row in rows[:3]] == ["api", "web", "worker"]
    actions = [row["action"] for row in rows]
    assert actions == ["manual", "manual", "manual", "promote", "promote", "promote", "promote", "revert", "freeze",
                       "promote", "unfreeze", "promote", "promote", "revert", "manual", "block",
                       "promote", "promote", "block", "revert", "promote"]
    override = rows[expected.index("api v3")]
    assert override["override_freeze"] is True and override["reason"] == "hotfix for the outage"
    freeze = rows[expected.index("freeze")]
    assert {key: freeze[key] for key in ("service", "env", "reason", "subject")} == {
        "service": None, "env": "prod", "reason": "migration",
        "subject": "freeze(prod): until 2024-03-08T09:00:00+00:00"}
    # A merged pull request landed at its merge, with the trailers of the merged proposal commit.
    merged = rows[expected.index("web w2")]
    assert merged["landed_at"] == "2024-03-11T10:00:00Z"
    assert merged["merged_commit"] == shas["web w2 proposal"]
    assert merged["subject"] == "promote(prod/web): → w2"
    assert merged["tag"] == "w2" and merged["source_time"] == "2024-03-10T10:00:00Z"
    assert rows[expected.index("web w1")]["source_time"] == "2024-03-04T12:00:00Z"
    assert rows[expected.index("api v4")]["source_time"] is None   # "yesterday" is not a time


def test_service_and_window_narrow_the_history(known_repo, token_env, capsys):
    url, shas, _ = known_repo
    rows = json.loads(_history(capsys, url, token_env, "--env", "prod", "--service", "web",
                               "--since", "2024-03-07", "--until", "2024-03-14T12:00", "--output", "json"))
    # web's changes and the environment-wide ones (freeze, blocks list file) in the window.
    assert [(row["action"], row["service"]) for row in rows] == [
        ("freeze", None), ("unfreeze", None), ("promote", "web"), ("promote", "web"),
        ("revert", "web"), ("manual", "web"), ("block", "web")]


def test_every_environment_without_env(known_repo, git_token):
    url, shas, _ = known_repo
    changes = read_history(url, "main", HistoryClient(GitRunner(git_token)), service="api",
                           since=at("2024-03-16T00:00:00")).changes
    assert [(c.env, c.action, c.tag) for c in changes] == [("staging", "promote", "v9"),
                                                           ("prod", "revert", "v3")]


def test_csv_and_table(known_repo, token_env, capsys):
    url, shas, _ = known_repo
    table = list(csv.DictReader(io.StringIO(_history(capsys, url, token_env, "--env", "prod",
                                                     "--output", "csv"))))
    assert len(table) == 21
    assert table[9]["action"] == "promote" and table[9]["override_freeze"] == "true"
    assert table[9]["landed_at"] == "2024-03-07T16:00:00Z"
    text = _history(capsys, url, token_env, "--env", "prod", "--since", "2024-03-07",
                    "--until", "2024-03-08T12:00")
    lines = text.splitlines()
    assert lines[0] == "3 changes"
    assert lines[2].split()[:3] == ["2024-03-08", "09:00", "unfreeze"]   # newest first
    assert "OVERRIDE-FREEZE: hotfix for the outage" in lines[3]


def test_a_formula_in_a_reason_stays_text_in_csv_and_an_empty_message_is_a_manual_change(
        git_server, token_env, capsys):
    name = f"acme/history-{next(_numbers)}"
    write_history(git_server.root / f"{name}.git", [
        Commit(at("2024-03-01T10:00:00"), message(
            "freeze(prod): until x", Delivery_Action="freeze", Delivery_Environment="prod",
            Reason="=HYPERLINK(\"http://evil\")"), {"envs/prod/freeze.yaml": "{}\n"}),
        Commit(at("2024-03-01T11:00:00"), "", {"envs/prod/freeze.yaml": "freezes: []\n"})])
    rows = list(csv.DictReader(io.StringIO(_history(capsys, git_server.url(name), token_env,
                                                    "--output", "csv"))))
    assert rows[0]["reason"] == "'=HYPERLINK(\"http://evil\")"
    assert (rows[1]["action"], rows[1]["subject"]) == ("manual", "")


@pytest.mark.parametrize("argv, message", [
    (["--env", "../etc"], "--env '../etc' is not a DNS-1123 label"),
    (["--since", "last tuesday"], "--since 'last tuesday' is not a time"),
    (["--since", "2024-03-10", "--until", "2024-03-01"], "--since '2024-03-10' is not before --until"),
])
def test_bad_arguments_are_one_line_errors(argv, message, capsys):
    assert main(["history", "--repo", "http://127.0.0.1:9/none.git", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and err.count("\n") == 1
