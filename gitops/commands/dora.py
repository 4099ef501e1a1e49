"""`gitops dora`: DORA metrics of an environment as a table or JSON, and an SVG chart."""

from __future__ import annotations

import argparse
import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gitops import output
from gitops.clients.git import GitRunner
from gitops.clients.revisions import HistoryClient
from gitops.commands import add_command
from gitops.commands.options import (add_output, add_scope_arguments, add_window_arguments,
                                     token_from_args, validate_scope, window)
from gitops.errors import GitopsError, UsageError
from gitops.governance.dora import Metrics, compute, iso_time, svg_chart
from gitops.commands.history import warn_if_missing
from gitops.governance.history import read_history


# The longest window dora reports on (its weekly series has a point per week): a century.
MAX_WINDOW = timedelta(days=36525)


def write_chart(path: Path, svg: str) -> None:
    """Write the chart whole or not at all (a temporary file beside it, renamed over it); a path
    that cannot be written is a one-line error."""
    temporary = None
    try:
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.",
                                         delete=False) as f:
            temporary = Path(f.name)
            f.write(svg)
        os.replace(temporary, path)
    except OSError as e:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        raise GitopsError(f"cannot write --svg {path}: {e.strerror or e}") from None


def _hours(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 60:.0f}m"
    if value < 48:
        return f"{value:.1f}h"
    return f"{value / 24:.1f}d"


def _row(name: str, m: Metrics) -> list[str]:
    rate = "-" if m.change_failure_rate is None else f"{m.change_failure_rate * 100:.1f}%"
    return [name, str(m.deployments), f"{m.deployments_per_week:g}", _hours(m.lead_time_median_h),
            _hours(m.lead_time_p90_h), f"{rate} ({m.failed_deployments})",
            _hours(m.time_to_restore_median_h), str(m.open_failures)]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_command(
        subparsers, "dora",
        description="DORA metrics of an environment, per service and overall, from the trailers "
                    "of the GitOps repository's history.")
    add_scope_arguments(p, env_required=True)
    add_window_arguments(p, default_since="90d")
    add_output(p)
    p.add_argument("--svg", type=Path, metavar="FILE",
                   help="also write weekly deployments and median lead time as an SVG chart")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    validate_scope(args)
    now = datetime.now(UTC)
    since, until = window(args, now)
    if until - since > MAX_WINDOW:
        raise UsageError(f"--since {args.since!r} is more than {MAX_WINDOW.days // 365} years before "
                         "--until: the metrics are weekly; give a shorter window")
    token = token_from_args(args)
    # Read to now, not to --until: a later revert or block still marks a promotion failed.
    trail = read_history(args.repo, args.branch, HistoryClient(GitRunner(token)), env=args.env,
                         service=args.service, since=since, now=now)
    warn_if_missing(trail, args.env, args.branch)
    report = compute(args.env, trail.changes, since, until)
    if args.svg:
        write_chart(args.svg, svg_chart(report))
    if args.output == "json":
        output.print_json(report.to_json())
        return 0
    rows = [_row(name, m) for name, m in report.services.items()]
    rows.append(_row("overall", report.overall))
    output.print_table(["service", "deployments", "per week", "lead time (median)", "lead time (p90)",
                        "change failure rate", "time to restore (median)", "open failures"],
                       rows, {len(rows) - 1},
                       title=f"{args.env}, {iso_time(since)} to {iso_time(until)}")
    if args.svg:
        output.print_line(f"chart written to {args.svg}")
    return 0
