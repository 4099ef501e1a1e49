"""Generated GitOps histories with chosen commit times, for the history and DORA tests.

`write_history(bare, commits)` writes `commits` (oldest first) onto `main` of a new bare repository
with git fast-import: each at its own committer time, and a `Commit(merged=…)` as a merge commit
whose second parent is the merged commit (a pull request's proposal commit, branched off the
current head), as a forge's merge button makes it.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from gitops.governance import trailers


@dataclass
class Commit:
    when: datetime | str            # a str is git's raw date, "<seconds> <offset>", taken as it is
    message: str | bytes            # bytes: written as they are (not necessarily UTF-8)
    files: dict[str, str] = field(default_factory=dict)
    merged: Commit | None = None    # this commit merges `merged` (whose files it takes)
    author: bytes = b"Test <test@example.invalid>"


def message(subject: str, **values: str | None) -> str:
    """A commit message with the tool's trailers (`values` keyed by trailer name with _ for -)."""
    rendered = trailers.render({key.replace("_", "-"): value for key, value in values.items()})
    return f"{subject}\n\nBody of the change.\n\n{rendered}\n"


def write_history(bare: Path, commits: list[Commit]) -> dict[int, str]:
    """Write `commits` to `main` of a new bare repository `bare`; return {id(commit): sha}."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull})
    subprocess.run(["git", "init", "--quiet", "--bare", "--initial-branch", "main", str(bare)],
                   check=True, env=env)
    subprocess.run(["git", "--git-dir", str(bare), "config", "uploadpack.allowFilter", "true"],
                   check=True, env=env)
    stream = bytearray()
    marks: dict[int, int] = {}

    def emit(commit: Commit, ref: str, parents: list[int]) -> None:
        mark = len(marks) + 1
        marks[id(commit)] = mark
        data = commit.message if isinstance(commit.message, bytes) else commit.message.encode()
        date = (commit.when if isinstance(commit.when, str)
                else f"{int(commit.when.timestamp())} +0000").encode()
        stream.extend(b"commit %s\nmark :%d\nauthor %s %s\ncommitter %s %s\ndata %d\n%s\n" % (
            ref.encode(), mark, commit.author, date, commit.author, date, len(data), data))
        if parents:
            stream.extend(b"from :%d\n" % parents[0])
        for parent in parents[1:]:
            stream.extend(b"merge :%d\n" % parent)
        for path, content in (commit.merged.files if commit.merged else commit.files).items():
            body = content.encode()
            stream.extend(b"M 100644 inline %s\ndata %d\n%s\n" % (path.encode(), len(body), body))

    head: int | None = None
    for number, commit in enumerate(commits):
        if commit.merged is not None:
            emit(commit.merged, f"refs/heads/proposal-{number}", [head] if head else [])
            emit(commit, "refs/heads/main", [head, marks[id(commit.merged)]])
        else:
            emit(commit, "refs/heads/main", [head] if head else [])
        head = marks[id(commit)]
    with tempfile.TemporaryDirectory() as tmp:
        marks_file = Path(tmp) / "marks"
        subprocess.run(["git", "--git-dir", str(bare), "fast-import", "--quiet",
                        f"--export-marks={marks_file}"], input=bytes(stream), check=True, env=env)
        by_mark = dict(line.split() for line in marks_file.read_text().splitlines())
    return {key: by_mark[f":{mark}"] for key, mark in marks.items()}


# --- The known history of the history and DORA tests ---------------------------------------------
# prod, services api, web and worker, window [2024-03-04, 2024-03-18) (two weeks from a Monday).
# The expected figures are worked out by hand in the tests from the comments here.

def at(text: str) -> datetime:
    return datetime.fromisoformat(text + "+00:00")


def _digest(name: str) -> str:
    return "sha256:" + (name.encode().hex() * 64)[:64]


def _values(service: str, tag: str) -> dict[str, str]:
    return {f"envs/prod/{service}/values.yaml": f"image:\n  tag: \"{tag}\"\n"}


def _promote(when: str, service: str, tag: str, source_time: str | None, **extra: str) -> Commit:
    return Commit(at(when), message(
        f"promote(prod/{service}): → {tag}", Delivery_Action="promote", Delivery_Service=service,
        Delivery_Environment="prod", Image_Tag=tag, Image_Digest=_digest(tag),
        Source_Commit="0123abcd" * 5, Source_Commit_Time=source_time, **extra), _values(service, tag))


def _revert(when: str, service: str, back_to: str, bad: str) -> Commit:
    return Commit(at(when), message(
        f"revert(prod/{service}): {bad} → {back_to}", Delivery_Action="revert",
        Delivery_Service=service, Delivery_Environment="prod", Image_Tag=back_to,
        Image_Digest=_digest(back_to), Previous_Digest=_digest(bad), Reason="verify failed"),
        _values(service, back_to))


def _block(when: str, service: str, tag: str) -> Commit:
    return Commit(at(when), message(
        f"block(prod/{service}): {tag}", Delivery_Action="block", Delivery_Service=service,
        Delivery_Environment="prod", Image_Tag=tag, Image_Digest=_digest(tag), Reason="CVE"),
        {"envs/prod/blocklist.yaml": f"blocked: [{_digest(tag)}] # {when}\n"})


def known_history() -> tuple[list[Commit], dict[str, Commit]]:
    """(commits oldest first, the notable ones by name)."""
    seed = Commit(at("2024-03-01T10:00:00"), "seed GitOps repository\n",
                  {**_values("api", "v0"), **_values("web", "w0"), **_values("worker", "k0"),
                   "envs/staging/api/values.yaml": "image:\n  tag: \"v0\"\n"})
    named = {
        "seed": seed,
        # Before the window: not counted.
        "api v0": _promote("2024-03-02T12:00:00", "api", "v0b", "2024-03-02T10:00:00+00:00"),
        # Week of 03-04.
        "api v1": _promote("2024-03-04T10:00:00", "api", "v1", "2024-03-04T08:00:00+00:00"),   # lead 2 h
        "web w1": _promote("2024-03-05T12:00:00", "web", "w1", "2024-03-04T13:00:00+01:00"),   # lead 24 h
        "api v2": _promote("2024-03-06T09:00:00", "api", "v2", "2024-03-06T08:30:00+00:00"),   # lead 0.5 h, reverted
        "revert api v2": _revert("2024-03-06T10:30:00", "api", "v1", "v2"),                    # restore 1.5 h
        "freeze": Commit(at("2024-03-07T15:00:00"), message(
            "freeze(prod): until 2024-03-08T09:00:00+00:00", Delivery_Action="freeze",
            Delivery_Environment="prod", Reason="migration"),
            {"envs/prod/freeze.yaml": "freezes: []\n"}),
        "api v3": _promote("2024-03-07T16:00:00", "api", "v3", "2024-03-07T12:00:00+00:00",   # lead 4 h
                           Override_Freeze="true", Reason="hotfix for the outage"),
        "unfreeze": Commit(at("2024-03-08T09:00:00"), message(
            "unfreeze(prod)", Delivery_Action="unfreeze", Delivery_Environment="prod",
            Reason="migration done"), {"envs/prod/freeze.yaml": "{}\n"}),
        # Week of 03-11. w2 arrives by a pull request: proposed 09:00, merged 10:00 (lead 24 h to
        # the merge, 23 h to the proposal commit); later blocked.
        "web w2": Commit(at("2024-03-11T10:00:00"),
                         "Merge pull request #7 from acme/promote/prod/web\n\npromote web\n",
                         merged=_promote("2024-03-11T09:00:00", "web", "w2", "2024-03-10T10:00:00+00:00")),
        "web w3": _promote("2024-03-12T08:00:00", "web", "w3", "2024-03-12T06:00:00+00:00"),   # lead 2 h, reverted
        "revert web w3": _revert("2024-03-12T20:00:00", "web", "w1", "w3"),   # restores the w2+w3 outage: 34 h
        "manual": Commit(at("2024-03-13T09:00:00"), "bump web by hand\n", _values("web", "w1-hand")),
        "block web w2": _block("2024-03-14T10:00:00", "web", "w2"),
        "api v4": _promote("2024-03-15T10:00:00", "api", "v4", "yesterday"),   # no lead time; reverted after the window
        "staging api": Commit(at("2024-03-16T10:00:00"), message(
            "promote(staging/api): → v9", Delivery_Action="promote", Delivery_Service="api",
            Delivery_Environment="staging", Image_Tag="v9"),
            {"envs/staging/api/values.yaml": "image:\n  tag: \"v9\"\n"}),
        "worker k1": _promote("2024-03-17T10:00:00", "worker", "k1", "2024-03-17T09:00:00+00:00"),  # lead 1 h
        "block worker k1": _block("2024-03-17T12:00:00", "worker", "k1"),   # never restored: open
        # After the window.
        "revert api v4": _revert("2024-03-19T10:00:00", "api", "v3", "v4"),   # restore 96 h
        "web w4": _promote("2024-03-20T10:00:00", "web", "w4", "2024-03-20T09:00:00+00:00"),
    }
    return list(named.values()), named
