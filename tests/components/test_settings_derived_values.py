"""What the settings derive once for every place that needs it: the artifact regions, each
service's regions and clusters, the build source, the token secret's region."""

from __future__ import annotations

import pytest

from components.settings import BuildSource, GitOpsToken, parse
from tests.conftest import stack_data, stack_settings


def test_artifact_regions_are_the_home_region_and_every_services_regions_sorted():
    data = stack_data("prod")
    data["tooling"] = {**data["tooling"], "region": "eu-west-1"}
    data["connectionArn"] = data["connectionArn"].replace(":us-east-1:", ":eu-west-1:")
    data["services"] = [{**service, "regions": ["us-east-1"]} for service in data["services"]]
    assert parse(data).artifact_regions == ("eu-west-1", "us-east-1")
    assert stack_settings("prod").artifact_regions == ("eu-west-1", "us-east-1")


def test_a_services_clusters_are_those_of_its_own_regions():
    settings = stack_settings("prod")
    (east_only,) = [s for s in settings.services if s.regions == ("us-east-1",)]
    assert settings.service_clusters(east_only) == {"us-east-1": settings.clusters["us-east-1"]}
    assert settings.service_regions[east_only.name] == ("us-east-1",)
    everywhere = next(s for s in settings.services if len(s.regions) > 1)
    assert settings.service_clusters(everywhere) == dict(settings.clusters)


def test_only_a_building_stack_has_a_build_source():
    assert isinstance(stack_settings("staging").build_source, BuildSource)
    assert stack_settings("prod").build_source is None


@pytest.mark.parametrize("arn, region", [
    ("arn:aws:secretsmanager:us-east-1:111111111111:secret:delivery/gitops-token-AbC123", "us-east-1"),
    ("arn:aws:secretsmanager:eu-west-1:111111111111:secret:token-XyZ789", "eu-west-1"),
])
def test_the_token_secrets_region_is_read_from_its_arn(arn, region):
    assert GitOpsToken(secret_arn=arn).region == region
