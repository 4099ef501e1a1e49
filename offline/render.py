"""Human output of an offline plan: the resource tree, a Mermaid diagram per pipeline, the stack
outputs, a summary.

On a terminal the tree and tables use rich; otherwise (CI logs, pipes) plain indented lines, so the
output stays greppable. A tree line is `<type>  <logical name> (<physical name>)  [<where>]`: the
physical name when the service's differs from the logical one, and where it lands, an AWS
`account/region` or, for Kubernetes objects, the cluster of their provider. Diagrams are Mermaid
text built from each registered `aws:codepipeline/pipeline:Pipeline`'s inputs: what CodePipeline
will be given, not a model of it.
"""

from __future__ import annotations

import re
import textwrap
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Iterable
from xml.sax.saxutils import escape as xml_escape

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree
import yaml

from offline.model import Plan, PlannedResource

PIPELINE_TYPE = "aws:codepipeline/pipeline:Pipeline"


# ----------------------------------------------------------------------------------------------
# Resource tree


_EKS_CLUSTER_ARN = re.compile(r"^arn:aws[a-z-]*:eks:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):cluster/(?P<name>.+)$")


def _cluster_of_provider(inputs: dict[str, Any]) -> str | None:
    """Which cluster a `pulumi:providers:kubernetes` talks to, from its inputs: the EKS cluster ARN
    of `clusterIdentifier`, else the cluster of the kubeconfig's current context."""
    match = _EKS_CLUSTER_ARN.match(str(inputs.get("clusterIdentifier") or ""))
    if match:
        return f"cluster {match['name']} {match['account']}/{match['region']}"
    try:
        config = yaml.safe_load(str(inputs.get("kubeconfig") or ""))  # JSON or YAML; "[secret]" when secret
    except yaml.YAMLError:
        return None
    if not isinstance(config, dict):
        return None
    contexts = {c.get("name"): c.get("context") or {} for c in config.get("contexts") or [] if isinstance(c, dict)}
    cluster = contexts.get(config.get("current-context"), {}).get("cluster")
    return f"cluster {cluster}" if isinstance(cluster, str) and cluster else None


def kubernetes_clusters(plan: Plan) -> dict[str, str]:
    """Kubernetes provider URN -> the cluster it talks to (providers whose cluster the plan can tell)."""
    clusters = {}
    for resource in plan.resources:
        if resource.type == "pulumi:providers:kubernetes":
            cluster = _cluster_of_provider(resource.inputs)
            if cluster:
                clusters[resource.urn] = cluster
    return clusters


def _where(resource: PlannedResource, clusters: dict[str, str]) -> str:
    if resource.type.startswith("kubernetes:") or resource.type == "pulumi:providers:kubernetes":
        cluster = clusters.get(resource.provider or "") or clusters.get(resource.urn)
        return f"[{cluster}]" if cluster else ""
    if resource.account is None and resource.region is None:
        return ""
    return f"[{resource.account}/{resource.region}]"


# The output that holds a resource's name in its service, where it is not `name`.
_NAME_OUTPUT = {"aws:s3/bucket:Bucket": "bucket", "aws:s3/bucketObjectv2:BucketObjectv2": "key",
                "aws:kms/key:Key": "keyId"}


def physical_name(resource: PlannedResource) -> str | None:
    """The name the resource has in its service when it differs from the logical name: its `name`
    output (`bucket`, `key`, `keyId` for the types of _NAME_OUTPUT), `<namespace>/<name>` for a
    Kubernetes object, the stack a StackReference reads. None for components, providers and
    resources without a name of their own (a bucket's versioning is identified by the bucket's)."""
    if not resource.custom:
        return None
    if resource.type.startswith("kubernetes:"):
        physical = resource.id
    else:
        physical = resource.outputs.get(_NAME_OUTPUT.get(resource.type, "name"))
    if not isinstance(physical, str) or not physical or physical == resource.name:
        return None
    return physical


def _line(resource: PlannedResource, clusters: dict[str, str]) -> str:
    physical = physical_name(resource)
    name = f"{resource.name} ({physical})" if physical else resource.name
    return "  ".join(part for part in (resource.type, name, _where(resource, clusters)) if part)


def _children(plan: Plan) -> tuple[list[PlannedResource], dict[str, list[PlannedResource]]]:
    urns = {r.urn for r in plan.resources}
    children: dict[str, list[PlannedResource]] = defaultdict(list)
    top = []
    for resource in plan.resources:
        # Parents outside the plan (the root stack) make a resource top-level.
        if resource.parent in urns:
            children[resource.parent].append(resource)
        else:
            top.append(resource)
    order = lambda r: (r.custom, r.type, r.name)  # components first, then by type  # noqa: E731
    for siblings in children.values():
        siblings.sort(key=order)
    return sorted(top, key=order), children


def gate_lines(resource: PlannedResource) -> list[str]:
    """A pipeline's stage conditions, one line each (`gate <stage> <kind>: <rules>`), for the tree."""
    if resource.type != PIPELINE_TYPE:
        return []
    lines = []
    for stage in resource.inputs.get("stages") or []:
        for kind, _ in CONDITION_KINDS:
            head, *rules = condition_lines(stage, kind) or [""]
            if rules:
                lines.append(f"gate {stage.get('name', '?')} {head}: {'; '.join(rules)}")
    return lines


def tree_lines(plan: Plan) -> list[str]:
    """The tree as plain text: one resource per line, children indented under their component."""
    top, children = _children(plan)
    clusters = kubernetes_clusters(plan)
    lines = [f"{plan.project}/{plan.stack}"]

    def walk(resources: list[PlannedResource], depth: int) -> None:
        for resource in resources:
            lines.append("  " * depth + _line(resource, clusters))
            lines.extend("  " * (depth + 1) + gate for gate in gate_lines(resource))
            walk(children.get(resource.urn, []), depth + 1)

    walk(top, 1)
    return lines


def _rich_tree(plan: Plan) -> Tree:
    top, children = _children(plan)
    clusters = kubernetes_clusters(plan)
    root = Tree(f"[bold]{plan.project}/{plan.stack}[/]")

    def walk(node: Tree, resources: list[PlannedResource]) -> None:
        for resource in resources:
            # Components in bold; names and [where] escaped so rich does not read them as markup.
            kind = f"[bold]{escape(resource.type)}[/]" if not resource.custom else escape(resource.type)
            where, physical = _where(resource, clusters), physical_name(resource)
            label = (f"{kind}  {escape(resource.name)}" + (f" ({escape(physical)})" if physical else "")
                     + (f"  [dim]{escape(where)}[/]" if where else ""))
            branch = node.add(label)
            for gate in gate_lines(resource):
                branch.add(f"[yellow]{escape(gate)}[/]")
            walk(branch, children.get(resource.urn, []))

    walk(root, top)
    return root


# ----------------------------------------------------------------------------------------------
# Pipeline diagrams (Mermaid)


def _label(*lines: str) -> str:
    # Mermaid label text: '#' starts an entity, so it is escaped first; quotes and angle brackets
    # would end the label or read as HTML.
    escaped = []
    for line in lines:
        for char, entity in (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
            line = line.replace(char, entity)
        escaped.append(line)
    return '"' + "<br/>".join(escaped) + '"'


def _no_trigger(inputs: dict[str, Any]) -> list[str]:
    """What starts a pipeline without triggers whose source detects no changes: only the API (an
    EventBridge rule of the stack, a person); empty for any other pipeline."""
    sources = [action for stage in inputs.get("stages") or [] for action in stage.get("actions") or []
               if action.get("category") == "Source"]
    if inputs.get("triggers") or not any((a.get("configuration") or {}).get("DetectChanges") == "false"
                                         for a in sources):
        return []
    return ["no trigger: pushes start nothing (DetectChanges false)",
            "started by StartPipelineExecution (an EventBridge rule)"]


def _filters(trigger: dict[str, Any]) -> list[str]:
    lines = [f"trigger: {trigger.get('providerType', '?')}"]
    git = trigger.get("gitConfiguration") or {}
    if git.get("sourceActionName"):
        lines.append(f"on action {git['sourceActionName']}")
    for event in ("pushes", "pullRequests"):
        for entry in git.get(event) or []:
            parts = []
            for kind in ("branches", "filePaths", "tags"):
                spec = entry.get(kind) or {}
                if spec.get("includes"):
                    parts.append(f"{kind}: {', '.join(spec['includes'])}")
                if spec.get("excludes"):
                    parts.append(f"{kind} not: {', '.join(spec['excludes'])}")
            if entry.get("events"):
                parts.append(f"events: {', '.join(entry['events'])}")
            lines.append(f"{event}: " + ("; ".join(parts) or "any"))
    return lines


def action_lines(action: dict[str, Any], pipeline_region: str | None) -> list[str]:
    """What a diagram says of an action: name, type, region when not the pipeline's, namespace."""
    lines = [str(action.get("name", "?")), f"{action.get('category', '?')}: {action.get('provider', '?')}"]
    region = action.get("region")
    if region and region != pipeline_region:
        lines.append(f"region: {region}")
    if action.get("namespace"):
        lines.append(f"vars: {action['namespace']}")
    return lines


# A stage's conditions as registered (pulumi's camelCase inputs) and how the diagrams name them.
CONDITION_KINDS = (("beforeEntry", "entry"), ("onSuccess", "on success"))


def condition_lines(stage: dict[str, Any], kind: str) -> list[str]:
    """What a diagram says of a stage's condition of this kind: its result, then one line per rule
    (a window's cron and zone, an alarm and the wait it watches for)."""
    condition = (stage.get(kind) or {}).get("condition") or {}
    rules = condition.get("rules") or []
    if not rules:
        return []
    label = dict(CONDITION_KINDS)[kind]
    lines = [f"{label}: all pass, else {str(condition.get('result', '?')).lower()}"]
    for rule in rules:
        provider = (rule.get("ruleTypeId") or {}).get("provider", "?")
        config = rule.get("configuration") or {}
        if provider == "DeploymentWindow":
            lines.append(f"window {config.get('Cron', '?')} {config.get('TimeZone', 'UTC')}, waits for it")
        elif provider == "CloudWatchAlarm":
            wait = f" for {config['WaitTime']}m" if config.get("WaitTime") else ""
            region = f" ({rule['region']})" if rule.get("region") else ""
            lines.append(f"alarm {config.get('AlarmName', '?')}{region} not in ALARM{wait}")
        else:
            lines.append(f"{provider} {rule.get('name', '?')}")
    return lines


def run_order_groups(stage: dict[str, Any]) -> list[tuple[int, list[tuple[int, dict[str, Any]]]]]:
    """A stage's actions as (runOrder, [(index, action)]) in run order: a group runs in parallel."""
    groups: dict[int, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for a, action in enumerate(stage.get("actions") or []):
        groups[int(action.get("runOrder") or 1)].append((a, action))
    return sorted(groups.items())


def _action_label(action: dict[str, Any], pipeline_region: str | None) -> str:
    return _label(*action_lines(action, pipeline_region))


def pipeline_diagram(pipeline: PlannedResource) -> str:
    """Mermaid flowchart of one pipeline: trigger, stages left to right, actions grouped by runOrder.

    Actions sharing a runOrder sit in one box (they run in parallel); boxes of one stage follow each
    other in runOrder. An action's region is shown when it is not the pipeline's.
    """
    inputs = pipeline.inputs
    name = str(inputs.get("name") or pipeline.name)
    lines = ["flowchart LR", f"  %% {name} ({pipeline.account}/{pipeline.region})"]
    stage_ids = []
    for s, stage in enumerate(inputs.get("stages") or []):
        stage_id = f"S{s}"
        stage_ids.append(stage_id)
        lines.append(f"  subgraph {stage_id}[{_label(str(stage.get('name', '?')))}]")
        lines.append("    direction LR")
        group_ids = []
        for run_order, group in run_order_groups(stage):
            group_id = f"{stage_id}R{run_order}"
            group_ids.append(group_id)
            parallel = " (parallel)" if len(group) > 1 else ""
            lines.append(f"    subgraph {group_id}[{_label(f'runOrder {run_order}{parallel}')}]")
            lines.append("      direction TB")
            for a, action in group:
                lines.append(f"      {stage_id}A{a}[{_action_label(action, pipeline.region)}]")
            lines.append("    end")
        entry, on_success = (condition_lines(stage, kind) for kind, _ in CONDITION_KINDS)
        if entry:
            group_ids.insert(0, f"{stage_id}E")
            lines.append(f"    {stage_id}E{{{{{_label(*entry)}}}}}")
        if on_success:
            group_ids.append(f"{stage_id}K")
            lines.append(f"    {stage_id}K{{{{{_label(*on_success)}}}}}")
        for before, after in zip(group_ids, group_ids[1:]):
            lines.append(f"    {before} --> {after}")
        lines.append("  end")
    starts = [_filters(trigger) for trigger in inputs.get("triggers") or []] or \
        ([_no_trigger(inputs)] if _no_trigger(inputs) else [])
    for t, start in enumerate(starts):
        lines.append(f"  T{t}([{_label(*start)}])")
        if stage_ids:
            lines.append(f"  T{t} --> {stage_ids[0]}")
    for before, after in zip(stage_ids, stage_ids[1:]):
        lines.append(f"  {before} --> {after}")
    return "\n".join(lines) + "\n"


def pipelines(plan: Plan) -> list[PlannedResource]:
    return [r for r in plan.resources if r.type == PIPELINE_TYPE]


def write_diagrams(plan: Plan, directory: Path) -> list[Path]:
    """`<pipeline name>.mmd` (Mermaid) and `<pipeline name>.svg` (an image) per pipeline in
    `directory`; returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for pipeline in pipelines(plan):
        stem = re.sub(r"[^A-Za-z0-9._-]", "_", str(pipeline.inputs.get("name") or pipeline.name))
        for suffix, text in ((".mmd", pipeline_diagram(pipeline)), (".svg", pipeline_svg(pipeline))):
            path = directory / f"{stem}{suffix}"
            path.write_text(text)
            written.append(path)
    return written


# ----------------------------------------------------------------------------------------------
# The same diagram as an image (SVG, drawn here: no renderer to install)

_STAGE_WIDTH, _GAP, _MARGIN, _LINE = 250, 46, 20, 15
# Characters of 12px Helvetica that fit a condition box (about 6.5px each).
_CONDITION_CHARS = 36
_FONT = 'font-family="Helvetica, Arial, sans-serif" font-size="12"'


def _text(x: float, y: float, lines: list[str], *, bold_first: bool = False, anchor: str = "start") -> str:
    spans = []
    for i, line in enumerate(lines):
        weight = ' font-weight="bold"' if bold_first and i == 0 else ""
        spans.append(f'<tspan x="{x}" dy="{_LINE if i else 0}"{weight}>{xml_escape(line)}</tspan>')
    return f'<text x="{x}" y="{y}" {_FONT} text-anchor="{anchor}">{"".join(spans)}</text>'


def _condition_box(boxes: list[str], x: float, y: float, lines: list[str]) -> float:
    """A stage condition drawn as a box of its own (amber), at `y`; returns where the next item goes."""
    if not lines:
        return y
    # Condition lines are longer than action lines: wrapped to the stage's width.
    lines = [part for line in lines for part in textwrap.wrap(line, _CONDITION_CHARS, subsequent_indent="  ")]
    height = _LINE * len(lines) + 12
    boxes.append(f'<rect x="{x + 4}" y="{y}" width="{_STAGE_WIDTH - 8}" height="{height}" rx="10" '
                 f'fill="#fdf1d6" stroke="#b7791f"/>')
    boxes.append(_text(x + 12, y + 17, lines, bold_first=True))
    return y + height + 10


def pipeline_svg(pipeline: PlannedResource) -> str:
    """One pipeline as an SVG image: stages left to right, each run-order group a box (its actions
    run in parallel), cross-region actions marked, the trigger and its filters above."""
    inputs = pipeline.inputs
    name = str(inputs.get("name") or pipeline.name)
    stages = inputs.get("stages") or []
    header = [f"{name}  ({pipeline.account}/{pipeline.region})"]
    for trigger in inputs.get("triggers") or []:
        header += _filters(trigger)
    header += _no_trigger(inputs)
    top = _MARGIN + _LINE * len(header) + 20
    body: list[str] = [_text(_MARGIN, _MARGIN + 12, header, bold_first=True)]
    bottom = top
    for s, stage in enumerate(stages):
        x = _MARGIN + s * (_STAGE_WIDTH + _GAP)
        y = top + 34
        boxes: list[str] = []
        entry, on_success = (condition_lines(stage, kind) for kind, _ in CONDITION_KINDS)
        y = _condition_box(boxes, x, y, entry)
        for run_order, group in run_order_groups(stage):
            label = f"runOrder {run_order}" + (" (parallel)" if len(group) > 1 else "")
            group_top = y
            y += 24
            for _, action in group:
                lines = action_lines(action, pipeline.region)
                height = _LINE * len(lines) + 12
                cross_region = any(line.startswith("region: ") for line in lines)
                fill = "#fff4e0" if cross_region else "#ffffff"
                boxes.append(f'<rect x="{x + 10}" y="{y}" width="{_STAGE_WIDTH - 20}" height="{height}" '
                             f'rx="4" fill="{fill}" stroke="#5b6770"/>')
                boxes.append(_text(x + 18, y + 17, lines, bold_first=True))
                y += height + 8
            boxes.insert(0, f'<rect x="{x + 4}" y="{group_top}" width="{_STAGE_WIDTH - 8}" '
                            f'height="{y - group_top}" rx="4" fill="#eef3f8" stroke="#9fb3c8" stroke-dasharray="4 3"/>')
            boxes.insert(1, _text(x + 10, group_top + 16, [label]))
            y += 10
        y = _condition_box(boxes, x, y, on_success)
        body.append(f'<rect x="{x}" y="{top}" width="{_STAGE_WIDTH}" height="{y - top}" rx="6" '
                    f'fill="#f7f9fb" stroke="#33414d"/>')
        body.append(_text(x + _STAGE_WIDTH / 2, top + 22, [str(stage.get("name", "?"))], bold_first=True,
                          anchor="middle"))
        body += boxes
        if s:
            arrow_y = top + 18
            body.append(f'<line x1="{x - _GAP + 4}" y1="{arrow_y}" x2="{x - 6}" y2="{arrow_y}" '
                        f'stroke="#33414d" stroke-width="2" marker-end="url(#arrow)"/>')
        bottom = max(bottom, y)
    width = _MARGIN * 2 + max(1, len(stages)) * (_STAGE_WIDTH + _GAP) - _GAP
    height = bottom + _MARGIN
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}">\n'
            '<defs><marker id="arrow" markerWidth="8" markerHeight="8" refX="7" refY="4" orient="auto">'
            '<path d="M0,0 L8,4 L0,8 z" fill="#33414d"/></marker></defs>\n'
            f'<rect width="{width}" height="{height}" fill="#ffffff"/>\n'
            + "\n".join(body) + "\n</svg>\n")


# ----------------------------------------------------------------------------------------------
# Summary and violations


def _top_components(plan: Plan) -> dict[str, str]:
    """URN -> the type of the top-level component the resource belongs to (itself for one)."""
    by_urn = {r.urn: r for r in plan.resources}
    owner: dict[str, str] = {}
    for resource in plan.resources:
        top, node = None, resource
        while node is not None:
            if not node.custom:
                top = node.type
            node = by_urn.get(node.parent or "")
        owner[resource.urn] = top or "(no component)"
    return owner


def summary_counts(plan: Plan) -> dict[str, Counter]:
    """Counts by component (the resources each top-level component type holds, nested components'
    included), by type, and by the account and region the resources land in."""
    placed = [r for r in plan.resources if r.custom]
    owner = _top_components(plan)
    return {
        "component": Counter(owner[r.urn] for r in placed),
        "type": Counter(r.type for r in plan.resources),
        "account": Counter(r.account or "-" for r in placed),
        "region": Counter(r.region or "-" for r in placed),
    }


def summary_lines(plan: Plan) -> list[str]:
    components = sum(1 for r in plan.resources if not r.custom)
    lines = [f"{len(plan.resources)} resources ({components} components) in {plan.project}/{plan.stack}"]
    for title, counts in summary_counts(plan).items():
        lines.append(f"by {title}:")
        lines.extend(f"  {count:5d}  {key}" for key, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return lines


def output_lines(plan: Plan) -> list[str]:
    """The stack outputs as YAML (secrets already "[secret]")."""
    if not plan.outputs:
        return ["outputs: none"]
    text = yaml.safe_dump(plan.outputs, default_flow_style=False, sort_keys=True, width=1_000_000)
    return ["outputs:"] + ["  " + line for line in text.splitlines()]


def violation_lines(violations: Iterable[Any]) -> list[str]:
    lines = []
    for v in violations:
        lines.append(f"[{getattr(v, 'enforcement', '?')}] {getattr(v, 'policy', '?')}: "
                     f"{getattr(v, 'type', '')} {getattr(v, 'name', '')}: {getattr(v, 'message', '')}")
        if getattr(v, "fix", None):
            lines.append(f"    fix: {v.fix}")
    return lines


def print_plan(plan: Plan, console: Console | None = None, *, summary: bool = False,
               diagrams: bool = True) -> None:
    """Tree, one Mermaid diagram per pipeline, the stack outputs, the counts and (when policies
    ran) the violations. `summary`: the counts and the violations only; `diagrams=False`: all but
    the diagrams."""
    console = console or Console(highlight=False, soft_wrap=True)
    rich = console.is_terminal
    if not summary:
        if rich:
            console.print(_rich_tree(plan))
        else:
            console.print("\n".join(tree_lines(plan)), markup=False)
        if diagrams:
            for pipeline in pipelines(plan):
                console.print(f"\npipeline {pipeline.inputs.get('name') or pipeline.name} (Mermaid):", markup=False)
                console.print(pipeline_diagram(pipeline), markup=False, end="")
        console.print()
        console.print("\n".join(output_lines(plan)), markup=False)
        console.print()
    if rich:
        for title, counts in summary_counts(plan).items():
            table = Table(title=f"resources by {title}")
            table.add_column(title)
            table.add_column("count", justify="right")
            for key, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
                table.add_row(key, str(count))
            console.print(table)
    else:
        console.print("\n".join(summary_lines(plan)), markup=False)
    if plan.policy_ran:
        console.print(f"\npolicy violations: {len(plan.violations)}", markup=False)
        if plan.violations:
            console.print("\n".join(violation_lines(plan.violations)), markup=False)
