"""`gitops trigger`: what started a pipeline execution; with `--stop-if-created`, the run CodePipeline
starts by itself when it creates a pipeline is stopped and acts on nothing.

CodePipeline starts every new pipeline once (trigger type CreatePipeline): on the first `pulumi up`
that run would build and promote whatever the source branch holds while Argo CD is still being
installed, ask the approvers of every prod service, and verify (and on a timeout revert) whatever
the GitOps branch holds. So each step that builds, resolves, promotes or verifies starts with
`gitops trigger --stop-if-created`: in a creation run it asks CodePipeline to stop the execution
once the running actions end (stop and wait: the execution ends Stopped, which alarms nobody) and
prints CreatePipeline, and the step's other commands do nothing. Any other trigger is printed and
the step goes on.

stdout is the trigger type alone (a buildspec reads it); what it means goes to stderr (the log).
"""

from __future__ import annotations

import argparse
import os
import re

from gitops import output
from gitops.clients.codepipeline import (CREATE_PIPELINE, CREATION_RUN_REASON, PIPELINE_NAME, codepipeline_client,
                                         execution_trigger, stop_execution)
from gitops.commands import add_command
from gitops.commands.options import add_output
from gitops.errors import UsageError

# Printed when the build was not started by a pipeline (CodeBuild's StartBuild by hand, an EventBridge rule).
NOT_A_PIPELINE = "none"
# CodePipeline's PipelineExecutionId (its API model).
EXECUTION_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# CodeBuild's CODEBUILD_INITIATOR under CodePipeline: "codepipeline/<pipeline name>".
INITIATOR_PREFIX = "codepipeline/"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_command(
        subparsers, "trigger",
        description="Print what started a pipeline execution (CodePipeline's trigger type, e.g. "
                    "CreatePipeline, WebhookV2, CloudWatchEvent), or 'none' outside a pipeline. With "
                    "--stop-if-created, stop the run CodePipeline starts when it creates the pipeline.")
    p.add_argument("--pipeline", default=None,
                   help="the pipeline (default: the one that started this CodeBuild build, from "
                        "$CODEBUILD_INITIATOR)")
    p.add_argument("--execution-id", default="", metavar="ID",
                   help="the execution (#{codepipeline.PipelineExecutionId}); empty: not in a pipeline")
    p.add_argument("--region", default=None, help="the pipeline's region (default: $AWS_REGION)")
    p.add_argument("--stop-if-created", action="store_true",
                   help="when CreatePipeline started the execution, stop it once its running actions end")
    add_output(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    pipeline = args.pipeline if args.pipeline is not None else _initiating_pipeline()
    if not pipeline or not args.execution_id:
        output.print_notice("note: not a pipeline execution (no pipeline or no execution id): nothing to check")
        return _result(args, NOT_A_PIPELINE, stopping=False)
    if not PIPELINE_NAME.fullmatch(pipeline):
        raise UsageError(f"--pipeline {pipeline!r} is not a CodePipeline name (1-100 of A-Z a-z 0-9 . @ - _)")
    if not EXECUTION_ID.fullmatch(args.execution_id):
        raise UsageError(f"--execution-id {args.execution_id!r} is not a CodePipeline execution id (a UUID)")
    if not (args.region or os.environ.get("AWS_REGION")):
        raise UsageError("no region for the pipeline: pass --region (a pipeline step passes $PIPELINE_REGION) "
                         "or set AWS_REGION")
    client = codepipeline_client(args.region)
    trigger = execution_trigger(pipeline, args.execution_id, client)
    stopping = trigger == CREATE_PIPELINE and args.stop_if_created
    if stopping:
        stopped = stop_execution(pipeline, args.execution_id, CREATION_RUN_REASON, client)
        output.print_notice(f"note: {pipeline} was just created and CodePipeline started this run by itself "
                            f"(trigger {CREATE_PIPELINE}): nothing is built, promoted, verified or reverted; "
                            f"{stopped}. Release a change to deliver.")
    else:
        output.print_notice(f"note: execution {args.execution_id} of {pipeline} was started by {trigger}")
    return _result(args, trigger, stopping)


def _result(args: argparse.Namespace, trigger: str, stopping: bool) -> int:
    """stdout: the trigger type alone (text), or {"trigger": …, "stopping": …} (json)."""
    if args.output == "json":
        output.print_json({"trigger": trigger, "stopping": stopping})
    else:
        output.print_line(trigger)
    return 0


def _initiating_pipeline() -> str:
    """The pipeline named by $CODEBUILD_INITIATOR, or "" when CodePipeline did not start the build."""
    initiator = os.environ.get("CODEBUILD_INITIATOR", "")
    return initiator.removeprefix(INITIATOR_PREFIX) if initiator.startswith(INITIATOR_PREFIX) else ""
