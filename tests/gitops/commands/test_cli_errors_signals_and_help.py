"""The CLI around every command: stop signals, usage mistakes that never echo a token, `--tag -x`,
JSON errors on stdout, help for `--output`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gitops.cli import OUTPUT_FORMATS, build_parser, main

WORKTREE = Path(__file__).resolve().parents[3]
TOKEN = "ghp_0123456789abcdefABCDEF0123456789abcd"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_stop_signals_remove_the_clone_and_exit_with_one_line(tmp_path: Path, signum: int) -> None:
    # A "server" that accepts connections and never answers: the clone waits until stopped.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/acme/gitops.git"
        tmp = tmp_path / "tmp"
        tmp.mkdir()
        proc = subprocess.Popen([sys.executable, "-m", "gitops", "status", "--repo", url],
                                cwd=WORKTREE, env={**os.environ, "TMPDIR": str(tmp)},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while not list(tmp.glob("gitops-status-*/repo*")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(tmp.glob("gitops-status-*")), "the clone never started"
        time.sleep(0.3)  # git is running, waiting on the silent server
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signum
    assert err.splitlines() == [f"error: stopped by {signal.Signals(signum).name}; the temporary "
                                "clone was removed, and nothing was pushed unless a push had "
                                "already completed"], err
    assert list(tmp.iterdir()) == []


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_token_env_given_the_token_itself_is_not_echoed(capsys, monkeypatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    code, out, err = _run(capsys, "status", "--repo", "/nonexistent", "--token-env", TOKEN)
    assert code == 7
    assert TOKEN not in out + err
    assert "the token itself (the value of $GITHUB_TOKEN)" in err
    assert "--token-env GITHUB_TOKEN" in err


def test_token_env_naming_nothing_set_does_not_echo_what_may_be_a_token(capsys, monkeypatch) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    code, out, err = _run(capsys, "status", "--repo", "/nonexistent", "--token-env", TOKEN)
    assert code == 7 and TOKEN not in out + err and "not shown" in err
    code, _, err = _run(capsys, "status", "--repo", "/nonexistent", "--token-env", "GITOPS_UNSET_VAR")
    assert code == 7 and "environment variable GITOPS_UNSET_VAR is not set" in err


@pytest.mark.parametrize("argv", [
    ["--token=" + TOKEN],                 # an ambiguous prefix of --token-env and --token-secret
    ["--token", TOKEN],
    ["--token-e=" + TOKEN],               # abbreviations are not taken
    ["--output", "json", TOKEN],          # the token pasted as a stray argument
])
def test_usage_mistakes_never_echo_the_token(capsys, monkeypatch, argv) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    code, out, err = _run(capsys, "status", "--repo", "/nonexistent", *argv)
    assert code == 2
    assert TOKEN not in out + err
    assert "error: " in err and "***" in err


def test_a_tag_starting_with_a_dash_gets_the_tag_format_message(capsys) -> None:
    code, _, err = _run(capsys, "promote", "--repo", "/nonexistent", "--env", "staging",
                        "--service", "api", "--tag", "-x")
    assert code == 2
    assert "'-x' is not a valid image tag" in err
    # An option name after an option still means a forgotten value.
    code, _, err = _run(capsys, "promote", "--repo", "/nonexistent", "--env", "staging",
                        "--service", "api", "--tag", "--digest", "sha256:" + "a" * 64)
    assert code == 2 and "expected one argument" in err


def test_json_errors_are_a_json_object_on_stdout(capsys, tmp_path) -> None:
    code, out, err = _run(capsys, "show", "--file", str(tmp_path / "absent.yaml"), "--output", "json")
    assert code == 3 and err.startswith("error: ")
    assert json.loads(out) == {"error": f"{tmp_path / 'absent.yaml'} does not exist", "exit_code": 3}
    code, out, _ = _run(capsys, "status", "--output=json", "--branch", "x")  # --repo missing
    assert code == 2 and json.loads(out)["exit_code"] == 2
    assert "--repo" in json.loads(out)["error"]


def test_every_output_option_has_help() -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for name, command in commands.items():
        output = next(a for a in command._actions if "--output" in a.option_strings)
        assert output.help == "; ".join(OUTPUT_FORMATS[choice] for choice in output.choices), name
        assert all(f"{choice}: " in output.help for choice in output.choices), name
