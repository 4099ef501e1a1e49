"""`gitops status`: the table (or JSON object) of services × environments."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from gitops import output
from gitops.clients.git import GitClient, GitRunner
from gitops.commands import add_command
from gitops.commands.options import add_branch, add_output, add_repo, add_token_arguments, token_from_args
from gitops.governance.stack_gates import EnvironmentControls, controls
from gitops.repo.inventory import Cell, Status, collect


def to_json(status: Status, environments: list[EnvironmentControls], now: datetime) -> dict:
    return {
        "environmentControls": {c.environment: c.to_json(now) for c in environments},
        "commit": status.commit,
        "environments": status.environments,
        "services": [
            {"service": service,
             "drift": status.drift(service),
             "environments": {env: _cell_json(cells.get(env)) for env in status.environments}}
            for service, cells in status.services.items()],
    }


def _cell_json(cell: Cell | None) -> dict | None:
    if cell is None:
        return None
    if cell.image is None:
        return {"error": cell.error}
    return {"tag": cell.image.tag, "digest": cell.image.digest}


def _cell_text(cell: Cell | None) -> str:
    if cell is None:
        return "-"
    if cell.image is None:
        return "error (see below)"
    digest = f" @{cell.image.digest[7:19]}" if cell.image.digest else ""
    return f"{cell.image.tag or '(none)'}{digest}"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_command(
        subparsers, "status",
        description="Show the image tag and digest of every service in every environment "
                    "(envs/<env>/<service>/values.yaml) and mark services whose environments differ; then, per "
                    "environment, what holds promotions now: its freezes (envs/<env>/freeze.yaml) and, with "
                    "--stack, its release window, blocking alarms and bake.")
    add_repo(p, help="GitOps repository URL (or path)")
    add_branch(p, help="branch to read (default: main)")
    p.add_argument("--stack", action="append", default=[], type=Path, metavar="FILE",
                   help="a Pulumi stack file (Pulumi.<env>.yaml; repeatable): show the release window, blocking "
                        "alarms and bake it sets for its environment, beside the environment's freezes")
    add_token_arguments(p)
    add_output(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    token = token_from_args(args)
    status = collect(args.repo, args.branch, GitClient(GitRunner(token)))
    now = datetime.now(UTC)
    environments = controls(status, args.stack, now)
    if args.output == "json":
        output.print_json(to_json(status, environments, now))
        return 0
    rows, drifting = [], set()
    for i, (service, cells) in enumerate(status.services.items()):
        drift = status.drift(service)
        if drift:
            drifting.add(i)
        rows.append([service, *(_cell_text(cells.get(env)) for env in status.environments),
                     "drift" if drift else ""])
    output.print_table(["service", *status.environments, ""], rows, drifting,
                       title=f"{args.branch} at {status.commit[:12]}")
    for service, cells in status.services.items():
        for env, cell in cells.items():
            if cell.error:
                output.print_line(f"{env}/{service}: {cell.error}")
    for environment in environments:
        for line in environment.lines(now) or ["no release gate, not frozen"]:
            output.print_line(f"{environment.environment}: {line}")
    return 0
