"""What AWS limits, as AWS documents it: one table, read by the quota model and by the docs.

Each `Limit` is a count per account or per account and Region, or a size per resource (a
document, a dashboard, a widget); its value as documented, whether it is hard (AWS refuses past
it) or adjustable (a default that Service Quotas or AWS Support raises up to a documented maximum,
when one is documented), its Service Quotas code where Service Quotas has the quota, and where the
value comes from.

Not here, on purpose: CloudWatch alarms (AWS documents no limit on alarms per account); the
structure of a pipeline (stages, actions, names: `components.pipeline_model` validates it).
"""

from __future__ import annotations

from dataclasses import dataclass

ACCOUNT = "account"  # one count per AWS account (IAM and S3 are global)
REGION = "region"  # one count per account and Region
RESOURCE = "resource"  # a size of each resource of the type

IAM_QUOTAS = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html"
CODEPIPELINE_QUOTAS = "https://docs.aws.amazon.com/codepipeline/latest/userguide/limits.html"
CODEBUILD_QUOTAS = "https://docs.aws.amazon.com/codebuild/latest/userguide/limits.html"
S3_BUCKET_QUOTAS = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/BucketRestrictions.html"
KMS_QUOTAS = "https://docs.aws.amazon.com/kms/latest/developerguide/resource-limits.html"
EVENTBRIDGE_QUOTAS = "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html"
SNS_QUOTAS = "https://docs.aws.amazon.com/general/latest/gr/sns.html"
ECR_QUOTAS = "https://docs.aws.amazon.com/AmazonECR/latest/userguide/service-quotas.html"
LOGS_QUOTAS = "https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/cloudwatch_limits_cwl.html"
CLOUDWATCH_QUOTAS = "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_limits.html"


@dataclass(frozen=True)
class Limit:
    id: str
    name: str  # as AWS names it
    scope: str  # ACCOUNT, REGION or RESOURCE
    value: int
    adjustable: bool
    source: str
    # Adjustable only: the highest value AWS documents an increase to; None when none is documented.
    maximum: int | None = None
    # Service Quotas `<service>/<quota code>`; None where Service Quotas does not list the quota.
    code: str | None = None
    unit: str = ""

    @property
    def kind(self) -> str:
        return "adjustable" if self.adjustable else "hard"


LIMITS: tuple[Limit, ...] = (
    # --- IAM: global, one count per account ---------------------------------------------------
    Limit("iam-roles", "Roles in an AWS account", ACCOUNT, 1_000, True, IAM_QUOTAS, 5_000, "iam/L-FE177D64"),
    Limit("iam-customer-managed-policies", "Customer managed policies in an AWS account", ACCOUNT, 1_500, True,
          IAM_QUOTAS, 5_000, "iam/L-E95E4862"),
    Limit("iam-policies-per-role", "Managed policies attached to an IAM role", RESOURCE, 10, True, IAM_QUOTAS, 20,
          "iam/L-0DA4ABF3"),
    Limit("iam-trust-policy-length", "Role trust policy length", RESOURCE, 2_048, True, IAM_QUOTAS, 4_096,
          "iam/L-C07B4B0D", "characters"),
    Limit("iam-managed-policy-size", "Managed policy size", RESOURCE, 6_144, False, IAM_QUOTAS, unit="characters"),
    Limit("iam-role-inline-policy-size", "Inline policies of a role, together", RESOURCE, 10_240, False, IAM_QUOTAS,
          unit="characters"),
    # --- per account and Region -----------------------------------------------------------------
    Limit("codepipeline-pipelines", "Total pipelines", REGION, 1_000, True, CODEPIPELINE_QUOTAS,
          code="codepipeline/L-78D200AD"),
    Limit("codebuild-projects", "Build projects", REGION, 5_000, True, CODEBUILD_QUOTAS, code="codebuild/L-ACCF6C0D"),
    Limit("kms-keys", "Customer managed keys", REGION, 100_000, True, KMS_QUOTAS, code="kms/L-C2F1777E"),
    Limit("events-rules", "Rules per event bus", REGION, 300, True, EVENTBRIDGE_QUOTAS, code="events/L-244521F2"),
    Limit("events-wildcard-rules", "Rules containing wildcards per event bus", REGION, 30, False, EVENTBRIDGE_QUOTAS),
    Limit("sns-topics", "Topics", REGION, 100_000, True, SNS_QUOTAS, code="sns/L-61103206"),
    Limit("ecr-repositories", "Registered repositories", REGION, 100_000, True, ECR_QUOTAS, code="ecr/L-CFEB8E8D"),
    Limit("logs-log-groups", "Log groups", REGION, 1_000_000, True, LOGS_QUOTAS, code="logs/L-C7B9AAAB"),
    # --- S3: buckets are counted per account, in every Region together --------------------------
    Limit("s3-buckets", "General purpose buckets", ACCOUNT, 10_000, True, S3_BUCKET_QUOTAS, 1_000_000,
          "s3/L-DC2B2D3D"),
    # --- documents ------------------------------------------------------------------------------
    Limit("kms-key-policy-size", "Key policy document size", RESOURCE, 32_768, False, KMS_QUOTAS, unit="bytes"),
    Limit("s3-bucket-policy-size", "Bucket policy size", RESOURCE, 20_480, False, S3_BUCKET_QUOTAS, unit="bytes"),
    Limit("events-pattern-size", "Event pattern size", RESOURCE, 2_048, True, EVENTBRIDGE_QUOTAS, unit="characters"),
    Limit("cloudwatch-dashboard-widgets", "Widgets per dashboard", RESOURCE, 500, False, CLOUDWATCH_QUOTAS),
    Limit("cloudwatch-widget-metrics", "Metrics per dashboard widget", RESOURCE, 500, False, CLOUDWATCH_QUOTAS),
    Limit("cloudwatch-dashboard-metrics", "Metrics per dashboard, across all widgets", RESOURCE, 2_500, False,
          CLOUDWATCH_QUOTAS),
)
BY_ID = {limit.id: limit for limit in LIMITS}
