"""At 300 services × 3 regions the prod stack stays within AWS's hard limits: the approver policy
is the size it is at three services and answers exactly the planned approval actions; the
dashboard is paged, every page within CloudWatch's limits and valid against its model; no quota is
breached and the plan names the increases to request."""

from __future__ import annotations

import json

import pytest

from bench.plan import overrides
from policy.quotas.usage import BREACH, REQUEST, iam_size
from tests.components.test_approvers_alarms_dashboard import (DASHBOARD_TYPE, PIPELINE_TYPE, POLICY_TYPE,
                                                              answerable, approval_actions, dashboard_body_errors,
                                                              only, planned_actions, validate)
from tests.conftest import cached_plan

SERVICES = 300


@pytest.fixture(scope="module")
def large():
    return cached_plan("prod", overrides("prod", SERVICES, 3))


def test_the_approver_policy_keeps_its_size_and_answers_exactly_the_planned_approvals(large):
    size = iam_size(only(large, POLICY_TYPE).inputs["policy"])
    assert size == iam_size(only(cached_plan("prod"), POLICY_TYPE).inputs["policy"]) <= 6_144
    actions = approval_actions(large)
    assert len(actions) == SERVICES
    assert answerable(large, planned_actions(large)) == actions


def test_the_dashboard_is_paged_within_cloudwatchs_limits_and_model(large):
    dashboards = sorted(large.by_type(DASHBOARD_TYPE), key=lambda d: (len(d.name), d.name))
    names = [d.inputs["dashboardName"] for d in dashboards]
    assert large.outputs["dashboardNames"] == names == ["shop-prod-pipelines"] + [
        f"shop-prod-pipelines-{page}" for page in range(2, len(names) + 1)]
    shown = []
    for dashboard in dashboards:
        body = json.loads(dashboard.inputs["dashboardBody"])
        assert validate("PutDashboard", {"DashboardName": dashboard.inputs["dashboardName"],
                                         "DashboardBody": dashboard.inputs["dashboardBody"]}) == ""
        assert dashboard_body_errors(body) == []
        per_widget = [len(w["properties"]["metrics"]) for w in body["widgets"]]
        assert len(per_widget) <= 500 and max(per_widget) <= 500 and sum(per_widget) <= 2_500
        shown += [m[3] for m in body["widgets"][1]["properties"]["metrics"]]
    # Every pipeline's duration is on exactly one page, the pages in the services' order.
    assert shown == [name for i in range(SERVICES) for name in (f"shop-svc{i:03d}-prod", f"shop-svc{i:03d}-prod-verify")]
    assert len(shown) == len(large.by_type(PIPELINE_TYPE))


def test_no_quota_is_breached_and_the_increases_are_named(large):
    assert [r.limit.id for r in large.quotas if r.status == BREACH] == []
    requests = {r.limit.id: r for r in large.quotas if r.status == REQUEST}
    # One EventBridge rule per prod pipeline (the upstream's proof starts it) passes the 300 of a bus.
    assert set(requests) == {"iam-roles", "events-rules"}
    assert requests["iam-roles"].total == sum(1 for r in large.by_type("aws:iam/role:Role")
                                              if r.account == "111111111111")
