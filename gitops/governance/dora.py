"""`gitops dora`: the four DORA delivery metrics of an environment, from the GitOps history alone.

Read from the same trail as `gitops history` (one blobless clone, one `git log`), per service and
overall, over a window [since, until):

- **deployments** and **deployment frequency**: promotions (`Delivery-Action: promote`) that
  landed on the branch in the window, per week. Reverts restore, they are not counted.
- **lead time for changes**: from the application commit's time (`Source-Commit-Time`) to the
  landing of the promotion in the environment (the commit on the branch; for a merged pull
  request, the merge). Median and 90th percentile; promotions without a valid source time (or
  with one after the landing) have none.
- **change failure rate**: failed promotions / promotions. A promotion failed when it was later
  reverted (the next revert of the service while it was the live version) or its digest was
  blocked in the environment (`Delivery-Action: block` naming it), at any time up to now.
- **time to restore**: from a failed promotion landing to the next change of the service that
  is not a failed promotion (its revert, or a promotion that was not reverted or blocked).
  Back-to-back failed promotions are one outage. Median; failures not restored yet are counted
  as open.

All times are UTC; weeks start on Monday 00:00 UTC. `--svg` draws weekly deployments (bars) and
median lead time (line) as a standalone SVG file, with no browser or plotting library.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape

from gitops.governance.history import Change

HOUR = 3600.0


@dataclass
class Deployment:
    change: Change
    failed_by: str | None = None      # "revert <sha>" or "block <sha>"

    @property
    def lead_time_h(self) -> float | None:
        source = self.change.source_time
        if source is None or source > self.change.landed_at:
            return None
        return (self.change.landed_at - source).total_seconds() / HOUR


@dataclass(frozen=True)
class Metrics:
    deployments: int
    deployments_per_week: float
    lead_time_median_h: float | None
    lead_time_p90_h: float | None
    lead_time_samples: int
    failed_deployments: int
    change_failure_rate: float | None
    restores: int
    time_to_restore_median_h: float | None
    open_failures: int


@dataclass(frozen=True)
class Week:
    start: str                        # Monday, YYYY-MM-DD
    deployments: int
    lead_time_median_h: float | None


@dataclass
class Report:
    env: str
    since: datetime
    until: datetime
    overall: Metrics
    services: dict[str, Metrics]
    weeks: list[Week] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"env": self.env, "since": iso_time(self.since), "until": iso_time(self.until),
                "overall": asdict(self.overall),
                "services": {name: asdict(m) for name, m in self.services.items()},
                "weeks": [asdict(w) for w in self.weeks]}


def iso_time(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def compute(env: str, changes: list[Change], since: datetime, until: datetime) -> Report:
    """The metrics of `env` over [since, until) from its changes, oldest first. `changes` should
    run past `until` (to now), so that later reverts and blocks mark earlier promotions failed."""
    by_service: dict[str, list[Change]] = {}
    for change in changes:
        if change.service and change.action in ("promote", "revert", "block"):
            by_service.setdefault(change.service, []).append(change)
    deployments: dict[str, list[Deployment]] = {}
    outages: dict[str, list[tuple[datetime, datetime | None]]] = {}
    for service, timeline in by_service.items():
        deployments[service] = _mark_failures(timeline)
        outages[service] = _outages(timeline, deployments[service])

    def inside(when: datetime) -> bool:
        return since <= when < until

    in_window = {s: [d for d in ds if inside(d.change.landed_at)] for s, ds in deployments.items()}
    outages_in_window = {s: [o for o in os if inside(o[0])] for s, os in outages.items()}
    services = {s: _metrics(in_window[s], outages_in_window[s], since, until)
                for s in sorted(by_service) if in_window[s] or outages_in_window[s]}
    overall = _metrics([d for ds in in_window.values() for d in ds],
                       [o for os in outages_in_window.values() for o in os], since, until)
    return Report(env, since, until, overall, services,
                  _weeks([d for ds in in_window.values() for d in ds], since, until))


def _mark_failures(timeline: list[Change]) -> list[Deployment]:
    """The service's promotions, each marked failed when a later revert undid it while it was
    live, or a later block named its digest."""
    deployments: list[Deployment] = []
    live: Deployment | None = None
    for change in timeline:
        if change.action == "promote":
            live = Deployment(change)
            deployments.append(live)
        elif change.action == "revert":
            if live is not None and live.failed_by is None:
                live.failed_by = f"revert {change.commit}"
            live = None
        elif change.digest:  # block
            for d in deployments:
                if d.change.digest == change.digest and d.failed_by is None:
                    d.failed_by = f"block {change.commit}"
    return deployments


def _outages(timeline: list[Change], deployments: list[Deployment]) -> list[tuple[datetime, datetime | None]]:
    """(start, restored at or None) of each outage: from a failed promotion to the next change
    that is not one (a revert or a good promotion)."""
    failed = {id(d.change) for d in deployments if d.failed_by}
    outages: list[tuple[datetime, datetime | None]] = []
    start: datetime | None = None
    for change in timeline:
        if change.action == "block":
            continue
        if change.action == "promote" and id(change) in failed:
            start = start or change.landed_at
        elif start is not None:
            outages.append((start, change.landed_at))
            start = None
    if start is not None:
        outages.append((start, None))
    return outages


def _metrics(deployments: list[Deployment], outages: list[tuple[datetime, datetime | None]],
             since: datetime, until: datetime) -> Metrics:
    weeks = (until - since).total_seconds() / (7 * 24 * HOUR)
    leads = sorted(t for t in (d.lead_time_h for d in deployments) if t is not None)
    failed = sum(1 for d in deployments if d.failed_by)
    restores = [(end - start).total_seconds() / HOUR for start, end in outages if end is not None]
    return Metrics(
        deployments=len(deployments),
        deployments_per_week=round(len(deployments) / weeks, 3) if weeks > 0 else 0.0,
        lead_time_median_h=_round(statistics.median(leads)) if leads else None,
        lead_time_p90_h=_round(_nearest_rank(leads, 0.9)) if leads else None,
        lead_time_samples=len(leads),
        failed_deployments=failed,
        change_failure_rate=round(failed / len(deployments), 4) if deployments else None,
        restores=len(restores),
        time_to_restore_median_h=_round(statistics.median(restores)) if restores else None,
        open_failures=sum(1 for _, end in outages if end is None))


def _nearest_rank(ordered: list[float], quantile: float) -> float:
    return ordered[max(0, math.ceil(quantile * len(ordered)) - 1)]


def _round(hours: float) -> float:
    return round(hours, 3)


def _weeks(deployments: Iterable[Deployment], since: datetime, until: datetime) -> list[Week]:
    """One entry per week (Monday 00:00 UTC) overlapping the window, empty weeks included."""
    first = (since.astimezone(UTC) - timedelta(days=since.astimezone(UTC).weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0)
    buckets: dict[datetime, list[Deployment]] = {}
    start = first
    while start < until:
        buckets[start] = []
        start += timedelta(days=7)
    for d in deployments:
        landed = d.change.landed_at.astimezone(UTC)
        monday = (landed - timedelta(days=landed.weekday())).replace(hour=0, minute=0, second=0,
                                                                     microsecond=0)
        buckets[monday].append(d)
    weeks = []
    for monday, ds in buckets.items():
        leads = [t for t in (d.lead_time_h for d in ds) if t is not None]
        weeks.append(Week(monday.date().isoformat(), len(ds),
                          _round(statistics.median(leads)) if leads else None))
    return weeks


# --- The chart ----------------------------------------------------------------------------------

_W, _H = 760, 320
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 64, 40, 56


def svg_chart(report: Report) -> str:
    """Weekly deployments (bars, left axis) and median lead time in hours (line, right axis)."""
    weeks = report.weeks
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    slot = plot_w / max(1, len(weeks))
    max_deploys = _nice_max(max((w.deployments for w in weeks), default=0))
    max_lead = _nice_max(max((w.lead_time_median_h or 0 for w in weeks), default=0))
    base = _TOP + plot_h
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" '
        f'viewBox="0 0 {_W} {_H}" font-family="sans-serif" font-size="11">',
        f'<title>{escape(f"{report.env}: weekly deployments and median lead time")}</title>',
        f'<rect width="{_W}" height="{_H}" fill="#ffffff"/>',
        f'<text x="{_LEFT}" y="22" font-size="14" font-weight="bold">'
        f'{escape(report.env)}: deployments per week and median lead time, '
        f'{escape(iso_time(report.since)[:10])} to {escape(iso_time(report.until)[:10])}</text>',
        f'<line x1="{_LEFT}" y1="{base}" x2="{_LEFT + plot_w}" y2="{base}" stroke="#444"/>',
    ]
    for i in range(5):
        fraction = i / 4
        y = base - fraction * plot_h
        parts.append(f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{_LEFT + plot_w}" y2="{y:.1f}" '
                     f'stroke="#ddd"/>')
        parts.append(f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#1f77b4">'
                     f'{_label(max_deploys * fraction)}</text>')
        parts.append(f'<text x="{_LEFT + plot_w + 6}" y="{y + 4:.1f}" fill="#d62728">'
                     f'{_label(max_lead * fraction)}h</text>')
    label_every = max(1, math.ceil(len(weeks) / 12))
    points = []
    for i, week in enumerate(weeks):
        x = _LEFT + i * slot
        height = plot_h * week.deployments / max_deploys if max_deploys else 0
        parts.append(f'<rect class="deployments" x="{x + slot * 0.15:.1f}" y="{base - height:.1f}" '
                     f'width="{slot * 0.7:.1f}" height="{height:.1f}" fill="#1f77b4">'
                     f'<title>week of {week.start}: {week.deployments} deployments</title></rect>')
        if week.lead_time_median_h is not None:
            points.append((x + slot / 2, base - plot_h * week.lead_time_median_h / max_lead
                           if max_lead else base, week))
        if i % label_every == 0:
            parts.append(f'<text x="{x + slot / 2:.1f}" y="{base + 16}" text-anchor="middle">'
                         f'{week.start[5:]}</text>')
    if len(points) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="#d62728" stroke-width="2"/>')
    for x, y, week in points:
        parts.append(f'<circle class="lead-time" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#d62728">'
                     f'<title>week of {week.start}: median lead time {week.lead_time_median_h} h'
                     f'</title></circle>')
    parts += [
        f'<text x="{_LEFT}" y="{_H - 14}" fill="#1f77b4">■ deployments per week (left)</text>',
        f'<text x="{_LEFT + 220}" y="{_H - 14}" fill="#d62728">● median lead time, hours (right)</text>',
        "</svg>",
    ]
    return "\n".join(parts) + "\n"


def _nice_max(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^n at or above `value` (an axis that reads easily)."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= value)


def _label(value: float) -> str:
    return f"{value:g}" if value == int(value) else f"{value:.1f}"
