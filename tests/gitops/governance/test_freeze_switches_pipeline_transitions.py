"""freeze --pipelines: the Promote stage's inbound transition disabled and re-enabled through
boto3, with botocore's Stubber checking every request against the CodePipeline API model, and
the errors CodePipeline answers with."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import boto3
import botocore.session
import pytest
from botocore.stub import Stubber

from gitops.cli import main
from gitops.commands import freeze as freeze_command
from gitops.governance.transitions import (MAX_TRANSITION_REASON, PROMOTE_STAGE, TRANSITION_MARKER,
                                           held_execution_notes, pipeline_name, switch_transitions,
                                           transition_reason)

MODEL = botocore.session.get_session().get_service_model("codepipeline")


def _state(name: str, enabled: bool, reason: str | None = None, by: str = "arn:aws:iam::1:user/ops",
           stages=("Source", "Resolve", "Approval", PROMOTE_STAGE)) -> dict:
    states = []
    for stage in stages:
        transition = {"enabled": True}
        if stage == PROMOTE_STAGE and not enabled:
            transition = {"enabled": False, "disabledReason": reason, "lastChangedBy": by,
                          "lastChangedAt": datetime(2024, 12, 20, tzinfo=UTC)}
        states.append({"stageName": stage, "inboundTransitionState": transition})
    return {"pipelineName": name, "pipelineVersion": 3, "stageStates": states}


def _transition(name: str, **extra) -> dict:
    return {"pipelineName": name, "stageName": PROMOTE_STAGE, "transitionType": "Inbound", **extra}


def test_the_console_reason_fits_the_model():
    shape = MODEL.shape_for("DisabledReason")
    reason = transition_reason("prod", "api", datetime(2024, 12, 27, 7, tzinfo=UTC),
                               "year-end: no deploys, it's a 'holiday' — ask #release ✓" + " x" * 400,
                               ZoneInfo("Europe/Berlin"))
    assert re.fullmatch(shape.metadata["pattern"], reason)
    assert shape.metadata["min"] <= len(reason) <= shape.metadata["max"] == MAX_TRANSITION_REASON
    assert reason.startswith(f"{TRANSITION_MARKER} api in prod until 2024-12-27 08.00 CET - year-end no "
                             "deploys it s a holiday ask release x x")


def test_disable_changes_only_enabled_transitions(codepipeline):
    client, stubber = codepipeline
    reason = "gitops freeze prod until 2024-12-27 08.00 CET - year end"
    stubber.add_response("get_pipeline_state", _state("shop-api-prod", True), {"name": "shop-api-prod"})
    stubber.add_response("disable_stage_transition", {}, _transition("shop-api-prod", reason=reason))
    stubber.add_response("get_pipeline_state", _state("shop-web-prod", False, "migration"),
                         {"name": "shop-web-prod"})
    changes = switch_transitions(client, ["shop-api-prod", "shop-web-prod"], enable=False, reason=reason)
    assert [(c.pipeline, c.outcome, c.detail) for c in changes] == [
        ("shop-api-prod", "disabled", reason), ("shop-web-prod", "already disabled", "migration")]


def test_enable_reopens_only_what_a_freeze_closed(codepipeline):
    client, stubber = codepipeline
    stubber.add_response("get_pipeline_state", _state("shop-api-prod", False, f"{TRANSITION_MARKER} prod"),
                         {"name": "shop-api-prod"})
    stubber.add_response("enable_stage_transition", {}, _transition("shop-api-prod"))
    stubber.add_response("get_pipeline_state", _state("shop-web-prod", False, "database migration"),
                         {"name": "shop-web-prod"})
    stubber.add_response("get_pipeline_state", _state("shop-worker-prod", True), {"name": "shop-worker-prod"})
    changes = switch_transitions(client, ["shop-api-prod", "shop-web-prod", "shop-worker-prod"], enable=True)
    assert [(c.pipeline, c.outcome) for c in changes] == [
        ("shop-api-prod", "enabled"), ("shop-web-prod", "left disabled"), ("shop-worker-prod", "already enabled")]
    assert changes[1].detail == ("disabled by arn:aws:iam::1:user/ops for 'database migration', "
                                 "not by a freeze")


def test_errors_are_reported_per_pipeline_and_the_others_still_switch(codepipeline):
    client, stubber = codepipeline
    stubber.add_client_error("get_pipeline_state", "PipelineNotFoundException",
                             "The account with id '1' does not include a pipeline with the name 'shop-gone-prod'",
                             400, expected_params={"name": "shop-gone-prod"})
    stubber.add_response("get_pipeline_state", _state("shop-api-prod", True), {"name": "shop-api-prod"})
    stubber.add_client_error("disable_stage_transition", "StageNotFoundException", "Stage not found", 400,
                             expected_params=_transition("shop-api-prod", reason="r"))
    stubber.add_response("get_pipeline_state", _state("shop-web-prod", True), {"name": "shop-web-prod"})
    stubber.add_client_error("disable_stage_transition", "ThrottlingException", "Rate exceeded", 400,
                             expected_params=_transition("shop-web-prod", reason="r"))
    stubber.add_response("get_pipeline_state", _state("shop-old-prod", True, stages=("Source", "Deploy")),
                         {"name": "shop-old-prod"})
    stubber.add_response("get_pipeline_state", _state("shop-ok-prod", True), {"name": "shop-ok-prod"})
    stubber.add_response("disable_stage_transition", {}, _transition("shop-ok-prod", reason="r"))
    changes = switch_transitions(client, ["shop-gone-prod", "shop-api-prod", "shop-web-prod",
                                          "shop-old-prod", "shop-ok-prod"], enable=False, reason="r")
    assert [(c.outcome, c.detail.split(" (")[0]) for c in changes] == [
        ("failed", "no such pipeline; check --app and --region"),
        ("failed", "no stage Promote"),
        ("failed", "throttled by CodePipeline after retries; run the command again"),
        ("failed", "has no stage Promote; nothing changed"),
        ("disabled", "r")]


def test_the_stubbed_client_validates_requests_against_the_model():
    """What the tests above send passed botocore's validation of the model; a request it rejects
    never reaches the stubbed answer."""
    from botocore.exceptions import ParamValidationError

    client = boto3.client("codepipeline", region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    stubber = Stubber(client)
    stubber.add_response("disable_stage_transition", {})
    with stubber, pytest.raises(ParamValidationError, match="reason"):
        client.disable_stage_transition(pipelineName="p", stageName="Promote", transitionType="Inbound")


def test_pipeline_names_follow_the_program():
    from tests.conftest import stack_settings

    settings = stack_settings("prod")
    for service in settings.services:
        assert pipeline_name(settings.app, service.name, settings.env_name) == \
            settings.names.pipeline(service.name)


def test_cli_freeze_and_unfreeze_switch_the_transitions(gitops_repo, token_env, capsys, codepipeline,
                                                        monkeypatch):
    client, stubber = codepipeline
    regions = []
    monkeypatch.setattr(freeze_command, "codepipeline_client", lambda region: regions.append(region) or client)
    for service in ("api", "web", "worker"):
        name = f"shop-{service}-prod"
        stubber.add_response("get_pipeline_state", _state(name, True), {"name": name})
        stubber.add_response("disable_stage_transition", {}, _transition(
            name, reason="gitops freeze every service in prod until 2099-01-01 00.00 UTC - holiday freeze"))
    code = main(["freeze", "--repo", gitops_repo.url, "--token-env", token_env, "--env", "prod",
                 "--until", "2099-01-01T00:00Z", "--reason", "holiday freeze", "--pipelines",
                 "--app", "shop", "--region", "us-east-1"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.splitlines()[1:] == [
        f"  shop-{s}-prod: disabled (gitops freeze every service in prod until 2099-01-01 00.00 UTC - holiday freeze)"
        for s in ("api", "web", "worker")]
    assert regions == ["us-east-1"]
    # What CodePipeline does with what waits there, and that a freeze this long outlasts it.
    note, warning = err.splitlines()
    assert note.startswith("note: executions wait before Promote; re-enabling (unfreeze --pipelines) runs only "
                           "the latest revision waiting there, and nothing after 30 days disabled")
    assert warning.startswith("warning: the freeze lasts ") and "more than the 30 days" in warning

    # Unfreezing api alone: its environment-wide freeze stays, so nothing is re-enabled.
    assert main(["freeze", "--repo", gitops_repo.url, "--token-env", token_env, "--env", "prod",
                 "--service", "api", "--until", "2099-01-01T00:00Z", "--reason", "api too"]) == 0
    capsys.readouterr()
    code = main(["unfreeze", "--repo", gitops_repo.url, "--token-env", token_env, "--env", "prod",
                 "--service", "api", "--reason", "api done", "--pipelines", "--app", "shop",
                 "--output", "json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["still_frozen"] == ["api"] and result["transitions"] == []

    marker = "gitops freeze every service in prod until 2099-01-01 00.00 UTC - holiday freeze"
    stubber.add_response("get_pipeline_state", _state("shop-api-prod", False, marker), {"name": "shop-api-prod"})
    stubber.add_response("enable_stage_transition", {}, _transition("shop-api-prod"))
    stubber.add_response("get_pipeline_state", _state("shop-web-prod", False, marker), {"name": "shop-web-prod"})
    stubber.add_response("enable_stage_transition", {}, _transition("shop-web-prod"))
    stubber.add_client_error("get_pipeline_state", "PipelineNotFoundException", "no pipeline", 400,
                             expected_params={"name": "shop-worker-prod"})
    code = main(["unfreeze", "--repo", gitops_repo.url, "--token-env", token_env, "--env", "prod",
                 "--reason", "holidays over", "--pipelines", "--app", "shop"])
    out, err = capsys.readouterr()
    assert code == 1
    assert out.splitlines()[1:] == ["  shop-api-prod: enabled", "  shop-web-prod: enabled",
                                    "  shop-worker-prod: failed (no such pipeline; check --app and "
                                    "--region (no pipeline))"]
    assert err.splitlines() == [
        "note: each re-enabled transition runs only the latest revision waiting at it; a transition disabled "
        "more than 30 days resumes nothing: start those pipelines again (Release change)",
        "error: the transition of 1 pipeline(s) was not switched: shop-worker-prod (see above); the unfreeze "
        "itself is recorded"]
    assert gitops_repo.show("%s") == "unfreeze(prod)\n"


def test_a_freeze_longer_than_codepipeline_resumes_is_warned_about():
    now = datetime(2026, 12, 1, tzinfo=UTC)
    assert len(held_execution_notes(False, now, now + timedelta(days=30))) == 1
    (note, warning) = held_execution_notes(False, now, now + timedelta(days=31, hours=1))
    assert "runs only the latest revision" in note
    assert warning.startswith("warning: the freeze lasts 31 days, more than the 30 days")
    assert held_execution_notes(True, now)[0].startswith("note: each re-enabled transition runs only the latest")
