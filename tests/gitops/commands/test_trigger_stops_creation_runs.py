"""`gitops trigger` against CodePipeline's API model (botocore's Stubber checks every request and
answer): the run CodePipeline starts when it creates a pipeline is stopped (stop and wait) and
named on stdout; any other trigger only printed; failures one line."""

from __future__ import annotations

import json

import boto3
import pytest

from gitops.cli import main
from gitops.clients.codepipeline import CREATION_RUN_REASON
from gitops.governance import creation_run

PIPELINE = "shop-api-staging"
EXECUTION = "3137f7cb-8d7f-4c3b-9d5b-2a3f2c0e6e11"
GET = {"pipelineName": PIPELINE, "pipelineExecutionId": EXECUTION}
STOP = {**GET, "abandon": False, "reason": CREATION_RUN_REASON}


def execution(trigger_type: str) -> dict:
    return {"pipelineExecution": {"pipelineName": PIPELINE, "pipelineExecutionId": EXECUTION, "status": "InProgress",
                                  "trigger": {"triggerType": trigger_type, "triggerDetail": "x"}}}


@pytest.fixture
def stubbed(codepipeline, monkeypatch):
    client, stubber = codepipeline
    monkeypatch.setattr(creation_run, "codepipeline_client", lambda region: client)
    monkeypatch.setenv("CODEBUILD_INITIATOR", f"codepipeline/{PIPELINE}")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    return stubber


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["trigger", "--execution-id", EXECUTION, *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_creation_run_is_stopped_and_named(stubbed, capsys):
    stubbed.add_response("get_pipeline_execution", execution("CreatePipeline"), GET)
    stubbed.add_response("stop_pipeline_execution", {"pipelineExecutionId": EXECUTION}, STOP)
    code, out, err = run(capsys, "--stop-if-created")
    assert (code, out) == (0, "CreatePipeline\n")
    assert "nothing is built, promoted, verified or reverted" in err and "stops once its running actions end" in err


@pytest.mark.parametrize("answer", ["DuplicatedStopRequestException", "PipelineExecutionNotStoppableException"])
def test_a_run_another_action_stopped_already_is_fine(stubbed, capsys, answer):
    # The Verify actions of every region run in parallel: each asks, one is first.
    stubbed.add_response("get_pipeline_execution", execution("CreatePipeline"), GET)
    stubbed.add_client_error("stop_pipeline_execution", answer, "already", http_status_code=400, expected_params=STOP)
    code, out, err = run(capsys, "--stop-if-created")
    assert (code, out) == (0, "CreatePipeline\n") and f"stopping or over already ({answer})" in err


@pytest.mark.parametrize("kind", ["WebhookV2", "CloudWatchEvent", "StartPipelineExecution"])
def test_any_other_trigger_is_printed_and_nothing_stopped(stubbed, capsys, kind):
    stubbed.add_response("get_pipeline_execution", execution(kind), GET)
    code, out, err = run(capsys, "--stop-if-created")
    assert (code, out) == (0, f"{kind}\n") and f"started by {kind}" in err


def test_without_stop_a_creation_run_is_only_named(stubbed, capsys):
    stubbed.add_response("get_pipeline_execution", execution("CreatePipeline"), GET)
    assert run(capsys)[:2] == (0, "CreatePipeline\n")


def test_json_says_whether_the_run_is_stopping(stubbed, capsys):
    stubbed.add_response("get_pipeline_execution", execution("CreatePipeline"), GET)
    stubbed.add_response("stop_pipeline_execution", {"pipelineExecutionId": EXECUTION}, STOP)
    code, out, _ = run(capsys, "--stop-if-created", "--output", "json")
    assert code == 0 and json.loads(out) == {"trigger": "CreatePipeline", "stopping": True}


def test_outside_a_pipeline_there_is_nothing_to_check(monkeypatch, capsys):
    # A build started by hand or by an EventBridge rule: CODEBUILD_INITIATOR names no pipeline.
    monkeypatch.setenv("CODEBUILD_INITIATOR", "jane")
    code, out, err = run(capsys, "--stop-if-created")
    assert (code, out) == (0, "none\n") and "not a pipeline execution" in err
    assert main(["trigger", "--pipeline", PIPELINE, "--execution-id", ""]) == 0


@pytest.mark.parametrize("code_name, exit_code, message", [
    ("AccessDeniedException", 7, "the role needs codepipeline:GetPipelineExecution on the pipeline"),
    ("PipelineExecutionNotFoundException", 1, "GetPipelineExecution for execution"),
    ("ThrottlingException", 1, "throttled GetPipelineExecution"),
])
def test_a_failed_read_is_one_line_and_fails_the_step(stubbed, capsys, code_name, exit_code, message):
    stubbed.add_client_error("get_pipeline_execution", code_name, "no", http_status_code=400, expected_params=GET)
    code, out, err = run(capsys, "--stop-if-created")
    assert (code, out) == (exit_code, "") and message in err and len(err.strip().splitlines()) == 1


def test_a_refused_stop_fails_the_step(stubbed, capsys):
    # Not knowing whether the run stops, the step must not go on as if it had.
    stubbed.add_response("get_pipeline_execution", execution("CreatePipeline"), GET)
    stubbed.add_client_error("stop_pipeline_execution", "AccessDeniedException", "no", http_status_code=400,
                             expected_params=STOP)
    code, out, err = run(capsys, "--stop-if-created")
    assert code == 7 and out == "" and "codepipeline:StopPipelineExecution" in err


@pytest.mark.parametrize("argv, message", [
    (["--pipeline", "shop api"], "is not a CodePipeline name"),
    (["--pipeline", PIPELINE, "--execution-id", "1234"], "is not a CodePipeline execution id"),
])
def test_bad_names_are_usage_errors(capsys, argv, message):
    assert main(["trigger", "--execution-id", EXECUTION, *argv]) == 2
    assert message in capsys.readouterr().err


def test_no_credentials_or_no_region_is_one_line(monkeypatch, capsys):
    monkeypatch.setenv("CODEBUILD_INITIATOR", f"codepipeline/{PIPELINE}")
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
                 "AWS_DEFAULT_REGION", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # A new process's default session: an earlier test's resolved credentials stay cached in it.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    code, out, err = run(capsys)
    assert (code, out) == (2, "") and "no region for the pipeline" in err
    code, out, err = run(capsys, "--region", "us-east-1")
    assert (code, out) == (7, "") and "no AWS credentials to call CodePipeline" in err
    assert len(err.strip().splitlines()) == 1
