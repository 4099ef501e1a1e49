"""The steps of a service's pipelines: which exist per source kind and promotion mode, and
references to their exports."""

from __future__ import annotations

from dataclasses import replace

import pytest

from components.steps import REVERT_EXIT_CODES, SOURCE_COMMIT, Approval, StepError, StepInputs, steps_for
from gitops.errors import VerifyDegraded, VerifyTimeout
from tests.conftest import REPO_ROOT
from tests.conftest import stack_settings

INPUTS = StepInputs(deployment_role_arn="arn:aws:iam::222222222222:role/delivery/shop/x/shop-x-deployment",
                    repository_url="111111111111.dkr.ecr.us-east-1.amazonaws.com/shop/api",
                    repository_arn="arn:aws:ecr:us-east-1:111111111111:repository/shop/api")


def names(pipeline) -> list[str]:
    return [step.name if not isinstance(step, Approval) else "approval" for step in pipeline.steps]


def test_commit_mode_builds_and_verifies_in_one_pipeline():
    settings = stack_settings("staging")
    service = settings.services[0]
    steps = steps_for(settings, service, INPUTS)
    assert steps.verification is None and steps.pipelines == (steps.delivery,)
    assert steps.delivery.name == "shop-api-staging"
    assert names(steps.delivery) == ["build", "test", "scan", "promote", *(f"verify-{r}" for r in service.regions)]
    verify = steps.delivery.build_steps[-1]
    assert verify.action_variables["REVISION"] == "#{Promote.COMMIT_SHA}"
    assert steps.steps == steps.delivery.build_steps


def test_pull_request_mode_ends_with_the_pull_request_and_the_merge_starts_verification():
    settings = stack_settings("prod")
    service = settings.services[0]
    steps = steps_for(settings, service, INPUTS)
    assert names(steps.delivery) == ["resolve", "approval", "promote"]
    verification = steps.verification
    assert verification.name == "shop-api-prod-verify"
    assert verification.source.repository == settings.gitops_repository
    assert verification.source.branch == settings.gitops_branch
    assert verification.source.trigger_paths == ("envs/prod/api/**",)
    assert names(verification) == [f"verify-{r}" for r in service.regions]
    assert {s.region for s in verification.build_steps} == set(service.regions)
    assert all(s.action_variables["REVISION"] == SOURCE_COMMIT for s in verification.build_steps)
    # One project per step, the verify ones included, each once.
    assert steps.steps == (*steps.delivery.build_steps, *verification.build_steps)


def test_the_promotion_mode_not_the_stack_decides_where_verify_runs():
    prod = stack_settings("prod")
    commit_prod = replace(prod, promotion_mode="commit")
    steps = steps_for(commit_prod, commit_prod.services[0], INPUTS)
    assert steps.verification is None and names(steps.delivery)[-1].startswith("verify-")


def test_resolve_reads_the_upstream_values_file_the_layout_names():
    settings = stack_settings("prod")
    (resolve,) = [s for s in steps_for(settings, settings.services[0], INPUTS).steps if s.name == "resolve"]
    assert resolve.project_variables["UPSTREAM_VALUES_FILE"] == "envs/staging/api/values.yaml"


def test_verify_reverts_on_the_outcomes_that_prove_the_release_bad():
    settings = stack_settings("prod")
    verify = steps_for(settings, settings.services[0], INPUTS).verification.build_steps[0]
    assert REVERT_EXIT_CODES == (VerifyTimeout.exit_code, VerifyDegraded.exit_code)
    assert verify.project_variables["REVERT_EXIT_CODES"] == f"{VerifyTimeout.exit_code} {VerifyDegraded.exit_code}"
    assert verify.project_variables["PROMOTION_MODE"] == "pull-request"
    assert verify.project_variables["GITOPS_BRANCH"] == settings.gitops_branch


def test_ref_names_the_namespace_and_refuses_a_variable_the_step_does_not_export():
    settings = stack_settings("staging")
    steps = steps_for(settings, settings.services[0], INPUTS)
    promote, test = [s for s in steps.steps if s.name == "promote"][0], [s for s in steps.steps if s.name == "test"][0]
    assert promote.ref("COMMIT_SHA") == "#{Promote.COMMIT_SHA}"
    with pytest.raises(StepError, match=r"step 'promote' does not export 'IMAGE_TAG' \(it exports COMMIT_SHA, PR_URL\)"):
        promote.ref("IMAGE_TAG")
    with pytest.raises(StepError, match="it exports nothing"):
        test.ref("ANYTHING")


@pytest.mark.parametrize("stack, recorded", [("staging", True), ("prod", False)])
def test_promote_records_the_application_commit_and_its_time_only_where_the_source_is_the_application(
        stack, recorded):
    settings = stack_settings(stack)
    promote = next(s for s in steps_for(settings, settings.services[0], INPUTS).steps if s.name == "promote")
    expected = {"SOURCE_COMMIT": SOURCE_COMMIT, "SOURCE_COMMIT_TIME": "#{Source.AuthorDate}"} if recorded else {}
    assert {k: v for k, v in promote.action_variables.items() if k.startswith("SOURCE_")} == expected
    # A promote pipeline finds them in its upstream's promotion of the image instead.
    assert promote.project_variables.get("SOURCE_FROM_ENV") == (None if recorded else "staging")
    # Whatever the pipeline passes, the promote buildspec adds the options only when set.
    buildspec = (REPO_ROOT / "buildspecs" / promote.buildspec).read_text()
    assert '${SOURCE_COMMIT:+--source-commit "$SOURCE_COMMIT"}' in buildspec
    assert '${SOURCE_COMMIT_TIME:+--source-commit-time "$SOURCE_COMMIT_TIME"}' in buildspec
    assert '${SOURCE_FROM_ENV:+--source-from-env "$SOURCE_FROM_ENV"}' in buildspec
