"""ArtifactStore: the S3 bucket and KMS customer-managed key CodePipeline uses in one region."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import logical_names as logical
from components.iam import document
from components.naming import Names

# Key administration, without the data-plane actions: IAM policies in the tooling account cannot
# grant encrypt/decrypt on these keys, only the statements below can.
KEY_ADMIN_ACTIONS = [
    "kms:CancelKeyDeletion", "kms:CreateAlias", "kms:DeleteAlias", "kms:DescribeKey",
    "kms:DisableKey", "kms:DisableKeyRotation", "kms:EnableKey", "kms:EnableKeyRotation",
    "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListAliases", "kms:ListResourceTags",
    "kms:PutKeyPolicy", "kms:RotateKeyOnDemand", "kms:ScheduleKeyDeletion", "kms:TagResource",
    "kms:UntagResource", "kms:UpdateAlias", "kms:UpdateKeyDescription",
]
KEY_USE_ACTIONS = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"]


def key_policy(names: Names, account: str, extra_statements: list) -> pulumi.Input[str]:
    """Key policy shared by the program's keys: the tooling account's root administers, this
    stack's roles (`names.role_arn_pattern`) use."""
    root = f"arn:aws:iam::{account}:root"
    return document([
        {"Sid": "ToolingAccountAdministers", "Effect": "Allow", "Principal": {"AWS": root},
         "Action": KEY_ADMIN_ACTIONS, "Resource": "*"},
        {"Sid": "StackRolesUseKey", "Effect": "Allow", "Principal": {"AWS": root},
         "Action": KEY_USE_ACTIONS, "Resource": "*",
         "Condition": {"ArnLike": {"aws:PrincipalArn": names.role_arn_pattern(account)}}},
        *extra_statements,
    ])


@dataclass(frozen=True)
class SecureBucketArgs:
    region: str
    # None: SSE-S3. S3 server access logs can only be delivered to an SSE-S3 bucket.
    kms_key_arn: pulumi.Input[str] | None
    # Days a superseded object version is kept.
    noncurrent_days: int
    # None: current objects are kept until replaced.
    expire_days: int | None = None
    # Accept S3 server access logs from this bucket of the tooling account (the bucket is a log target).
    log_source_account: str | None = None
    log_source_bucket_arn: pulumi.Input[str] | None = None
    # Where this bucket's own access logs go; None only for a log-target bucket.
    log_bucket: pulumi.Input[str] | None = None
    log_prefix: str = ""


class SecureBucket(pulumi.ComponentResource):
    """A private bucket: owner-enforced, every public-access block on, versioned, encrypted,
    TLS-only, lifecycle rules for old versions and abandoned multipart uploads, access-logged."""

    name: pulumi.Output[str]
    arn: pulumi.Output[str]

    def __init__(self, name: str, args: SecureBucketArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("delivery:store:SecureBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        region = args.region
        bucket = aws.s3.Bucket(name, region=region, opts=child)
        bucket_id = bucket.id
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership", region=region, bucket=bucket_id,
            rule={"object_ownership": "BucketOwnerEnforced"}, opts=child)
        public_access = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access", region=region, bucket=bucket_id,
            block_public_acls=True, block_public_policy=True,
            ignore_public_acls=True, restrict_public_buckets=True, opts=child)
        aws.s3.BucketVersioning(
            f"{name}-versioning", region=region, bucket=bucket_id,
            versioning_configuration={"status": "Enabled"}, opts=child)
        if args.kms_key_arn is None:
            default_encryption = {"sse_algorithm": "AES256"}
        else:
            default_encryption = {"sse_algorithm": "aws:kms", "kms_master_key_id": args.kms_key_arn}
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption", region=region, bucket=bucket_id,
            rules=[{"apply_server_side_encryption_by_default": default_encryption,
                    "bucket_key_enabled": args.kms_key_arn is not None}],
            opts=child)
        lifecycle_rules = [
            {"id": "abort-incomplete-multipart-uploads", "status": "Enabled", "filter": {},
             "abort_incomplete_multipart_upload": {"days_after_initiation": 7}},
            {"id": "expire-noncurrent-versions", "status": "Enabled", "filter": {},
             "noncurrent_version_expiration": {"noncurrent_days": args.noncurrent_days}},
        ]
        if args.expire_days is not None:
            lifecycle_rules.append({"id": "expire-objects", "status": "Enabled", "filter": {},
                                    "expiration": {"days": args.expire_days}})
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle", region=region, bucket=bucket_id, rules=lifecycle_rules, opts=child)
        if args.log_bucket is not None:
            aws.s3.BucketLogging(
                f"{name}-logging", region=region, bucket=bucket_id,
                target_bucket=args.log_bucket, target_prefix=args.log_prefix, opts=child)

        arn = bucket.arn
        objects = pulumi.Output.concat(arn, "/*")
        statements: list = [{
            "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": {"AWS": "*"},
            "Action": "s3:*", "Resource": [arn, objects],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }]
        if args.kms_key_arn is not None:
            statements.append({
                "Sid": "DenyPutsNotEncryptedWithKms", "Effect": "Deny", "Principal": {"AWS": "*"},
                "Action": "s3:PutObject", "Resource": objects,
                "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}},
            })
        if args.log_source_account is not None:
            statements.append({
                # AWS's documented grant for server access logs: SourceArn admits only the source
                # bucket, SourceAccount only if that bucket is still the tooling account's.
                "Sid": "S3ServerAccessLogs", "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": "s3:PutObject", "Resource": objects,
                "Condition": {"ArnLike": {"aws:SourceArn": args.log_source_bucket_arn},
                              "StringEquals": {"aws:SourceAccount": args.log_source_account}},
            })
        aws.s3.BucketPolicy(
            f"{name}-policy", region=region, bucket=bucket_id, policy=document(statements),
            # A policy put before the public-access block could be judged public and rejected.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_access]))
        self.name = bucket_id
        self.arn = arn
        self.register_outputs({"name": self.name, "arn": self.arn})


@dataclass(frozen=True)
class ArtifactStoreArgs:
    names: Names
    tooling_account: str
    region: str
    # Days a superseded artifact version is kept.
    noncurrent_days: int = 30
    # The gitops tool bundle CodeBuild downloads in this region (components.tools_bundle).
    tools_key: str | None = None
    tools_archive: pulumi.Archive | None = None
    # Days access logs are kept.
    log_retention_days: int = 365


class ArtifactStore(pulumi.ComponentResource):
    """KMS customer-managed key (rotated, explicit policy) and artifact bucket for one region,
    with the bucket's access logs in a second bucket of the same region."""

    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    key_arn: pulumi.Output[str]

    def __init__(self, name: str, args: ArtifactStoreArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("delivery:store:ArtifactStore", name, None, opts)
        names = args.names
        child = pulumi.ResourceOptions(parent=self)
        region = args.region
        account = args.tooling_account
        root = f"arn:aws:iam::{account}:root"

        key = aws.kms.Key(
            logical.key(name),
            region=region,
            description=f"{names.app} {names.env} pipeline artifacts in {region}",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=key_policy(names, account, [
                {
                    # `pulumi up` uploads the tool bundle with SSE-KMS: S3 asks for a data key as
                    # the operator, whoever that is in the tooling account, and only through S3.
                    "Sid": "ToolingAccountUploadsThroughS3", "Effect": "Allow", "Principal": {"AWS": root},
                    "Action": "kms:GenerateDataKey", "Resource": "*",
                    "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com",
                                                   "kms:CallerAccount": account}},
                },
                {
                    # The CodeBuild log groups of this stack in this region are encrypted with it.
                    "Sid": "CloudWatchLogsEncryptsBuildLogs", "Effect": "Allow",
                    "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                    "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"],
                    "Resource": "*",
                    "Condition": {"StringLike": {"kms:EncryptionContext:aws:logs:arn": names.log_group_arn_pattern(
                        region, account)}},
                },
                {
                    "Sid": "CloudWatchLogsDescribesKey", "Effect": "Allow",
                    "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                    "Action": "kms:DescribeKey", "Resource": "*",
                    "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                },
            ]),
            opts=child,
        )
        aws.kms.Alias(f"{name}-key-alias", region=region, target_key_id=key.key_id,
                      name=names.key_alias("artifacts"), opts=child)

        # The log bucket's policy names the artifact bucket, which is made after it (it logs there).
        artifacts_arn, resolve_artifacts_arn = pulumi.deferred_output()
        logs = SecureBucket(logical.log_bucket(name), SecureBucketArgs(
            region=region, kms_key_arn=None, noncurrent_days=30,
            expire_days=args.log_retention_days, log_source_account=account,
            log_source_bucket_arn=artifacts_arn,
        ), opts=child)
        artifacts = SecureBucket(logical.bucket(name), SecureBucketArgs(
            region=region, kms_key_arn=key.arn, noncurrent_days=args.noncurrent_days,
            log_bucket=logs.name, log_prefix="artifacts/",
        ), opts=child)
        resolve_artifacts_arn(artifacts.arn)

        if args.tools_archive is not None:
            aws.s3.BucketObjectv2(
                logical.tools_object(name), region=region, bucket=artifacts.name, key=args.tools_key,
                source=args.tools_archive, server_side_encryption="aws:kms", kms_key_id=key.arn,
                opts=child)

        self.bucket_name = artifacts.name
        self.bucket_arn = artifacts.arn
        self.key_arn = key.arn
        self.register_outputs({"bucket": self.bucket_name, "bucket_arn": self.bucket_arn, "key_arn": self.key_arn})
