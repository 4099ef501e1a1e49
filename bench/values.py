"""Reading and editing values files of growing size, mostly comments: is the work linear?

Prints, per size, the time of `parse_image` (what status and show do per file) and of `set_image`
(what promote does: read, edit, read again to verify), per MiB, and the time to refuse files past
the limits (a 50 MB file, an alias bomb, 5,000-deep nesting).

    .venv/bin/python bench/values.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gitops.yaml import document  # noqa: E402
from gitops.errors import ValuesError  # noqa: E402
from gitops.repo.values import parse_image, read_image, set_image  # noqa: E402

HEAD = 'image:\n  repository: r\n  tag: "1.0.0"  # set by the pipeline\n  digest: ""\n'


def comment_heavy(size: int) -> str:
    """`size` bytes: the image, then blocks of comment lines between small settings."""
    block = "".join(f"# note {i}: a comment line of the kind teams keep above settings\n"
                    for i in range(8)) + "setting: value\n"
    lines, length, n = [HEAD], len(HEAD), 0
    while length < size:
        chunk = block.replace("setting", f"setting{n}")
        lines.append(chunk)
        length += len(chunk)
        n += 1
    return "".join(lines)[:size].rsplit("\n", 1)[0] + "\n"


def best(runs: int, work) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def refused(work) -> float:
    started = time.perf_counter()
    try:
        work()
    except ValuesError:
        return time.perf_counter() - started
    raise SystemExit("expected a refusal")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print("| size (KiB) | lines | parse (s) | edit (s) | parse per MiB (s) | edit per MiB (s) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for kib in (32, 64, 128, 256, 512):
        text = comment_heavy(kib * 1024 - (1 if kib * 1024 > document.MAX_BYTES else 0))
        parse = best(args.runs, lambda: parse_image(text, "bench"))
        edit = best(args.runs, lambda: set_image(text, "1.0.1", None, "bench"))
        mib = len(text) / 2 ** 20
        print(f"| {kib} | {text.count(chr(10)):,} | {parse:.3f} | {edit:.3f} | "
              f"{parse / mib:.2f} | {edit / mib:.2f} |")

    print()
    print("| refused input | size | time to refuse (s) |")
    print("|---|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "values.yaml"
        with open(big, "wb") as f:  # 50 MB of comments, written for real (no sparse file)
            line = b"# a comment line of a very large values file, repeated many times\n"
            f.write(HEAD.encode() + line * (50 * 10 ** 6 // len(line)))
        print(f"| 50 MB values file, read from disk | {os.path.getsize(big):,} B | "
              f"{refused(lambda: read_image(big)):.4f} |")
    bomb = HEAD + "lol0: &l0 [a, a, a, a, a, a, a, a, a, a]\n" + "".join(
        f"lol{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 10))
    print(f"| alias bomb (10^10 nodes expanded) | {len(bomb):,} B | "
          f"{refused(lambda: set_image(bomb, '2', None, 'bench')):.4f} |")
    deep = HEAD + "deep: " + "[" * 5000 + "]" * 5000 + "\n"
    print(f"| 5,000-deep flow nesting | {len(deep):,} B | "
          f"{refused(lambda: set_image(deep, '2', None, 'bench')):.4f} |")


if __name__ == "__main__":
    main()
