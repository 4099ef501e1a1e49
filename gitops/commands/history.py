"""`gitops history`: the changes of an environment as a table, JSON or CSV."""

from __future__ import annotations

import argparse
import csv
import sys
from datetime import UTC, datetime

from gitops import output
from gitops.clients.git import GitRunner
from gitops.clients.revisions import HistoryClient
from gitops.commands import add_command
from gitops.commands.options import (add_output, add_scope_arguments, add_window_arguments,
                                     token_from_args, validate_scope, window)
from gitops.governance.history import MANUAL, TRAILER_FIELDS, Change, Trail, read_history
from gitops.repo import layout

CSV_FIELDS = ("landed_at", "action", "env", "service", *(name for name, _, _ in TRAILER_FIELDS),
              "author", "commit", "merged_commit", "subject", "committed_at", "date_adjusted",
              "claimed")


def print_csv(changes: list[Change]) -> None:
    writer = csv.DictWriter(sys.stdout, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for change in changes:
        data = change.to_json()
        writer.writerow({key: _csv_cell(data[key]) for key in CSV_FIELDS})


def _csv_cell(value: object) -> str:
    """A cell a spreadsheet shows as text: no formula from a commit's `=cmd|…` reason."""
    text = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def print_table(changes: list[Change]) -> None:
    rows, overrides = [], set()
    for i, c in enumerate(reversed(changes)):   # newest first, like git log
        if c.override_freeze or c.skip_proof:
            overrides.add(i)
        scope = "/".join(part for part in (c.env, c.service) if part) or "-"
        what = c.tag or ""
        if c.digest:
            what += f" @{c.digest.removeprefix('sha256:')[:12]}"
        note = c.reason or ""
        if c.skip_proof:
            note = f"SKIP-PROOF: {note}"
        if c.override_freeze:
            note = f"OVERRIDE-FREEZE: {note}"
        if c.action in ("freeze", "unfreeze", MANUAL):
            note = f"{c.subject}{' - ' + c.reason if c.reason else ''}"
        if c.claimed:
            note += f" (its trailers claim: {c.claimed})"
        landed = c.landed_at.strftime("%Y-%m-%d %H:%M") + ("*" if c.date_adjusted else "")
        rows.append([landed, c.action, scope, what.strip(),
                     note, c.author, c.commit[:12]])
    output.print_table(["landed (UTC)", "action", "scope", "image", "note", "author", "commit"],
                       rows, overrides, title=f"{len(changes)} changes")
    if any(c.date_adjusted for c in changes):
        output.print_line("* the commit's own date disagrees with the branch's order; shown at the "
                          "change before it (committed_at in JSON and CSV)")


def warn_if_missing(trail: Trail, env: str | None, branch: str) -> None:
    """A warning when `env` is not an environment of the branch (a typo reads as no changes)."""
    if env is not None and env not in trail.environments:
        output.print_notice("warning: " + layout.missing(layout.env_dir(env), branch, "environments",
                                                         trail.environments))


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_command(
        subparsers, "history",
        description="List the changes that landed in the environment's paths on the branch, from "
                    "the files their commits changed, described by the commits' trailers.")
    add_scope_arguments(p, env_required=False)
    add_window_arguments(p, default_since=None)
    add_output(p, choices=("text", "json", "csv"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    validate_scope(args)
    now = datetime.now(UTC)
    since, until = window(args, now)
    token = token_from_args(args)
    trail = read_history(args.repo, args.branch, HistoryClient(GitRunner(token)), env=args.env,
                         service=args.service, since=since, until=until, now=now)
    warn_if_missing(trail, args.env, args.branch)
    changes = trail.changes
    if args.output == "json":
        output.print_json([c.to_json() for c in changes])
    elif args.output == "csv":
        print_csv(changes)
    else:
        print_table(changes)
    return 0
