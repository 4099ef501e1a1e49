"""Argo CD settings: the `delivery-pipeline:argocd` key of a stack, parsed by `components.settings.parse`
into `Settings.argocd`.

```yaml
delivery-pipeline:argocd:
  chartVersion: 10.1.1        # argo-cd chart from argoproj's Helm repository; default CHART_VERSION
  ha: true                    # redis-ha and two replicas of server, repo server, ApplicationSet
                              # controller; default false (staging); set true in Pulumi.prod.yaml
  sso:                        # optional: OIDC sign-in; when set, the local admin user is disabled
    issuer: https://login.example.com
    clientId: argocd
    clientSecretArn: arn:aws:secretsmanager:us-east-1:111111111111:secret:argocd/oidc-AbC123
    url: https://argocd.internal.example.com   # where users reach Argo CD (OIDC redirect base)
    adminGroups: [platform-admins]             # OIDC groups given role:admin; default none
  rollouts:                   # Argo Rollouts beside Argo CD, for services that render a Rollout
    enabled: true             # default false: no controller, and the AppProject refuses the kinds
    chartVersion: 2.41.0      # argo-rollouts chart from argoproj's Helm repository;
                              # default ROLLOUTS_CHART_VERSION. `ha` applies to it too.
```

Errors follow `components.validators`: `SettingsError` naming the key, the value and what is expected;
unknown keys are rejected so a typo never silently falls back to a default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

from components import validators as v

# argo-cd chart 10.1.1 ships Argo CD v3.4.4. Bump deliberately: read the chart's upgrade notes first.
CHART_VERSION = "10.1.1"
# argo-rollouts chart 2.41.0 ships Argo Rollouts v1.9.0; the same care applies.
ROLLOUTS_CHART_VERSION = "2.41.0"

_SEMVER = re.compile(r"^\d+\.\d+\.\d+$")
# OIDC issuers and the Argo CD URL are HTTPS origins (an optional path for issuers such as Azure's).
_HTTPS_ORIGIN = re.compile(r"^https://[A-Za-z0-9.-]+(:\d+)?(/[^\s]*)?$")


@dataclass(frozen=True)
class SsoSettings:
    issuer: str
    client_id: str
    # Secrets Manager secret (tooling account) whose SecretString is the OIDC client secret.
    client_secret_arn: str
    # Base URL users open Argo CD at; Argo CD builds the OIDC redirect URI from it.
    url: str
    # OIDC groups that get Argo CD's role:admin. Default: none (everyone signed in is read-only).
    admin_groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class RolloutsSettings:
    # Install the Argo Rollouts controller. Default: false. The controller writes Deployments,
    # ReplicaSets and Services in every namespace: a cluster runs it only when its services need it.
    enabled: bool = False
    # argo-rollouts chart version. Default: ROLLOUTS_CHART_VERSION.
    chart_version: str = ROLLOUTS_CHART_VERSION


@dataclass(frozen=True)
class ArgoCdSettings:
    # argo-cd chart version. Default: CHART_VERSION.
    chart_version: str = CHART_VERSION
    # Highly available Argo CD. Default: false.
    ha: bool = False
    # OIDC single sign-on. Default: none (local admin user, reachable through port-forward only).
    sso: SsoSettings | None = None
    # Argo Rollouts. Default: not installed.
    rollouts: RolloutsSettings = RolloutsSettings()


_https = v.pattern(_HTTPS_ORIGIN, "an https:// URL such as https://login.example.com")


def parse(data: Any, *, tooling_account: str) -> ArgoCdSettings:
    """Validate the `argocd` mapping (None when the stack does not set the key: all defaults)."""
    if data is None:
        return ArgoCdSettings()
    if not isinstance(data, Mapping):
        raise v.fail("argocd", data, "a mapping with chartVersion, ha, sso and rollouts")
    root = v.Reader("argocd", data)
    chart_version = root.get(
        "chartVersion", v.pattern(_SEMVER, f"an exact chart version such as {CHART_VERSION}"),
        default=CHART_VERSION)
    ha = root.get("ha", v.boolean, default=False)
    sso = None
    if data.get("sso") is not None:
        section = root.section("sso")
        sso = SsoSettings(
            issuer=section.get("issuer", _https),
            client_id=section.get("clientId", v.text),
            client_secret_arn=section.get(
                "clientSecretArn",
                v.arn_in(v.SECRET_ARN, "a Secrets Manager secret ARN, arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 chars>",
                        account=tooling_account, where="the tooling account, where `pulumi up` reads it")),
            url=section.get("url", _https),
            admin_groups=section.get("adminGroups", v.list_of(v.text), default=()),
        )
        section.finish()
    else:
        root.used.add("sso")
    section = root.section("rollouts", required=False)
    rollouts = RolloutsSettings(
        enabled=section.get("enabled", v.boolean, default=False),
        chart_version=section.get(
            "chartVersion", v.pattern(_SEMVER, f"an exact chart version such as {ROLLOUTS_CHART_VERSION}"),
            default=ROLLOUTS_CHART_VERSION),
    )
    section.finish()
    root.finish()
    return ArgoCdSettings(chart_version=chart_version, ha=ha, sso=sso, rollouts=rollouts)

