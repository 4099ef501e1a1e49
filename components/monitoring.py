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
  timeout.

A CloudWatch alarm only notifies a topic in its own region, and the alerts topic is in the home
region: projects in other regions (Verify) get no alarm of their own. Their failures fail the
pipeline's execution, which its alarm reports; their durations are on the dashboard, whose widgets
read any region.

The dashboard: pipeline executions (failed, completed) and durations, then one widget per stage and
region with the duration of each project in it, so build, test, scan, resolve and promote durations
are per step and Verify's per region. CloudWatch takes at most 500 metrics in a widget and 2,500 on
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


@dataclass(frozen=True)
class MonitoredPipeline:
    """A pipeline of the stack and the CodeBuild projects its actions run."""

    # Unique among the stack's pipelines; names the alarm resources (e.g. the service's name).
    key: str
    name: pulumi.Input[str]
    projects: tuple[BuildProject, ...]


@dataclass(frozen=True)
class MonitoringArgs:
    names: Names
    # The pipelines' region: their alarms and the dashboard are there.
    home_region: str
    alarms: AlarmSettings
    alerts_topic_arn: pulumi.Input[str]
    pipelines: Sequence[MonitoredPipeline]


def duration_limit_seconds(timeout_minutes: int, percent: int) -> int:
    return timeout_minutes * 60 * percent // 100


def build_alarm_expression(failed_builds: int, limit_seconds: int) -> str:
    """1 while a build failed or ran too long, else 0 (a period without builds is 0)."""
    return f"IF(FILL(failed, 0) >= {failed_builds} OR FILL(duration, 0) > {limit_seconds}, 1, 0)"


def _project_metric(metric_id: str, metric: str, stat: str, project: pulumi.Input[str], period: int) -> dict:
    return {"id": metric_id, "return_data": False, "metric": {
        "namespace": BUILD_NAMESPACE, "metric_name": metric, "dimensions": {"ProjectName": project},
        "period": period, "stat": stat}}


def _metrics_by_widget(pipeline: dict[str, Any]) -> dict[Any, int]:
    """How many metrics a pipeline puts in each widget of `dashboard_widgets`."""
    counts: dict[Any, int] = {"executions": 2, "durations": 1}
    for project in pipeline["projects"]:
        key = (project["stage"], project["region"])
        counts[key] = counts.get(key, 0) + 1
    return counts


def dashboard_pages(pipelines: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The pipelines, in order, cut into pages whose dashboards stay within CloudWatch's limits on
    metrics per widget, metrics per dashboard and widgets per dashboard."""
    pages: list[list[dict[str, Any]]] = []
    page: list[dict[str, Any]] = []
    widgets: dict[Any, int] = {}
    for pipeline in pipelines:
        adds = _metrics_by_widget(pipeline)
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


def dashboard_widgets(home: str, pipelines: Sequence[dict[str, Any]]) -> list[dict]:
    """Widgets of the dashboard from resolved names: `pipelines` is
    [{"key", "name", "projects": [{"name", "step", "stage", "region"}]}]; `home` the pipelines' region."""

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
    for p in pipelines:
        for project in p["projects"]:
            groups.setdefault((project["stage"], project["region"]), []).append(
                [BUILD_NAMESPACE, "Duration", "ProjectName", project["name"],
                 {"label": f"{p['key']} {project['step']}"}])
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
                        self._project_alarm(name, pipeline, project, args, period, child)

        resolved = pulumi.Output.all(*[
            pulumi.Output.all(p.name, *[project.name for project in p.projects]).apply(
                lambda values, p=p: {"key": p.key, "name": values[0], "projects": [
                    {"name": project_name, "step": project.step.name, "stage": project.step.stage,
                     "region": project.step.region}
                    for project_name, project in zip(values[1:], p.projects)]})
            for p in args.pipelines])
        # The pages are known before the names resolve: how many metrics each pipeline has is not
        # an Output, so each page's dashboard is a resource of its own.
        pages = dashboard_pages([{"projects": [{"stage": project.step.stage, "region": project.step.region}
                                               for project in p.projects]} for p in args.pipelines])
        first = 0
        dashboards = []
        for number, page in enumerate(pages, start=1):
            share = slice(first, first + len(page))
            first += len(page)
            dashboards.append(aws.cloudwatch.Dashboard(
                page_name(f"{name}-dashboard", number),
                dashboard_name=page_name(alarms.dashboard_name or names.dashboard, number),
                dashboard_body=resolved.apply(lambda pipelines, share=share: json.dumps(
                    {"start": "-P7D", "widgets": dashboard_widgets(args.home_region, pipelines[share])})),
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

    def _project_alarm(self, name: str, pipeline: MonitoredPipeline, project: BuildProject, args: MonitoringArgs,
                       period: int, child: pulumi.ResourceOptions) -> None:
        alarms, step = args.alarms, project.step
        limit = duration_limit_seconds(step.timeout_minutes, alarms.duration_percent)
        aws.cloudwatch.MetricAlarm(
            f"{name}-{pipeline.key}-{step.name}-builds",
            name=project.name.apply(lambda n: args.names.alarm(n, "builds")),
            alarm_description=(f"{alarms.failed_builds} or more failed builds in {period // 60} minutes, or a build "
                               f"longer than {limit} s ({alarms.duration_percent}% of the "
                               f"{step.timeout_minutes}-minute timeout)"),
            metric_queries=[
                _project_metric("failed", "FailedBuilds", "Sum", project.name, period),
                _project_metric("duration", "Duration", "Maximum", project.name, period),
                {"id": "breach", "expression": build_alarm_expression(alarms.failed_builds, limit),
                 "label": "failed or too long", "return_data": True},
            ],
            evaluation_periods=1, threshold=1, comparison_operator="GreaterThanOrEqualToThreshold",
            treat_missing_data="notBreaching", alarm_actions=[args.alerts_topic_arn],
            opts=child,
        )
