"""`gitops revert-breach`: a release whose blocking alarm fired during the bake is reverted the way a
failed verification is.

The bake is the Verify stage's on-success condition (one CloudWatchAlarm rule per alarm, result
FAIL). A breach fails the stage, and CodePipeline runs no action after a failed condition, so the
verify action's own revert (verify.yml's post_build) never runs. An EventBridge rule on the stage's
FAILED state starts this command with the pipeline and the execution. It reads the execution's rule
executions (ListRuleExecutions): only a failed CloudWatchAlarm rule of that stage is a breach. A
stage failed by one of its actions was reverted by that action already, and reverting twice would
block the version restored in between: nothing is done (exit 0, saying so).

On a breach: the service is the one the stack's map gives the pipeline; the commit is the REVISION
the stage's verify actions verified (their resolved configuration, ListActionExecutions), the same
commit verify's post_build would name. Each `delivery/<env>/<region>` status verify left pending on
it becomes `failure` (no proof), then `revert` runs with the request verify's post_build makes: the
same function, the same exit codes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gitops.clients.codepipeline import PIPELINE_NAME, codepipeline_client, execution_details
from gitops.errors import UsageError
from gitops.promotion.revert import RevertRequest, RevertResult
from gitops.repo import layout

ALARM_RULE = "CloudWatchAlarm"
FAILED = "Failed"
# At most this many pipelines in the stack's map (two per service, CodePipeline's 1000 per region).
MAX_PIPELINES = 1000


@dataclass(frozen=True)
class Breach:
    """What the execution shows: the alarm rules that failed the stage (empty: no breach), and,
    on a breach, the commit the stage verified."""

    alarms: tuple[str, ...]
    revision: str | None


def parse_services(text: str) -> dict[str, str]:
    """`--services '{"<pipeline>": "<service>", …}'`: the stack's gated pipelines and their services."""
    try:
        services = json.loads(text)
    except ValueError as e:
        raise UsageError(f"--services is not JSON ({e.msg}): give an object pipeline -> service") from None
    if not isinstance(services, dict) or not services or len(services) > MAX_PIPELINES:
        raise UsageError(f"--services must be an object of 1 to {MAX_PIPELINES} pipelines -> services")
    for pipeline, service in services.items():
        if not PIPELINE_NAME.fullmatch(pipeline) or not isinstance(service, str):
            raise UsageError(f"--services: {pipeline!r} is not a pipeline name with a service name")
        layout.check_name("--services", service)
    return services


def read_breach(pipeline: str, execution_id: str, stage: str, client: Any) -> Breach:
    """The failed alarm rules of `stage` in the execution, and the REVISION its actions verified."""
    rules = execution_details(client, "list_rule_executions", "ruleExecutionDetails", pipeline, execution_id)
    alarms = tuple(sorted(rule["ruleName"] for rule in rules
                          if rule.get("stageName") == stage and rule.get("status") == FAILED
                          and rule.get("input", {}).get("ruleTypeId", {}).get("provider") == ALARM_RULE))
    if not alarms:
        return Breach((), None)
    actions = [action for action in execution_details(client, "list_action_executions", "actionExecutionDetails",
                                                      pipeline, execution_id) if action.get("stageName") == stage]
    revisions = {_revision(action) for action in actions} - {None}
    if len(revisions) != 1:
        found = ", ".join(sorted(revisions)) or "none"
        raise UsageError(f"execution {execution_id} of {pipeline}: the {stage} actions verified "
                         f"{found}, not one commit; revert by hand with `gitops revert --revision`")
    return Breach(alarms, revisions.pop())


def _revision(action: dict) -> str | None:
    """REVISION of a CodeBuild action's environment variables, as CodePipeline resolved them."""
    variables = action.get("input", {}).get("resolvedConfiguration", {}).get("EnvironmentVariables")
    try:
        return next((v.get("value") for v in json.loads(variables or "[]") if v.get("name") == "REVISION"), None)
    except (ValueError, AttributeError):
        return None


@dataclass(frozen=True)
class BreachRequest:
    pipeline: str
    execution_id: str
    stage: str
    services: Mapping[str, str]
    repo_url: str
    env: str
    branch: str = "main"
    mode: str = "commit"
    github_api_url: str | None = None


# (revision, description) -> the statuses of that commit made `failure`
MarkFailed = Callable[[str, str], None]


def revert_breach(req: BreachRequest, revert_request: Callable[[RevertRequest], RevertResult], *,
                  client: Any = None, mark_failed: MarkFailed | None = None) -> tuple[str, RevertResult | None]:
    """Revert the release whose bake the execution's alarms failed; (what happened, the revert)."""
    service = req.services.get(req.pipeline)
    if service is None:
        raise UsageError(f"pipeline {req.pipeline!r} is not one of this stack's gated pipelines "
                         f"({', '.join(sorted(req.services))}): check the event rule's pattern")
    breach = read_breach(req.pipeline, req.execution_id, req.stage, client or codepipeline_client(None))
    if breach.revision is None:
        return (f"{req.pipeline} {req.execution_id}: {req.stage} failed in an action, not in the bake; "
                "that action reverted already (never twice): nothing to do"), None
    alarms = ", ".join(breach.alarms)
    if mark_failed is not None:
        mark_failed(breach.revision, f"bake failed: {alarms} in ALARM; reverted")
    result = revert_request(RevertRequest(
        repo_url=req.repo_url, env=req.env, service=service, action="revert",
        reason=f"bake failed: {alarms} in ALARM", revision=breach.revision, branch=req.branch,
        mode=req.mode, execution_id=req.execution_id, github_api_url=req.github_api_url))
    return f"{req.pipeline} {req.execution_id}: {service} {breach.revision[:12]} breached the bake ({alarms})", result


def github_mark_failed(repo_url: str, env: str, api_url: str | None, token: str | None
                       ) -> MarkFailed | str:
    """Marks the pending `delivery/<env>/<region>` statuses of a commit `failure` on GitHub; on
    another forge, why there are none."""
    from gitops.verification.report import GitHubRepository

    forge = GitHubRepository.at(repo_url, api_url, token)
    if isinstance(forge, str):
        return forge

    def mark(sha: str, description: str) -> None:
        for context, state in forge.verification_states(sha, env).items():
            if state == "pending":
                forge.set_status(sha, context, "failure", description, None)
    return mark

