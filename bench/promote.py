"""Benchmark of `gitops promote` against the script most pipelines use (full clone, sed, push).

Builds GitOps repositories of 2,000 services × 3 environments with 2,000 and 20,000 commits of
history (git fast-import; cached under build/bench-gitops/), serves them over the smart-HTTP git
server of the tests on 127.0.0.1 and prints a table:

- one promotion, each way, against each history: wall time (median of --runs), peak RSS of the
  largest process of the client's tree (getrusage RUSAGE_CHILDREN of a wrapper process), and
  bytes the server sent;
- 20 promotions of different services at once through the CLI: all landed?, p50/p95 wall time.

    .venv/bin/python bench/promote.py [--runs 3] [--concurrent 20]

Not part of the test suite. Everything runs on this machine: the server competes for the CPU.
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sandbox.git_http import GitServer, file_at  # noqa: E402

SERVICES = [f"svc{i:04d}" for i in range(2000)]
ENVIRONMENTS = ["dev", "staging", "prod"]
HISTORIES = [2_000, 20_000]
CACHE = ROOT / "build" / "bench-gitops"
TOKEN = "bench-token"
BOT = "bench <bench@example.invalid>"

# The usual pipeline step: full clone, sed the tag, commit, push.
BASELINE_SCRIPT = r"""set -eu
git clone --quiet --branch main "$REPO" work
cd work
sed -i "s/^  tag: .*/  tag: \"$TAG\"/" "envs/$ENV/$SERVICE/values.yaml"
git -c user.name=ci -c user.email=ci@example.invalid commit --quiet -am "bump $SERVICE to $TAG"
git push --quiet origin HEAD:main
"""

# Runs a command and prints the peak RSS (KiB) of the largest process in its tree.
RSS_WRAPPER = ("import resource, subprocess, sys\n"
               "code = subprocess.run(sys.argv[1:]).returncode\n"
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
               "sys.exit(code)\n")


def values(service: str, tag: str) -> bytes:
    return (f"# {service}\nimage:\n  repository: 111111111111.dkr.ecr.us-east-1.amazonaws.com/"
            f"{service}\n  tag: \"{tag}\"\n  digest: \"\"\nreplicaCount: 2\n").encode()


def build_repo(commits: int) -> Path:
    """A bare repository: one commit with every chart and values file, then `commits - 1`
    commits that each bump one values file, as pipelines do. Cached across runs."""
    bare = CACHE / f"history-{commits}.git"
    if (bare / "bench-complete").exists():
        return bare
    shutil.rmtree(bare, ignore_errors=True)
    subprocess.run(["git", "init", "--quiet", "--bare", "--initial-branch", "main", str(bare)],
                   check=True)
    subprocess.run(["git", "--git-dir", str(bare), "config", "uploadpack.allowFilter", "true"],
                   check=True)
    rng = random.Random(commits)
    importer = subprocess.Popen(["git", "--git-dir", str(bare), "fast-import", "--quiet"],
                                stdin=subprocess.PIPE)
    assert importer.stdin is not None
    write = importer.stdin.write
    when = 1_700_000_000

    def commit(message: str, files: dict[str, bytes]) -> None:
        nonlocal when
        when += 60
        msg = message.encode()
        write(b"commit refs/heads/main\ncommitter bench <bench@example.invalid> %d +0000\n"
              b"data %d\n%s\n" % (when, len(msg), msg))
        for path, content in files.items():
            write(b"M 100644 inline %s\ndata %d\n%s\n" % (path.encode(), len(content), content))

    seed: dict[str, bytes] = {}
    for service in SERVICES:
        seed[f"charts/{service}/Chart.yaml"] = f"apiVersion: v2\nname: {service}\n" \
                                               "version: 0.1.0\n".encode()
        for env in ENVIRONMENTS:
            seed[f"envs/{env}/{service}/values.yaml"] = values(service, "1.0.0")
    commit("seed", seed)
    for i in range(1, commits):
        service, env = rng.choice(SERVICES), rng.choice(ENVIRONMENTS)
        commit(f"bump {env}/{service} to 1.{i}.0",
               {f"envs/{env}/{service}/values.yaml": values(service, f"1.{i}.0")})
    importer.stdin.close()
    if importer.wait() != 0:
        raise SystemExit("git fast-import failed")
    subprocess.run(["git", "--git-dir", str(bare), "repack", "-a", "-d", "-q"], check=True)
    (bare / "bench-complete").touch()
    return bare


def git_env() -> dict[str, str]:
    """The baseline authenticates the way gitops does (header from the environment)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    basic = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    env.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
                "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader",
                "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
                "BENCH_TOKEN": TOKEN})
    return env


def measure(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, int]:
    """(wall seconds, peak RSS KiB) of `argv`, which must succeed."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", RSS_WRAPPER, *argv], env=env, cwd=cwd,
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:3]} failed: {proc.stderr}")
    return wall, int(proc.stderr.strip().splitlines()[-1])


def gitops_argv(url: str, env: str, service: str, tag: str) -> list[str]:
    return [sys.executable, "-m", "gitops", "promote", "--repo", url, "--env", env,
            "--service", service, "--tag", tag, "--token-env", "BENCH_TOKEN", "--author", BOT]


def single(server: GitServer, name: str, bare: Path, runs: int) -> list[tuple[str, float, int, int]]:
    """Median wall, peak RSS and bytes sent of one promotion each way."""
    url, env = server.url(name), git_env()
    rows = []
    for method in ("gitops promote", "full clone + sed + push"):
        walls, rss, sent = [], [], []
        for run in range(runs):
            service = SERVICES[(run * 7 + (0 if method.startswith("gitops") else 3)) % 2000]
            tag = f"9.{run}.{len(method)}"
            before = server.bytes_sent
            with tempfile.TemporaryDirectory() as tmp:
                if method.startswith("gitops"):
                    wall, peak = measure(gitops_argv(url, "staging", service, tag), env, ROOT)
                else:
                    wall, peak = measure(
                        ["bash", "-c", BASELINE_SCRIPT], {**env, "REPO": url, "TAG": tag,
                                                          "ENV": "staging", "SERVICE": service},
                        Path(tmp))
            assert f'tag: "{tag}"' in file_at(bare, f"envs/staging/{service}/values.yaml").decode()
            walls.append(wall)
            rss.append(peak)
            sent.append(server.bytes_sent - before)
        rows.append((method, statistics.median(walls), max(rss), int(statistics.median(sent))))
    return rows


def concurrent(server: GitServer, name: str, bare: Path, count: int) -> tuple[bool, float, float, float]:
    """`count` CLI promotions of different services at once: (all landed, p50, p95, total)."""
    url, env = server.url(name), git_env()
    services = SERVICES[1000:1000 + count]

    def one(service: str) -> float:
        start = time.perf_counter()
        proc = subprocess.run(gitops_argv(url, "prod", service, "5.5.5"), env=env, cwd=ROOT,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"  {service}: exit {proc.returncode}: {proc.stderr.strip()}", file=sys.stderr)
        return time.perf_counter() - start

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=count) as pool:
        walls = sorted(pool.map(one, services))
    total = time.perf_counter() - start
    landed = all('tag: "5.5.5"' in file_at(bare, f"envs/prod/{s}/values.yaml").decode()
                 for s in services)
    merges = subprocess.run(["git", "--git-dir", str(bare), "rev-list", "--merges", "main"],
                            capture_output=True, text=True, check=True).stdout
    p95 = walls[min(len(walls) - 1, round(0.95 * (len(walls) - 1)))]
    return landed and not merges, statistics.median(walls), p95, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per single-promotion figure")
    parser.add_argument("--concurrent", type=int, default=20, help="simultaneous promotions")
    args = parser.parse_args()

    CACHE.mkdir(parents=True, exist_ok=True)
    repos = {}
    for commits in HISTORIES:
        start = time.perf_counter()
        repos[commits] = build_repo(commits)
        print(f"repository with {commits:,} commits ready in {time.perf_counter() - start:.1f} s "
              f"({repos[commits]})", file=sys.stderr)

    with tempfile.TemporaryDirectory() as tmp, GitServer(Path(tmp), TOKEN) as server:
        table = []
        for commits, cached in repos.items():
            # A fresh copy each run, so the cached repository stays as built.
            name = f"h{commits}"
            bare = Path(tmp) / f"{name}.git"
            shutil.copytree(cached, bare)
            for method, wall, rss, sent in single(server, name, bare, args.runs):
                table.append((f"{commits:,}", method, wall, rss, sent))
            if commits == HISTORIES[-1]:
                landed, p50, p95, total = concurrent(server, name, bare, args.concurrent)

    print(f"\n2,000 services × {len(ENVIRONMENTS)} environments; one promotion = median of "
          f"{args.runs} runs; RSS = largest client process\n")
    print("| history (commits) | method | wall (s) | peak RSS (MiB) | bytes from server |")
    print("|---:|---|---:|---:|---:|")
    for history, method, wall, rss, sent in table:
        print(f"| {history} | {method} | {wall:.2f} | {rss / 1024:.0f} | {sent:,} |")
    for commits in HISTORIES:
        ours = next(r for r in table if r[0] == f"{commits:,}" and r[1] == "gitops promote")
        theirs = next(r for r in table if r[0] == f"{commits:,}" and r[1] != "gitops promote")
        print(f"\nspeed-up at {commits:,} commits: {theirs[2] / ours[2]:.1f}× wall, "
              f"{theirs[4] / max(ours[4], 1):.0f}× fewer bytes", end="")
    print(f"\n\n{args.concurrent} concurrent `gitops promote` CLI runs (different services, one "
          f"branch, {HISTORIES[-1]:,}-commit repository):")
    print("| all landed, linear history | p50 (s) | p95 (s) | all done (s) |")
    print("|---|---:|---:|---:|")
    print(f"| {'yes' if landed else 'NO'} | {p50:.2f} | {p95:.2f} | {total:.2f} |")


if __name__ == "__main__":
    main()
