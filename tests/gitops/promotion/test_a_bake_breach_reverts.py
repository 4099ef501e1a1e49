"""A bake breach: after the Verify stage of a gated pipeline failed, `revert-breach` reads the
execution from CodePipeline (ListRuleExecutions, ListActionExecutions through a real boto3 client
whose answers come from botocore's Stubber, checked against the API model) and, when a bake alarm
rule failed the stage, marks the verified commit's pending statuses failure and reverts it on the
real test git server with verify's revert. An action's failure reverted already: nothing happens."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from gitops.cli import main
from gitops.errors import CredentialsError, GitopsError, UsageError
from gitops.promotion.bake_breach import BreachRequest, revert_breach
from gitops.promotion.revert import revert
from tests.gitops.promotion.test_revert_restores_the_last_verified_version import (VALUES, Statuses, client,
                                                                                  digest, set_version)
from tests.gitops.conftest import values_yaml

PIPELINE = "shop-api-staging"
EXECUTION = "3137f7cb-8d7f-4c3b-9d5b-2a3f2c0e6e11"
WHERE = {"pipelineName": PIPELINE, "filter": {"pipelineExecutionId": EXECUTION}}
SERVICES = {PIPELINE: "api", "shop-web-staging": "web"}
AT = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)


def rule(name: str, status: str, provider: str = "CloudWatchAlarm", stage: str = "Verify") -> dict:
    return {"pipelineExecutionId": EXECUTION, "ruleExecutionId": f"{name}-1", "stageName": stage,
            "ruleName": name, "status": status, "startTime": AT, "lastUpdateTime": AT,
            "input": {"ruleTypeId": {"category": "Rule", "owner": "AWS", "provider": provider, "version": "1"},
                      "configuration": {"AlarmName": "api-5xx", "WaitTime": "30"}}}


def verify_action(region: str, revision: str, status: str = "Succeeded") -> dict:
    variables = [{"name": "REVISION", "value": revision, "type": "PLAINTEXT"},
                 {"name": "EXECUTION_ID", "value": EXECUTION, "type": "PLAINTEXT"}]
    return {"pipelineExecutionId": EXECUTION, "actionExecutionId": f"verify-{region}", "stageName": "Verify",
            "actionName": f"Verify-{region}", "status": status, "startTime": AT, "lastUpdateTime": AT,
            "input": {"actionTypeId": {"category": "Test", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
                      "resolvedConfiguration": {"ProjectName": f"shop-api-staging-verify-{region}",
                                                "EnvironmentVariables": json.dumps(variables)}}}


def request(repo, pipeline: str = PIPELINE) -> BreachRequest:
    return BreachRequest(pipeline=pipeline, execution_id=EXECUTION, stage="Verify", services=SERVICES,
                         repo_url=repo.url, env="staging")


@pytest.fixture
def released(gitops_repo):
    """v1 verified in both regions; v2 promoted, verified and left pending for the bake."""
    statuses = Statuses()
    shas = {n: set_version(gitops_repo, n) for n in (1, 2)}
    statuses.set(shas[1], us_east_1="success", eu_west_1="success")
    statuses.set(shas[2], us_east_1="pending", eu_west_1="pending")
    return gitops_repo, shas, statuses


def test_an_alarm_breaching_the_bake_reverts_the_verified_commit(released, codepipeline):
    repo, shas, statuses = released
    cp, stubber = codepipeline
    stubber.add_response("list_rule_executions", {"ruleExecutionDetails": [
        rule("Bake1-api-latency", "Succeeded"), rule("Bake2-api-5xx", "Failed")]}, WHERE)
    stubber.add_response("list_action_executions", {"actionExecutionDetails": [
        verify_action("us-east-1", shas[2]), verify_action("eu-west-1", shas[2])]}, WHERE)
    marked = []

    def mark(sha: str, text: str) -> None:
        marked.append((sha, text))
        statuses.by_sha[sha] = {context: "failure" for context in statuses.by_sha[sha]}

    happened, result = revert_breach(request(repo), lambda r: revert(r, client(repo), states=statuses),
                                     client=cp, mark_failed=mark)
    assert marked == [(shas[2], "bake failed: Bake2-api-5xx in ALARM; reverted")]
    assert (result.bad_tag, result.restored_tag, result.restored_from) == ("v2", "v1", shas[1])
    assert repo.file(VALUES).decode() == values_yaml("api", "v1", digest(1))
    assert happened == f"{PIPELINE} {EXECUTION}: api {shas[2][:12]} breached the bake (Bake2-api-5xx)"


def test_an_action_failure_reverted_already_and_is_not_reverted_twice(released, codepipeline):
    repo, shas, statuses = released
    cp, stubber = codepipeline
    # The stage failed in an action: the bake never started, its rules were not run.
    stubber.add_response("list_rule_executions", {"ruleExecutionDetails": [
        rule("ReleaseWindow", "Succeeded", provider="DeploymentWindow", stage="Promote")]}, WHERE)
    refs = repo.refs()
    happened, result = revert_breach(request(repo), lambda r: pytest.fail("reverted twice"), client=cp,
                                     mark_failed=lambda sha, text: pytest.fail("marked"))
    assert result is None and repo.refs() == refs
    assert "failed in an action, not in the bake" in happened and "never twice" in happened


def test_an_unknown_pipeline_is_refused_in_one_line(released, codepipeline):
    repo, _, _ = released
    cp, _ = codepipeline  # no call expected: the stubber fails on any
    with pytest.raises(UsageError, match=r"^pipeline 'shop-db-staging' is not one of this stack's gated "
                                         r"pipelines \(shop-api-staging, shop-web-staging\)"):
        revert_breach(request(repo, "shop-db-staging"), revert, client=cp)


def test_actions_that_verified_different_commits_are_not_guessed(released, codepipeline):
    repo, shas, _ = released
    cp, stubber = codepipeline
    stubber.add_response("list_rule_executions", {"ruleExecutionDetails": [rule("Bake1-api-5xx", "Failed")]}, WHERE)
    stubber.add_response("list_action_executions", {"actionExecutionDetails": [
        verify_action("us-east-1", shas[2]), verify_action("eu-west-1", shas[1])]}, WHERE)
    with pytest.raises(UsageError, match="not one commit; revert by hand"):
        revert_breach(request(repo), revert, client=cp)


@pytest.mark.parametrize("code, error, raised", [
    ("AccessDeniedException", "the role needs codepipeline:ListRuleExecutions on the pipeline", CredentialsError),
    ("PipelineExecutionNotFoundException", "ListRuleExecutions for execution 3137f7cb-8d7f-4c3b-9d5b-2a3f2c0e6e11 "
                                           "of shop-api-staging failed (PipelineExecutionNotFoundException",
     GitopsError),
])
def test_a_failed_read_of_the_execution_is_one_line(released, codepipeline, code, error, raised):
    repo, _, _ = released
    cp, stubber = codepipeline
    stubber.add_client_error("list_rule_executions", code, "no", http_status_code=400, expected_params=WHERE)
    with pytest.raises(raised) as caught:
        revert_breach(request(repo), revert, client=cp)
    assert error in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("services, error", [
    ("{", "--services is not JSON"),
    ("[]", "--services must be an object of 1 to 1000 pipelines"),
    ('{"shop api": "api"}', "is not a pipeline name"),
])
def test_the_cli_refuses_a_bad_service_map_in_one_line(services, error, gitops_repo, capsys):
    code = main(["revert-breach", "--pipeline", PIPELINE, "--execution-id", EXECUTION, "--stage", "Verify",
                 "--services", services, "--repo", gitops_repo.url, "--env", "staging"])
    err = capsys.readouterr().err
    assert code == UsageError.exit_code and error in err and len(err.strip().splitlines()) == 1


def test_the_cli_does_nothing_after_an_action_failure(gitops_repo, codepipeline, monkeypatch, capsys, token_env):
    cp, stubber = codepipeline
    monkeypatch.setattr("gitops.promotion.bake_breach.codepipeline_client", lambda region: cp)
    stubber.add_response("list_rule_executions", {"ruleExecutionDetails": []}, WHERE)
    code = main(["revert-breach", "--pipeline", PIPELINE, "--execution-id", EXECUTION, "--stage", "Verify",
                 "--services", json.dumps(SERVICES), "--repo", gitops_repo.url, "--env", "staging",
                 "--token-env", token_env, "--output", "json"])
    answer = json.loads(capsys.readouterr().out)
    assert code == 0 and answer["revert"] is None and "nothing to do" in answer["outcome"]
