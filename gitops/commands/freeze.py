"""`gitops freeze` and `gitops unfreeze`: their options, the CodePipeline transitions switched
with --pipelines, and the lines or JSON object describing both."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from gitops import output
from gitops.clients.codepipeline import codepipeline_client
from gitops.clients.git import GitClient, GitRunner
from gitops.commands import COMMANDS, add_command
from gitops.commands.options import (add_branch, add_env, add_output, add_reason, add_repo,
                                     add_service, add_token_arguments, add_writer_arguments,
                                     parse_author, token_from_args)
from gitops.errors import GitopsError, UsageError
from gitops.governance.freeze import FreezeRequest, FreezeResult, freeze, unfreeze, validate_request
from gitops.governance.transitions import (PROMOTE_STAGE, TransitionChange, held_execution_notes,
                                           pipeline_name, switch_transitions, transition_reason)
from gitops.repo import layout
from gitops.repo.layout import check_name


def register(subparsers: argparse._SubParsersAction) -> None:
    for action in ("freeze", "unfreeze"):
        summary = COMMANDS[action].summary
        p = add_command(
            subparsers, action,
            description=f"{summary[0].upper()}{summary[1:]}: a commit of "
                        f"{layout.freeze_file('<env>')} with the tool's trailers.")
        add_repo(p)
        add_branch(p)
        add_env(p)
        add_service(p, help="one service only (default: the whole environment)", required=False)
        if action == "freeze":
            p.add_argument("--until", required=True,
                           help="end: ISO 8601 (an offset, or none for the file's time zone) or a "
                                "duration such as 8h, 3d, 2w")
        add_reason(p, help="why; recorded in the commit and shown by promote" if action == "freeze"
                   else "why the freeze ends; recorded in the commit")
        p.add_argument("--pipelines", action="store_true",
                       help=f"also {'disable' if action == 'freeze' else 're-enable'} the transition "
                            f"into {PROMOTE_STAGE} of the pipelines concerned (CodePipeline)")
        p.add_argument("--app", help="application name of the pipelines (<app>-<service>-<env>); "
                                     "with --pipelines")
        p.add_argument("--region", help="region of the pipelines (default: $AWS_REGION, else the AWS configuration)")
        add_token_arguments(p)
        add_writer_arguments(p, author_help="commit author, recorded as who froze," if action == "freeze"
                             else "commit author, recorded as who ended the freeze,")
        add_output(p)
        p.set_defaults(func=run, action=action)


def run(args: argparse.Namespace) -> int:
    req = FreezeRequest(repo_url=args.repo, env=args.env, service=args.service, reason=args.reason,
                        author=parse_author(args.author), max_attempts=args.max_attempts,
                        until=getattr(args, "until", None), branch=args.branch)
    validate_request(req)
    if args.pipelines and not args.app:
        raise UsageError("--pipelines needs --app (pipelines are named <app>-<service>-<env>)")
    if not args.pipelines and (args.app or args.region):
        raise UsageError("--app and --region go with --pipelines")
    check_name("--app", args.app)
    token = token_from_args(args)
    git = GitClient(GitRunner(token))
    result = (freeze if args.action == "freeze" else unfreeze)(req, git)
    changes: list[TransitionChange] = []
    notes: list[str] = []
    if args.pipelines:
        client = codepipeline_client(args.region)
        if result.action == "freeze":
            until = datetime.fromisoformat(result.until)
            reason = transition_reason(req.env, req.service, until, req.reason.strip(),
                                       ZoneInfo(result.timezone))
            changes = switch_transitions(client, [pipeline_name(args.app, s, req.env)
                                                  for s in result.services], enable=False, reason=reason)
            notes = held_execution_notes(False, datetime.now(UTC), until)
        else:
            reopen = [s for s in result.services if s not in result.still_frozen]
            changes = switch_transitions(client, [pipeline_name(args.app, s, req.env) for s in reopen],
                                         enable=True)
            notes = held_execution_notes(True, datetime.now(UTC)) if changes else []
    if args.output == "json":
        output.print_json({**asdict(result), "transitions": [asdict(c) for c in changes], "notes": notes})
    else:
        output.print_line(_describe(result, req))
        for change in changes:
            output.print_line(f"  {change.pipeline}: {change.outcome}"
                              + (f" ({change.detail})" if change.detail else ""))
        for note in notes:
            output.print_notice(note)
    failed = [c.pipeline for c in changes if c.outcome == "failed"]
    if failed:
        raise GitopsError(f"the transition of {len(failed)} pipeline(s) was not switched: "
                          f"{', '.join(failed)} (see above); the {result.action} itself is recorded")
    return 0


def _describe(result: FreezeResult, req: FreezeRequest) -> str:
    if result.commit is None:
        return (f"no-op: {result.scope} is already frozen until {result.until} for that reason"
                if result.action == "freeze" else f"no-op: {result.scope} has no freeze to end")
    if result.action == "freeze":
        return f"{result.scope} frozen until {result.until}: committed as {result.commit} on {req.branch}"
    still = (f"; {', '.join(result.still_frozen)} still frozen by the freeze of "
             f"{' and '.join(result.still_frozen_by)}" if result.still_frozen else "")
    return f"{result.scope} unfrozen: committed as {result.commit} on {req.branch}{still}"
