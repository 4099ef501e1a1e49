"""The CLI's one vocabulary: a repository URL with credentials is refused by every command before
anything connects; a closed stdout ends quietly; `--version`; a mistyped option names the closest
one with its command's usage; "does not exist" lists what does; help says what the commands do."""

from __future__ import annotations

import argparse
import importlib.metadata
import select
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from gitops import cli
from gitops.cli import build_parser, main
from gitops import errors
from gitops.clients import git
from tests.gitops.histories import Commit, at, message, write_history

WORKTREE = Path(__file__).resolve().parents[3]
CREDENTIALS = "error: the repository URL holds credentials; drop them from the URL and pass the token with --token-env or --token-secret\n"
# Every command that takes --repo, with the rest of what it requires.
COMMANDS = {
    "promote": ["--env", "prod", "--service", "api", "--tag", "1.0.0"],
    "status": [],
    "history": ["--env", "prod"],
    "dora": ["--env", "prod"],
    "freeze": ["--env", "prod", "--until", "8h", "--reason", "release"],
    "unfreeze": ["--env", "prod", "--reason", "done"],
    "revert": ["--env", "prod", "--service", "api", "--reason", "bad"],
    "block": ["--env", "prod", "--service", "api", "--reason", "bad", "--digest", "sha256:" + "a" * 64],
    "unblock": ["--env", "prod", "--service", "api", "--reason", "ok", "--digest", "sha256:" + "a" * 64],
    "verify": ["--env", "prod", "--service", "api", "--region", "eu-west-1", "--cluster", "c",
               "--revision", "0123abcd"],
    "check-repo": ["--env", "prod", "--mode", "pull-request", "--token-env", "CHECKED_TOKEN"],
}


@pytest.mark.parametrize("userinfo", ["user:s3cret@", "ghp_0123456789abcdef0123456789abcdef0123@"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_refuses_credentials_in_the_url_before_connecting(command, userinfo, capsys,
                                                                       monkeypatch):
    monkeypatch.setenv("CHECKED_TOKEN", "ghp_checked000000000000000000000000000000")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        code = main([command, "--repo", f"http://{userinfo}127.0.0.1:{port}/acme/gitops.git",
                     *COMMANDS[command]])
        connected, _, _ = select.select([listener], [], [], 0.2)
    err = capsys.readouterr().err
    assert code == 2 and not connected
    assert err.endswith(f"argument --repo: {CREDENTIALS[len('error: '):]}")
    assert "s3cret" not in err and "ghp_0123" not in err


@pytest.mark.parametrize("url", ["https://github.com/acme/gitops.git", "git@github.com:acme/gitops.git",
                                 "ssh://git@github.com/acme/gitops.git", "/srv/gitops.git"])
def test_a_url_without_credentials_is_accepted(url):
    git.refuse_credentials(url)


@pytest.mark.parametrize("url", ["https://x-access-token:t@github.com/acme/gitops.git",
                                 "https://t@github.com/acme/gitops.git",
                                 "ssh://git:pw@github.com/acme/gitops.git"])
def test_a_url_with_credentials_is_refused_by_the_git_client_too(url):
    with pytest.raises(errors.UsageError, match="holds credentials"):
        git.refuse_credentials(url)


@pytest.fixture
def long_history(git_server) -> str:
    commits = [Commit(at("2025-01-01T00:00:00"), "seed\n", {"envs/prod/api/values.yaml": "x: 0\n"})]
    commits += [Commit(at(f"2025-01-{1 + n // 100:02d}T{n % 24:02d}:{n % 60:02d}:00"),
                       message(f"promote(prod/api): v{n}", Delivery_Action="promote",
                               Delivery_Service="api", Delivery_Environment="prod", Image_Tag=f"v{n}",
                               Reason="r" * 200),
                       {"envs/prod/api/values.yaml": f"x: {n}\n"}) for n in range(1, 1200)]
    write_history(git_server.root / "acme/long-history.git", commits)
    return git_server.url("acme/long-history")


def test_output_into_a_closed_pipe_ends_quietly(long_history, token_env):
    # The CSV is far larger than a pipe's buffer: `head -1` closes it while history still writes.
    command = (f"{sys.executable} -m gitops history --repo {long_history} --env prod "
               f"--token-env {token_env} --output csv | head -1")
    done = subprocess.run(["bash", "-c", f"set -o pipefail; {command}"], cwd=WORKTREE,
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.startswith("landed_at,action,env,service,")
    assert (done.returncode, done.stderr) == (141, "")


def test_version(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"gitops {cli.__version__}\n"
    assert importlib.metadata.version("delivery-pipeline-gitops") == cli.__version__


def test_a_mistyped_option_names_the_closest_one_with_the_command_s_usage(capsys):
    code = main(["promote", "--repo", "https://github.com/acme/gitops.git", "--env", "prod",
                 "--service", "api", "--tag", "1.0.0", "--digets", "sha256:" + "a" * 64])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("usage: gitops promote ")
    assert err.endswith(f"error: unrecognized arguments: --digets sha256:{'a' * 64}; did you mean --digest?\n")


def test_a_stray_word_is_reported_with_the_command_s_usage(capsys):
    assert main(["status", "--repo", "https://github.com/acme/gitops.git", "extra"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: gitops status ") and err.endswith("error: unrecognized arguments: extra\n")


@pytest.mark.parametrize(("argv", "message"), [
    (["promote", "--env", "prodd", "--service", "api", "--tag", "2.0.0"],
     "envs/prodd does not exist on the branch (environments: prod, staging); check --env/--service, "
     "or create the file first"),
    (["promote", "--env", "prod", "--service", "apii", "--tag", "2.0.0"],
     "envs/prod/apii does not exist on the branch (services in envs/prod: api, web, worker); check "
     "--env/--service, or create the file first"),
    (["revert", "--env", "prod", "--service", "apii", "--reason", "bad"],
     "envs/prod/apii does not exist on main (services in envs/prod: api, web, worker); check "
     "--env/--service"),
    (["freeze", "--env", "prodd", "--until", "8h", "--reason", "release"],
     "envs/prodd does not exist on main (environments: prod, staging); check --env"),
    (["freeze", "--env", "prod", "--service", "apii", "--until", "8h", "--reason", "release"],
     "envs/prod/apii does not exist on main (services in envs/prod: api, web, worker); check --service"),
])
def test_does_not_exist_lists_what_does(gitops_repo, token_env, capsys, argv, message):
    code = main([argv[0], "--repo", gitops_repo.url, "--token-env", token_env, *argv[1:]])
    err = capsys.readouterr().err
    assert code in (2, 3) and err == f"error: {message}\n"


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    return dict(next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices)


def test_help_points_at_no_file_of_the_source_tree_and_lists_every_exit_code():
    top = build_parser().format_help()
    for code, name, meaning in errors.exit_codes():
        assert f"  {code:<4} {meaning or name}" in top
    assert "141" in top and "130, 143, 129" in top
    for name, command in _commands().items():
        text = command.format_help()
        assert "docs/" not in text and ".md" not in text, name
        assert text.rstrip().endswith("exit codes: see `gitops --help`"), name


def test_unfreeze_help_is_unfreeze_s_own():
    options = {a.dest: a.help for a in _commands()["unfreeze"]._actions}
    assert options["reason"] == "why the freeze ends; recorded in the commit"
    assert options["author"].startswith("commit author, recorded as who ended the freeze,")


def test_a_time_error_of_history_gives_its_example_in_utc(capsys):
    assert main(["history", "--repo", "https://github.com/acme/gitops.git", "--since", "Tuesday"]) == 2
    assert "or 2024-12-27 08:00 in UTC)" in capsys.readouterr().err
