"""Benchmark of `gitops history` and `gitops dora` on the promote benchmark's repositories.

Takes the 2,000- and 20,000-commit GitOps repositories bench/promote.py builds (2,000 services ×
3 environments, each commit bumping one values file) and gives every commit the trailers the tool
writes (git fast-export | rewrite messages | fast-import; cached under build/bench-gitops/): a
promotion with source commit, source time (10 to 600 minutes earlier) and execution, and every
25th commit a revert. Serves them over the tests' smart-HTTP git server and prints a table:
wall time (median of --runs), peak RSS of the client's process tree, bytes the server sent and
the commits of prod the command read, so the cost per commit can be compared across the two.

    .venv/bin/python bench/dora.py [--runs 3]

Not part of the test suite. Everything runs on this machine: the server competes for the CPU.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.promote import CACHE, HISTORIES, TOKEN, build_repo, git_env, measure  # noqa: E402
from gitops.governance import trailers  # noqa: E402
from sandbox.git_http import GitServer  # noqa: E402

_BUMP = re.compile(rb"bump (\w+)/(\w+) to ([\w.]+)")
REVERT_EVERY = 25


def with_trailers(commits: int) -> Path:
    """The promote benchmark's repository of `commits` commits, every message given trailers."""
    target = CACHE / f"history-{commits}-trailers.git"
    if (target / "bench-complete").exists():
        return target
    source = build_repo(commits)
    shutil.rmtree(target, ignore_errors=True)
    subprocess.run(["git", "clone", "--quiet", "--bare", str(source), str(target)], check=True)
    exported = subprocess.run(["git", "--git-dir", str(target), "fast-export", "--no-data", "main"],
                              check=True, capture_output=True).stdout
    rng = random.Random(commits)
    out, position, number, committed = bytearray(), 0, 0, 0
    while position < len(exported):
        end = exported.index(b"\n", position) + 1
        line = exported[position:end]
        position = end
        if line.startswith(b"committer "):
            committed = int(line.split()[-2])
        if not line.startswith(b"data "):
            out += line
            continue
        size = int(line.split()[1])
        original = exported[position:position + size]
        position += size
        number += 1
        rewritten = _message(original, committed, number, rng)
        out += b"data %d\n%s" % (len(rewritten), rewritten)
    subprocess.run(["git", "--git-dir", str(target), "fast-import", "--quiet", "--force"],
                   input=bytes(out), check=True)
    subprocess.run(["git", "--git-dir", str(target), "config", "uploadpack.allowFilter", "true"], check=True)
    subprocess.run(["git", "--git-dir", str(target), "gc", "--quiet", "--prune=now"], check=True)
    (target / "bench-complete").touch()
    return target


def _message(original: bytes, committed: int, number: int, rng: random.Random) -> bytes:
    match = _BUMP.match(original)
    if not match:
        return original   # the seed commit
    env, service, tag = (part.decode() for part in match.groups())
    digest = "sha256:" + hashlib.sha256(tag.encode()).hexdigest()
    source_time = datetime.fromtimestamp(committed, UTC) - timedelta(minutes=rng.randint(10, 600))
    action = "revert" if number % REVERT_EVERY == 0 else "promote"
    values = {trailers.ACTION: action, trailers.SERVICE: service, trailers.ENVIRONMENT: env,
              trailers.TAG: tag, trailers.DIGEST: digest,
              trailers.SOURCE_COMMIT: hashlib.sha1(tag.encode()).hexdigest(),
              trailers.SOURCE_COMMIT_TIME: source_time.isoformat(timespec="seconds"),
              trailers.EXECUTION: f"{number:08d}-0000-4000-8000-000000000000"}
    if action == "revert":
        values[trailers.REASON] = "verify failed"
    subject = f"{action}({env}/{service}): → {tag}"
    return f"{subject}\n\nSet image.tag of {service} in {env} to {tag}.\n\n{trailers.render(values)}\n".encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per figure")
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    repos = {commits: with_trailers(commits) for commits in HISTORIES}
    env = git_env()
    # The promote benchmark's histories start at 2023-11-14 22:13 UTC, one commit a minute.
    window = ["--since", "2023-11-01", "--until", "2024-01-01"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp, GitServer(Path(tmp), TOKEN) as server:
        for commits, cached in repos.items():
            name = f"t{commits}"
            shutil.copytree(cached, Path(tmp) / f"{name}.git")
            prod_commits = int(subprocess.run(
                ["git", "--git-dir", str(cached), "rev-list", "--count", "--first-parent", "main",
                 "--", "envs/prod"], capture_output=True, text=True, check=True).stdout)
            for command in ("history", "dora"):
                argv = [sys.executable, "-m", "gitops", command, "--repo", server.url(name),
                        "--token-env", "BENCH_TOKEN", "--env", "prod", *window, "--output", "json"]
                walls, rss, sent = [], [], []
                for _ in range(args.runs):
                    before = server.bytes_sent
                    wall, peak = measure(argv, env, ROOT)
                    walls.append(wall)
                    rss.append(peak)
                    sent.append(server.bytes_sent - before)
                result = json.loads(subprocess.run(argv, env=env, cwd=ROOT, capture_output=True,
                                                   text=True, check=True).stdout)
                summary = (f"{len(result)} changes" if command == "history" else
                           f"{result['overall']['deployments']} deployments, CFR "
                           f"{result['overall']['change_failure_rate']:.3f}, lead time median "
                           f"{result['overall']['lead_time_median_h']:.2f} h")
                rows.append((commits, prod_commits, command, statistics.median(walls), max(rss),
                             int(statistics.median(sent)), summary))
    print(f"\n2,000 services × 3 environments; --env prod; median of {args.runs} runs; "
          "RSS = largest client process\n")
    print("| history (commits) | prod commits read | command | wall (s) | µs per commit of history | "
          "peak RSS (MiB) | bytes from server | result |")
    print("|---:|---:|---|---:|---:|---:|---:|---|")
    for commits, prod, command, wall, rss, sent, summary in rows:
        print(f"| {commits:,} | {prod:,} | {command} | {wall:.2f} | {wall / commits * 1e6:.0f} | "
              f"{rss / 1024:.0f} | {sent:,} | {summary} |")


if __name__ == "__main__":
    main()
