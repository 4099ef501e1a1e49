"""Stack settings: read from the stack's Pulumi config, validated before any resource exists.

Every key lives under the project namespace (`delivery-pipeline:<key>`). A bad value raises
`SettingsError` naming the key, the value and what is expected; the program stops there, so a
stack is never half registered because of a typo. Defaults are stated where each field is declared
and in the README's settings table.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import botocore.session

PROJECT = "delivery-pipeline"

# The `aws` partition's regions, from botocore's endpoint data rather than a list kept by hand.
AWS_REGIONS: frozenset[str] = frozenset(
    botocore.session.get_session().get_available_regions("codepipeline", partition_name="aws")
)

EXECUTION_MODES = ("QUEUED", "SUPERSEDED", "PARALLEL")
PROMOTION_MODES = ("commit", "pull-request")
SOURCE_KINDS = ("build", "promote")
SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW")

_ACCOUNT = re.compile(r"^\d{12}$")
_DNS_LABEL = re.compile(r"^[a-z]([a-z0-9-]{0,18}[a-z0-9])?$")
_REPO_ID = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_BRANCH = re.compile(r"^(?!/|.*//|.*\.\.|.*/$|.*\.lock$)[A-Za-z0-9._/-]{1,255}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CONNECTION_ARN = re.compile(
    r"^arn:aws:(codestar-connections|codeconnections):(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"connection/[0-9a-f-]{36}$"
)
_SECRET_ARN = re.compile(
    r"^arn:aws:secretsmanager:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$"
)
_ROLE_ARN = re.compile(r"^arn:aws:iam::(?P<account>\d{12}):role/[A-Za-z0-9+=,.@_/-]{1,512}$")
_STACK_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_CLUSTER = re.compile(r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")
_HTTPS_URL = re.compile(r"^https://[A-Za-z0-9.-]+(:\d+)?/[^\s]+$")
_TAG_KEY = re.compile(r"^(?!aws:)[\w .:/=+@-]{1,128}$")


# Top-level keys whose values other modules validate (components.argocd_settings for `argocd`).
DELEGATED_KEYS = ("argocd",)


class SettingsError(ValueError):
    """A stack setting is missing or wrong. The message names the key, the value and the fix."""


def _fail(key: str, value: Any, expected: str) -> SettingsError:
    shown = json.dumps(value) if not isinstance(value, str) else repr(value)
    return SettingsError(f"{PROJECT}:{key} = {shown}: expected {expected}")


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
    source_kind: str
    # source.kind == "build"
    app_repository: str | None
    app_branch: str | None
    # source.kind == "promote"
    upstream_env: str | None
    registry_stack: str | None
    # source.kind == "build": who may pull the images, and where they are replicated
    registry_pull_accounts: tuple[str, ...]
    registry_replica_regions: tuple[str, ...]
    gitops_repository: str
    gitops_url: str
    gitops_branch: str
    gitops_token_secret_arn: str
    promotion_mode: str
    auto_merge: bool
    approval_enabled: bool
    approval_subscribers: tuple[str, ...]
    execution_mode: str
    alert_subscribers: tuple[str, ...]
    scan_severity: str
    tags: Mapping[str, str]
    services: tuple[ServiceSettings, ...]
    # Values of DELEGATED_KEYS, validated by the modules that own them.
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(self.clusters)

    @property
    def builds_images(self) -> bool:
        return self.source_kind == "build"

    def stack_tags(self) -> dict[str, str]:
        return {"app": self.app, "environment": self.env_name, "managed-by": PROJECT, **self.tags}


# ----------------------------------------------------------------------------------------------
# Reading


class _Reader:
    """Reads one mapping of settings, remembering which keys were used so leftovers are rejected."""

    def __init__(self, prefix: str, data: Mapping[str, Any]):
        self.prefix = prefix
        self.data = data
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def get(self, name: str, check: Callable[[str, Any], Any], default: Any = ...) -> Any:
        self.used.add(name)
        if name not in self.data or self.data[name] is None:
            if default is ...:
                raise SettingsError(f"{PROJECT}:{self.key(name)} is missing: set it in Pulumi.<stack>.yaml "
                                    f"(see the README's settings table)")
            return default
        return check(self.key(name), self.data[name])

    def section(self, name: str, required: bool = True) -> "_Reader":
        self.used.add(name)
        value = self.data.get(name)
        if value is None and not required:
            value = {}
        if value is None:
            raise SettingsError(f"{PROJECT}:{self.key(name)} is missing: set it in Pulumi.<stack>.yaml")
        if not isinstance(value, Mapping):
            raise _fail(self.key(name), value, "a mapping of settings")
        return _Reader(self.key(name), value)

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            known = ", ".join(sorted(self.used))
            raise SettingsError(
                f"{PROJECT}:{self.key(unknown[0])} is not a known setting (known here: {known})"
            )


def _pattern(regex: re.Pattern[str], expected: str) -> Callable[[str, Any], str]:
    def check(key: str, value: Any) -> str:
        if not isinstance(value, str) or not regex.match(value):
            raise _fail(key, value, expected)
        return value

    return check


_account = _pattern(_ACCOUNT, 'a 12-digit AWS account id in quotes, e.g. "111111111111"')
_dns_name = _pattern(_DNS_LABEL, "a lowercase DNS label: a-z, 0-9 and '-', starting with a letter, at most 20 (names of derived resources must fit AWS limits)")
_branch = _pattern(_BRANCH, "a git branch name such as main")


def _region(key: str, value: Any) -> str:
    if value not in AWS_REGIONS:
        raise _fail(key, value, "an AWS region name such as us-east-1 (the aws partition)")
    return value


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(key, value, "a non-empty string")
    return value


def _boolean(key: str, value: Any) -> bool:
    # Pulumi config stores scalars set with `pulumi config set` as strings.
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise _fail(key, value, "true or false")


def _one_of(options: tuple[str, ...]) -> Callable[[str, Any], str]:
    def check(key: str, value: Any) -> str:
        if value not in options:
            raise _fail(key, value, "one of " + ", ".join(options))
        return value

    return check


def _list_of(item: Callable[[str, Any], Any], *, non_empty: bool = False) -> Callable[[str, Any], tuple]:
    def check(key: str, value: Any) -> tuple:
        if not isinstance(value, list) or (non_empty and not value):
            raise _fail(key, value, "a non-empty list" if non_empty else "a list")
        items = tuple(item(f"{key}[{i}]", v) for i, v in enumerate(value))
        if len(set(map(str, items))) != len(items):
            raise _fail(key, value, "a list without duplicates")
        return items

    return check


def _email(key: str, value: Any) -> str:
    if not isinstance(value, str) or not _EMAIL.match(value):
        raise _fail(key, value, "an e-mail address such as oncall@example.com")
    return value


def _path_filter(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value or value.startswith("/") or ".." in value.split("/"):
        raise _fail(key, value, "a repository-relative glob such as services/api/**")
    return value


def _tags(key: str, value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise _fail(key, value, "a mapping of tag names to string values")
    for name, tag_value in value.items():
        if not isinstance(name, str) or not _TAG_KEY.match(name):
            raise _fail(f"{key}.{name}", tag_value, "a tag name of 1-128 characters not starting with aws:")
        if not isinstance(tag_value, str) or len(tag_value) > 256:
            raise _fail(f"{key}.{name}", tag_value, "a string of at most 256 characters")
    return dict(value)


def _arn_in(regex: re.Pattern[str], expected: str, *, account: str | None = None,
            region: str | None = None, where: str = "") -> Callable[[str, Any], str]:
    def check(key: str, value: Any) -> str:
        match = regex.match(value) if isinstance(value, str) else None
        if not match:
            raise _fail(key, value, expected)
        if account and match.group("account") != account:
            raise _fail(key, value, f"an ARN in account {account} ({where})")
        if region and match.group("region") != region:
            raise _fail(key, value, f"an ARN in region {region} ({where})")
        return value

    return check


def _services(key: str, value: Any, env_regions: tuple[str, ...]) -> tuple[ServiceSettings, ...]:
    if not isinstance(value, list) or not value:
        raise _fail(key, value, "a non-empty list of services, each a mapping with at least `name`")
    services = []
    for index, raw in enumerate(value):
        item_key = f"{key}[{index}]"
        if not isinstance(raw, Mapping):
            raise _fail(item_key, raw, "a mapping with at least `name`")
        reader = _Reader(item_key, raw)
        name = reader.get("name", _dns_name)

        def region_of_env(k: str, v: Any) -> str:
            if v not in env_regions:
                raise _fail(k, v, "one of the environment's regions: " + ", ".join(env_regions))
            return v

        service = ServiceSettings(
            name=name,
            paths=reader.get("paths", _list_of(_path_filter, non_empty=True), default=()),
            dockerfile=reader.get("dockerfile", _path_filter, default=f"services/{name}/Dockerfile"),
            context=reader.get("context", _path_filter, default=f"services/{name}"),
            test_command=reader.get("testCommand", _text, default="make test"),
            regions=reader.get("regions", _list_of(region_of_env, non_empty=True), default=env_regions),
        )
        reader.finish()
        services.append(service)
    names = [s.name for s in services]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise _fail(key, names, f"unique service names ({duplicate!r} appears twice)")
    return tuple(services)


def parse(data: Mapping[str, Any]) -> Settings:
    """Validate a stack's settings (keys without the project prefix, structured values decoded)."""
    root = _Reader("", data)
    app = root.get("app", _dns_name)

    tooling = root.section("tooling")
    tooling_account = tooling.get("account", _account)
    home_region = tooling.get("region", _region)
    tooling.finish()

    env = root.section("environment")
    env_name = env.get("name", _dns_name)
    env_account = env.get("account", _account)
    bootstrap_role = env.get(
        "bootstrapRoleArn",
        _arn_in(_ROLE_ARN, "an IAM role ARN such as arn:aws:iam::222222222222:role/delivery-bootstrap",
                account=env_account, where="the environment account, which the stack assumes it in"),
    )
    clusters_raw = env.get("clusters", lambda k, v: v)
    if not isinstance(clusters_raw, Mapping) or not clusters_raw:
        raise _fail("environment.clusters", clusters_raw,
                    "a non-empty mapping of region to EKS cluster name, e.g. {us-east-1: shop-staging}")
    clusters = {}
    for region, cluster in clusters_raw.items():
        _region(f"environment.clusters.{region}", region)
        clusters[region] = _pattern(_CLUSTER, "an EKS cluster name")(f"environment.clusters.{region}", cluster)
    env.finish()

    connection_arn = root.get(
        "connectionArn",
        _arn_in(_CONNECTION_ARN, "a CodeConnections ARN, arn:aws:codeconnections:<region>:<account>:connection/<uuid>",
                account=tooling_account, region=home_region,
                where="source actions run in the pipeline's account and region"),
    )

    source = root.section("source")
    source_kind = source.get("kind", _one_of(SOURCE_KINDS))
    if source_kind == "build":
        app_repository = source.get("repository", _pattern(_REPO_ID, "owner/name of the application repository"))
        app_branch = source.get("branch", _branch, default="main")
        upstream_env = registry_stack = None
    else:
        upstream_env = source.get("upstream", _dns_name)
        if upstream_env == env_name:
            raise _fail("source.upstream", upstream_env, f"another environment than {env_name!r}")
        registry_stack = source.get(
            "registryStack", _pattern(_STACK_NAME, "the org/project/stack that owns the ECR repositories"))
        app_repository = app_branch = None
    source.finish()

    registry = root.section("registry", required=False)
    if source_kind == "build":
        # Default: this environment's account pulls; images are replicated to its other regions.
        pull_accounts = registry.get("pullAccounts", _list_of(_account, non_empty=True), default=(env_account,))
        replica_regions = registry.get(
            "replicaRegions", _list_of(_region),
            default=tuple(r for r in clusters if r != home_region))
        if home_region in replica_regions:
            raise _fail("registry.replicaRegions", list(replica_regions),
                        f"regions other than the home region {home_region}, where the repositories live")
    elif registry.data:
        raise _fail("registry", dict(registry.data),
                    "no registry settings: a promote stack reads the repositories of source.registryStack")
    else:
        pull_accounts = replica_regions = ()
    registry.finish()

    gitops = root.section("gitops")
    gitops_repository = gitops.get("repository", _pattern(_REPO_ID, "owner/name of the GitOps repository"))
    gitops_url = gitops.get("url", _pattern(_HTTPS_URL, "the HTTPS clone URL of the GitOps repository"))
    gitops_branch = gitops.get("branch", _branch, default="main")
    token_secret = gitops.get(
        "tokenSecretArn",
        _arn_in(_SECRET_ARN, "a Secrets Manager secret ARN, arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 chars>",
                account=tooling_account, where="the tooling account, where CodeBuild reads it"),
    )
    gitops.finish()

    promotion = root.section("promotion", required=False)
    promotion_mode = promotion.get("mode", _one_of(PROMOTION_MODES), default="commit")
    auto_merge = promotion.get("autoMerge", _boolean, default=False)
    if auto_merge and promotion_mode != "pull-request":
        raise _fail("promotion.autoMerge", True, "false unless promotion.mode is pull-request")
    promotion.finish()

    approval = root.section("approval", required=False)
    approval_enabled = approval.get("enabled", _boolean, default=False)
    approval_subscribers = approval.get("subscribers", _list_of(_email), default=())
    approval.finish()

    alerts = root.section("alerts", required=False)
    alert_subscribers = alerts.get("subscribers", _list_of(_email), default=())
    alerts.finish()

    scan = root.section("scan", required=False)
    scan_severity = scan.get("severityThreshold", _one_of(SEVERITIES), default="HIGH")
    scan.finish()

    execution_mode = root.get("executionMode", _one_of(EXECUTION_MODES), default="QUEUED")
    tags = root.get("tags", _tags, default={})
    services = _services("services", root.get("services", lambda k, v: v), tuple(clusters))

    extra = {key: data[key] for key in DELEGATED_KEYS if key in data}
    root.used.update(DELEGATED_KEYS)
    root.finish()

    return Settings(
        app=app, tooling_account=tooling_account, home_region=home_region,
        env_name=env_name, env_account=env_account, clusters=clusters,
        bootstrap_role_arn=bootstrap_role, connection_arn=connection_arn,
        source_kind=source_kind, app_repository=app_repository, app_branch=app_branch,
        upstream_env=upstream_env, registry_stack=registry_stack,
        registry_pull_accounts=pull_accounts, registry_replica_regions=replica_regions,
        gitops_repository=gitops_repository, gitops_url=gitops_url, gitops_branch=gitops_branch,
        gitops_token_secret_arn=token_secret, promotion_mode=promotion_mode, auto_merge=auto_merge,
        approval_enabled=approval_enabled, approval_subscribers=approval_subscribers,
        execution_mode=execution_mode, alert_subscribers=alert_subscribers,
        scan_severity=scan_severity, tags=tags, services=services, extra=extra,
    )


def from_pulumi_config() -> Settings:
    """Collect every `delivery-pipeline:*` key the engine passed this program and validate them."""
    from pulumi.runtime import config as runtime_config

    raw: dict[str, Any] = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    prefix = PROJECT + ":"
    data = {}
    for full_key, value in raw.items():
        if not full_key.startswith(prefix):
            continue
        key = full_key[len(prefix):]
        # Structured values arrive JSON-encoded; plain strings stay strings.
        if isinstance(value, str) and value[:1] in ("{", "["):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as error:
                raise _fail(key, value, f"valid structured YAML ({error.msg})") from None
        data[key] = value
    return parse(data)
