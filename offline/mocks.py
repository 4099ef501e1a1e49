"""Mocked resource and invoke answers for the offline plan: what the real providers would return.

The mock runtime asks `new_resource` for each registered resource's physical id and outputs, and
`call` for each invoke. The answers follow the real services' formats (ARNs, ids, auto-names) so
program code that builds policies or URLs from them is exercised for real. Everything is derived
from the resource's URN and placement, so a plan is identical run after run.

Where a resource lands (account and region) is decided here, in `Placements`, for both the mocked
ARNs and the plan's `account`/`region` columns.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from pulumi.runtime import MockCallArgs, MockResourceArgs, Mocks

PARTITION = "aws"
DNS_SUFFIX = "amazonaws.com"
# The value a mocked Secrets Manager read returns: the program must treat it as a secret.
PLACEHOLDER_SECRET = "offline-plan-placeholder-secret"
_ROLE_ACCOUNT = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/")


class OfflinePlanError(Exception):
    """The offline plan cannot answer something the program asked (unknown invoke, bad provider)."""


@dataclass(frozen=True)
class Placement:
    """Where a resource really lands; both None outside AWS (Kubernetes, components)."""

    account: str | None
    region: str | None


_NOWHERE = Placement(None, None)


class Placements:
    """Account and region of every resource, from its provider and its own `region` input.

    Resources without an explicit provider use the default AWS provider: the tooling account (whose
    credentials run `pulumi up`) and the stack's `aws:region`. An explicit `aws.Provider` lands in
    the account of its first assumed role, else the tooling account, and in its `region`.
    """

    def __init__(self, tooling_account: str | None, default_region: str | None,
                 account_key: str = "<project>:tooling.account"):
        self.default = Placement(tooling_account or None, default_region or None)
        # Where the tooling account comes from, for the error when the stack does not say.
        self.account_key = account_key
        self._providers: dict[str, Placement] = {}
        self._lock = threading.Lock()

    def _tooling(self, what: str) -> Placement:
        if self.default.account is None or self.default.region is None:
            raise OfflinePlanError(
                f"{what} uses the default AWS provider: the offline plan takes its account from "
                f"{self.account_key} and its region from aws:region; set both in the stack file")
        return self.default

    def of_provider(self, type_: str, name: str, inputs: Mapping[str, Any]) -> Placement:
        if type_ != "pulumi:providers:aws":
            return _NOWHERE
        account = None
        # Provider inputs arrive JSON-encoded: `assumeRoles` is a string holding a list.
        roles = _json_value(inputs.get("assumeRoles"))
        if roles:
            if "role_arn" in roles[0] and "roleArn" not in roles[0]:
                # The provider reads only `roleArn` from this JSON and would run in the tooling
                # account instead (pulumi/pulumi-aws#5271): a plan must not pretend otherwise.
                raise OfflinePlanError(
                    f"provider {name!r}: assumeRoles[0] has `role_arn`, which the AWS provider ignores "
                    f"(it reads `roleArn`); pass aws.ProviderAssumeRoleArgs(role_arn=...) instead of a dict")
            role_arn = roles[0].get("roleArn", "")
            match = _ROLE_ACCOUNT.match(role_arn)
            if not match:
                raise OfflinePlanError(
                    f"provider {name!r}: assumeRoles[0].roleArn = {role_arn!r} is not an IAM role ARN "
                    f"(arn:aws:iam::<account>:role/<name>); the offline plan cannot tell its account")
            account = match.group(1)
        # Without an assumed role or a region, the provider uses the tooling credentials and region.
        tooling = self._tooling(f"provider {name!r}") if account is None or not inputs.get("region") else None
        return Placement(account or tooling.account, inputs.get("region") or tooling.region)

    def add_provider(self, reference: str, placement: Placement) -> None:
        """Remember a provider by the reference (`<urn>::<id>`) resources will name it with."""
        with self._lock:
            self._providers[reference] = placement

    def of_resource(self, type_: str, name: str, custom: bool, inputs: Mapping[str, Any],
                    provider: str | None) -> Placement:
        if type_.startswith("pulumi:providers:"):
            return self.of_provider(type_, name, inputs)
        if not custom or type_.split(":", 1)[0] != "aws":
            return _NOWHERE
        return self.of_aws_call(type_, inputs, provider)

    def of_aws_call(self, what: str, inputs: Mapping[str, Any], provider: str | None) -> Placement:
        """Where an AWS resource or invoke runs: its provider's account, its own `region` or the provider's."""
        if provider:
            with self._lock:
                known = self._providers.get(provider)
            if known is None:
                raise OfflinePlanError(f"{what} names provider {provider!r}, which was never registered")
        else:
            known = self._tooling(what)
        region = inputs.get("region")
        return Placement(known.account, region if isinstance(region, str) and region else known.region)


def _json_value(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _digest(urn: str, salt: str = "") -> bytes:
    return hashlib.sha256(f"{salt}{urn}".encode()).digest()


def auto_name(name: str, urn: str, *, lower: bool = False) -> str:
    """Pulumi's auto-name: the logical name plus 7 hex characters (random in Pulumi; from the URN here)."""
    physical = f"{name}-{_digest(urn).hex()[:7]}"
    return physical.lower() if lower else physical


def stable_uuid(urn: str, salt: str = "") -> str:
    return str(uuid.UUID(bytes=_digest(urn, salt)[:16], version=4))


def _unique_id(prefix: str, urn: str) -> str:
    # IAM unique ids: a 4-letter type prefix and 17 upper-case alphanumerics.
    return prefix + base64.b32encode(_digest(urn, "unique")).decode()[:17]


class PlanResourceArgs(MockResourceArgs):
    """MockResourceArgs plus what the offline plan's monitor knows: the URN and where it lands."""

    def __init__(self, *, urn: str, placement: Placement, **kwargs: Any):
        super().__init__(**kwargs)
        self.urn = urn
        self.placement = placement


_Outputs = tuple[str, dict[str, Any]]


class _Resource:
    """Helpers a per-type answer needs: the inputs, the placement and naming."""

    def __init__(self, args: PlanResourceArgs):
        self.args = args
        self.inputs = args.inputs
        self.account = args.placement.account or ""
        self.region = args.placement.region or ""

    def name(self, key: str = "name", *, lower: bool = False, prefix: str = "") -> str:
        given = self.inputs.get(key)
        if isinstance(given, str) and given:
            return given
        return prefix + auto_name(self.args.name, self.args.urn, lower=lower)

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return ":".join(["arn", PARTITION, service, self.region if region else "",
                         self.account if account else "", resource])

    def answer(self, id_: str, **outputs: Any) -> _Outputs:
        return id_, {**self.inputs, **outputs}


def _bucket(r: _Resource) -> _Outputs:
    bucket = r.name("bucket", lower=True)
    return r.answer(bucket, bucket=bucket, arn=r.arn("s3", bucket, region=False, account=False),
                    bucketDomainName=f"{bucket}.s3.{DNS_SUFFIX}",
                    bucketRegionalDomainName=f"{bucket}.s3.{r.region}.{DNS_SUFFIX}",
                    hostedZoneId="Z3AQBSTGFYJSTF", region=r.region)


def _bucket_child(r: _Resource) -> _Outputs:
    # Every bucket sub-resource (versioning, encryption, policy, ...) is identified by its bucket.
    return r.answer(str(r.inputs.get("bucket", "")), region=r.region)


def _bucket_object(r: _Resource) -> _Outputs:
    bucket, key = str(r.inputs.get("bucket", "")), str(r.inputs.get("key", ""))
    return r.answer(key, arn=r.arn("s3", f"{bucket}/{key}", region=False, account=False),
                    etag=_digest(r.args.urn, "etag").hex()[:32], versionId=_digest(r.args.urn, "version").hex()[:32],
                    region=r.region)


def _kms_key(r: _Resource) -> _Outputs:
    key_id = stable_uuid(r.args.urn)
    return r.answer(key_id, keyId=key_id, arn=r.arn("kms", f"key/{key_id}"), region=r.region,
                    keyUsage=r.inputs.get("keyUsage", "ENCRYPT_DECRYPT"),
                    customerMasterKeySpec=r.inputs.get("customerMasterKeySpec", "SYMMETRIC_DEFAULT"))


def _kms_alias(r: _Resource) -> _Outputs:
    name = r.name(prefix="alias/")
    target = str(r.inputs.get("targetKeyId", ""))
    target_arn = target if target.startswith("arn:") else r.arn("kms", f"key/{target}")
    return r.answer(name, name=name, arn=r.arn("kms", name), targetKeyArn=target_arn, region=r.region)


def _iam_role(r: _Resource) -> _Outputs:
    name = r.name()
    path = r.inputs.get("path") or "/"
    return r.answer(name, name=name, path=path, arn=r.arn("iam", f"role{path}{name}", region=False),
                    uniqueId=_unique_id("AROA", r.args.urn), createDate="2026-01-01T00:00:00Z",
                    maxSessionDuration=r.inputs.get("maxSessionDuration", 3600))


def _iam_role_policy(r: _Resource) -> _Outputs:
    name = r.name()
    return r.answer(f"{r.inputs.get('role', '')}:{name}", name=name)


def _iam_policy(r: _Resource) -> _Outputs:
    name = r.name()
    path = r.inputs.get("path") or "/"
    arn = r.arn("iam", f"policy{path}{name}", region=False)
    # The provider identifies a managed policy by its ARN.
    return r.answer(arn, name=name, path=path, arn=arn, policyId=_unique_id("ANPA", r.args.urn),
                    attachmentCount=0)


def _iam_policy_attachment(r: _Resource) -> _Outputs:
    # The provider's id: the role's name and a unique suffix (a timestamp and counter, 26 digits).
    return r.answer(f"{r.inputs.get('role', '')}-{int.from_bytes(_digest(r.args.urn)[:11], 'big') % 10**26:026d}")


def _metric_alarm(r: _Resource) -> _Outputs:
    name = r.name()
    return r.answer(name, name=name, arn=r.arn("cloudwatch", f"alarm:{name}"), region=r.region)


def _dashboard(r: _Resource) -> _Outputs:
    # Dashboards are global: their ARN has no region.
    name = r.name("dashboardName")
    return r.answer(name, dashboardName=name, dashboardArn=r.arn("cloudwatch", f"dashboard/{name}", region=False))


def _codebuild_project(r: _Resource) -> _Outputs:
    name = r.name()
    arn = r.arn("codebuild", f"project/{name}")
    # The provider identifies a CodeBuild project by its ARN.
    return r.answer(arn, name=name, arn=arn, region=r.region)


def _log_group(r: _Resource) -> _Outputs:
    name = r.name()
    return r.answer(name, name=name, arn=r.arn("logs", f"log-group:{name}"), region=r.region)


def _pipeline(r: _Resource) -> _Outputs:
    name = r.name()
    return r.answer(name, name=name, arn=r.arn("codepipeline", name), region=r.region)


def _sns_topic(r: _Resource) -> _Outputs:
    name = r.name()
    arn = r.arn("sns", name)
    return r.answer(arn, name=name, arn=arn, owner=r.account, region=r.region)


def _sns_topic_policy(r: _Resource) -> _Outputs:
    topic = str(r.inputs.get("arn", ""))
    return r.answer(topic, owner=r.account, region=r.region)


def _sns_subscription(r: _Resource) -> _Outputs:
    arn = f"{r.inputs.get('topic', '')}:{stable_uuid(r.args.urn)}"
    return r.answer(arn, arn=arn, ownerId=r.account, region=r.region,
                    confirmationWasAuthenticated=False, pendingConfirmation=r.inputs.get("protocol") == "email")


def _event_rule(r: _Resource) -> _Outputs:
    name = r.name()
    bus = r.inputs.get("eventBusName") or "default"
    resource = f"rule/{name}" if bus == "default" else f"rule/{bus}/{name}"
    return r.answer(name if bus == "default" else f"{bus}/{name}", name=name, eventBusName=bus,
                    arn=r.arn("events", resource), region=r.region)


def _event_target(r: _Resource) -> _Outputs:
    target_id = r.name("targetId")
    return r.answer(f"{r.inputs.get('rule', '')}-{target_id}", targetId=target_id, region=r.region)


def _ecr_repository(r: _Resource) -> _Outputs:
    name = r.name()
    return r.answer(name, name=name, arn=r.arn("ecr", f"repository/{name}"), registryId=r.account,
                    repositoryUrl=ecr_repository_url(r.account, r.region, name), region=r.region)


def _ecr_repository_child(r: _Resource) -> _Outputs:
    # Lifecycle and repository policies are identified by their repository's name.
    return r.answer(str(r.inputs.get("repository", "")), registryId=r.account, region=r.region)


def _ecr_replication(r: _Resource) -> _Outputs:
    return r.answer(r.account, registryId=r.account, region=r.region)


def _ecr_creation_template(r: _Resource) -> _Outputs:
    return r.answer(str(r.inputs.get("prefix", "")), registryId=r.account, region=r.region)


def _eks_access_entry(r: _Resource) -> _Outputs:
    cluster = str(r.inputs.get("clusterName", ""))
    principal = str(r.inputs.get("principalArn", ""))
    role = principal.rsplit("/", 1)[-1]
    principal_account = principal.split(":")[4] if principal.count(":") >= 5 else r.account
    arn = r.arn("eks", f"access-entry/{cluster}/role/{principal_account}/{role}/{stable_uuid(r.args.urn)}")
    return r.answer(f"{cluster}:{principal}", accessEntryArn=arn, createdAt="2026-01-01T00:00:00Z",
                    type=r.inputs.get("type", "STANDARD"), region=r.region,
                    userName=f"arn:aws:sts::{principal_account}:assumed-role/{role}/{{{{SessionName}}}}")


def _eks_policy_association(r: _Resource) -> _Outputs:
    cluster, principal, policy = (str(r.inputs.get(k, "")) for k in ("clusterName", "principalArn", "policyArn"))
    return r.answer(f"{cluster}#{principal}#{policy}", associatedAt="2026-01-01T00:00:00Z", region=r.region)


def _provider(r: _Resource) -> _Outputs:
    # The engine gives every provider instance a UUID id; resources name it as `<urn>::<id>`.
    return r.answer(stable_uuid(r.args.urn))


def _kubernetes(r: _Resource) -> _Outputs:
    # Kubernetes objects are identified as <namespace>/<name>; names without one are auto-named.
    metadata = dict(r.inputs.get("metadata") or {})
    name = metadata.get("name") or r.inputs.get("name") or auto_name(r.args.name, r.args.urn)
    namespace = metadata.get("namespace") or r.inputs.get("namespace")
    if "metadata" in r.inputs:
        metadata["name"] = name
        return r.answer(f"{namespace}/{name}" if namespace else name, metadata=metadata)
    return r.answer(f"{namespace}/{name}" if namespace else name, name=name)


_ANSWERS: dict[str, Callable[[_Resource], _Outputs]] = {
    "aws:s3/bucket:Bucket": _bucket,
    **{f"aws:s3/{kind[0].lower()}{kind[1:]}:{kind}": _bucket_child for kind in (
        "BucketPublicAccessBlock", "BucketVersioning", "BucketServerSideEncryptionConfiguration",
        "BucketOwnershipControls", "BucketLifecycleConfiguration", "BucketLogging", "BucketPolicy")},
    "aws:s3/bucketObjectv2:BucketObjectv2": _bucket_object,
    "aws:kms/key:Key": _kms_key,
    "aws:kms/alias:Alias": _kms_alias,
    "aws:iam/role:Role": _iam_role,
    "aws:iam/rolePolicy:RolePolicy": _iam_role_policy,
    "aws:iam/policy:Policy": _iam_policy,
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": _iam_policy_attachment,
    "aws:cloudwatch/metricAlarm:MetricAlarm": _metric_alarm,
    "aws:cloudwatch/dashboard:Dashboard": _dashboard,
    "aws:codebuild/project:Project": _codebuild_project,
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:codepipeline/pipeline:Pipeline": _pipeline,
    "aws:sns/topic:Topic": _sns_topic,
    "aws:sns/topicPolicy:TopicPolicy": _sns_topic_policy,
    "aws:sns/topicSubscription:TopicSubscription": _sns_subscription,
    "aws:cloudwatch/eventRule:EventRule": _event_rule,
    "aws:cloudwatch/eventTarget:EventTarget": _event_target,
    "aws:ecr/repository:Repository": _ecr_repository,
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": _ecr_repository_child,
    "aws:ecr/repositoryPolicy:RepositoryPolicy": _ecr_repository_child,
    "aws:ecr/replicationConfiguration:ReplicationConfiguration": _ecr_replication,
    "aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate": _ecr_creation_template,
    "aws:eks/accessEntry:AccessEntry": _eks_access_entry,
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": _eks_policy_association,
}


def ecr_repository_url(account: str, region: str, name: str) -> str:
    return f"{account}.dkr.ecr.{region}.{DNS_SUFFIX}/{name}"


@dataclass(frozen=True)
class PlanHooks:
    """What only the planned program knows, declared by it in `plan_hooks.py` (`HOOKS = PlanHooks(...)`).

    `stack_reference_outputs(stack_name, config)` answers a StackReference: the outputs the named
    stack would export, from this stack's decoded config (full keys). `settings_errors` are the
    exception types the program raises for bad settings: the CLI prints them as one line (exit 2)
    instead of a traceback. `access_paths()` returns the runtime requests the program declares
    (`policy.access.model.AccessPath`), read while the stack's config is set; the plan decides each
    over the planned policies.
    """

    stack_reference_outputs: Callable[[str, Mapping[str, Any]], Mapping[str, Any]] | None = None
    settings_errors: tuple[type[BaseException], ...] = ()
    access_paths: Callable[[], Sequence[Any]] | None = None


NO_HOOKS = PlanHooks()


class OfflineMocks(Mocks):
    """Answers for the resources and invokes of a stack, from its decoded config.

    `config` maps full keys (`delivery-pipeline:tooling`, `aws:region`) to decoded values.
    """

    def __init__(self, project: str, config: Mapping[str, Any], hooks: PlanHooks = NO_HOOKS):
        self.project = project
        self.config = config
        self.hooks = hooks
        # Read leniently: the program validates its settings and reports bad ones itself.
        tooling = config.get(f"{project}:tooling")
        account = tooling.get("account") if isinstance(tooling, Mapping) else None
        self.placements = Placements(account, config.get("aws:region"), f"{project}:tooling.account")

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        if not isinstance(args, PlanResourceArgs):
            raise TypeError("OfflineMocks needs PlanResourceArgs (the URN and placement): use offline.plan's monitor")
        if args.typ.startswith("pulumi:providers:"):
            return _provider(_Resource(args))
        if args.typ == "pulumi:pulumi:StackReference":
            return self._stack_reference(args)
        answer = _ANSWERS.get(args.typ)
        if answer is None and args.typ.startswith("kubernetes:"):
            answer = _kubernetes
        if answer is None:
            # A type without a tailored answer still plans: its inputs echoed and a readable id.
            return f"{args.name}-id", dict(args.inputs)
        return answer(_Resource(args))

    def _stack_reference(self, args: PlanResourceArgs) -> tuple[str, dict[str, Any]]:
        """The referenced stack's outputs, as the program's hook says that stack exports them."""
        name = str(args.inputs.get("name") or args.name)
        if self.hooks.stack_reference_outputs is None:
            raise OfflinePlanError(
                f"the program reads stack {name!r} through a StackReference, and the project has no "
                f"plan_hooks.py answering it: define HOOKS = PlanHooks(stack_reference_outputs=...) there")
        outputs = dict(self.hooks.stack_reference_outputs(name, self.config))
        return name, {"name": name, "outputs": outputs, "secretOutputNames": []}

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        answer = _INVOKES.get(args.token)
        if answer is None:
            known = ", ".join(sorted(_INVOKES))
            raise OfflinePlanError(
                f"the offline plan has no answer for invoke {args.token!r} (answers: {known}); "
                f"add one to offline/mocks.py rather than depend on an empty result")
        placement = self.placements.of_aws_call(args.token, args.args, args.provider or None)
        return answer(args.args, placement), []


def _get_cluster(args: Mapping[str, Any], where: Placement) -> dict[str, Any]:
    name = str(args.get("name", ""))
    key = f"{where.account}/{where.region}/{name}"
    endpoint_id = hashlib.sha256(key.encode()).hexdigest()[:32].upper()
    pem = "-----BEGIN CERTIFICATE-----\nMIIOFFLINE" + hashlib.sha256(key.encode()).hexdigest() + "\n-----END CERTIFICATE-----\n"
    return {
        "id": name, "name": name,
        "arn": f"arn:{PARTITION}:eks:{where.region}:{where.account}:cluster/{name}",
        "endpoint": f"https://{endpoint_id}.gr7.{where.region}.eks.{DNS_SUFFIX}",
        "certificateAuthorities": [{"data": base64.b64encode(pem.encode()).decode()}],
        "accessConfigs": [{"authenticationMode": "API_AND_CONFIG_MAP", "bootstrapClusterCreatorAdminPermissions": True}],
        "version": "1.31", "status": "ACTIVE", "region": where.region,
    }


def _get_secret_version(args: Mapping[str, Any], where: Placement) -> dict[str, Any]:
    secret_id = str(args.get("secretId", ""))
    return {"id": f"{secret_id}|AWSCURRENT", "arn": secret_id, "secretId": secret_id,
            "secretString": PLACEHOLDER_SECRET, "versionId": stable_uuid(secret_id),
            "versionStages": ["AWSCURRENT"], "region": where.region}


def _get_caller_identity(args: Mapping[str, Any], where: Placement) -> dict[str, Any]:
    return {"id": where.account, "accountId": where.account,
            "arn": f"arn:{PARTITION}:sts::{where.account}:assumed-role/offline-plan/offline-plan",
            "userId": "AROAOFFLINEPLAN000000:offline-plan"}


def _get_partition(args: Mapping[str, Any], where: Placement) -> dict[str, Any]:
    return {"id": PARTITION, "partition": PARTITION, "dnsSuffix": DNS_SUFFIX, "reverseDnsPrefix": "com.amazonaws"}


_INVOKES: dict[str, Callable[[Mapping[str, Any], Placement], dict[str, Any]]] = {
    "aws:eks/getCluster:getCluster": _get_cluster,
    "aws:secretsmanager/getSecretVersion:getSecretVersion": _get_secret_version,
    "aws:index/getCallerIdentity:getCallerIdentity": _get_caller_identity,
    "aws:index/getPartition:getPartition": _get_partition,
}
