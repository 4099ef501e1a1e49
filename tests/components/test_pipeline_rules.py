"""Every CodePipeline rule the model enforces: a passing and a failing definition for each."""

import dataclasses

import pytest

from components.pipeline import describe
from components.pipeline_model import Action, PipelineDefinition, PipelineDefinitionError, Stage
from components.steps import steps_for
from tests.conftest import stack_settings
from tests.components.test_steps_per_source import INPUTS

HOME, OTHER = "us-east-1", "eu-west-1"


def source(**changes):
    return dataclasses.replace(Action(
        name="Source", category="Source", provider="CodeStarSourceConnection", namespace="Source",
        exports=("CommitId",), output_artifacts=("SourceOutput",),
        configuration={"BranchName": "main"}), **changes)


def build(name="Build", **changes):
    return dataclasses.replace(Action(name=name, category="Build", provider="CodeBuild",
                                      input_artifacts=("SourceOutput",)), **changes)


def pipeline(*stages, regions=frozenset({HOME, OTHER}), name="shop-api-staging"):
    return PipelineDefinition(name=name, region=HOME, stages=stages, artifact_store_regions=regions)


def valid(**build_changes):
    return pipeline(Stage("Source", (source(),)), Stage("Build", (build(**build_changes),)))


def test_minimal_pipeline_is_valid():
    valid().validate()


CASES = {
    # rule: (passing definition, failing definition, words in the error)
    "pipeline name charset": (valid(), pipeline(Stage("Source", (source(),)), Stage("B", (build(),)), name="shop api"),
                              ["name", "A-Z"]),
    "at least two stages": (valid(), pipeline(Stage("Source", (source(),))), ["2 to 50"]),
    "pipeline region has a store": (valid(), pipeline(Stage("Source", (source(),)), Stage("B", (build(),)),
                                                      regions=frozenset({OTHER})), ["us-east-1 has no artifact store"]),
    "unique stage names": (valid(), pipeline(Stage("Source", (source(),)), Stage("B", (build(),)), Stage("B", (build(),))),
                           ["stage 'B'", "unique"]),
    "stage name charset": (valid(), pipeline(Stage("Source", (source(),)), Stage("Build it!", (build(),))),
                           ["stage 'Build it!'"]),
    "stage has actions": (valid(), pipeline(Stage("Source", (source(),)), Stage("Empty", ())), ["1 to 50 actions"]),
    "unique action names": (valid(), pipeline(Stage("Source", (source(),)), Stage("B", (build("X"), build("X")))),
                            ["action 'X'", "unique in their stage"]),
    "action name length": (valid(), valid(name="x" * 101), ["action names"]),
    "run order bounds": (valid(run_order=999), valid(run_order=1000), ["runOrder 1000"]),
    "first stage only sources": (valid(), pipeline(Stage("Source", (source(), build())), Stage("B", (build("Y"),))),
                                 ["first stage may contain only source"]),
    "sources only in first stage": (valid(), pipeline(Stage("Source", (source(),)),
                                                      Stage("B", (source(name="Again", namespace=None,
                                                                         output_artifacts=("Other",)),))),
                                    ["source actions belong in the first stage"]),
    "source in pipeline region": (valid(), pipeline(Stage("Source", (source(region=OTHER),)), Stage("B", (build(),))),
                                  ["source actions run in the pipeline's region"]),
    "action region has a store": (valid(region=OTHER), pipeline(Stage("Source", (source(),)),
                                                                Stage("B", (build(region="ap-south-1"),))),
                                  ["ap-south-1, which has no artifact store"]),
    "inputs produced earlier": (valid(), valid(input_artifacts=("Missing",)), ["'Missing' is not produced"]),
    "input count bounds": (valid(), valid(input_artifacts=()), ["1 to 5 input artifacts"]),
    "output names charset": (valid(output_artifacts=("Out_1",)), valid(output_artifacts=("Out.1",)),
                             ["'Out.1'", "A-Z a-z 0-9 - _"]),
    "unique output artifacts": (valid(output_artifacts=("Out",)),
                                pipeline(Stage("Source", (source(),)),
                                         Stage("B", (build("X", output_artifacts=("SourceOutput",)),))),
                                ["'SourceOutput' is already produced"]),
    "variables from declared namespaces": (
        valid(configuration={"EnvironmentVariables": '[{"value": "#{Source.CommitId}"}]'}),
        valid(configuration={"EnvironmentVariables": '[{"value": "#{Build.IMAGE_TAG}"}]'}),
        ["#{Build.IMAGE_TAG}", "no earlier action declares"]),
    "variables exported by the namespace": (
        valid(configuration={"X": "#{Source.CommitId}"}), valid(configuration={"X": "#{Source.Nope}"}),
        ["#{Source.Nope}", "exports only CommitId"]),
    "unique namespaces": (valid(namespace="Build"), valid(namespace="Source"), ["namespace 'Source' is used twice"]),
    "unsupported action type": (valid(), valid(provider="Jenkins"), ["unsupported action type"]),
}


@pytest.mark.parametrize("rule", CASES)
def test_rule_passes_and_fails(rule):
    passing, failing, words = CASES[rule]
    passing.validate()
    with pytest.raises(PipelineDefinitionError) as caught:
        failing.validate()
    assert "shop" in str(caught.value) or "pipeline" in str(caught.value)
    for word in words:
        assert word in str(caught.value), str(caught.value)


def test_artifacts_and_variables_of_earlier_run_order_in_same_stage_are_visible():
    first = build("First", namespace="First", exports=("V",), output_artifacts=("FirstOut",))
    second = build("Second", run_order=2, input_artifacts=("FirstOut",), configuration={"X": "#{First.V}"})
    pipeline(Stage("Source", (source(),)), Stage("B", (first, second))).validate()


def test_parallel_actions_cannot_consume_each_other():
    first = build("First", output_artifacts=("FirstOut",))
    parallel = build("Parallel", input_artifacts=("FirstOut",))
    with pytest.raises(PipelineDefinitionError, match="'FirstOut' is not produced"):
        pipeline(Stage("Source", (source(),)), Stage("B", (first, parallel))).validate()


def test_built_in_namespace_is_always_available():
    valid(configuration={"X": "#{codepipeline.PipelineExecutionId}"}).validate()


# --- The service pipelines, as steps_for lays them out ---------------------------------------------

def _verification(stack: str = "prod"):
    settings = stack_settings(stack)
    return settings, steps_for(settings, settings.services[0], INPUTS)


def test_the_verify_pipeline_validates_with_a_store_in_each_region_of_its_actions():
    settings, steps = _verification()
    projects = {step: f"project-{step.name}" for step in steps.steps}
    definition = describe(settings.home_region, settings.connection_arn, steps.verification, projects, None, frozenset({"us-east-1", "eu-west-1"}))
    assert definition.name == "shop-api-prod-verify"
    assert [stage.name for stage in definition.stages] == ["Source", "Verify"]
    assert {a.region for a in definition.stages[1].actions} == {None, "eu-west-1"}
    with pytest.raises(PipelineDefinitionError, match="runs in eu-west-1, which has no artifact store"):
        describe(settings.home_region, settings.connection_arn, steps.verification, projects, None, frozenset({"us-east-1"}))


def test_a_verify_step_referring_to_promote_fails_validation_in_the_verify_pipeline():
    """The verify pipeline has no Promote stage: a reference to it is an error at plan time."""
    settings, steps = _verification()
    commit_verify = dataclasses.replace(steps.verification.build_steps[0], action_variables={
        "REVISION": "#{Promote.COMMIT_SHA}"})
    broken = dataclasses.replace(steps.verification, steps=(commit_verify,))
    with pytest.raises(PipelineDefinitionError, match=r"#\{Promote.COMMIT_SHA\} names a namespace no earlier action"):
        describe(settings.home_region, settings.connection_arn, broken, {commit_verify: "p"}, None, frozenset({"us-east-1", "eu-west-1"}))


def test_the_trigger_limits_are_codepipelines():
    from components.pipeline_model import MAX_TRIGGER_FILE_PATH_CHARS, MAX_TRIGGER_FILE_PATHS
    from tests.aws_models import shape

    assert shape("codepipeline", "GitFilePathPatternList")["max"] == MAX_TRIGGER_FILE_PATHS
    assert shape("codepipeline", "GitFilePathPattern")["max"] == MAX_TRIGGER_FILE_PATH_CHARS
