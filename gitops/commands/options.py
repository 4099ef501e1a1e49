"""The options the commands share, each defined once, and the parsers of their values.

A command adds the options it takes in the order its usage line shows them; an option's help
differs between commands only where its meaning does (`--env` of `verify` is the cluster's
environment, of `promote` a directory under envs/).
"""

from __future__ import annotations

import argparse
import os
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from gitops.clients.credentials import load_token
from gitops.clients.git import Identity, refuse_credentials
from gitops.clients.push import DEFAULT_AUTHOR, DEFAULT_MAX_ATTEMPTS
from gitops.errors import UsageError
from gitops.promotion.soak import MAX_SOAK_MINUTES
from gitops.governance.times import parse_time
from gitops.repo.layout import check_name

REPO_HELP = "GitOps repository URL (no credentials in it)"
BRANCH_HELP = "branch Argo CD follows (default: main)"
ENV_HELP = "environment directory under envs/"
SERVICE_HELP = "service directory under envs/<env>/"
_AUTHOR = re.compile(r"\s*([^<>\n]+?)\s*<([^<>\s]+@[^<>\s]+)>\s*")
_UTC = ZoneInfo("UTC")


def add_repo(parser: argparse.ArgumentParser, help: str = REPO_HELP) -> None:
    parser.add_argument("--repo", required=True, type=_repository, help=help)


def _repository(url: str) -> str:
    """`--repo` is refused with credentials in it by every command, before anything connects."""
    try:
        refuse_credentials(url)
    except UsageError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return url


def add_branch(parser: argparse.ArgumentParser, help: str = BRANCH_HELP) -> None:
    parser.add_argument("--branch", default="main", help=help)


def add_env(parser: argparse.ArgumentParser, help: str = ENV_HELP, required: bool = True) -> None:
    parser.add_argument("--env", required=required, help=help)


def add_service(parser: argparse.ArgumentParser, help: str = SERVICE_HELP,
                required: bool = True) -> None:
    parser.add_argument("--service", required=required, help=help)


def add_reason(parser: argparse.ArgumentParser, help: str, required: bool = True) -> None:
    parser.add_argument("--reason", required=required, help=help)


def add_output(parser: argparse.ArgumentParser, choices: tuple[str, ...] = ("text", "json")) -> None:
    """`--output`; its help says what each of `choices` is, in the CLI's words (gitops.cli.OUTPUT_FORMATS)."""
    parser.add_argument("--output", choices=choices, default="text")


def add_token_arguments(parser: argparse.ArgumentParser) -> None:
    """`--token-env VAR | --token-secret SECRET_ID`, the forge token of every command that needs one."""
    token = parser.add_mutually_exclusive_group()
    token.add_argument("--token-env", metavar="VAR", help="environment variable holding the forge token "
                       "(when unset: the secret whose ARN is in VAR_SECRET_ARN)")
    token.add_argument("--token-secret", metavar="SECRET_ID",
                       help="Secrets Manager secret id/ARN holding the forge token")


def add_github_api_argument(parser: argparse.ArgumentParser) -> None:
    """`--github-api-url`, for the commands that talk to GitHub's API (a GitHub Enterprise host, a test server)."""
    parser.add_argument("--github-api-url", default=os.environ.get("GITHUB_API_URL"),
                        help="GitHub API base (default: $GITHUB_API_URL, else derived from --repo)")


def add_writer_arguments(parser: argparse.ArgumentParser, *, author_help: str = "commit author") -> None:
    """`--author` and `--max-attempts`, of every command that pushes a commit."""
    parser.add_argument("--author", default=str(DEFAULT_AUTHOR),
                        help=f'{author_help} "Name <email>" (default: {DEFAULT_AUTHOR})')
    parser.add_argument("--max-attempts", type=int, default=DEFAULT_MAX_ATTEMPTS,
                        help=f"pushes tried while the branch keeps moving (default: {DEFAULT_MAX_ATTEMPTS})")


def add_scope_arguments(parser: argparse.ArgumentParser, env_required: bool) -> None:
    """The repository, branch, environment and service a history reader looks at."""
    add_repo(parser, help="GitOps repository URL (or path)")
    add_branch(parser)
    add_env(parser, required=env_required,
            help=ENV_HELP + ("" if env_required else " (default: every one)"))
    add_service(parser, required=False, help="one service only (default: every one)")
    add_token_arguments(parser)


def add_window_arguments(parser: argparse.ArgumentParser, default_since: str | None) -> None:
    """`--since` and `--until`: an ISO 8601 time (UTC without an offset) or a duration back from
    now (90d, 12w, 24h)."""
    parser.add_argument("--since", default=default_since,
                        help="start: ISO 8601 (UTC without offset) or a duration back from now, "
                             f"e.g. 90d, 12w (default: {default_since or 'the whole history'})")
    parser.add_argument("--until", help="end, in the same forms (default: now)")


def token_from_args(args: argparse.Namespace) -> str | None:
    """The token `add_token_arguments` asked for, or None."""
    return load_token(token_env=args.token_env, token_secret=args.token_secret)


def parse_author(text: str) -> Identity:
    """`--author "Name <email>"`."""
    match = _AUTHOR.fullmatch(text)
    if not match:
        raise UsageError(f'--author {text!r} is not "Name <email>"')
    return Identity(match[1], match[2])


def validate_scope(args: argparse.Namespace) -> None:
    check_name("--env", args.env)
    check_name("--service", args.service)


def window(args: argparse.Namespace, now: datetime) -> tuple[datetime | None, datetime]:
    """The `--since`/`--until` window of `add_window_arguments`, read back from `now`."""
    until = parse_time(args.until, now=now, zone=_UTC, flag="--until", past=True) if args.until else now
    since = (parse_time(args.since, now=until, zone=_UTC, flag="--since", past=True)
             if args.since else None)
    if since is not None and since >= until:
        raise UsageError(f"--since {args.since!r} is not before --until")
    return since, until


# A region name as AWS spells them (us-east-1, ap-southeast-2, us-gov-west-1).
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")


def add_proof_arguments(parser: argparse.ArgumentParser) -> None:
    """`--upstream-regions` and `--soak-minutes`: what the upstream's proof of an image must hold
    (gitops.promotion.proof), for `proof` and `promote`."""
    parser.add_argument("--upstream-regions", metavar="REGION[,REGION…]",
                        help="regions of the upstream environment whose verification must have succeeded, "
                             "besides every region that reported one (default: those only)")
    parser.add_argument("--soak-minutes", metavar="N", type=int, default=0,
                        help="minutes the newest of those verifications must be old (default: 0)")


def proof_options(args: argparse.Namespace) -> tuple[tuple[str, ...], timedelta]:
    """The regions and soak `add_proof_arguments` asked for."""
    regions = tuple(r.strip() for r in (args.upstream_regions or "").split(",") if r.strip())
    bad = next((r for r in regions if not _REGION.fullmatch(r)), None)
    if bad is not None:
        raise UsageError(f"--upstream-regions: {bad!r} is not a region name such as us-east-1")
    if not 0 <= args.soak_minutes <= MAX_SOAK_MINUTES:
        raise UsageError(f"--soak-minutes {args.soak_minutes}: give 0 to {MAX_SOAK_MINUTES} (a week)")
    return regions, timedelta(minutes=args.soak_minutes)
