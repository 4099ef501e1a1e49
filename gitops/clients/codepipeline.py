"""CodePipeline as the CLI reads and changes it: the client, who approved an execution, what started
one (and stopping it), the action and rule executions of one.

The approver of a pipeline execution is the `updatedBy` of its manual approval's action execution
(ListActionExecutions filtered by the execution): the ARN of the identity that called
PutApprovalResult, which CloudTrail records too. `promote --approved-by-from-pipeline` writes it as
the `Approved-By` trailer. The trailer records an approval, it does not enforce one: CodePipeline
runs Promote only once the approval is given. So not finding the approver never stops a promotion.
When the execution has no approved approval (the pipeline has none), the trailer is left out with a
note; an approver that is not one printable line is left out with a warning that does not show it
(a line break would forge trailer lines). When the read fails (no permission, throttled after
retries, unreachable), it is left out with a warning that says what to fix.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gitops.clients.aws import ATTEMPTS, THROTTLED, bounded_client
from gitops.clients.credentials import is_access_denied
from gitops.errors import CredentialsError, GitopsError

APPROVAL_CATEGORY = "Approval"
# CodePipeline's PipelineName (its API model).
PIPELINE_NAME = re.compile(r"[A-Za-z0-9.@\-_]{1,100}")
_NEVER = datetime.min.replace(tzinfo=UTC)


# CodeBuild's CODEBUILD_INITIATOR when CodePipeline started the build: "codepipeline/<pipeline name>".
INITIATOR_PREFIX = "codepipeline/"


def initiating_pipeline() -> str:
    """The pipeline that started this CodeBuild build ($CODEBUILD_INITIATOR), or "" when none did
    (a build started by hand or by an EventBridge rule, or no CodeBuild at all)."""
    initiator = os.environ.get("CODEBUILD_INITIATOR", "")
    return initiator.removeprefix(INITIATOR_PREFIX) if initiator.startswith(INITIATOR_PREFIX) else ""


def codepipeline_client(region: str | None) -> Any:
    """A bounded CodePipeline client in `region` (default: $AWS_REGION): `aws.bounded_client`."""
    return bounded_client("codepipeline", region)


@dataclass(frozen=True)
class Approver:
    arn: str | None        # who approved; None when not known
    notice: str | None     # when not known, why: a "note: …" or "warning: …" line


def find_approver(pipeline: str, execution_id: str, client: Any = None) -> Approver:
    """Who gave the manual approval of `pipeline`'s execution `execution_id`: of its Approval
    actions that succeeded, the one that did last (a retried stage runs its approval again).
    `client` defaults to `codepipeline_client(None)`."""
    from botocore.exceptions import BotoCoreError, ClientError

    where = f"execution {execution_id} of pipeline {pipeline}"
    without = "promoting without an Approved-By trailer"
    try:
        client = client or codepipeline_client(None)
        pages = client.get_paginator("list_action_executions").paginate(
            pipelineName=pipeline, filter={"pipelineExecutionId": execution_id})
        approved = [detail for page in pages for detail in page["actionExecutionDetails"]
                    if detail.get("input", {}).get("actionTypeId", {}).get("category")
                    == APPROVAL_CATEGORY and detail.get("status") == "Succeeded"]
    except ClientError as e:
        return Approver(None, f"warning: {_read_error(e, pipeline, where, client.meta.region_name)}; "
                              f"{without}")
    except BotoCoreError as e:
        return Approver(None, f"warning: cannot read the approval of {where}: "
                              f"{' '.join(str(e).split())}; {without}")
    latest = max(approved, key=lambda detail: detail.get("lastUpdateTime") or _NEVER, default=None)
    if latest is None or not latest.get("updatedBy"):
        return Approver(None, f"note: {where} has no approved manual approval (the pipeline may "
                              "have none); no Approved-By trailer")
    approver = latest["updatedBy"]
    if not isinstance(approver, str) or not approver.isprintable():
        # Not shown: a value with a line break would forge lines of the commit's trailers.
        return Approver(None, f"warning: the approver CodePipeline recorded for {where} is not one "
                              f"line of printable characters (not shown); {without}")
    return Approver(approver, None)


def _read_error(e: Any, pipeline: str, where: str, region: str) -> str:
    code = e.response.get("Error", {}).get("Code", "")
    message = e.response.get("Error", {}).get("Message", "")
    if is_access_denied(e):
        return (f"not allowed to read the approval of {where} ({message}); the role needs "
                "codepipeline:ListActionExecutions on the pipeline")
    if code in THROTTLED:
        return f"CodePipeline throttled the read of the approval of {where} after {ATTEMPTS} attempts"
    if code == "PipelineNotFoundException":
        return f"no pipeline {pipeline} in {region}; check the name and AWS_REGION"
    return f"reading the approval of {where} failed ({code}: {message})"


# What started an execution (GetPipelineExecution's `trigger.triggerType`): CodePipeline starts
# every pipeline once when it creates it ("When a pipeline is created, a pipeline execution starts
# automatically. This is the CreatePipeline trigger type": user guide, "Start a pipeline").
CREATE_PIPELINE = "CreatePipeline"
# StopPipelineExecution's reason, at most 200 characters (its API model).
CREATION_RUN_REASON = ("Started by the pipeline's creation: this run builds, promotes, verifies and reverts "
                       "nothing. Release a change to deliver.")
# Answers of StopPipelineExecution that mean the execution is stopping or over already (another
# action of the same run asked first, or the run ended): nothing left to stop.
_ALREADY_STOPPING = ("DuplicatedStopRequestException", "PipelineExecutionNotStoppableException")


def execution_trigger(pipeline: str, execution_id: str, client: Any) -> str:
    """The trigger type of `pipeline`'s execution `execution_id` (e.g. "CreatePipeline",
    "WebhookV2", "StartPipelineExecution", "CloudWatchEvent"); a failed read is one line."""
    where = f"execution {execution_id} of pipeline {pipeline}"
    execution = call(client, "get_pipeline_execution", where,
                     pipelineName=pipeline, pipelineExecutionId=execution_id)["pipelineExecution"]
    trigger = execution.get("trigger", {}).get("triggerType")
    if not isinstance(trigger, str) or not trigger:
        raise GitopsError(f"CodePipeline gave no trigger for {where}")
    return trigger


def stop_execution(pipeline: str, execution_id: str, reason: str, client: Any) -> str:
    """Stop `pipeline`'s execution `execution_id` after its running actions end (stop and wait, not
    abandon: the action asking is one of them, and ends by itself); what happened, in words."""
    where = f"execution {execution_id} of pipeline {pipeline}"
    answer = call(client, "stop_pipeline_execution", where, tolerated=_ALREADY_STOPPING, pipelineName=pipeline,
                  pipelineExecutionId=execution_id, abandon=False, reason=reason)
    if isinstance(answer, str):
        return f"{where} is stopping or over already ({answer})"
    return f"{where} stops once its running actions end"


def call(client: Any, operation: str, where: str, *, tolerated: tuple[str, ...] = (), **params: Any) -> Any:
    """`client.<operation>(**params)`'s answer, or the code of an error in `tolerated`. Any other
    failure is one line naming `where`: a CredentialsError naming the permission when the role may
    not, else a GitopsError."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, PartialCredentialsError

    try:
        return getattr(client, operation)(**params)
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code", "")
        if code in tolerated:
            return code
        raise _one_line(e, where) from None
    except (NoCredentialsError, PartialCredentialsError):
        raise CredentialsError(f"no AWS credentials to call CodePipeline for {where}: run with a role or "
                               "profile that may") from None
    except BotoCoreError as e:
        raise GitopsError(f"cannot reach CodePipeline for {where}: {' '.join(str(e).split())}") from None


def execution_details(client: Any, operation: str, key: str, pipeline: str, execution_id: str) -> list[dict]:
    """Every page of a List*Executions call (`operation`, its list `key`) filtered by the execution;
    a failed read is one line."""
    from botocore.exceptions import BotoCoreError, ClientError

    where = f"execution {execution_id} of {pipeline}"
    try:
        pages = client.get_paginator(operation).paginate(
            pipelineName=pipeline, filter={"pipelineExecutionId": execution_id})
        return [item for page in pages for item in page[key]]
    except ClientError as e:
        raise _one_line(e, where) from None
    except BotoCoreError as e:
        raise GitopsError(f"cannot read {where}: {' '.join(str(e).split())}") from None


def _one_line(e: Any, where: str) -> GitopsError:
    """The error to raise for CodePipeline's refusal `e` (a botocore ClientError) of a call about
    `where`: a CredentialsError naming the permission when the role may not, else a GitopsError."""
    error = e.response.get("Error", {})
    code, message = error.get("Code", ""), error.get("Message", "")
    if is_access_denied(e):
        return CredentialsError(f"not allowed to call {e.operation_name} for {where} ({message}); the role "
                                f"needs codepipeline:{e.operation_name} on the pipeline")
    if code in THROTTLED:
        return GitopsError(f"CodePipeline throttled {e.operation_name} for {where} after {ATTEMPTS} attempts")
    return GitopsError(f"{e.operation_name} for {where} failed ({code}: {message})")
