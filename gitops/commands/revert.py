"""`gitops revert`, `gitops block` and `gitops unblock`: their options and the line or JSON
object describing the commit or pull request."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from gitops import output
from gitops.clients.git import GitRunner
from gitops.clients.revisions import HistoryClient
from gitops.commands import COMMANDS, add_command
from gitops.commands.options import (add_branch, add_env, add_github_api_argument, add_output,
                                     add_reason, add_repo, add_service, add_token_arguments,
                                     add_writer_arguments, parse_author, token_from_args)
from gitops.repo import layout
from gitops.promotion.revert import RevertRequest, RevertResult, revert, validate_request


def _common(p: argparse.ArgumentParser) -> None:
    add_repo(p)
    add_branch(p)
    add_env(p)
    add_service(p)
    add_reason(p, help="why, one line (recorded in the commit)")
    p.add_argument("--execution-id", metavar="ID", help="pipeline execution doing this")
    add_token_arguments(p)
    add_writer_arguments(p)
    add_github_api_argument(p)
    add_output(p)
    p.set_defaults(func=run)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_command(
        subparsers, "revert",
        description="Write back the last tag and digest that passed verification in the "
                    "environment and block the bad digest (the one at --revision, else the one "
                    "there now).")
    _common(p)
    p.add_argument("--revision", metavar="SHA", help="the commit of the promotion that failed")
    p.add_argument("--mode", choices=("commit", "pull-request"), default="commit",
                   help="push a commit, or open an auto-mergeable pull request (default: commit)")
    p.add_argument("--no-auto-merge", dest="auto_merge", action="store_false",
                   help="pull-request mode: leave the pull request for a human to merge")
    for action in ("block", "unblock"):
        summary = COMMANDS[action].summary
        p = add_command(subparsers, action, description=f"{summary[0].upper()}{summary[1:]} "
                        f"({layout.blocklist_file('<env>')}), by a commit with the reason.")
        _common(p)
        p.add_argument("--digest", required=True, help="image digest sha256:<64 hex>")
        if action == "block":
            p.add_argument("--tag", help="its tag, for the record")


def run(args: argparse.Namespace) -> int:
    req = RevertRequest(
        repo_url=args.repo, env=args.env, service=args.service, action=args.command,
        reason=args.reason, revision=getattr(args, "revision", None),
        digest=getattr(args, "digest", None), tag=getattr(args, "tag", None), branch=args.branch,
        mode=getattr(args, "mode", "commit"), auto_merge=getattr(args, "auto_merge", True),
        execution_id=args.execution_id, author=parse_author(args.author),
        max_attempts=args.max_attempts, github_api_url=args.github_api_url)
    validate_request(req)
    token = token_from_args(args)
    result = revert(req, HistoryClient(GitRunner(token)), token=token)
    if args.output == "json":
        output.print_json(asdict(result))
    else:
        output.print_line(describe(result))
    return 0


def describe(result: RevertResult) -> str:
    where = f"{result.env}/{result.service}"
    if result.noop:
        return f"no-op: {where} already has what {result.action} would write; nothing committed"
    done = f"committed as {result.commit}" if not result.pr_url else f"proposed: {result.pr_url}"
    if result.action == "revert" and result.restored_tag:
        return (f"{where}: {result.bad_tag} → {result.restored_tag} (verified at "
                f"{(result.restored_from or '')[:12]}), {result.bad_digest} blocked; {done}")
    verb = "unblocked" if result.action == "unblock" else "blocked"
    return f"{where}: {result.bad_digest} {verb}; {done}"
