"""The `delivery-pipeline:argocd` stack key: defaults, every accepted field, every rejection."""

from __future__ import annotations

import pytest

from components import settings as stack_settings_module
from components.argocd_settings import (CHART_VERSION, ROLLOUTS_CHART_VERSION, ArgoCdSettings, RolloutsSettings,
                                        SsoSettings, parse)
from components.settings import SettingsError
from tests.conftest import stack_data

TOOLING = "111111111111"
OIDC_ARN = "arn:aws:secretsmanager:us-east-1:111111111111:secret:argocd/oidc-AbC123"
SSO = {"issuer": "https://login.example.com", "clientId": "argocd", "clientSecretArn": OIDC_ARN,
       "url": "https://argocd.internal.example.com"}


def test_absent_key_means_defaults():
    assert parse(None, tooling_account=TOOLING) == ArgoCdSettings(
        chart_version=CHART_VERSION, ha=False, sso=None,
        rollouts=RolloutsSettings(enabled=False, chart_version=ROLLOUTS_CHART_VERSION))
    assert parse({}, tooling_account=TOOLING) == ArgoCdSettings()
    assert parse({"rollouts": None}, tooling_account=TOOLING) == ArgoCdSettings()


def test_every_field():
    parsed = parse({"chartVersion": "10.0.0", "ha": True, "sso": {**SSO, "adminGroups": ["ops", "sre"]},
                    "rollouts": {"enabled": True, "chartVersion": "2.40.0"}}, tooling_account=TOOLING)
    assert parsed == ArgoCdSettings(chart_version="10.0.0", ha=True, sso=SsoSettings(
        issuer="https://login.example.com", client_id="argocd", client_secret_arn=OIDC_ARN,
        url="https://argocd.internal.example.com", admin_groups=("ops", "sre")),
        rollouts=RolloutsSettings(enabled=True, chart_version="2.40.0"))


def test_booleans_set_with_pulumi_config_set_arrive_as_strings():
    assert parse({"ha": "true"}, tooling_account=TOOLING).ha is True
    assert parse({"ha": "false"}, tooling_account=TOOLING).ha is False
    assert parse({"rollouts": {"enabled": "true"}}, tooling_account=TOOLING).rollouts.enabled is True


def test_the_stack_settings_parse_the_argocd_key_into_settings_argocd():
    data = stack_data("prod")
    with_argocd = stack_settings_module.parse({**data, "argocd": {"ha": True}})
    assert with_argocd.argocd == ArgoCdSettings(ha=True)
    without = {key: value for key, value in data.items() if key != "argocd"}
    assert stack_settings_module.parse(without).argocd == ArgoCdSettings()


def test_an_argocd_error_is_reported_by_the_stack_settings_parse():
    with pytest.raises(SettingsError) as error:
        stack_settings_module.parse({**stack_data("prod"), "argocd": {"ha": "yes"}})
    assert str(error.value).startswith("delivery-pipeline:argocd.ha = 'yes': expected true or false")


@pytest.mark.parametrize("data, message", [
    (["ha"], "delivery-pipeline:argocd = [\"ha\"]: expected a mapping"),
    ({"chartVersion": "10.x"}, "delivery-pipeline:argocd.chartVersion = '10.x': expected an exact chart version"),
    ({"chartVersion": "^10.1.1"}, "argocd.chartVersion"),
    ({"ha": "yes"}, "delivery-pipeline:argocd.ha = 'yes': expected true or false"),
    ({"highAvailability": True}, "delivery-pipeline:argocd.highAvailability is not a known setting"),
    ({"sso": "okta"}, "delivery-pipeline:argocd.sso = 'okta': expected a mapping"),
    ({"sso": {k: v for k, v in SSO.items() if k != "clientId"}}, "delivery-pipeline:argocd.sso.clientId is missing"),
    ({"sso": {**SSO, "issuer": "http://login.example.com"}}, "argocd.sso.issuer = 'http://login.example.com': expected an https:// URL"),
    ({"sso": {**SSO, "url": "argocd.example.com"}}, "argocd.sso.url = 'argocd.example.com': expected an https:// URL"),
    ({"sso": {**SSO, "clientSecretArn": "argocd/oidc"}}, "argocd.sso.clientSecretArn = 'argocd/oidc': expected a Secrets Manager secret ARN"),
    ({"sso": {**SSO, "clientSecretArn": OIDC_ARN.replace(TOOLING, "222222222222")}},
     "expected an ARN in account 111111111111 (the tooling account"),
    ({"sso": {**SSO, "adminGroups": "ops"}}, "argocd.sso.adminGroups = 'ops': expected a list"),
    ({"sso": {**SSO, "adminGroups": ["ops", "ops"]}}, "expected a list without duplicates"),
    ({"sso": {**SSO, "clientSecret": "s3cret"}}, "delivery-pipeline:argocd.sso.clientSecret is not a known setting"),
    ({"rollouts": True}, "delivery-pipeline:argocd.rollouts = true: expected a mapping"),
    ({"rollouts": {"enabled": "on"}}, "delivery-pipeline:argocd.rollouts.enabled = 'on': expected true or false"),
    ({"rollouts": {"chartVersion": "2.x"}}, "argocd.rollouts.chartVersion = '2.x': expected an exact chart version such as 2.41.0"),
    ({"rollouts": {"enable": True}}, "delivery-pipeline:argocd.rollouts.enable is not a known setting"),
])
def test_rejections_name_the_key_the_value_and_the_fix(data, message):
    with pytest.raises(SettingsError) as error:
        parse(data, tooling_account=TOOLING)
    assert message in str(error.value)


def test_a_mistyped_secret_value_is_never_echoed():
    # A client secret pasted under a wrong key is reported by the key's name only.
    with pytest.raises(SettingsError) as error:
        parse({"sso": {**SSO, "clientSecret": "s3cret"}}, tooling_account=TOOLING)
    assert "s3cret" not in str(error.value)
