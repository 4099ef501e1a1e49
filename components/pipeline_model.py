"""A delivery pipeline described as data, validated the way CodePipeline validates it.

The engine-neutral description (stages, actions, artifacts, regions) is checked here before any
resource is registered, so a broken pipeline is a clear error at plan time instead of an AWS
`InvalidStructureException` half-way through `pulumi up`. `components.pipeline` renders a valid
description into an `aws.codepipeline.Pipeline`.

Limits and character sets are CodePipeline's (API reference: PipelineDeclaration, StageDeclaration,
ActionDeclaration, ArtifactStore; "Quotas in AWS CodePipeline").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from components.stage_conditions import BEFORE_ENTRY, ON_SUCCESS, Condition, problems

NAME = re.compile(r"^[A-Za-z0-9.@_-]{1,100}$")
ARTIFACT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
NAMESPACE = re.compile(r"^[A-Za-z0-9@_-]{1,100}$")
VARIABLE_REFERENCE = re.compile(r"#\{([A-Za-z0-9@_.-]+)\.([A-Za-z0-9@_.-]+)\}")
# Namespaces CodePipeline itself provides to every action.
BUILT_IN_NAMESPACES = frozenset({"codepipeline", "variables"})

MAX_STAGES = 50
MAX_ACTIONS_PER_STAGE = 50
MAX_RUN_ORDER = 999
# A V2 trigger's file path filter (GitFilePathFilterCriteria): at most this many patterns of at
# most this many characters each.
MAX_TRIGGER_FILE_PATHS = 8
MAX_TRIGGER_FILE_PATH_CHARS = 255

SOURCE = "Source"
BUILD = "Build"
TEST = "Test"
APPROVAL = "Approval"

# (category, provider) -> (min inputs, max inputs, min outputs, max outputs), from the
# "Valid input and output artifacts for each action type" table of the CodePipeline user guide.
ARTIFACT_BOUNDS: dict[tuple[str, str], tuple[int, int, int, int]] = {
    (SOURCE, "CodeStarSourceConnection"): (0, 0, 1, 1),
    (BUILD, "CodeBuild"): (1, 5, 0, 5),
    (TEST, "CodeBuild"): (1, 5, 0, 5),
    (APPROVAL, "Manual"): (0, 0, 0, 0),
}

# The events CodePipeline sends to its account's default event bus, by detail-type.
PIPELINE_EXECUTION_STATE_CHANGE = "CodePipeline Pipeline Execution State Change"
STAGE_EXECUTION_STATE_CHANGE = "CodePipeline Stage Execution State Change"
ACTION_EXECUTION_STATE_CHANGE = "CodePipeline Action Execution State Change"


def event_pattern(detail_type: str, account: str, detail: Mapping[str, Any]) -> dict:
    """The EventBridge pattern of CodePipeline's `detail_type` events in `account` whose detail matches."""
    return {"source": ["aws.codepipeline"], "detail-type": [detail_type], "account": [account], "detail": dict(detail)}


class PipelineDefinitionError(ValueError):
    """The pipeline breaks a CodePipeline rule; the message names the pipeline, the place and the fix."""


@dataclass(frozen=True)
class Action:
    name: str
    category: str
    provider: str
    configuration: Mapping[str, Any] = field(default_factory=dict)
    run_order: int = 1
    # None: the pipeline's own region.
    region: str | None = None
    input_artifacts: tuple[str, ...] = ()
    output_artifacts: tuple[str, ...] = ()
    namespace: str | None = None
    # Variables the action exports under its namespace (documented contract; CodeBuild exports
    # them through `env.exported-variables` in the buildspec).
    exports: tuple[str, ...] = ()
    owner: str = "AWS"
    version: str = "1"


@dataclass(frozen=True)
class Stage:
    name: str
    actions: tuple[Action, ...]
    # What must hold before the stage starts, and after its actions succeed (components.stage_conditions).
    before_entry: Condition | None = None
    on_success: Condition | None = None


@dataclass(frozen=True)
class PipelineDefinition:
    name: str
    region: str
    stages: tuple[Stage, ...]
    # Regions that have an artifact store (the pipeline's region must be one of them).
    artifact_store_regions: frozenset[str]

    def validate(self) -> "PipelineDefinition":
        validate(self)
        return self


def _error(pipeline: PipelineDefinition, where: str, message: str) -> PipelineDefinitionError:
    return PipelineDefinitionError(f"pipeline {pipeline.name!r}, {where}: {message}")


def _referenced_variables(value: Any) -> list[tuple[str, str]]:
    """Every `#{Namespace.Variable}` in a configuration value; Outputs are not inspected."""
    if isinstance(value, str):
        return VARIABLE_REFERENCE.findall(value)
    if isinstance(value, Mapping):
        return [ref for v in value.values() for ref in _referenced_variables(v)]
    if isinstance(value, (list, tuple)):
        return [ref for v in value for ref in _referenced_variables(v)]
    return []


def validate(p: PipelineDefinition) -> None:
    """Raise PipelineDefinitionError on the first rule the definition breaks."""
    if not NAME.match(p.name):
        raise _error(p, "name", "use 1-100 of A-Z a-z 0-9 . @ - _")
    if not 2 <= len(p.stages) <= MAX_STAGES:
        raise _error(p, "stages", f"a pipeline has 2 to {MAX_STAGES} stages, this one has {len(p.stages)}")
    if p.region not in p.artifact_store_regions:
        raise _error(p, "artifact stores", f"the pipeline's region {p.region} has no artifact store")

    stage_names: set[str] = set()
    namespaces: dict[str, Action] = {}
    produced: set[str] = set()
    for index, stage in enumerate(p.stages):
        where = f"stage {stage.name!r}"
        _claim_name(p, where, "stage", stage.name, stage_names, "the pipeline")
        if not 1 <= len(stage.actions) <= MAX_ACTIONS_PER_STAGE:
            raise _error(p, where, f"a stage has 1 to {MAX_ACTIONS_PER_STAGE} actions")
        for kind, condition in ((BEFORE_ENTRY, stage.before_entry), (ON_SUCCESS, stage.on_success)):
            found = problems(kind, condition) if condition is not None else []
            if found:
                raise _error(p, f"{where}, condition {kind}", found[0])
        produced |= _validate_actions(p, stage, index == 0, namespaces, produced)


def _claim_name(p: PipelineDefinition, where: str, kind: str, name: str, taken: set[str], scope: str) -> None:
    """Add a stage's or an action's name to the names `taken` in its scope, which it must be new to."""
    if not NAME.match(name):
        raise _error(p, where, f"{kind} names use 1-100 of A-Z a-z 0-9 . @ - _")
    if name in taken:
        raise _error(p, where, f"{kind} names must be unique in {scope}")
    taken.add(name)


def _validate_actions(p: PipelineDefinition, stage: Stage, is_first: bool, namespaces: dict[str, Action],
                      produced: set[str]) -> set[str]:
    """Check a stage's actions in run order against what earlier stages and run orders declare and
    produce; declare its namespaces; return the artifacts it produces."""
    action_names: set[str] = set()
    # Artifacts produced in this stage, by run order: visible to later run orders only.
    produced_in_stage: dict[int, set[str]] = {}
    for action in sorted(stage.actions, key=lambda a: a.run_order):
        where = f"stage {stage.name!r}, action {action.name!r}"
        _claim_name(p, where, "action", action.name, action_names, "their stage")
        _validate_action(p, where, action, is_first)

        # Namespaces and artifacts of this stage's earlier run orders are visible from here on.
        for earlier in [a for a in stage.actions if a.run_order < action.run_order]:
            _declare_namespace(p, earlier, namespaces)
        visible = produced | {a for order, names in produced_in_stage.items() if order < action.run_order for a in names}
        for artifact in action.input_artifacts:
            if artifact not in visible:
                raise _error(p, where, f"input artifact {artifact!r} is not produced by an earlier action")
        for artifact in action.output_artifacts:
            if not ARTIFACT_NAME.match(artifact):
                raise _error(p, where, f"artifact {artifact!r}: names use 1-100 of A-Z a-z 0-9 - _")
            if artifact in produced or any(artifact in s for s in produced_in_stage.values()):
                raise _error(p, where, f"output artifact {artifact!r} is already produced by another action")
            produced_in_stage.setdefault(action.run_order, set()).add(artifact)
        _validate_references(p, where, action, namespaces)

    for action in stage.actions:
        _declare_namespace(p, action, namespaces)
    return {artifact for names in produced_in_stage.values() for artifact in names}


def _validate_action(p: PipelineDefinition, where: str, action: Action, is_first: bool) -> None:
    """The rules one action obeys on its own: run order, place, region, artifact counts."""
    if not 1 <= action.run_order <= MAX_RUN_ORDER:
        raise _error(p, where, f"runOrder {action.run_order} is outside 1..{MAX_RUN_ORDER}")
    is_source = action.category == SOURCE
    if is_first and not is_source:
        raise _error(p, where, "the first stage may contain only source actions")
    if is_source and not is_first:
        raise _error(p, where, "source actions belong in the first stage only")
    region = action.region or p.region
    if is_source and region != p.region:
        raise _error(p, where, f"source actions run in the pipeline's region {p.region}, not {region}")
    if region not in p.artifact_store_regions:
        raise _error(p, where, f"runs in {region}, which has no artifact store: add one for {region}")

    bounds = ARTIFACT_BOUNDS.get((action.category, action.provider))
    if bounds is None:
        raise _error(p, where, f"unsupported action type {action.category}/{action.provider}")
    min_in, max_in, min_out, max_out = bounds
    if not min_in <= len(action.input_artifacts) <= max_in:
        raise _error(p, where, f"{action.provider} {action.category} actions take {min_in} to {max_in} input artifacts")
    if not min_out <= len(action.output_artifacts) <= max_out:
        raise _error(p, where, f"{action.provider} {action.category} actions produce {min_out} to {max_out} output artifacts")


def _validate_references(p: PipelineDefinition, where: str, action: Action, namespaces: dict[str, Action]) -> None:
    """Every `#{Namespace.Variable}` of the action's configuration names an earlier export."""
    for namespace, variable in _referenced_variables(action.configuration):
        if namespace in BUILT_IN_NAMESPACES:
            continue
        if namespace not in namespaces:
            raise _error(p, where, f"#{{{namespace}.{variable}}} names a namespace no earlier action declares")
        declared = namespaces[namespace].exports
        if declared and variable not in declared:
            raise _error(p, where, f"#{{{namespace}.{variable}}}: {namespace} exports only {', '.join(declared)}")


def _declare_namespace(p: PipelineDefinition, action: Action, namespaces: dict[str, Action]) -> None:
    if action.namespace is None or namespaces.get(action.namespace) is action:
        return
    if not NAMESPACE.match(action.namespace):
        raise _error(p, f"action {action.name!r}", "namespaces use 1-100 of A-Z a-z 0-9 @ - _")
    if action.namespace in namespaces or action.namespace in BUILT_IN_NAMESPACES:
        raise _error(p, f"action {action.name!r}", f"namespace {action.namespace!r} is used twice")
    namespaces[action.namespace] = action

