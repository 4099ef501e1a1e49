"""`gitops trigger`: what started a pipeline execution; with `--stop-if-created`, the run CodePipeline
starts by itself when it creates a pipeline is stopped and acts on nothing (gitops.governance.creation_run).

stdout is the trigger type alone (a buildspec reads it); what it means goes to stderr (the log).
"""

from __future__ import annotations

import argparse

from gitops import output
from gitops.commands import add_command
from gitops.commands.options import add_output
from gitops.governance.creation_run import check_trigger


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
    trigger = check_trigger(args.pipeline, args.execution_id, args.region, args.stop_if_created)
    output.print_notice(trigger.notice)
    if args.output == "json":
        output.print_json({"trigger": trigger.kind, "stopping": trigger.stopping})
    else:
        output.print_line(trigger.kind)
    return 0
