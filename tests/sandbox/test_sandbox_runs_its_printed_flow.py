"""`make sandbox`, as a user runs it: start it, paste every command it prints into a shell (its
environment file sourced), each exits as its comment says and does what it says; then stop it with
SIGTERM or Ctrl-C, and every server is gone."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import REPO_ROOT

READY_TIMEOUT_S = 60
_STEP = re.compile(r"^# (?P<number>\d+)\. (?P<what>.*?)(?: \(exits (?P<code>\d+)\))?$")


@dataclass
class Printed:
    env_file: Path
    steps: list[tuple[str, str, int]]   # (what, command, exit code)
    servers: list[str]                  # base URLs named on the first line


@pytest.fixture
def sandbox(tmp_path: Path):
    """The sandbox started as `make sandbox` starts it, from a directory of no importance, with
    nothing of the caller's AWS or GitHub settings; yields (process, its printed lines)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GITHUB_", "GITOPS_"))}
    process = subprocess.Popen([sys.executable, "-m", "sandbox"], cwd=tmp_path, env={
        **env, "PYTHONPATH": str(REPO_ROOT)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("Ctrl-C"):
                ready.set()
        ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert ready.wait(READY_TIMEOUT_S), "the sandbox did not print its flow in time"
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        yield process, lines
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    reader.join(timeout=10)


def parse(lines: list[str]) -> Printed:
    env_file = next(Path(line[2:].strip("'")) for line in lines if line.startswith(". "))
    servers = re.findall(r"https?://127\.0\.0\.1:\d+", lines[0])
    steps = []
    for index, line in enumerate(lines):
        step = _STEP.match(line)
        if step:
            steps.append((step["what"], lines[index + 1], int(step["code"] or 0)))
    return Printed(env_file, steps, servers)


def run(printed: Printed, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", f". {printed.env_file} && {command}"], capture_output=True, text=True,
                          timeout=120)


def listening(url: str) -> bool:
    parts = urlsplit(url)
    with socket.socket() as probe:
        probe.settimeout(2)
        return probe.connect_ex((parts.hostname, parts.port)) == 0


def stopped(process: subprocess.Popen, lines: list[str], signum: int) -> tuple[int, list[str]]:
    """Its exit code and what it printed after the flow (read by the fixture's reader)."""
    printed = len(lines)
    process.send_signal(signum)
    code = process.wait(timeout=30)
    deadline = time.monotonic() + 10
    while "sandbox stopped" not in lines[printed:] and time.monotonic() < deadline:
        time.sleep(0.05)
    return code, lines[printed:]


def test_every_printed_command_runs_as_its_comment_says_then_sigterm_stops_it(sandbox) -> None:
    process, lines = sandbox
    printed = parse(lines)
    commands = [command for _, command, _ in printed.steps]
    # The whole day-to-day flow, in order.
    kinds = [c.split()[1] if c.startswith("gitops ") else c.split()[0] for c in commands]
    assert kinds == ["promote", "verify", "promote", "curl", "verify", "promote", "verify", "revert", "freeze",
                     "promote", "unfreeze", "history", "dora", "check-repo", "check-repo"]
    assert "--mode pull-request" in commands[2] and "/merge" in commands[3]
    outputs = []
    for what, command, code in printed.steps:
        result = run(printed, command)
        assert result.returncode == code, (what, command, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr, (what, result.stderr)
        outputs.append(result.stdout + result.stderr)
    staging_verify, merge, prod_verify, failed_verify, revert, refused, history, check, prod_check = (
        outputs[1], outputs[3], outputs[4], outputs[6], outputs[7], outputs[9], outputs[11], outputs[13], outputs[14])
    assert "1.1.0 verified" in staging_verify and "2 ready pods" in staging_verify
    assert '"merged": true' in merge
    assert "(prod, us-east-1): 1.1.0 verified" in prod_verify
    assert "Rollout api aborted" in failed_verify
    assert "1.2.0 → 1.1.0" in revert and "blocked" in revert
    assert "is frozen" in refused
    # newest first; the repository's seed (gitops init's commit) after them
    assert re.findall(r"^\d{4}-\d\d-\d\d \d\d:\d\d +(\S+)", history, re.M)[:6] == [
        "unfreeze", "freeze", "revert", "promote", "promote", "promote"]
    assert check.count(" ok") == 4 and "FAIL" not in check
    # The prod token pushes its promotion branches (the push ruleset's bypass) and cannot skip the review.
    assert re.search(r"can push promote/prod/\* branches changing envs/prod/ .* ok", prod_check), prod_check
    assert "FAIL" not in prod_check, prod_check
    assert all(listening(url) for url in printed.servers)

    code, rest = stopped(process, lines, signal.SIGTERM)
    assert code == 0 and rest == ["sandbox stopped"]
    assert not printed.env_file.exists()           # its temporary directory is gone
    assert not any(listening(url) for url in printed.servers)


def test_ctrl_c_stops_it_cleanly(sandbox) -> None:
    process, lines = sandbox
    printed = parse(lines)
    code, rest = stopped(process, lines, signal.SIGINT)
    assert code == 0 and rest == ["sandbox stopped"]
    assert "Traceback" not in process.stderr.read()
    assert not any(listening(url) for url in printed.servers)


def test_a_state_directory_in_use_is_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "something").write_text("mine\n")
    result = subprocess.run([sys.executable, "-m", "sandbox", "--dir", str(tmp_path)], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"error: --dir {tmp_path} is not empty: give an empty or new directory\n"
    assert (tmp_path / "something").read_text() == "mine\n"
