"""The steps of a pipeline: which exist per source kind, and references to their exports."""

from __future__ import annotations

import pytest

from components.steps import StepError, StepInputs, steps_for
from tests.test_argocd import stack_settings

INPUTS = StepInputs(deployment_role_arn="arn:aws:iam::222222222222:role/delivery/shop/x/shop-x-deployment",
                    repository_url="111111111111.dkr.ecr.us-east-1.amazonaws.com/shop/api",
                    repository_arn="arn:aws:ecr:us-east-1:111111111111:repository/shop/api")


@pytest.mark.parametrize("stack, image_steps", [("staging", ["build", "test", "scan"]), ("prod", ["resolve"])])
def test_the_source_kind_decides_the_image_steps(stack, image_steps):
    settings = stack_settings(stack)
    service = settings.services[0]
    steps = steps_for(settings, service, INPUTS)
    assert [s.name for s in steps.steps] == [*image_steps, "promote", *(f"verify-{r}" for r in service.regions)]
    assert {s.region for s in steps.verify} == set(service.regions)


def test_ref_names_the_namespace_and_refuses_a_variable_the_step_does_not_export():
    settings = stack_settings("staging")
    steps = steps_for(settings, settings.services[0], INPUTS)
    assert steps.promote.ref("COMMIT_SHA") == "#{Promote.COMMIT_SHA}"
    with pytest.raises(StepError, match=r"step 'promote' does not export 'IMAGE_TAG' \(it exports COMMIT_SHA, PR_URL\)"):
        steps.promote.ref("IMAGE_TAG")
    (test,) = [s for s in steps.image_steps if s.name == "test"]
    with pytest.raises(StepError, match="it exports nothing"):
        test.ref("ANYTHING")
