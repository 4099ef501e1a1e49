"""`gitops revert-breach`: its options and the line describing what it did."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from gitops import output
from gitops.clients.git import GitRunner
from gitops.clients.revisions import HistoryClient
from gitops.commands import add_command
from gitops.commands.revert import describe
from gitops.commands.options import (add_branch, add_env, add_github_api_argument, add_output, add_repo,
                                     add_token_arguments, token_from_args)
from gitops.promotion.bake_breach import BreachRequest, github_mark_failed, parse_services, revert_breach
from gitops.promotion.revert import revert


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_command(
        subparsers, "revert-breach",
        description="After a pipeline's Verify stage failed: when its bake's alarm failed it (not an "
                    "action, which reverted already), mark the verified commit's pending statuses "
                    "failure and revert it as a failed verification does.")
    p.add_argument("--pipeline", required=True, help="the pipeline whose stage failed")
    p.add_argument("--execution-id", required=True, metavar="ID", help="the failed execution")
    p.add_argument("--stage", required=True, help="the stage the bake holds (Verify)")
    p.add_argument("--services", required=True, metavar="JSON",
                   help='the stack\'s gated pipelines and their services: {"<pipeline>": "<service>"}')
    add_repo(p)
    add_branch(p)
    add_env(p)
    p.add_argument("--mode", choices=("commit", "pull-request"), default="commit",
                   help="how the revert lands: a commit, or an auto-mergeable pull request (default: commit)")
    add_token_arguments(p)
    add_github_api_argument(p)
    add_output(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    req = BreachRequest(pipeline=args.pipeline, execution_id=args.execution_id, stage=args.stage,
                        services=parse_services(args.services), repo_url=args.repo, env=args.env,
                        branch=args.branch, mode=args.mode, github_api_url=args.github_api_url)
    token = token_from_args(args)
    mark = github_mark_failed(req.repo_url, req.env, req.github_api_url, token)
    if isinstance(mark, str):
        output.print_notice(f"note: {mark}")
    happened, result = revert_breach(req, lambda r: revert(r, HistoryClient(GitRunner(token)), token=token),
                                     mark_failed=None if isinstance(mark, str) else mark)
    if args.output == "json":
        output.print_json({"outcome": happened, "revert": asdict(result) if result else None})
    else:
        output.print_line(happened if result is None else f"{happened}: {describe(result)}")
    return 0
