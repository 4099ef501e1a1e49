"""`gitops verify`: its options, the progress line on stderr, the verified line or JSON object."""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import asdict
from typing import Any

from gitops.commands import add_command
from gitops.commands.options import (add_env, add_github_api_argument, add_output, add_repo,
                                     add_service, add_token_arguments, token_from_args)
from gitops.errors import UsageError
from gitops.output import print_json, print_line
from gitops.verification.verify import (DEFAULT_PAUSE_TIMEOUT, DEFAULT_TIMEOUT, AppState, VerifyRequest,
                                        validate_request, verify)


# --timeout and --pause-timeout: hours, minutes and seconds.
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(text: str) -> float:
    """Seconds in "30m", "1h30m", "90s" or a bare number of seconds."""
    if text.isdigit():
        return float(text)
    match = _DURATION.match(text)
    if not text or not match:
        raise UsageError(f"bad duration {text!r}: write it like 30m, 1h30m or 90s")
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return float(hours * 3600 + minutes * 60 + seconds)


class _ProgressLine:
    """Progress on stderr: a live status line on a terminal, one plain line per change otherwise."""

    def __init__(self, where: str) -> None:
        self._where = where
        self._last = ""
        self._status: Any = None
        if sys.stderr.isatty():
            from rich.console import Console

            self._status = Console(stderr=True).status(f"{where}: waiting")
            self._status.start()

    def __call__(self, state: AppState) -> None:
        text = state.describe()
        if self._status is not None:
            self._status.update(f"{self._where}: {text}")
        elif text != self._last:
            print(f"{self._where}: {text}", file=sys.stderr, flush=True)
        self._last = text

    def close(self) -> None:
        if self._status is not None:
            self._status.stop()


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers, "verify",
        description="Wait until the service's Argo CD Application on one EKS cluster has applied "
                    "the revision (or a later one keeping the service's files), is Healthy, its "
                    "Rollout done, and every ready pod runs the promoted digest; then set the "
                    "commit status delivery/<env>/<region> and a GitHub Deployment.")
    add_env(parser, help="environment, e.g. staging")
    parser.add_argument("--region", required=True, help="AWS region of the cluster")
    add_service(parser, help="service = Argo CD Application name")
    parser.add_argument("--revision", required=True,
                        help="GitOps repository commit to verify (hex sha)")
    add_repo(parser, help="GitOps repository URL")
    parser.add_argument("--cluster", required=True, help="EKS cluster name")
    parser.add_argument("--role-arn", help="role to assume for EKS (default: current credentials)")
    parser.add_argument("--namespace", default="argocd",
                        help="namespace of the Argo CD Applications (default: argocd)")
    parser.add_argument("--timeout", default=DEFAULT_TIMEOUT,
                        help=f"give up after this long (default: {DEFAULT_TIMEOUT})")
    parser.add_argument("--pause-timeout", default=DEFAULT_PAUSE_TIMEOUT,
                        help="fail when a canary step stays paused this long (default: "
                             f"{DEFAULT_PAUSE_TIMEOUT})")
    parser.add_argument("--promote-paused", action="store_true",
                        help="promote a paused canary step (kubectl argo rollouts promote) "
                             "instead of waiting for someone to")
    add_token_arguments(parser)
    add_github_api_argument(parser)
    parser.add_argument("--bake-minutes", type=int, metavar="N",
                        help="a bake of N minutes follows (the pipeline's on-success condition): the commit "
                             "status stays pending (verified, baking) and the verification after the bake "
                             "sets success (default: no bake, success now)")
    parser.add_argument("--details-url", default=os.environ.get("CODEBUILD_BUILD_URL"),
                        help="link of the commit status and deployment, e.g. the pipeline "
                             "execution (default: $CODEBUILD_BUILD_URL)")
    add_output(parser)
    parser.set_defaults(func=run)


def request_from_args(args: argparse.Namespace) -> VerifyRequest:
    return VerifyRequest(
        env=args.env, region=args.region, service=args.service, cluster=args.cluster,
        revision=args.revision, repo_url=args.repo, role_arn=args.role_arn,
        namespace=args.namespace, timeout_s=parse_duration(args.timeout),
        pause_timeout_s=parse_duration(args.pause_timeout), promote_paused=args.promote_paused,
        github_api_url=args.github_api_url, details_url=args.details_url, bake_minutes=args.bake_minutes)


def run(args: argparse.Namespace) -> int:
    req = request_from_args(args)
    validate_request(req)
    token = token_from_args(args)
    progress = _ProgressLine(f"{req.service} on {req.cluster}")
    try:
        result = verify(req, token=token, report=progress,
                        note=lambda text: print(f"note: {text}", file=sys.stderr, flush=True))
    finally:
        progress.close()
    if args.output == "json":
        print_json(asdict(result))
    else:
        print_line(f"{result.service} on {result.cluster} ({result.env}, {result.region}): "
                   f"{result.tag} verified at {result.revision[:12]} (synced "
                   f"{(result.synced_revision or '')[:12]}), Healthy, {result.ready_pods} ready "
                   f"pods{' on ' + result.digest if result.digest_checked else ''}, after "
                   f"{result.elapsed_s:.0f} s")
    return 0
