"""Stack settings: read from the stack's Pulumi config, validated before any resource exists.

Every key lives under the project namespace (`delivery-pipeline:<key>`); keys of other namespaces
are the providers' (`aws:region`) and the engine's, any other namespace is refused as a typo. Bad
values raise one `SettingsError` listing every error of the stack, each a line naming the key, the
value and what is expected; the program stops there, so a stack is never half registered because
of a typo. Defaults are stated where each field is declared and in docs/guide/settings.md. The validators are `components.validators`; the `argocd`
section is `components.argocd_settings`, parsed here into `Settings.argocd`.
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Collection, Mapping

from components import argocd_settings, release_gates
from components import validators as v
from components.argocd_settings import ArgoCdSettings
from components.naming import Names
from components.pipeline_model import MAX_TRIGGER_FILE_PATH_CHARS, MAX_TRIGGER_FILE_PATHS
from components.release_gates import ReleaseGates
from components.stack_files import project_environments, unquoted_numbers
from components.validators import AWS_REGIONS, PROJECT, SettingsError
from gitops.promotion.soak import MAX_SOAK_MINUTES

__all__ = ["AWS_PROVIDER_KEYS", "AWS_REGIONS", "PROJECT", "SettingsError", "AlarmSettings", "ApproverSettings", "BuildSource",
           "GitOpsToken", "PromoteSource", "ServiceSettings", "Settings", "parse", "from_config", "from_pulumi_config",
           "project_environments"]

EXECUTION_MODES = ("QUEUED", "SUPERSEDED", "PARALLEL")
PROMOTION_MODES = ("commit", "pull-request")
SOURCE_KINDS = ("build", "promote")
SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW")
# Tags every AWS resource of the stack carries (`Settings.stack_tags`); no user tag may redefine them.
BUILT_IN_TAGS = ("app", "environment", "managed-by")
# Config namespaces something reads besides the project's: the providers the program uses
# (`aws:region` is the default provider's region) and the engine's own (`pulumi:`). A key in any
# other namespace (`delivery-pipline:executionMode`) would be read by nothing, so it is refused.
PROVIDER_NAMESPACES = ("aws", "kubernetes")
ENGINE_NAMESPACE = "pulumi"
# A service's keys that say how to build its image: a promote stack builds nothing, so there they
# would be read by nothing.
BUILD_ONLY_SERVICE_KEYS = ("paths", "testCommand", "dockerfile", "context")


def _provider_keys(package: str) -> frozenset[str]:
    """The config keys a Pulumi provider package reads (`aws:<key>`), from its generated
    `config/vars.py` rather than a list kept by hand (and without importing the provider)."""
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.origin is not None, f"{package} is a pinned requirement"
    source = (Path(spec.origin).parent / "config" / "vars.py").read_text()
    return frozenset(re.findall(r"__config__\.get\w*\('(\w+)'", source))


AWS_PROVIDER_KEYS = _provider_keys("pulumi_aws")


# The retention periods CloudWatch Logs accepts (PutRetentionPolicy), in days.
LOG_RETENTION_VALUES = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
                        2557, 2922, 3288, 3653)

@dataclass(frozen=True)
class ServiceSettings:
    name: str
    # Paths in the application repository whose changes trigger this service's pipeline
    # (monorepos). Default: every path.
    paths: tuple[str, ...]
    # Dockerfile and build context, relative to the repository root.
    # Default: services/<name>/Dockerfile and services/<name>.
    dockerfile: str
    context: str
    # Command the Test action runs. Default: `make test`.
    test_command: str
    # Regions of the environment the service runs in. Default: all of the environment's.
    regions: tuple[str, ...]


@dataclass(frozen=True)
class BuildSource:
    """`source.kind: build`: the stack builds images from the application repository and owns
    their ECR repositories."""

    repository: str
    branch: str
    # Who may pull the images (default: the environment account), and where they are replicated
    # (default: the environment's other regions).
    pull_accounts: tuple[str, ...]
    replica_regions: tuple[str, ...]


@dataclass(frozen=True)
class PromoteSource:
    """`source.kind: promote`: the stack promotes what an upstream environment runs, triggered by
    that environment's values in the GitOps repository. Its steps name no ECR repository (the
    images stay the building stack's), so it reads no other stack."""

    upstream: str
    # Regions of the upstream whose verification of an image is required before it is promoted
    # here (`source.upstreamRegions`), besides every region that reported one. Default: none named.
    upstream_regions: tuple[str, ...] = ()
    # Minutes the newest of those verifications must be old (`promotion.soakMinutes`, Kargo's
    # requiredSoakTime). Default: 0 (no soak).
    soak_minutes: int = 0


@dataclass(frozen=True)
class ApproverSettings:
    """Who may approve (`approval.approverPrincipals`, `approval.permissionSetArn`): the stack's
    approver policy always exists when approval is on; these say who gets it."""

    # IAM users and roles trusted by the approver role (users only with MFA). Default: none, and
    # no role is created.
    principals: tuple[str, ...] = ()
    # An IAM Identity Center permission set that references the approver policy by name and path.
    # Default: none.
    permission_set_arn: str | None = None


@dataclass(frozen=True)
class AlarmSettings:
    """The `alarms` section: CloudWatch alarms to the alerts topic, and the stack's dashboard."""

    # Default: on.
    enabled: bool = True
    # Failed executions of one pipeline within a period that raise its alarm. Default: 1.
    failed_executions: int = 1
    # Failed builds of one project within a period that raise its alarm. Default: 1.
    failed_builds: int = 1
    # A build longer than this share of its project's timeout raises the alarm. Default: 80 (%).
    duration_percent: int = 80
    # The alarms' evaluation period. Default: 5 minutes.
    period_minutes: int = 5
    # Default: `Names.dashboard`, `<app>-<env>-pipelines`.
    dashboard_name: str | None = None


@dataclass(frozen=True)
class GitOpsToken:
    """The secret holding the token the steps write to the GitOps repository with."""

    # `gitops.tokenSecretArn`, in the tooling account.
    secret_arn: str
    # The customer-managed KMS key the secret is encrypted with (`gitops.tokenKeyArn`); the roles
    # that read the token may decrypt with it through Secrets Manager only. Default: none (the
    # secret uses the account's `aws/secretsmanager` key, which needs no grant).
    key_arn: str | None = None

    @property
    def region(self) -> str:
        """The secret's region (from its ARN): where CodeBuild can resolve it as a variable."""
        return v.arn_region(self.secret_arn)


@dataclass(frozen=True)
class Settings:
    app: str
    tooling_account: str
    home_region: str
    env_name: str
    env_account: str
    # region -> name of the existing EKS cluster there; the first region is the primary one.
    clusters: Mapping[str, str]
    bootstrap_role_arn: str
    connection_arn: str
    source: BuildSource | PromoteSource
    gitops_repository: str
    gitops_url: str
    gitops_branch: str
    gitops_token: GitOpsToken
    promotion_mode: str
    auto_merge: bool
    approval_enabled: bool
    approval_subscribers: tuple[str, ...]
    execution_mode: str
    alert_subscribers: tuple[str, ...]
    scan_severity: str
    tags: Mapping[str, str]
    services: tuple[ServiceSettings, ...]
    argocd: ArgoCdSettings
    approvers: ApproverSettings = ApproverSettings()
    alarms: AlarmSettings = AlarmSettings()
    # Days the CodeBuild log groups keep build logs. Default: 365 (a year of audit history: PCI DSS
    # 10.5.1, Checkov CKV_AWS_338).
    log_retention_days: int = 365
    # Release windows, blocking alarms and bake (`promotion.windows`, `.blockingAlarms`,
    # `.bakeMinutes`; components.release_gates). Default: none.
    gates: ReleaseGates = ReleaseGates()

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(self.clusters)

    @property
    def artifact_regions(self) -> tuple[str, ...]:
        """Where an action of the stack's pipelines runs, each with an artifact store: the home
        region and every service's regions, sorted."""
        return tuple(sorted({self.home_region, *(r for s in self.services for r in s.regions)}))

    @property
    def service_regions(self) -> dict[str, tuple[str, ...]]:
        """service -> the regions it runs in."""
        return {service.name: service.regions for service in self.services}

    def service_clusters(self, service: ServiceSettings) -> dict[str, str]:
        """region -> EKS cluster, for the regions the service runs in."""
        return {region: self.clusters[region] for region in service.regions}

    @property
    def build_source(self) -> BuildSource | None:
        """The source of a stack that builds its images (and owns their repositories); None for
        a stack that promotes an upstream environment's."""
        return self.source if isinstance(self.source, BuildSource) else None

    @property
    def names(self) -> Names:
        return Names(self.app, self.env_name)

    def identity_tags(self) -> dict[str, str]:
        """The built-in tags that tell this stack's resources from any other stack's."""
        return {"app": self.app, "environment": self.env_name}

    def stack_tags(self) -> dict[str, str]:
        return {**self.identity_tags(), BUILT_IN_TAGS[2]: PROJECT, **self.tags}


def _services(key: str, value: Any, env_regions: tuple[str, ...], errors: v.Errors) -> tuple[ServiceSettings, ...]:
    if not isinstance(value, list) or not value:
        raise v.fail(key, value, "a non-empty list of services, each a mapping with at least `name`")

    def region_of_env(k: str, value: Any) -> str:
        if env_regions and value not in env_regions:
            raise v.fail(k, value, "one of the environment's regions: " + ", ".join(env_regions))
        return value

    services = []
    for index, raw in enumerate(value):
        item_key = f"{key}[{index}]"
        if not isinstance(raw, Mapping):
            errors.add(v.fail(item_key, raw, "a mapping with at least `name`"))
            continue
        reader = v.Reader(item_key, raw, errors)
        name = reader.get("name", v.dns_name)
        service = ServiceSettings(
            name=name,
            paths=reader.get("paths", _trigger_paths, default=()),
            dockerfile=reader.get("dockerfile", v.path_filter, default=f"services/{name}/Dockerfile"),
            context=reader.get("context", v.path_filter, default=f"services/{name}"),
            test_command=reader.get("testCommand", v.text, default="make test"),
            regions=reader.get("regions", v.list_of(region_of_env, non_empty=True), default=env_regions),
        )
        reader.finish()
        services.append(service)
    names = [s.name for s in services if s.name]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise v.fail(key, names, f"unique service names ({duplicate!r} appears twice)")
    return tuple(services)


def _trigger_paths(key: str, value: Any) -> tuple[str, ...]:
    """`services[].paths`: the file path patterns of the service's pipeline trigger, within what
    CodePipeline accepts (CreatePipeline refuses more patterns, or longer ones, half-way through
    `pulumi up`)."""
    paths = v.list_of(v.path_filter, non_empty=True)(key, value)
    if len(paths) > MAX_TRIGGER_FILE_PATHS:
        raise v.fail(key, value, f"at most {MAX_TRIGGER_FILE_PATHS} paths (a CodePipeline trigger takes at most "
                                 f"{MAX_TRIGGER_FILE_PATHS} file path patterns): join some with a wider glob")
    for index, path in enumerate(paths):
        if len(path) > MAX_TRIGGER_FILE_PATH_CHARS:
            raise v.fail(f"{key}[{index}]", path, f"a glob of at most {MAX_TRIGGER_FILE_PATH_CHARS} characters "
                                                  f"(CodePipeline's limit for a trigger's file path pattern), not {len(path)}")
    return paths


def _clusters(key: str, value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping) or not value:
        raise v.fail(key, value, "a non-empty mapping of region to EKS cluster name, e.g. {us-east-1: shop-staging}")
    errors = v.Errors()
    cluster_name = v.pattern(v.CLUSTER, "an EKS cluster name")
    clusters = {}
    for region, cluster in value.items():
        if errors.checked(v.region, f"{key}.{region}", region):
            clusters[region] = errors.checked(cluster_name, f"{key}.{region}", cluster)
    errors.raise_any()
    return clusters


def _source(root: v.Reader, *, env_name: str, env_account: str, home_region: str,
            clusters: tuple[str, ...], environments: Collection[str] | None) -> BuildSource | PromoteSource:
    """The `source` section, and `registry`, which only a building stack has."""
    source = root.section("source")
    kind = source.get("kind", v.one_of(SOURCE_KINDS))
    registry = root.section("registry", required=False)
    if not kind:
        # Which keys belong here depends on the kind: without one, only its error is reported.
        for section in (source, registry):
            section.used.update(section.data)
            section.finish()
        return v.INVALID
    if kind == "build":
        repository = source.get("repository", v.pattern(v.REPO_ID, "owner/name of the application repository"))
        branch = source.get("branch", v.branch, default="main")
        source.finish()
        # Default: this environment's account pulls; images are replicated to its other regions.
        pull_accounts = registry.get("pullAccounts", v.list_of(v.account, non_empty=True), default=(env_account,))
        replica_regions = registry.get(
            "replicaRegions", v.list_of(v.region),
            default=tuple(r for r in clusters if r != home_region))
        if home_region and replica_regions and home_region in replica_regions:
            root.errors.add(v.fail("registry.replicaRegions", list(replica_regions),
                                   f"regions other than the home region {home_region}, where the repositories live"))
        registry.finish()
        return BuildSource(repository=repository, branch=branch, pull_accounts=pull_accounts,
                           replica_regions=replica_regions)
    upstream = source.get("upstream", v.dns_name)
    if upstream and upstream == env_name:
        root.errors.add(v.fail("source.upstream", upstream, f"another environment than {env_name!r}"))
    upstream_regions = source.get("upstreamRegions", v.list_of(v.region), default=())
    # Default: the environments of the project's stack files (`environments`).
    listed = source.get("knownEnvironments", v.list_of(v.dns_name, non_empty=True), default=())
    _check_upstream(root.errors, upstream, env_name, listed or (), environments)
    source.finish()
    if registry.data:
        root.errors.add(v.fail("registry", dict(registry.data),
                               "no registry settings: a promote stack's images are the building stack's"))
        registry.used.update(registry.data)
    registry.finish()
    return PromoteSource(upstream=upstream, upstream_regions=upstream_regions)


def _approvers(approval: v.Reader, enabled: bool) -> ApproverSettings:
    principals = approval.get("approverPrincipals", v.list_of(v.pattern(
        v.IAM_PRINCIPAL_ARN, "an IAM user or role ARN such as arn:aws:iam::444444444444:role/release-managers "
                             "(no wildcard, no account root)")), default=())
    permission_set = approval.get("permissionSetArn", v.pattern(
        v.PERMISSION_SET_ARN, "an IAM Identity Center permission set ARN, "
                              "arn:aws:sso:::permissionSet/ssoins-<16 chars>/ps-<16 chars>"), default=None)
    if (principals or permission_set) and not enabled:
        key = "approval.approverPrincipals" if principals else "approval.permissionSetArn"
        raise v.fail(key, list(principals) or permission_set,
                     "no approvers while approval.enabled is false (there is nothing to approve): "
                     "set approval.enabled: true or remove the approvers")
    return ApproverSettings(principals=principals, permission_set_arn=permission_set)


def _alarms(root: v.Reader) -> AlarmSettings:
    alarms = root.section("alarms", required=False)
    settings = AlarmSettings(
        enabled=alarms.get("enabled", v.boolean, default=True),
        failed_executions=alarms.get("failedExecutions", v.integer(1, 1000), default=1),
        failed_builds=alarms.get("failedBuilds", v.integer(1, 1000), default=1),
        duration_percent=alarms.get("durationPercent", v.integer(1, 100), default=80),
        # CloudWatch evaluates at most one day (period x evaluation periods, here one period).
        period_minutes=alarms.get("periodMinutes", v.integer(1, 1440), default=5),
        dashboard_name=alarms.get("dashboardName", v.pattern(
            v.DASHBOARD_NAME, "a dashboard name of 1-250 characters (pages add -2, -3, …): A-Z, a-z, 0-9, '-' and '_'"), default=None),
    )
    alarms.finish()
    return settings


def _environment(root: v.Reader) -> tuple[str, str, str, dict[str, str]]:
    """The `environment` section: its name, account, bootstrap role and clusters (region -> name)."""
    env = root.section("environment")
    env_name = env.get("name", v.dns_name)
    env_account = env.get("account", v.account)
    bootstrap_role = env.get(
        "bootstrapRoleArn",
        v.arn_in(v.ROLE_ARN, "an IAM role ARN such as arn:aws:iam::222222222222:role/delivery-bootstrap",
                account=env_account, where="the environment account, which the stack assumes it in"),
    )
    clusters = env.get("clusters", _clusters) or {}
    env.finish()
    return env_name, env_account, bootstrap_role, clusters


def _gitops(root: v.Reader, tooling_account: str) -> tuple[str, str, str, GitOpsToken]:
    """The `gitops` section: the repository (owner/name), its clone URL and branch, and the token."""
    gitops = root.section("gitops")
    repository = gitops.get("repository", v.pattern(v.REPO_ID, "owner/name of the GitOps repository"))
    url = gitops.get("url", v.pattern(v.HTTPS_URL, "the HTTPS clone URL of the GitOps repository"))
    branch = gitops.get("branch", v.branch, default="main")
    token_secret = gitops.get(
        "tokenSecretArn",
        v.arn_in(v.SECRET_ARN, "a Secrets Manager secret ARN, arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 chars>",
                account=tooling_account, where="the tooling account, where CodeBuild reads it"),
    )
    token_key = gitops.get(
        "tokenKeyArn",
        v.arn_in(v.KMS_KEY_ARN, "a KMS key ARN, arn:aws:kms:<region>:<account>:key/<key id> (not an alias)",
                 account=tooling_account, region=v.arn_region(token_secret) if token_secret else None,
                 where="the token secret's account and region: Secrets Manager encrypts with a key of its own region"),
        default=None)
    gitops.finish()
    return repository, url, branch, GitOpsToken(secret_arn=token_secret, key_arn=token_key)


def _promotion(root: v.Reader, tooling_account: str, home_region: str) -> tuple[str, bool, ReleaseGates, int]:
    """The `promotion` section: the mode, whether pull requests merge themselves, the release gates,
    the soak of the upstream's proof."""
    promotion = root.section("promotion", required=False)
    mode = promotion.get("mode", v.one_of(PROMOTION_MODES), default="commit")
    auto_merge = promotion.get("autoMerge", v.boolean, default=False)
    if auto_merge and mode and mode != "pull-request":
        root.errors.add(v.fail("promotion.autoMerge", True, "false unless promotion.mode is pull-request"))
    gates = release_gates.parse(promotion, tooling_account=tooling_account, home_region=home_region)
    soak = promotion.get("soakMinutes", v.integer(0, MAX_SOAK_MINUTES), default=0)
    promotion.finish()
    return mode, auto_merge, gates, soak


def _with_soak(root: v.Reader, source: BuildSource | PromoteSource, soak: int) -> BuildSource | PromoteSource:
    """The source with the soak its promotions wait for: a promoting stack's only (the soak is of
    its upstream's proof)."""
    if isinstance(source, PromoteSource):
        return replace(source, soak_minutes=soak)
    if soak:
        root.errors.add(v.fail("promotion.soakMinutes", soak, "0 unless source.kind is promote (a soak is of "
                                                              "the upstream's proof of an image)"))
    return source


def _approval(root: v.Reader) -> tuple[bool, tuple[str, ...], ApproverSettings]:
    """The `approval` section: whether promotions wait for one, who is told, who may give it."""
    approval = root.section("approval", required=False)
    enabled = approval.get("enabled", v.boolean, default=False)
    subscribers = approval.get("subscribers", v.list_of(v.email), default=())
    approvers = _approvers(approval, enabled)
    approval.finish()
    return enabled, subscribers, approvers


def _optional(root: v.Reader, section: str, key: str, check: Any, default: Any) -> Any:
    """The one key of an optional section (`logs`, `alerts`, `scan`)."""
    reader = root.section(section, required=False)
    value = reader.get(key, check, default=default)
    reader.finish()
    return value


def _check_upstream(errors: v.Errors, upstream: str, env_name: str, listed: Collection[str],
                    environments: Collection[str] | None) -> None:
    """A promote stack's pipelines start on its upstream's values: an upstream no stack is for
    (`stagin`) plans pipelines that never start. Known: the environments of the project's stack
    files, and `source.knownEnvironments`; unchecked when neither was given (one stack's settings
    parsed alone)."""
    if not upstream or upstream == env_name or (environments is None and not listed):
        return
    from_files = sorted(set(environments or ()) - {env_name})
    known = sorted({*from_files, *listed})
    if upstream in known:
        return
    if not known:
        errors.add(v.fail("source.upstream", upstream,
                          f"an environment of this project (none besides {env_name} in its stack files): add the "
                          "upstream's stack file, or list the environments in source.knownEnvironments"))
        return
    where = " and ".join(name for name, given in (("its stack files", from_files),
                                                  ("source.knownEnvironments", listed)) if given)
    hint = difflib.get_close_matches(upstream, known, n=1)
    fix = f"did you mean {hint[0]!r}?" if hint else "name one of them, or add it to source.knownEnvironments"
    errors.add(v.fail("source.upstream", upstream, f"an environment of this project ({', '.join(known)}, from {where}): {fix}"))


def _check_gitops_url(errors: v.Errors, repository: str, url: str) -> None:
    """`gitops.url` (what promote, verify and Argo CD clone) and `gitops.repository` (what the
    promote pipelines' source watches) must be one repository: the last two parts of the URL's path
    are its owner/name (hosts compare them case-insensitively; `.git` is optional)."""
    if not repository or not url:
        return
    path = url.split("://", 1)[1].split("/", 1)[1].split("?")[0].rstrip("/").removesuffix(".git")
    named = "/".join(path.split("/")[-2:])
    if named.lower() != repository.lower():
        errors.add(v.fail("gitops.url", url, f"the clone URL of gitops.repository {repository} (this one names "
                                             f"{named}): make the two name the same repository"))


def _check_build_only_keys(errors: v.Errors, kind: str, services: Any) -> None:
    """A promote stack builds nothing: a service's build keys there would be read by nothing."""
    if kind != "promote" or not isinstance(services, list):
        return
    for index, service in enumerate(services):
        for key in BUILD_ONLY_SERVICE_KEYS:
            if isinstance(service, Mapping) and key in service:
                errors.add(v.fail(f"services[{index}].{key}", service[key],
                                  f"no {key} in a stack with source.kind promote, which builds nothing (the "
                                  "building stack's services say how to build): remove it"))


def _check_accounts(errors: v.Errors, tooling_account: str, env_account: str) -> None:
    if tooling_account and tooling_account == env_account:
        errors.add(v.fail("environment.account", env_account,
                          "another account than tooling.account: the pipelines' tooling and the clusters they "
                          "deploy to are kept apart (the deployment role, the cross-account keys and the "
                          "access paths assume two accounts)"))


def parse(data: Mapping[str, Any], *, environments: Collection[str] | None = None) -> Settings:
    """Validate a stack's settings (keys without the project prefix, structured values decoded).

    `environments`: those of the project's stacks, which `source.upstream` must name (see
    `project_environments`). Every error is collected and raised at the end, all in one
    `SettingsError`."""
    root = v.Reader("", data)
    app = root.get("app", v.dns_name)

    tooling = root.section("tooling")
    tooling_account = tooling.get("account", v.account)
    home_region = tooling.get("region", v.region)
    tooling.finish()

    env_name, env_account, bootstrap_role, clusters = _environment(root)

    connection_arn = root.get(
        "connectionArn",
        v.arn_in(v.CONNECTION_ARN, "a CodeConnections ARN, arn:aws:codeconnections:<region>:<account>:connection/<uuid>",
                account=tooling_account, region=home_region,
                where="source actions run in the pipeline's account and region"),
    )

    source = _source(root, env_name=env_name, env_account=env_account, home_region=home_region,
                     clusters=tuple(clusters), environments=environments)

    gitops_repository, gitops_url, gitops_branch, gitops_token = _gitops(root, tooling_account)
    promotion_mode, auto_merge, gates, soak = _promotion(root, tooling_account, home_region)
    source = _with_soak(root, source, soak)
    approval_enabled, approval_subscribers, approvers = _approval(root)
    alarms = _alarms(root)
    log_retention_days = _optional(root, "logs", "retentionDays", v.integer_in(LOG_RETENTION_VALUES), 365)
    alert_subscribers = _optional(root, "alerts", "subscribers", v.list_of(v.email), ())
    scan_severity = _optional(root, "scan", "severityThreshold", v.one_of(SEVERITIES), "HIGH")

    execution_mode = root.get("executionMode", v.one_of(EXECUTION_MODES), default="QUEUED")
    tags = root.get("tags", v.tags(BUILT_IN_TAGS), default={})
    services = root.get("services", lambda key, value: _services(key, value, tuple(clusters), root.errors))

    argocd = root.get("argocd", lambda key, value: argocd_settings.parse(value, tooling_account=tooling_account),
                      default=ArgoCdSettings())
    _check_accounts(root.errors, tooling_account, env_account)
    _check_gitops_url(root.errors, gitops_repository, gitops_url)
    _check_build_only_keys(root.errors, "promote" if isinstance(source, PromoteSource) else "build",
                           data.get("services"))
    root.finish()

    return Settings(
        app=app, tooling_account=tooling_account, home_region=home_region,
        env_name=env_name, env_account=env_account, clusters=clusters,
        bootstrap_role_arn=bootstrap_role, connection_arn=connection_arn,
        source=source,
        gitops_repository=gitops_repository, gitops_url=gitops_url, gitops_branch=gitops_branch,
        gitops_token=gitops_token,
        promotion_mode=promotion_mode, auto_merge=auto_merge,
        approval_enabled=approval_enabled, approval_subscribers=approval_subscribers,
        execution_mode=execution_mode, alert_subscribers=alert_subscribers,
        scan_severity=scan_severity, tags=tags, services=services, argocd=argocd,
        approvers=approvers, alarms=alarms, log_retention_days=log_retention_days, gates=gates,
    )


def from_pulumi_config() -> Settings:
    """Collect every `delivery-pipeline:*` key the engine passed this program and validate them,
    with what the project's stack files tell (Pulumi runs the program from the project directory)."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    project_dir = Path.cwd()
    return from_config({**runtime_config.get_config_env(), **runtime_config.CONFIG.get()},
                       environments=project_environments(project_dir),
                       stack_file=project_dir / f"Pulumi.{pulumi.get_stack()}.yaml")


def from_config(raw: Mapping[str, Any], *, environments: Collection[str] | None = None,
                stack_file: Path | None = None) -> Settings:
    """Validate the config of a stack (full keys): the `delivery-pipeline:*` keys are the settings,
    a key of a namespace nothing reads is refused, and so are a missing `aws:region` and a key the
    AWS provider does not read. `environments` are those of the project's stacks (the upstream must
    be one); `stack_file`, when given, is read for the values YAML turned into numbers. Every error
    is reported in one `SettingsError`."""
    prefix = PROJECT + ":"
    errors = v.Errors()
    data: dict[str, Any] = {}
    _check_aws_config(raw, errors)
    for full_key, value in raw.items():
        if not full_key.startswith(prefix):
            _check_namespace(full_key, errors)
            continue
        key = full_key[len(prefix):]
        # Structured values arrive JSON-encoded; plain strings stay strings.
        if isinstance(value, str) and value[:1] in ("{", "["):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as error:
                errors.add(v.fail(key, value, f"valid structured YAML ({error.msg})"))
                value = v.INVALID
        data[key] = value
    for found in unquoted_numbers(stack_file) if stack_file is not None else ():
        errors.add(SettingsError(
            f"{PROJECT}:{found.key} is written {found.text} without quotes ({stack_file.name} line {found.line}): "
            f"YAML reads that as the number {found.number}, not as these digits: write \"{found.text}\""))
        data = _reported(data, found.path)
    try:
        settings = parse(data, environments=environments)
    except SettingsError as error:
        errors.add(error)
    errors.raise_any()
    return settings


def _reported(data: Any, path: tuple[str | int, ...]) -> Any:
    """A copy of `data` with the value at `path` replaced by INVALID (its error is reported), so it
    is not reported again as the number it was read as."""
    if not path:
        return v.INVALID
    head, rest = path[0], path[1:]
    if isinstance(data, Mapping) and head in data:
        return {**data, head: _reported(data[head], rest)}
    if isinstance(data, list) and isinstance(head, int) and head < len(data):
        return [*data[:head], _reported(data[head], rest), *data[head + 1:]]
    return data


def _check_aws_config(raw: Mapping[str, Any], errors: v.Errors) -> None:
    """`aws:` keys are the AWS provider's: one it does not read is a typo (`aws:regoin`), and
    `aws:region`, the default provider's region, must be set and be a region."""
    for full_key in raw:
        namespace, _, key = full_key.partition(":")
        if namespace == "aws" and key not in AWS_PROVIDER_KEYS:
            hint = difflib.get_close_matches(key, sorted(AWS_PROVIDER_KEYS), n=1)
            fix = f"did you mean aws:{hint[0]}?" if hint else "remove it (see the provider's configuration reference)"
            errors.add(SettingsError(f"{full_key} is not a setting of the AWS provider: {fix}"))
    region = raw.get("aws:region")
    if region is None:
        errors.add(SettingsError("aws:region is missing: set it in Pulumi.<stack>.yaml to the home region "
                                 "(tooling.region), e.g. aws:region: us-east-1; the AWS provider reads it "
                                 "(see docs/guide/settings.md)"))
    elif region not in AWS_REGIONS:
        errors.add(v.fail("region", region, "an AWS region name such as us-east-1 (the aws partition)", namespace="aws"))


def _check_namespace(full_key: str, errors: v.Errors) -> None:
    namespace, _, key = full_key.partition(":")
    readers = (PROJECT, *PROVIDER_NAMESPACES, ENGINE_NAMESPACE)
    if namespace in readers:
        return
    hint = difflib.get_close_matches(namespace, readers, n=1)
    fix = (f"did you mean {hint[0]}:{key}?" if hint
           else f"the namespaces read are {', '.join(readers)}: move the key to one of them or remove it")
    errors.add(SettingsError(f"{full_key} is in namespace {namespace!r}, which neither this program nor its "
                             f"providers read: {fix}"))
