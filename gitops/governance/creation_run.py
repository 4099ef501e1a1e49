"""The run CodePipeline starts by itself when it creates a pipeline acts on nothing.

CodePipeline starts every new pipeline once (trigger type CreatePipeline): on the first `pulumi up`
that run would build and promote whatever the source branch holds while Argo CD is still being
installed, ask the approvers of every prod service, and verify (and on a timeout revert) whatever
the GitOps branch holds. So the first step of every pipeline asks what started its execution
(`gitops trigger --stop-if-created`) and, in a creation run, has it stopped once the running
actions end (stop and wait: the execution ends Stopped, which alarms nobody), and its other
commands do nothing.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from gitops.clients.codepipeline import (CREATE_PIPELINE, CREATION_RUN_REASON, PIPELINE_NAME, codepipeline_client,
                                         execution_trigger, initiating_pipeline, stop_execution)
from gitops.errors import UsageError

# The trigger of a build no pipeline started (CodeBuild's StartBuild by hand, an EventBridge rule).
NOT_A_PIPELINE = "none"
# CodePipeline's PipelineExecutionId (its API model).
EXECUTION_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True)
class Trigger:
    kind: str       # CodePipeline's trigger type, or NOT_A_PIPELINE
    stopping: bool  # a creation run asked to stop
    notice: str     # what it means, for the log


def check_trigger(pipeline: str | None, execution_id: str, region: str | None, stop_if_created: bool) -> Trigger:
    """What started `pipeline`'s execution `execution_id` (default pipeline: the one that started
    this build); with `stop_if_created`, a creation run is stopped."""
    pipeline = pipeline if pipeline is not None else initiating_pipeline()
    if not pipeline or not execution_id:
        return Trigger(NOT_A_PIPELINE, False,
                       "note: not a pipeline execution (no pipeline or no execution id): nothing to check")
    if not PIPELINE_NAME.fullmatch(pipeline):
        raise UsageError(f"--pipeline {pipeline!r} is not a CodePipeline name (1-100 of A-Z a-z 0-9 . @ - _)")
    if not EXECUTION_ID.fullmatch(execution_id):
        raise UsageError(f"--execution-id {execution_id!r} is not a CodePipeline execution id (a UUID)")
    if not (region or os.environ.get("AWS_REGION")):
        raise UsageError("no region for the pipeline: pass --region (a pipeline step passes $PIPELINE_REGION) "
                         "or set AWS_REGION")
    client = codepipeline_client(region)
    kind = execution_trigger(pipeline, execution_id, client)
    if kind != CREATE_PIPELINE or not stop_if_created:
        return Trigger(kind, False, f"note: execution {execution_id} of {pipeline} was started by {kind}")
    stopped = stop_execution(pipeline, execution_id, CREATION_RUN_REASON, client)
    return Trigger(kind, True, f"note: {pipeline} was just created and CodePipeline started this run by itself "
                               f"(trigger {CREATE_PIPELINE}): nothing is built, promoted, verified or reverted; "
                               f"{stopped}. Release a change to deliver.")
