"""`gitops check-repo`: the guard-rail checks of one environment's token, as a table or JSON."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict

from gitops import output
from gitops.commands import add_command
from gitops.commands.options import (add_branch, add_env, add_github_api_argument, add_output,
                                     add_repo, add_token_arguments, token_from_args)
from gitops.errors import GuardRailsMissing, UsageError
from gitops.governance.guard_rails import evaluate, read_guard_rails


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_command(
        subparsers, "check-repo",
        description="Read the rulesets and branch protection of the GitOps repository with the "
                    "token to check, and say whether it could bypass the review of --review-env "
                    "and whether it can promote --env in --mode. Exit 0: all checks pass; 18: one "
                    "fails; 6: GitHub cannot be read.")
    add_repo(p, help="GitOps repository URL (on GitHub)")
    add_branch(p)
    add_env(p, help="the environment this token promotes")
    p.add_argument("--mode", choices=("commit", "pull-request"), required=True,
                   help="how that environment is promoted")
    p.add_argument("--review-env", default="prod",
                   help="the environment whose changes need a review (default: prod)")
    add_token_arguments(p)
    add_github_api_argument(p)
    add_output(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    token = token_from_args(args)
    if not token:
        raise UsageError("check-repo reads the rules as the token to check sees them: give it with "
                         "--token-env or --token-secret")
    rails = read_guard_rails(repo_url=args.repo, api_url=args.github_api_url, token=token,
                             branch=args.branch)
    checks = evaluate(rails, branch=args.branch, env=args.env, mode=args.mode,
                      review_env=args.review_env)
    failed = [c for c in checks if not c.ok]
    failure = GuardRailsMissing(f"{len(failed)} of {len(checks)} checks failed on "
                                f"{rails.full_name}: {failed[0].question}? {failed[0].answer}") if failed else None
    if args.output == "json":
        # One JSON object on stdout, failed or not: the report carries the error and exit code.
        report = {"repository": rails.full_name, "branch": args.branch, "ok": not failed,
                  "checks": [asdict(c) for c in checks]}
        if failure is not None:
            report.update(error=str(failure), exit_code=failure.exit_code)
        output.print_json(report)
        if failure is not None:
            print(f"error: {failure}", file=sys.stderr)
            return failure.exit_code
        return 0
    output.print_table(["check", "answer", "result", "what to change"],
                       [[c.question, c.answer, "ok" if c.ok else "FAIL", c.change]
                        for c in checks],
                       {i for i, c in enumerate(checks) if not c.ok},
                       title=f"{rails.full_name} {args.branch}: the {args.env} token")
    if failure is not None:
        raise failure
    return 0
