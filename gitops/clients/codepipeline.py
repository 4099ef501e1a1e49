"""CodePipeline as the CLI reads and changes it: the client, and who approved an execution.

boto3 is imported by the calls that need it only, so the commands that never talk to CodePipeline
do not pay for it.

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

from gitops.clients.credentials import is_access_denied

APPROVAL_CATEGORY = "Approval"
# CodePipeline's PipelineName (its API model).
PIPELINE_NAME = re.compile(r"[A-Za-z0-9.@\-_]{1,100}")
THROTTLED = ("ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded")
# Each call tries at most ATTEMPTS times, each try waiting at most CONNECT_TIMEOUT_S to connect and
# READ_TIMEOUT_S for each read: a stalled endpoint costs seconds (botocore's defaults, 60 s reads
# and five retries, made it six minutes), and not knowing the approver never stops a promotion.
ATTEMPTS = 3
CONNECT_TIMEOUT_S = 2.0
READ_TIMEOUT_S = 5.0
_NEVER = datetime.min.replace(tzinfo=UTC)


def codepipeline_client(region: str | None) -> Any:
    """A CodePipeline client in `region` (default: $AWS_REGION, which CodeBuild sets, else the AWS
    configuration), retrying throttled and failed calls in botocore's standard mode, each call
    bounded by ATTEMPTS × (CONNECT_TIMEOUT_S + READ_TIMEOUT_S) and the retries' backoff."""
    import boto3
    from botocore.config import Config

    return boto3.client("codepipeline", region_name=region or os.environ.get("AWS_REGION") or None,
                        config=Config(retries={"mode": "standard", "total_max_attempts": ATTEMPTS},
                                      connect_timeout=CONNECT_TIMEOUT_S,
                                      read_timeout=READ_TIMEOUT_S))


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
