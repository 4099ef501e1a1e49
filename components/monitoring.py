"""Monitoring: CloudWatch alarms on the stack's pipelines and projects, and one dashboard.

Metrics are the ones AWS documents:

* CodePipeline publishes `PipelineDuration` (seconds) and `FailedPipelineExecutions` (count) in
  `AWS/CodePipeline` for V2 pipelines, per pipeline (dimension `PipelineName`); a retried failed
  action counts as another failed execution.
* CodeBuild publishes `FailedBuilds` (count; failures and timeouts) and `Duration` (seconds) in
  `AWS/CodeBuild`, per project (dimension `ProjectName`).

Alarms, each to the alerts topic, missing data not breaching (no execution is not a failure):

* per pipeline: `FailedPipelineExecutions` at or above `alarms.failedExecutions` in one period;
* per project in the home region: one alarm on both of its metrics (one resource instead of two:
  the plan's time grows with every resource), breaching when `FailedBuilds` reaches
  `alarms.failedBuilds` or a build ran longer than `alarms.durationPercent` of the project's
  timeout;
* per project no pipeline runs (`UnattendedProject`: the bake's revert-breach, which an EventBridge
  rule starts): the same alarm, breaching on its first failed build whatever `alarms.failedBuilds`
  says, because no pipeline execution fails with it and raises an alarm of its own, and described
  by what a failure leaves undone and what the operator does about it.

A CloudWatch alarm only notifies a topic in its own region, and the alerts topic is in the home
region: projects in other regions (Verify) get no alarm of their own. Their failures fail the
pipeline's execution, which its alarm reports; their durations are on the dashboard, whose widgets
read any region.

The dashboard: pipeline executions (failed, completed) and durations, then one widget per stage and
region with the duration of each project in it, so build, test, scan, resolve and promote durations
are per step and Verify's per region; the projects no pipeline runs are in their stage's widget
of the first page. CloudWatch takes at most 500 metrics in a widget and 2,500 on
a dashboard (hard limits): a stack with more pipelines than fit gets more pages, dashboards named
`<name>-2`, `<name>-3`, …, each with the same widgets for its share of the pipelines, in order.
A stack that fits on one page has the one dashboard it always had.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Sequence

import pulumi
import pulumi_aws as aws

from components.build_projects import BuildProject
from components.naming import Names
from components.settings import AlarmSettings
from policy.quotas.limits import BY_ID

WIDGET_METRICS = BY_ID["cloudwatch-widget-metrics"].value
DASHBOARD_METRICS = BY_ID["cloudwatch-dashboard-metrics"].value
DASHBOARD_WIDGETS = BY_ID["cloudwatch-dashboard-widgets"].value

PIPELINE_NAMESPACE = "AWS/CodePipeline"
BUILD_NAMESPACE = "AWS/CodeBuild"
# Dashboard graphs: hourly points over a week read well for executions that run a few times a day.
GRAPH_PERIOD_SECONDS = 3600
WIDGET_WIDTH, WIDGET_HEIGHT, GRID_WIDTH = 12, 6, 24
# The component's name in the program: its alarms' resource names start with it.
MONITORING = "monitoring"


@dataclass(frozen=True)
class MonitoredPipeline:
    """A pipeline of the stack and the CodeBuild projects its actions run."""

    # Unique among the stack's pipelines; names the alarm resources (e.g. the service's name).
    key: str
    name: pulumi.Input[str]
    projects: tuple[BuildProject, ...]


@dataclass(frozen=True)
class UnattendedProject:
    """A CodeBuild project of the stack that no pipeline runs: nobody watches its builds."""

    # Unique among the stack's pipelines and unattended projects; names the alarm resource.
    key: str
    project: BuildProject
    # What a failed build leaves undone and what the operator does: the alarm's description.
    on_failure: str


@dataclass(frozen=True)
class MonitoringArgs:
    names: Names
    # The pipelines' region: their alarms and the dashboard are there.
    home_region: str
    alarms: AlarmSettings
    alerts_topic_arn: pulumi.Input[str]
    pipelines: Sequence[MonitoredPipeline]
    # Projects no pipeline runs, in the home region (default: none).
    unattended: Sequence[UnattendedProject] = ()


# The revert-breach project's `on_failure`: after a failed build `gitops revert-breach` did not finish,
# so the release a blocking alarm failed during the bake may still be what the environment runs. The
# alarm also fires on a build that came close to its timeout, which may have succeeded: it says so.
REVERT_BREACH_FAILED = (
    "The automatic revert of a release whose bake failed did not complete (a revert-breach build failed "
    "or timed out), or came close to its timeout. After a failed build the release the blocking alarm "
    "failed may still be running: the pipeline's failure alert and the build's PIPELINE and EXECUTION_ID "
    "name it; revert it by hand with `gitops revert` for that service "
    "(docs/operations/alarms.md#when-the-automatic-revert-fails).")


def builds_alarm(component: str, key: str, step: str) -> str:
    """The resource name of the alarm on the builds of the `step` project of `key` (a pipeline's or an
    unattended project's); the access paths name the alarms that must reach the alerts topic by it."""
    return f"{component}-{key}-{step}-builds"


def duration_limit_seconds(timeout_minutes: int, percent: int) -> int:
    return timeout_minutes * 60 * percent // 100


def build_alarm_expression(failed_builds: int, limit_seconds: int) -> str:
    """1 while a build failed or ran too long, else 0 (a period without builds is 0)."""
    return f"IF(FILL(failed, 0) >= {failed_builds} OR FILL(duration, 0) > {limit_seconds}, 1, 0)"


def _project_metric(metric_id: str, metric: str, stat: str, project: pulumi.Input[str], period: int) -> dict:
    return {"id": metric_id, "return_data": False, "metric": {
        "namespace": BUILD_NAMESPACE, "metric_name": metric, "dimensions": {"ProjectName": project},
        "period": period, "stat": stat}}


def _metrics_by_widget(projects: Sequence[dict[str, Any]], counts: dict[Any, int]) -> dict[Any, int]:
    """`counts` and how many metrics `projects` put in each widget of `dashboard_widgets`."""
    counts = dict(counts)
    for project in projects:
        key = (project["stage"], project["region"])
        counts[key] = counts.get(key, 0) + 1
    return counts


def dashboard_pages(pipelines: Sequence[dict[str, Any]],
                    unattended: Sequence[dict[str, Any]] = ()) -> list[list[dict[str, Any]]]:
    """The pipelines, in order, cut into pages whose dashboards stay within CloudWatch's limits on
    metrics per widget, metrics per dashboard and widgets per dashboard; the `unattended` projects
    are on the first page."""
    pages: list[list[dict[str, Any]]] = []
    page: list[dict[str, Any]] = []
    widgets = _metrics_by_widget(unattended, {})
    for pipeline in pipelines:
        adds = _metrics_by_widget(pipeline["projects"], {"executions": 2, "durations": 1})
        grown = {key: widgets.get(key, 0) + adds.get(key, 0) for key in {*widgets, *adds}}
        if page and (max(grown.values()) > WIDGET_METRICS or sum(grown.values()) > DASHBOARD_METRICS
                     or len(grown) > DASHBOARD_WIDGETS):
            pages.append(page)
            page, grown = [], adds
        page.append(pipeline)
        widgets = grown
    return pages + [page] if page else pages


def page_name(name: str, page: int) -> str:
    """The dashboard of a page: the first is `name` itself."""
    return name if page == 1 else f"{name}-{page}"


def dashboard_widgets(home: str, pipelines: Sequence[dict[str, Any]],
                      unattended: Sequence[dict[str, Any]] = ()) -> list[dict]:
    """Widgets of the dashboard from resolved names: `pipelines` is
    [{"key", "name", "projects": [{"name", "step", "stage", "region"}]}], `unattended` the projects no
    pipeline runs ({"key", "name", "step", "stage", "region"}); `home` the pipelines' region."""

    def graph(title: str, region: str, metrics: list[list], stat: str) -> dict:
        return {"type": "metric", "properties": {
            "title": title, "region": region, "view": "timeSeries", "stat": stat,
            "period": GRAPH_PERIOD_SECONDS, "metrics": metrics}}

    widgets = [
        graph("Pipeline executions (failed, completed)", home, [
            metric for p in pipelines for metric in (
                [PIPELINE_NAMESPACE, "FailedPipelineExecutions", "PipelineName", p["name"],
                 {"label": f"{p['key']} failed"}],
                [PIPELINE_NAMESPACE, "PipelineDuration", "PipelineName", p["name"],
                 {"label": f"{p['key']} completed", "stat": "SampleCount"}],
            )], "Sum"),
        graph("Pipeline duration (seconds)", home, [
            [PIPELINE_NAMESPACE, "PipelineDuration", "PipelineName", p["name"], {"label": p["key"]}]
            for p in pipelines], "Average"),
    ]
    # One widget per (stage, region), in the order the stages first appear.
    groups: dict[tuple[str, str], list[list]] = {}
    labelled = [(f"{p['key']} {project['step']}", project) for p in pipelines for project in p["projects"]]
    labelled += [(f"{project['key']} {project['step']}", project) for project in unattended]
    for label, project in labelled:
        groups.setdefault((project["stage"], project["region"]), []).append(
            [BUILD_NAMESPACE, "Duration", "ProjectName", project["name"], {"label": label}])
    for (stage, region), metrics in groups.items():
        widgets.append(graph(f"{stage} duration in {region} (seconds)", region, metrics, "Average"))
    per_row = GRID_WIDTH // WIDGET_WIDTH
    for index, widget in enumerate(widgets):
        widget.update(x=(index % per_row) * WIDGET_WIDTH, y=(index // per_row) * WIDGET_HEIGHT,
                      width=WIDGET_WIDTH, height=WIDGET_HEIGHT)
    return widgets


class Monitoring(pulumi.ComponentResource):
    """Alarms to the alerts topic (when `alarms.enabled`) and the stack's dashboard."""

    # The first page's; `dashboard_names`: every page's.
    dashboard_name: pulumi.Output[str]
    dashboard_names: list[pulumi.Output[str]]

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("delivery:monitor:Monitoring", name, None, opts)
        names, alarms = args.names, args.alarms
        child = pulumi.ResourceOptions(parent=self)
        period = alarms.period_minutes * 60
        if alarms.enabled:
            for pipeline in args.pipelines:
                self._pipeline_alarm(name, pipeline, args, period, child)
                for project in pipeline.projects:
                    if project.step.region == args.home_region:
                        self._project_alarm(builds_alarm(name, pipeline.key, project.step.name), project, args,
                                            period, child, alarms.failed_builds)
            for unattended in args.unattended:
                self._project_alarm(builds_alarm(name, unattended.key, unattended.project.step.name),
                                    unattended.project, args, period, child, 1, unattended.on_failure)

        pipelines = pulumi.Output.all(*[
            pulumi.Output.all(p.name, *[project.name for project in p.projects]).apply(
                lambda values, p=p: {"key": p.key, "name": values[0], "projects": [
                    {"name": project_name, "step": project.step.name, "stage": project.step.stage,
                     "region": project.step.region}
                    for project_name, project in zip(values[1:], p.projects)]})
            for p in args.pipelines])
        unattended = pulumi.Output.all(*[
            u.project.name.apply(lambda project_name, u=u: {
                "key": u.key, "name": project_name, "step": u.project.step.name, "stage": u.project.step.stage,
                "region": u.project.step.region})
            for u in args.unattended])
        # The pages are known before the names resolve: how many metrics each pipeline has is not
        # an Output, so each page's dashboard is a resource of its own.
        pages = dashboard_pages([{"projects": [{"stage": project.step.stage, "region": project.step.region}
                                               for project in p.projects]} for p in args.pipelines],
                                [{"stage": u.project.step.stage, "region": u.project.step.region}
                                 for u in args.unattended])
        first = 0
        dashboards = []
        for number, page in enumerate(pages, start=1):
            share = slice(first, first + len(page))
            first += len(page)
            shown_unattended = unattended if number == 1 else []
            dashboards.append(aws.cloudwatch.Dashboard(
                page_name(f"{name}-dashboard", number),
                dashboard_name=page_name(alarms.dashboard_name or names.dashboard, number),
                dashboard_body=pulumi.Output.all(pipelines, shown_unattended).apply(
                    lambda resolved, share=share: json.dumps({"start": "-P7D", "widgets": dashboard_widgets(
                        args.home_region, resolved[0][share], resolved[1])})),
                opts=child,
            ))
        self.dashboard_name = dashboards[0].dashboard_name
        self.dashboard_names = [dashboard.dashboard_name for dashboard in dashboards]
        self.register_outputs({"dashboard_name": self.dashboard_name, "dashboard_names": self.dashboard_names})

    def _pipeline_alarm(self, name: str, pipeline: MonitoredPipeline, args: MonitoringArgs, period: int,
                        child: pulumi.ResourceOptions) -> None:
        threshold = args.alarms.failed_executions
        aws.cloudwatch.MetricAlarm(
            f"{name}-{pipeline.key}-failed-executions",
            name=pulumi.Output.from_input(pipeline.name).apply(
                lambda n: args.names.alarm(n, "failed-executions")),
            alarm_description=f"{threshold} or more failed executions of the pipeline in {period // 60} minutes",
            namespace=PIPELINE_NAMESPACE, metric_name="FailedPipelineExecutions",
            dimensions={"PipelineName": pipeline.name}, statistic="Sum", period=period,
            evaluation_periods=1, threshold=threshold, comparison_operator="GreaterThanOrEqualToThreshold",
            treat_missing_data="notBreaching", alarm_actions=[args.alerts_topic_arn],
            opts=child,
        )

    def _project_alarm(self, resource_name: str, project: BuildProject, args: MonitoringArgs, period: int,
                       child: pulumi.ResourceOptions, failed_builds: int, on_failure: str = "") -> None:
        """`on_failure`, when given, leads the alarm's description."""
        alarms, step = args.alarms, project.step
        limit = duration_limit_seconds(step.timeout_minutes, alarms.duration_percent)
        breaches = (f"{failed_builds} or more failed builds in {period // 60} minutes, or a build longer than "
                    f"{limit} s ({alarms.duration_percent}% of the {step.timeout_minutes}-minute timeout)")
        aws.cloudwatch.MetricAlarm(
            resource_name,
            name=project.name.apply(lambda n: args.names.alarm(n, "builds")),
            alarm_description=f"{on_failure} Raised by {breaches}." if on_failure else breaches,
            metric_queries=[
                _project_metric("failed", "FailedBuilds", "Sum", project.name, period),
                _project_metric("duration", "Duration", "Maximum", project.name, period),
                {"id": "breach", "expression": build_alarm_expression(failed_builds, limit),
                 "label": "failed or too long", "return_data": True},
            ],
            evaluation_periods=1, threshold=1, comparison_operator="GreaterThanOrEqualToThreshold",
            treat_missing_data="notBreaching", alarm_actions=[args.alerts_topic_arn],
            opts=child,
        )
