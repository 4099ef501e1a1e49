"""S3: every bucket private, encrypted with a customer-managed key, versioned, TLS-only, access-logged,
and cleaned of abandoned multipart uploads.

pulumi-aws v7 keeps a bucket's configuration in separate resources that name the bucket in their
`bucket` input, so these are stack rules: each bucket (`aws:s3/bucket:Bucket`) is joined to its
configuration resources by that input, matched against the bucket's `id` / `bucket` output (both
are the bucket's name).

Server access log targets. AWS delivers server access logs only to a destination bucket whose
default encryption is SSE-S3 (AES256); SSE-KMS default encryption is not supported for it, and the
destination should not itself log (Amazon S3 User Guide, "Enabling Amazon S3 server access
logging"). So a bucket that is the `targetBucket` of another bucket's BucketLogging *and* whose
bucket policy grants `logging.s3.amazonaws.com` s3:PutObject (it says it is a log target) must use
SSE-S3 and need not log itself; every other bucket must use SSE-KMS with a customer-managed key.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, Iterator

from pulumi_policy import PolicyResource

from .base import Finding, dig, is_aws_managed_key, items, label, mapping, number, resource_policy, stack_policy
from .documents import allows, documents, grants, names_everyone, principals, values

BUCKET_TYPE = "aws:s3/bucket:Bucket"
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
LOGGING = "aws:s3/bucketLogging:BucketLogging"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
POLICY = "aws:s3/bucketPolicy:BucketPolicy"
PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
LOG_DELIVERY_SERVICE = "logging.s3.amazonaws.com"


class _Buckets:
    """The stack's buckets and, per bucket, the configuration resources that name it."""

    def __init__(self, resources: Sequence[PolicyResource]):
        self.buckets = [r for r in resources if r.resource_type == BUCKET_TYPE]
        self._by_bucket: dict[tuple[str, str], list[PolicyResource]] = defaultdict(list)
        for resource in resources:
            target = resource.props.get("bucket") if resource.resource_type != BUCKET_TYPE else None
            if isinstance(target, str):
                self._by_bucket[(resource.resource_type, target)].append(resource)
        self.log_targets = {r.props.get("targetBucket") for r in resources if r.resource_type == LOGGING}

    @staticmethod
    def names(bucket: PolicyResource) -> set[str]:
        return {n for n in (bucket.props.get("id"), bucket.props.get("bucket")) if isinstance(n, str)}

    def config(self, bucket: PolicyResource, resource_type: str) -> list[PolicyResource]:
        return [r for n in sorted(self.names(bucket)) for r in self._by_bucket.get((resource_type, n), [])]

    def is_log_target(self, bucket: PolicyResource) -> bool:
        """Target of another bucket's BucketLogging, and its policy admits S3 log delivery."""
        if not self.names(bucket) & self.log_targets:
            return False
        for policy in self.config(bucket, POLICY):
            for document in documents(POLICY, policy.props):
                for statement in document.statements():
                    if LOG_DELIVERY_SERVICE in principals(statement) and grants(statement, "s3:PutObject"):
                        return True
        return False


def _name(bucket: PolicyResource) -> str:
    return label(BUCKET_TYPE, bucket.name)


def check_public_access_block(resources: Sequence[PolicyResource]) -> Iterator[Finding]:
    stack = _Buckets(resources)
    for bucket in stack.buckets:
        blocks = stack.config(bucket, PUBLIC_ACCESS_BLOCK)
        if not blocks:
            yield Finding(f"{_name(bucket)} has no BucketPublicAccessBlock",
                          f"add an aws.s3.BucketPublicAccessBlock for it with {', '.join(PUBLIC_ACCESS_FLAGS)} = True",
                          bucket.urn)
        for block in blocks:
            off = [flag for flag in PUBLIC_ACCESS_FLAGS if block.props.get(flag) is not True]
            if off:
                yield Finding(f"{_name(bucket)}: BucketPublicAccessBlock '{block.name}' leaves {off} off",
                              f"set {', '.join(off)} = True", block.urn)


def _default_encryption(configuration: PolicyResource) -> list[Mapping[str, Any]]:
    return [mapping(dig(mapping(rule), "applyServerSideEncryptionByDefault"))
            for rule in items(configuration.props.get("rules"))]


def check_encryption(resources: Sequence[PolicyResource]) -> Iterator[Finding]:
    stack = _Buckets(resources)
    for bucket in stack.buckets:
        configurations = stack.config(bucket, ENCRYPTION)
        log_target = stack.is_log_target(bucket)
        if not configurations:
            yield Finding(f"{_name(bucket)} has no BucketServerSideEncryptionConfiguration",
                          "add one with sse_algorithm \"aws:kms\" and kms_master_key_id = a customer-managed key "
                          "(\"AES256\" only for a server access log target)", bucket.urn)
        for configuration in configurations:
            for default in _default_encryption(configuration) or [{}]:
                algorithm, key = default.get("sseAlgorithm"), default.get("kmsMasterKeyId")
                where = f"{_name(bucket)}: encryption configuration '{configuration.name}'"
                if log_target:
                    if algorithm != "AES256":
                        yield Finding(
                            f"{where} uses {algorithm!r} on a server access log target; S3 delivers server access "
                            "logs only to buckets whose default encryption is SSE-S3",
                            "set sse_algorithm \"AES256\" on the log target bucket", configuration.urn)
                elif algorithm not in ("aws:kms", "aws:kms:dsse"):
                    yield Finding(f"{where} uses {algorithm!r}, not SSE-KMS",
                                  "set sse_algorithm \"aws:kms\" with kms_master_key_id = a customer-managed key ARN",
                                  configuration.urn)
                elif not isinstance(key, str) or not key or is_aws_managed_key(key):
                    yield Finding(f"{where} uses SSE-KMS with {key or 'the AWS-managed aws/s3 key'}, not a "
                                  "customer-managed key",
                                  "set kms_master_key_id to the ARN of a customer-managed aws.kms.Key",
                                  configuration.urn)


def check_versioning(resources: Sequence[PolicyResource]) -> Iterator[Finding]:
    stack = _Buckets(resources)
    for bucket in stack.buckets:
        statuses = [dig(v.props, "versioningConfiguration", "status") for v in stack.config(bucket, VERSIONING)]
        if "Enabled" not in statuses:
            yield Finding(f"{_name(bucket)} is not versioned (BucketVersioning status: {statuses or 'none'})",
                          "add an aws.s3.BucketVersioning with versioning_configuration {\"status\": \"Enabled\"}",
                          bucket.urn)


def _denies_insecure_transport(statement: Mapping[str, Any], arn: str | None) -> bool:
    if statement.get("Effect") != "Deny" or not names_everyone(statement):
        return False
    if not any(a in ("*", "s3:*") for a in values(statement.get("Action"))):
        return False
    secure = {key.lower(): value for key, value in mapping(dig(statement, "Condition", "Bool")).items()}
    if str(secure.get("aws:securetransport")).lower() != "false":
        return False
    if arn is None:
        return True
    resources = values(statement.get("Resource"))
    return "*" in resources or {arn, f"{arn}/*"} <= set(resources)


def check_tls_only(resources: Sequence[PolicyResource]) -> Iterator[Finding]:
    stack = _Buckets(resources)
    for bucket in stack.buckets:
        arn = bucket.props.get("arn") if isinstance(bucket.props.get("arn"), str) else None
        statements = [s for p in stack.config(bucket, POLICY) for d in documents(POLICY, p.props)
                      for s in d.statements()]
        if not any(_denies_insecure_transport(s, arn) for s in statements):
            yield Finding(f"{_name(bucket)} has no bucket policy statement denying requests without TLS",
                          "add to its BucketPolicy: Effect Deny, Principal {\"AWS\": \"*\"}, Action \"s3:*\", "
                          "Resource [bucket ARN, bucket ARN/*], Condition {\"Bool\": {\"aws:SecureTransport\": "
                          "\"false\"}}", bucket.urn)


def check_access_logging(resources: Sequence[PolicyResource]) -> Iterator[Finding]:
    stack = _Buckets(resources)
    for bucket in stack.buckets:
        if stack.is_log_target(bucket):
            continue
        targets = [r.props.get("targetBucket") for r in stack.config(bucket, LOGGING)]
        if not any(isinstance(t, str) and t for t in targets):
            yield Finding(f"{_name(bucket)} has no server access logging (BucketLogging)",
                          "add an aws.s3.BucketLogging with target_bucket = a log bucket of the same region "
                          "(SSE-S3, policy granting logging.s3.amazonaws.com s3:PutObject)", bucket.urn)


def _aborts_uploads(rule: Mapping[str, Any]) -> bool:
    days = number(dig(rule, "abortIncompleteMultipartUpload", "daysAfterInitiation"))
    # A rule limited to a prefix or tags leaves the rest of the bucket's uploads behind.
    scoped = dig(rule, "filter", "prefix") or dig(rule, "filter", "tag") or dig(rule, "filter", "and") or rule.get("prefix")
    return rule.get("status") == "Enabled" and days is not None and days > 0 and not scoped


def check_abort_incomplete_uploads(resources: Sequence[PolicyResource]) -> Iterator[Finding]:
    stack = _Buckets(resources)
    for bucket in stack.buckets:
        rules = [mapping(rule) for c in stack.config(bucket, LIFECYCLE) for rule in items(c.props.get("rules"))]
        if not any(_aborts_uploads(rule) for rule in rules):
            yield Finding(f"{_name(bucket)} has no enabled, bucket-wide lifecycle rule aborting incomplete "
                          "multipart uploads",
                          "add a BucketLifecycleConfiguration rule {status: \"Enabled\", filter: {}, "
                          "abort_incomplete_multipart_upload: {days_after_initiation: 7}}", bucket.urn)


def check_policy_not_public(resource_type: str, props: Mapping[str, Any], urn: str, name: str) -> Iterator[Finding]:
    for document in documents(resource_type, props):
        for index, statement in enumerate(document.statements()):
            if allows(statement) and names_everyone(statement):
                yield Finding(
                    f"{label(resource_type, name)}: statement #{index} "
                    f"({json.dumps(statement.get('Sid'))}) allows any principal",
                    "name the principals (role ARNs, account roots, or a service with an aws:SourceAccount "
                    "condition) instead of \"*\"")


S3_PUBLIC_ACCESS_BLOCK = stack_policy(
    "s3-public-access-block",
    "Every bucket has a BucketPublicAccessBlock with all four blocks on. Mirrors Checkov CKV_AWS_53/54/55/56 and "
    "CKV2_AWS_6, Trivy AVD-AWS-0086/0087/0091/0093/0094.",
    check_public_access_block)

S3_ENCRYPTION_CMK = stack_policy(
    "s3-encryption-customer-key",
    "Every bucket's default encryption is SSE-KMS with a customer-managed key; only a server access log target "
    "(which S3 requires to use SSE-S3) uses AES256. Mirrors Checkov CKV_AWS_145, Trivy AVD-AWS-0088/0132, "
    "cfn-nag W41.",
    check_encryption)

S3_VERSIONING = stack_policy(
    "s3-versioning",
    "Every bucket is versioned. Mirrors Checkov CKV_AWS_21, Trivy AVD-AWS-0090.",
    check_versioning)

S3_TLS_ONLY = stack_policy(
    "s3-tls-only",
    "Every bucket policy denies requests made without TLS (aws:SecureTransport false). Mirrors Checkov "
    "CKV_AWS_379, AWS Security Hub S3.5.",
    check_tls_only)

S3_ACCESS_LOGGING = stack_policy(
    "s3-access-logging",
    "Every bucket except a server access log target has server access logging. Mirrors Checkov CKV_AWS_18, "
    "Trivy AVD-AWS-0089, cfn-nag W35.",
    check_access_logging)

S3_ABORT_INCOMPLETE_UPLOADS = stack_policy(
    "s3-abort-incomplete-uploads",
    "Every bucket has an enabled, bucket-wide lifecycle rule that aborts incomplete multipart uploads. Mirrors "
    "Checkov CKV_AWS_300 and CKV2_AWS_61.",
    check_abort_incomplete_uploads)

S3_POLICY_NOT_PUBLIC = resource_policy(
    "s3-policy-not-public",
    "No bucket policy Allow statement names principal \"*\" (or Allow+NotPrincipal). Mirrors Checkov CKV_AWS_70, "
    "cfn-nag F16/F9.",
    (POLICY,), check_policy_not_public)

POLICIES = [S3_PUBLIC_ACCESS_BLOCK, S3_ENCRYPTION_CMK, S3_VERSIONING, S3_TLS_ONLY, S3_ACCESS_LOGGING,
            S3_ABORT_INCOMPLETE_UPLOADS, S3_POLICY_NOT_PUBLIC]
