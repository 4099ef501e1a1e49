"""Who approved: `promote --approved-by-from-pipeline` reads the approver of the execution's manual
approval from CodePipeline (ListActionExecutions, through a real boto3 client whose answers come
from botocore's Stubber, checked against the CodePipeline API model) and records it as the
Approved-By trailer; when it cannot be known the promotion goes on without it, saying why."""

from __future__ import annotations

import json
import socket
import threading
from datetime import UTC, datetime

import boto3
import pytest
from botocore.config import Config

from gitops.governance import trailers
from gitops.cli import main
from gitops.clients import aws
from gitops.clients.codepipeline import Approver, codepipeline_client, find_approver

PIPELINE = "shop-api-prod"
EXECUTION = "3137f7cb-8d7f-4c3b-9d5b-2a3f2c0e6e11"
JANE = "arn:aws:sts::111111111111:assumed-role/approver/jane"
ALEX = "arn:aws:iam::111111111111:user/alex"
REQUEST = {"pipelineName": PIPELINE, "filter": {"pipelineExecutionId": EXECUTION}}
WITHOUT = "; promoting without an Approved-By trailer"


@pytest.fixture
def stubbed(codepipeline, monkeypatch):
    """The Stubber's CodePipeline client (conftest), which the CLI gets too."""
    client, _ = codepipeline
    monkeypatch.setattr("gitops.clients.codepipeline.codepipeline_client", lambda region: client)
    return codepipeline


def action(category: str, status: str, updated_by: str | None = None, minute: int = 0,
           stage: str = "Approval", name: str = "Approve") -> dict:
    provider = {"Approval": "Manual", "Build": "CodeBuild"}[category]
    detail = {"pipelineExecutionId": EXECUTION, "actionExecutionId": f"{stage}-{name}-{minute}",
              "pipelineVersion": 3, "stageName": stage, "actionName": name, "status": status,
              "startTime": datetime(2024, 12, 20, 10, 0, tzinfo=UTC),
              "lastUpdateTime": datetime(2024, 12, 20, 10, minute, tzinfo=UTC),
              "input": {"actionTypeId": {"category": category, "owner": "AWS", "provider": provider,
                                         "version": "1"}}}
    if updated_by:
        detail["updatedBy"] = updated_by
    return detail


BUILD = action("Build", "Succeeded", stage="Resolve", name="ResolveImage")


def test_the_approver_is_who_approved_the_execution(stubbed):
    client, stubber = stubbed
    stubber.add_response("list_action_executions", {"actionExecutionDetails": [
        BUILD, action("Approval", "Succeeded", JANE, minute=5)]}, REQUEST)
    assert find_approver(PIPELINE, EXECUTION, client) == Approver(JANE, None)


def test_a_retried_approval_stage_counts_its_last_approval(stubbed):
    """Rejected by alex, the stage retried and approved by jane, then by alex on a second retry
    listed on the next page: the last approval that succeeded is the one the promotion ran on."""
    client, stubber = stubbed
    stubber.add_response("list_action_executions", {"nextToken": "page-2", "actionExecutionDetails": [
        action("Approval", "Failed", ALEX, minute=1), action("Approval", "Succeeded", JANE, minute=9),
        BUILD]}, REQUEST)
    stubber.add_response("list_action_executions", {"actionExecutionDetails": [
        action("Approval", "Succeeded", ALEX, minute=30), action("Approval", "Abandoned", JANE, 40)]},
        {**REQUEST, "nextToken": "page-2"})
    assert find_approver(PIPELINE, EXECUTION, client) == Approver(ALEX, None)


@pytest.mark.parametrize("details", [[BUILD], [], [action("Approval", "Succeeded")]],
                         ids=["no approval action", "nothing", "no updatedBy"])
def test_no_approved_approval_is_a_note(stubbed, details):
    client, stubber = stubbed
    stubber.add_response("list_action_executions", {"actionExecutionDetails": details}, REQUEST)
    assert find_approver(PIPELINE, EXECUTION, client) == Approver(None, (
        f"note: execution {EXECUTION} of pipeline {PIPELINE} has no approved manual approval (the "
        "pipeline may have none); no Approved-By trailer"))


@pytest.mark.parametrize("code,status,warning", [
    ("AccessDeniedException", 400, f"not allowed to read the approval of execution {EXECUTION} of "
     f"pipeline {PIPELINE} (User: arn:aws:sts::1:assumed-role/promote is not authorized); the role "
     "needs codepipeline:ListActionExecutions on the pipeline"),
    ("ThrottlingException", 400, f"CodePipeline throttled the read of the approval of execution "
     f"{EXECUTION} of pipeline {PIPELINE} after 3 attempts"),
    ("PipelineNotFoundException", 400, f"no pipeline {PIPELINE} in us-east-1; check the name and "
     "AWS_REGION"),
    ("PipelineExecutionNotFoundException", 400, f"reading the approval of execution {EXECUTION} of "
     f"pipeline {PIPELINE} failed (PipelineExecutionNotFoundException: User: "
     "arn:aws:sts::1:assumed-role/promote is not authorized)"),
])
def test_a_failed_read_is_a_warning_naming_the_fix(stubbed, code, status, warning):
    client, stubber = stubbed
    stubber.add_client_error("list_action_executions", service_error_code=code,
                             service_message="User: arn:aws:sts::1:assumed-role/promote is not "
                                             "authorized", http_status_code=status,
                             expected_params=REQUEST)
    assert find_approver(PIPELINE, EXECUTION, client) == Approver(None, f"warning: {warning}{WITHOUT}")


def test_an_unreachable_codepipeline_is_a_warning():
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    client = boto3.client("codepipeline", region_name="eu-west-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing", endpoint_url=f"http://127.0.0.1:{port}",
                          config=Config(retries={"total_max_attempts": 1}))
    found = find_approver(PIPELINE, EXECUTION, client)
    assert found.arn is None and found.notice.startswith(
        f"warning: cannot read the approval of execution {EXECUTION} of pipeline {PIPELINE}: "
        f"Could not connect to the endpoint URL")
    assert found.notice.endswith(WITHOUT) and "\n" not in found.notice


class StalledEndpoint:
    """A TCP server on 127.0.0.1 that accepts every connection and never answers."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        self.connections: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._server.accept()
            except OSError:
                return
            self.connections.append(connection)

    def __enter__(self) -> StalledEndpoint:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        # shutdown wakes the blocked accept(); a bare close would leave it waiting on a descriptor
        # number the next test's servers may reuse.
        self._server.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=10)
        self._server.close()
        for connection in self.connections:
            connection.close()


def test_a_stalled_codepipeline_costs_seconds_not_minutes(monkeypatch):
    # What botocore would make of the client's settings in the worst case, every try timing out:
    # ATTEMPTS tries of a connect and a read, plus standard mode's backoff (at most 2^n s each).
    worst = aws.ATTEMPTS * (aws.CONNECT_TIMEOUT_S
                                         + aws.READ_TIMEOUT_S) + sum(
        2 ** n for n in range(aws.ATTEMPTS - 1))
    assert worst <= 30
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    # The client really applies them: shortened here, every try ends on its read timeout.
    monkeypatch.setattr(aws, "READ_TIMEOUT_S", 0.2)
    with StalledEndpoint() as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL_CODEPIPELINE", endpoint.url)
        client = codepipeline_client("eu-west-1")
        assert (client.meta.config.connect_timeout, client.meta.config.read_timeout) == (
            aws.CONNECT_TIMEOUT_S, 0.2)
        found = find_approver(PIPELINE, EXECUTION, client)
        assert len(endpoint.connections) == aws.ATTEMPTS
    assert found.arn is None and found.notice.startswith(
        f"warning: cannot read the approval of execution {EXECUTION} of pipeline {PIPELINE}: "
        "Read timeout on endpoint URL")
    assert found.notice.endswith(WITHOUT)


# --- promote ------------------------------------------------------------------------------------

def _promote(capsys, repo, token_env, *extra: str) -> tuple[int, str, str]:
    code = main(["promote", "--repo", repo.url, "--token-env", token_env, "--env", "prod",
                 "--service", "api", "--tag", "2.0.0", "--output", "json", *extra])
    out, err = capsys.readouterr()
    return code, out, err


def test_promote_records_the_approver_in_the_commit(gitops_repo, token_env, capsys, stubbed):
    _, stubber = stubbed
    stubber.add_response("list_action_executions", {"actionExecutionDetails": [
        action("Approval", "Succeeded", JANE)]}, REQUEST)
    code, out, err = _promote(capsys, gitops_repo, token_env, "--execution-id", EXECUTION,
                              "--approved-by-from-pipeline", PIPELINE)
    assert (code, err) == (0, "")
    assert json.loads(out)["approved_by"] == JANE
    found = trailers.parse(gitops_repo.show("%B"))
    assert (found[trailers.APPROVER], found[trailers.EXECUTION]) == (JANE, EXECUTION)


def test_an_unknown_approver_never_stops_the_promotion(gitops_repo, token_env, capsys, stubbed):
    _, stubber = stubbed
    stubber.add_client_error("list_action_executions", service_error_code="AccessDeniedException",
                             service_message="denied", expected_params=REQUEST)
    code, out, err = _promote(capsys, gitops_repo, token_env, "--execution-id", EXECUTION,
                              "--approved-by-from-pipeline", PIPELINE)
    assert code == 0 and json.loads(out)["action"] == "committed"
    assert err.startswith("warning: not allowed to read the approval") and err.count("\n") == 1
    assert trailers.APPROVER not in trailers.parse(gitops_repo.show("%B"))


def test_the_pull_request_carries_the_approver(gitops_repo, token_env, capsys, stubbed):
    from sandbox.github_api import FakeGitHub

    _, stubber = stubbed
    stubber.add_response("list_action_executions", {"actionExecutionDetails": [
        action("Approval", "Succeeded", JANE)]}, REQUEST)
    with FakeGitHub(token=gitops_repo.token) as fake:
        fake_repo = fake.add_repo(gitops_repo.url.split("/", 3)[3].removesuffix(".git"))
        code, out, err = _promote(capsys, gitops_repo, token_env, "--mode", "pull-request",
                                  "--github-api-url", fake.api_url, "--execution-id", EXECUTION,
                                  "--approved-by-from-pipeline", PIPELINE)
        assert code == 0, err
        pr = fake_repo.pulls[json.loads(out)["pr_number"]]
    assert f"| Approved by | `{JANE}` |" in pr.body
    assert trailers.parse_block(pr.body)[trailers.APPROVER] == JANE


@pytest.mark.parametrize("extra,message", [
    (["--approved-by-from-pipeline", PIPELINE],
     "--approved-by-from-pipeline needs --execution-id: the execution approved"),
    (["--approved-by-from-pipeline", "codepipeline/shop", "--execution-id", EXECUTION],
     "--approved-by-from-pipeline 'codepipeline/shop' is not a pipeline name"),
])
def test_bad_approval_arguments_are_usage_errors_before_anything_is_read(
        gitops_repo, token_env, capsys, stubbed, extra, message):
    refs = gitops_repo.refs()
    code, out, err = _promote(capsys, gitops_repo, token_env, *extra)
    assert code == 2 and message in err and err.count("\n") == 1
    assert gitops_repo.refs() == refs


def test_an_approver_with_a_line_break_is_left_out_unshown_and_the_promotion_goes_on(
        gitops_repo, token_env, capsys, stubbed):
    _, stubber = stubbed
    forged = f"{JANE}\nApproved-By: arn:aws:iam::111111111111:root"
    stubber.add_response("list_action_executions", {"actionExecutionDetails": [
        action("Approval", "Succeeded", forged)]}, REQUEST)
    code, out, err = _promote(capsys, gitops_repo, token_env, "--execution-id", EXECUTION,
                              "--approved-by-from-pipeline", PIPELINE)
    assert code == 0 and json.loads(out)["approved_by"] is None
    assert err == (f"warning: the approver CodePipeline recorded for execution {EXECUTION} of pipeline "
                   f"{PIPELINE} is not one line of printable characters (not shown){WITHOUT}\n")
    assert trailers.APPROVER not in trailers.parse(gitops_repo.show("%B"))
    assert "root" not in gitops_repo.show("%B")
