"""A plan against AWS's limits: every limit of `policy.quotas.limits`, measured on the planned
resources, with a verdict.

Counts are per account (IAM roles and policies, S3 buckets) or per account and Region (pipelines,
projects, keys, rules, topics, repositories, log groups), from where each resource lands (the plan's
`account` and `region`). Sizes are per resource: IAM documents as IAM measures them (without the
white space between JSON tokens; white space inside strings is counted, which can only overstate),
KMS key and bucket policies in bytes as sent, event patterns in characters, dashboards by widgets
and metrics. A size gives one result per limit: its largest resource, naming every one over it.

Stacks that share an account add up: `evaluate(resources, others)` adds the counts other plans
report for the same limit, account and Region (their JSON's "quotas"); sizes never add.

Verdicts: `ok`; `request`, an adjustable quota over its default and within its documented maximum
(the fix names the Service Quotas code and the value to ask for); `breach`, a hard limit passed or
an adjustable one past its documented maximum: AWS would refuse the stack and the plan exits 3.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Iterator

from policy.quotas.limits import ACCOUNT, BY_ID, LIMITS, REGION, RESOURCE, Limit

OK, REQUEST, BREACH = "ok", "request", "breach"

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
EVENT_RULE = "aws:cloudwatch/eventRule:EventRule"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"

# Resource type -> the count it adds one to.
COUNTED: dict[str, str] = {
    ROLE: "iam-roles",
    "aws:iam/policy:Policy": "iam-customer-managed-policies",
    "aws:codepipeline/pipeline:Pipeline": "codepipeline-pipelines",
    "aws:codebuild/project:Project": "codebuild-projects",
    "aws:s3/bucket:Bucket": "s3-buckets",
    "aws:kms/key:Key": "kms-keys",
    "aws:sns/topic:Topic": "sns-topics",
    "aws:ecr/repository:Repository": "ecr-repositories",
    "aws:cloudwatch/logGroup:LogGroup": "logs-log-groups",
}


def _field(resource: Any, key: str) -> Any:
    return resource.get(key) if isinstance(resource, Mapping) else getattr(resource, key, None)


def _inputs(resource: Any) -> Mapping[str, Any]:
    return _field(resource, "inputs") or {}


def iam_size(document: Any) -> int:
    """A policy document's size as IAM counts it: without white space between JSON tokens."""
    parsed = json.loads(document) if isinstance(document, str) else document
    return len(json.dumps(parsed, separators=(",", ":")))


def _bytes(text: Any) -> int:
    return len(str(text).encode())


# ----------------------------------------------------------------------------------------------
# Dashboards, as CloudWatch counts them


def dashboard_counts(body: Any) -> tuple[int, list[int]]:
    """(widgets, metrics of each metric widget) of a dashboard body. A metric is an entry of a
    widget's `metrics` that names a namespace and metric (a metric math expression is not one; the
    metrics it reads are entries of their own). A body that is not a dashboard counts nothing: the
    policy pack's `cloudwatch-dashboard-body` reports it."""
    parsed = json.loads(body) if isinstance(body, str) else body
    widgets = parsed.get("widgets") if isinstance(parsed, Mapping) else None
    if not isinstance(widgets, list):
        return 0, []
    per_widget = []
    for widget in widgets:
        properties = widget.get("properties") if isinstance(widget, Mapping) else None
        metrics = properties.get("metrics") if isinstance(properties, Mapping) else None
        if isinstance(metrics, list):
            per_widget.append(sum(1 for m in metrics if isinstance(m, list) and m and isinstance(m[0], str)))
    return len(widgets), per_widget


# ----------------------------------------------------------------------------------------------
# Measuring


@dataclass(frozen=True)
class Measure:
    """One use of a limit: a count in a scope, or the size of one resource."""

    limit: str
    used: int
    account: str | None
    region: str | None
    subject: str | None = None  # the resource measured (sizes)


def _wildcard(pattern: Any) -> bool:
    """Whether an event pattern uses the `wildcard` operator (the rules EventBridge counts apart)."""
    if isinstance(pattern, Mapping):
        return "wildcard" in pattern or any(_wildcard(v) for v in pattern.values())
    if isinstance(pattern, list):
        return any(_wildcard(v) for v in pattern)
    return False


def measure(resources: Iterable[Any]) -> list[Measure]:
    """Every count (one Measure per resource, summed later) and every size of the resources."""
    resources = list(resources)
    measures: list[Measure] = []
    roles: dict[str, Any] = {}
    for resource in resources:
        type_, inputs = _field(resource, "type"), _inputs(resource)
        account, region = _field(resource, "account"), _field(resource, "region")
        name = _field(resource, "name")
        if type_ in COUNTED:
            measures.append(Measure(COUNTED[type_], 1, account, region))
        sizes: list[tuple[str, int]] = []
        if type_ == ROLE:
            roles[(_field(resource, "outputs") or {}).get("name") or _field(resource, "id") or name] = resource
            if isinstance(inputs.get("assumeRolePolicy"), str):
                sizes.append(("iam-trust-policy-length", iam_size(inputs["assumeRolePolicy"])))
        elif type_ == "aws:iam/policy:Policy" and isinstance(inputs.get("policy"), str):
            sizes.append(("iam-managed-policy-size", iam_size(inputs["policy"])))
        elif type_ == "aws:kms/key:Key" and isinstance(inputs.get("policy"), str):
            sizes.append(("kms-key-policy-size", _bytes(inputs["policy"])))
        elif type_ == "aws:s3/bucketPolicy:BucketPolicy" and isinstance(inputs.get("policy"), str):
            sizes.append(("s3-bucket-policy-size", _bytes(inputs["policy"])))
        elif type_ == EVENT_RULE and inputs.get("eventBusName") in (None, "default"):
            measures.append(Measure("events-rules", 1, account, region))
            pattern = inputs.get("eventPattern")
            if isinstance(pattern, str):
                sizes.append(("events-pattern-size", len(pattern)))
                if _wildcard(json.loads(pattern)):
                    measures.append(Measure("events-wildcard-rules", 1, account, region))
        elif type_ == DASHBOARD and isinstance(inputs.get("dashboardBody"), str):
            widgets, metrics = dashboard_counts(inputs["dashboardBody"])
            sizes += [("cloudwatch-dashboard-widgets", widgets), ("cloudwatch-dashboard-metrics", sum(metrics)),
                      ("cloudwatch-widget-metrics", max(metrics, default=0))]
        measures += [Measure(limit, used, account, region, name) for limit, used in sizes]
    measures += _per_role(resources, roles)
    return measures


def _per_role(resources: list[Any], roles: Mapping[str, Any]) -> Iterator[Measure]:
    """The inline policies of each role together, and the managed policies attached to it. A
    RolePolicy names its role by id and an attachment by name: for IAM roles both are the name."""
    inline: dict[str, int] = defaultdict(int)
    attached: dict[str, int] = defaultdict(int)
    for resource in resources:
        type_, inputs = _field(resource, "type"), _inputs(resource)
        if type_ == ROLE_POLICY and isinstance(inputs.get("policy"), str):
            inline[str(inputs.get("role"))] += iam_size(inputs["policy"])
        elif type_ == ATTACHMENT:
            attached[str(inputs.get("role"))] += 1
    for role_name, role in roles.items():
        inputs = _inputs(role)
        documents = sum(iam_size(p["policy"]) for p in inputs.get("inlinePolicies") or []
                        if isinstance(p, Mapping) and isinstance(p.get("policy"), str))
        account, region, name = _field(role, "account"), _field(role, "region"), _field(role, "name")
        yield Measure("iam-role-inline-policy-size", inline.get(role_name, 0) + documents, account, region, name)
        yield Measure("iam-policies-per-role", attached.get(role_name, 0) + len(inputs.get("managedPolicyArns") or []),
                      account, region, name)


# ----------------------------------------------------------------------------------------------
# Verdicts


@dataclass(frozen=True)
class QuotaResult:
    limit: Limit
    account: str | None
    region: str | None
    used: int  # this stack's count, or its largest size
    added: int = 0  # other stacks' counts in the same scope
    subject: str | None = None  # sizes: the largest resource
    measured: int = 1  # sizes: how many resources were measured
    over: tuple[str, ...] = ()  # sizes: every resource over the limit

    @property
    def total(self) -> int:
        return self.used + self.added

    @property
    def headroom(self) -> int:
        return self.limit.value - self.total

    @property
    def status(self) -> str:
        limit = self.limit
        if self.total <= limit.value:
            return OK
        if limit.adjustable and (limit.maximum is None or self.total <= limit.maximum):
            return REQUEST
        return BREACH

    @property
    def where(self) -> str:
        if self.limit.scope == RESOURCE:
            return f"{self.subject}" if self.subject else "no resource"
        return "/".join(part for part in (self.account, self.region if self.limit.scope == REGION else None) if part)

    def fix(self) -> str | None:
        limit, status = self.limit, self.status
        if status == OK:
            return None
        if status == REQUEST:
            how = f"Service Quotas {limit.code}" if limit.code else "the AWS Support Center (not in Service Quotas)"
            ceiling = f"up to {limit.maximum:,}" if limit.maximum else "no documented maximum"
            return f"request {limit.name} of at least {self.total:,} through {how} ({ceiling})"
        if limit.adjustable:
            return (f"{self.total:,} is over the documented maximum {limit.maximum:,} of {limit.name}: "
                    + FIXES.get(limit.id, "split the services across stacks in more accounts"))
        return FIXES.get(limit.id, f"{limit.name} is a hard limit: make {self.where} smaller")

    def to_json(self) -> dict[str, Any]:
        limit = self.limit
        return {"id": limit.id, "name": limit.name, "scope": limit.scope, "account": self.account,
                "region": self.region if limit.scope != ACCOUNT else None, "subject": self.subject,
                "measured": self.measured, "used": self.used, "added": self.added, "total": self.total,
                "limit": limit.value, "unit": limit.unit or None, "kind": limit.kind, "maximum": limit.maximum,
                "code": limit.code, "source": limit.source, "headroom": self.headroom, "status": self.status,
                "over": list(self.over), "fix": self.fix()}


# What to do about a limit that no increase lifts, where the settings can reach it.
FIXES = {
    "iam-trust-policy-length": "name fewer approval.approverPrincipals (one role the approvers assume, or "
                               "approval.permissionSetArn)",
    "iam-managed-policy-size": "shorten the managed policy: name resources by pattern, or split it",
    "iam-role-inline-policy-size": "the role's inline policies pass 10,240 characters: split the role",
    "iam-policies-per-role": "attach fewer managed policies to the role",
    "events-wildcard-rules": "fewer rules with wildcard filters on the default event bus of this Region "
                             "(every stack of the account counts)",
    "cloudwatch-widget-metrics": "put fewer metrics in the widget (the program pages its dashboard)",
    "cloudwatch-dashboard-metrics": "put fewer metrics on the dashboard (the program pages its dashboard)",
    "cloudwatch-dashboard-widgets": "put fewer widgets on the dashboard",
}


def evaluate(resources: Iterable[Any], others: Sequence[Mapping[str, Any]] = ()) -> list[QuotaResult]:
    """Every limit's verdict for the plan's resources, the counts of `others` (other plans' JSON
    "quotas" documents of stacks in the same accounts) added. Counts the plan has none of are not
    results, unless another plan counts them."""
    counts: dict[tuple[str, str | None, str | None], int] = defaultdict(int)
    sizes: dict[tuple[str, str | None], list[Measure]] = defaultdict(list)
    for m in measure(resources):
        if BY_ID[m.limit].scope == RESOURCE:
            sizes[(m.limit, m.account)].append(m)
        else:
            counts[_scope_key(BY_ID[m.limit], m.account, m.region)] += m.used
    added: dict[tuple[str, str | None, str | None], int] = defaultdict(int)
    for other in others:
        for result in other.get("results", []):
            limit = BY_ID.get(result.get("id"))
            if limit is not None and limit.scope != RESOURCE:
                added[_scope_key(limit, result.get("account"), result.get("region"))] += int(result.get("used", 0))
    results = []
    for key in sorted(set(counts) | set(added), key=lambda k: tuple(str(p) for p in k)):
        limit_id, account, region = key
        results.append(QuotaResult(BY_ID[limit_id], account, region, counts.get(key, 0), added.get(key, 0)))
    for (limit_id, account), measures in sorted(sizes.items(), key=lambda item: tuple(str(p) for p in item[0])):
        limit = BY_ID[limit_id]
        largest = max(measures, key=lambda m: m.used)
        results.append(QuotaResult(limit, account, None, largest.used, subject=largest.subject,
                                   measured=len(measures),
                                   over=tuple(str(m.subject) for m in measures if m.used > limit.value)))
    order = {limit.id: index for index, limit in enumerate(LIMITS)}
    return sorted(results, key=lambda r: (order[r.limit.id], str(r.account), str(r.region)))


def _scope_key(limit: Limit, account: str | None, region: str | None) -> tuple[str, str | None, str | None]:
    return limit.id, account, region if limit.scope == REGION else None


def tightest(results: Sequence[QuotaResult]) -> QuotaResult | None:
    """The result closest to (or furthest past) the limit in force, as a share of it."""
    return max(results, key=lambda r: r.total / r.limit.value, default=None)


def to_json(results: Sequence[QuotaResult], added: Sequence[str] = ()) -> dict[str, Any]:
    """The "quotas" of a plan's JSON (`--json`), which `other_plan` and `evaluate` read back."""
    return {"added": list(added), "results": [result.to_json() for result in results]}


def summary(results: Sequence[QuotaResult], stack: str, added: Sequence[str] = ()) -> list[str]:
    """The plan's quota lines: the count and the least headroom, one line per request or breach,
    and whose counts these are."""
    worst = tightest(results)
    if worst is None:
        return ["quotas: nothing counted"]
    unit = f" {worst.limit.unit}" if worst.limit.unit else ""
    lines = [f"quotas: {len(results)} checked, least headroom: {worst.limit.name} ({worst.where}) "
             f"{worst.total:,}{unit} of {worst.limit.value:,} ({_left(worst)})"]
    for result in results:
        if result.status == OK:
            continue
        whose = f" ({result.used:,} here + {result.added:,} in {', '.join(added)})" if result.added else ""
        subjects = f": {', '.join(result.over)}" if result.over else ""
        lines.append(f"  {result.status}: {result.limit.name} ({result.where}) {result.total:,}{whose} of "
                     f"{result.limit.value:,} ({result.limit.kind}){subjects}")
        lines.append(f"    fix: {result.fix()}")
    lines.append("  counts are stack " + " + ".join([stack, *added]) + "'s; stacks sharing an account add up"
                 + ("" if added else ": add the others' plans with --with-plan FILE"))
    return lines


def _left(result: QuotaResult) -> str:
    if result.headroom >= 0:
        return f"{result.headroom:,} left"
    return f"{-result.headroom:,} over the {'default' if result.limit.adjustable else 'limit'}"


def breaches(results: Sequence[QuotaResult]) -> list[QuotaResult]:
    return [result for result in results if result.status == BREACH]


class OtherPlanError(ValueError):
    """Another plan given to add up cannot be read; the message names the file and the fix."""


def other_plan(text: str, where: str, stack: str) -> tuple[str, Mapping[str, Any]]:
    """(stack, quotas document) of another plan's JSON, as `--json` writes it."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise OtherPlanError(f"{where} is not a plan's JSON ({error.msg} at line {error.lineno}): write it with "
                             "`make plan PLAN_JSON=<file>`") from None
    quotas = document.get("quotas") if isinstance(document, Mapping) else None
    if not isinstance(quotas, Mapping) or not isinstance(quotas.get("results"), list):
        raise OtherPlanError(f"{where} has no \"quotas\": plan that stack again with this version "
                             "(`make plan STACK=<stack> PLAN_JSON=<file>`)")
    other = str(document.get("stack"))
    if other == stack:
        raise OtherPlanError(f"{where} is a plan of stack {stack} itself: give the plans of the other stacks "
                             "in the same accounts")
    return other, quotas


@dataclass(frozen=True)
class Fit:
    """How many services fit before a count reaches a limit, and which limit that is."""

    services: int | None  # None: no documented limit stops the counts
    limit: Limit | None
    where: str | None


def services_that_fit(one: Sequence[QuotaResult], two: Sequence[QuotaResult], *, increased: bool) -> Fit:
    """From the verdicts of the same stacks with one service and with two (counts grow by the same
    amount with every service of the same regions), the most services every count allows: under
    the defaults, or `increased` to the documented maxima (an adjustable quota without one does
    not stop it). Sizes do not grow with services (the program names resources by pattern and
    pages its dashboard) and are not extrapolated."""
    before = {(r.limit.id, r.account, r.region): r for r in one if r.limit.scope != RESOURCE}
    best = Fit(None, None, None)
    for result in two:
        key = (result.limit.id, result.account, result.region)
        if key not in before or result.total <= before[key].total:
            continue
        per_service = result.total - before[key].total
        fixed = before[key].total - per_service
        limit = result.limit
        bound = limit.value if not increased or not limit.adjustable else limit.maximum
        if bound is None:
            continue
        fits = (bound - fixed) // per_service
        if best.services is None or fits < best.services:
            best = Fit(fits, limit, result.where)
    return best
