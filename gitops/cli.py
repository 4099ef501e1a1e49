"""`python -m gitops`: one argparse subcommand per module listed in SUBCOMMANDS.

Each module exposes `register(subparsers)` (adds its parser with `set_defaults(func=run)`) and
`run(args) -> int`. A GitopsError becomes `error: <message>` on stderr and its exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from gitops.errors import GitopsError

SUBCOMMANDS = ("gitops.promote", "gitops.status", "gitops.show", "gitops.verify", "gitops.init")
# `freeze` also registers `unfreeze`; `history` and `dora` read the audit trail.
SUBCOMMANDS += ("gitops.freeze", "gitops.history", "gitops.dora")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with `argv` naming a command, only that command's module is imported, so a
    promotion does not pay for what verify imports (and the reverse)."""
    parser = argparse.ArgumentParser(prog="python -m gitops",
                                     description="GitOps tooling of the delivery pipelines")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = [f"gitops.{argv[0]}"] if argv and f"gitops.{argv[0]}" in SUBCOMMANDS else SUBCOMMANDS
    for name in chosen:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    args = build_parser(argv).parse_args(argv)
    try:
        return args.func(args)
    except GitopsError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
