"""`gitops promote`: the options of a promotion, the approver read from CodePipeline, the line
or JSON object describing what was committed or proposed."""

from __future__ import annotations

import argparse
from dataclasses import asdict, replace

from gitops import output
from gitops.clients import codepipeline
from gitops.clients.git import GitClient, GitRunner
from gitops.commands import add_command
from gitops.commands.options import (add_branch, add_env, add_github_api_argument, add_output,
                                     add_proof_arguments, add_reason, add_repo, add_service,
                                     add_token_arguments, add_writer_arguments, parse_author,
                                     proof_options, token_from_args)
from gitops.errors import UsageError
from gitops.governance.freeze_file import validate_reason
from gitops.promotion.promote import PromoteRequest, PromoteResult, promote, validate_request


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_command(
        subparsers, "promote",
        description="Set image.tag (and image.digest) in envs/<env>/<service>/values.yaml, by a "
                    "commit on the branch or a pull request.")
    add_repo(p)
    add_branch(p)
    add_env(p)
    add_service(p)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--tag", help="image tag to promote")
    source.add_argument("--from", dest="from_env", metavar="ENV",
                        help="promote the tag and digest that ENV runs (same branch head)")
    p.add_argument("--digest", help="image digest (sha256:<64 hex>) of the tag; with --tag only")
    p.add_argument("--mode", choices=("commit", "pull-request"), default="commit",
                   help="push a commit to --branch, or open/update a pull request (default: commit)")
    p.add_argument("--auto-merge", action="store_true",
                   help="pull-request mode: enable the repository's auto-merge on the PR")
    add_token_arguments(p)
    add_override_arguments(p)
    p.add_argument("--proof-from", metavar="ENV",
                   help="the environment that must have proven the image (default: --from's); a promote "
                        "pipeline names its upstream")
    add_proof_arguments(p)
    p.add_argument("--skip-proof", action="store_true",
                   help="promote without the upstream's proof (emergency); needs --reason, recorded in the commit")
    p.add_argument("--source-commit", metavar="SHA", help="application commit the image was built from")
    p.add_argument("--source-commit-time", metavar="ISO8601",
                   help="that commit's time with an offset (recorded as Source-Commit-Time, which "
                        "`gitops dora` measures the time to the environment from)")
    p.add_argument("--source-from-env", metavar="ENV",
                   help="record the source commit (and time) that ENV's promotion of this --tag and --digest "
                        "recorded, found in the branch's history (a promote pipeline's upstream)")
    p.add_argument("--source-repo", metavar="URL",
                   help="application repository (https://), for the pull request's compare link")
    p.add_argument("--execution-id", metavar="ID", help="pipeline execution that runs this promotion")
    p.add_argument("--approved-by-from-pipeline", metavar="PIPELINE",
                   help="record who gave the manual approval of --execution-id in this CodePipeline "
                        "pipeline (region: $AWS_REGION) as the Approved-By trailer; when it cannot be "
                        "read, promote without it and say why")
    add_writer_arguments(p)
    add_github_api_argument(p)
    add_output(p)
    p.set_defaults(func=run)


def add_override_arguments(parser: argparse.ArgumentParser) -> None:
    """`--override-freeze --reason "…"`: promote during a freeze, recording why."""
    parser.add_argument("--override-freeze", action="store_true",
                        help="promote although a freeze applies (emergency); needs --reason, "
                             "recorded in the commit")
    add_reason(parser, help="why the freeze is overridden or the proof skipped (with --override-freeze, "
                            "--skip-proof)", required=False)


def override_reasons(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """The reason of `--override-freeze` and of `--skip-proof` (one `--reason` serves both), None
    for a flag not given."""
    if not args.override_freeze and not args.skip_proof:
        if args.reason is not None:
            raise UsageError("--reason goes with --override-freeze or --skip-proof")
        return None, None
    flag = "--override-freeze" if args.override_freeze else "--skip-proof"
    reason = validate_reason(args.reason, f"{flag} needs --reason; --reason")
    return (reason if args.override_freeze else None), (reason if args.skip_proof else None)


def run(args: argparse.Namespace) -> int:
    override_freeze_reason, skip_proof_reason = override_reasons(args)
    upstream_regions, soak = proof_options(args)
    req = PromoteRequest(
        override_freeze_reason=override_freeze_reason, skip_proof_reason=skip_proof_reason,
        proof_from=args.proof_from, upstream_regions=upstream_regions, soak=soak,
        repo_url=args.repo, env=args.env, service=args.service, tag=args.tag, digest=args.digest,
        from_env=args.from_env, branch=args.branch, mode=args.mode, auto_merge=args.auto_merge,
        source_commit=args.source_commit, source_commit_time=args.source_commit_time,
        source_from_env=args.source_from_env,
        source_repo=args.source_repo,
        execution_id=args.execution_id,
        author=parse_author(args.author), max_attempts=args.max_attempts,
        github_api_url=args.github_api_url)
    validate_request(req)
    if args.approved_by_from_pipeline is not None:
        req = replace(req, approved_by=_approver(args.approved_by_from_pipeline, req.execution_id))
    token = token_from_args(args)
    result = promote(req, GitClient(GitRunner(token)), token=token)
    if args.output == "json":
        output.print_json(asdict(result))
    else:
        output.print_line(_describe(result, req))
    return 0


def _approver(pipeline: str, execution_id: str | None) -> str | None:
    """Who approved the execution, read from CodePipeline; None (and a line on stderr saying why)
    when that cannot be known: the approval itself was CodePipeline's to enforce."""
    if not codepipeline.PIPELINE_NAME.fullmatch(pipeline):
        raise UsageError(f"--approved-by-from-pipeline {pipeline!r} is not a pipeline name (1-100 "
                         "letters, digits, . @ - _)")
    if execution_id is None:
        raise UsageError("--approved-by-from-pipeline needs --execution-id: the execution approved")
    found = codepipeline.find_approver(pipeline, execution_id)
    if found.notice:
        output.print_notice(found.notice)
    return found.arn


def _describe(result: PromoteResult, req: PromoteRequest) -> str:
    where = f"{result.env}/{result.service}"
    if result.noop:
        return f"no-op: {where} is already at {result.new_tag} on {req.branch}; nothing committed"
    moved = f"{where}: {result.old_tag or '(none)'} → {result.new_tag}"
    if result.new_tag == result.old_tag:
        moved += (f" (same tag, new digest {result.digest or '(none)'}; "
                  f"was {result.old_digest or '(none)'})")
    landed = (" (git's answer was lost; read back, the remote holds it: landed)"
              if result.push == "landed" else "")
    if req.mode == "pull-request":
        proposed = "already proposed" if result.push is None else "proposed"
        armed = {"armed": ", auto-merge armed", "merged": ", merged at once (auto-merge)"}.get(
            result.auto_merge or "", "")
        what = ("branch pushed, open a pull request" if result.action == "pushed"
                else f"pull request {result.action}")
        return (f"{moved} {proposed} as {result.revision} on {req.pr_branch}{landed}: "
                f"{what}{armed}: {result.pr_url}")
    retries = f" after {result.attempts} attempts" if result.attempts > 1 else ""
    return f"{moved} committed as {result.commit} on {req.branch}{retries}{landed}"
