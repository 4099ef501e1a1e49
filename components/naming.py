"""Every physical name of a stack, each next to the pattern that matches it.

A name and its wildcard are read together: the EventBridge rules match the pipelines by
`pipeline_pattern`, the artifact keys let CloudWatch Logs encrypt the groups of `log_group_arn_pattern`,
the deployment role and the KMS key policies trust the roles of `role_arn_pattern`. Change a name
here and its pattern is beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

PARTITION = "aws"


@dataclass(frozen=True)
class Names:
    app: str
    env: str

    # --- Pipelines: `<app>-<service>-<env>`, matched by the stack's EventBridge rules -------------
    def pipeline(self, service: str) -> str:
        return f"{self.app}-{service}-{self.env}"

    def pipeline_arn(self, service: str, region: str, account: str) -> str:
        return self.pipeline_arn_of(self.pipeline(service), region, account)

    @staticmethod
    def pipeline_arn_of(pipeline: str, region: str, account: str) -> str:
        """The ARN of the pipeline named `pipeline` (a delivery or a verify pipeline)."""
        return f"arn:{PARTITION}:codepipeline:{region}:{account}:{pipeline}"

    @property
    def pipeline_pattern(self) -> str:
        """EventBridge wildcard matching the names of this stack's pipelines."""
        return f"{self.app}-*-{self.env}"

    def pipeline_arn_pattern(self, region: str, account: str) -> str:
        """IAM resource pattern of the ARNs of this stack's pipelines (not its verify pipelines)."""
        return self.pipeline_arn("*", region, account)

    # --- Verify pipelines: `<app>-<service>-<env>-verify`, started by a merge into the environment -
    def verify_pipeline(self, service: str) -> str:
        return f"{self.pipeline(service)}-verify"

    def verify_pipeline_arn_pattern(self, region: str, account: str) -> str:
        """IAM resource pattern of the ARNs of this stack's verify pipelines."""
        return f"{self.pipeline_arn_pattern(region, account)}-verify"

    @property
    def verify_pipeline_pattern(self) -> str:
        """EventBridge wildcard matching this stack's verify pipelines (not `pipeline_pattern`'s)."""
        return f"{self.pipeline_pattern}-verify"

    def project(self, service: str, step: str) -> str:
        """The CodeBuild project of one pipeline step."""
        return f"{self.pipeline(service)}-{step}"

    # --- CodeBuild log groups, encrypted with the artifact key of their region --------------------
    def log_group(self, service: str) -> str:
        return f"/aws/codebuild/{self.app}/{self.env}/{service}"

    def log_group_arn_pattern(self, region: str, account: str) -> str:
        """ARN pattern of the stack's CodeBuild log groups in a region."""
        return f"arn:{PARTITION}:logs:{region}:{account}:log-group:/aws/codebuild/{self.app}/{self.env}/*"

    # --- IAM roles: all under one path, so one ArnLike condition names "the roles of this stack" --
    def role_path(self, sub: str = "") -> str:
        return f"/delivery/{self.app}/{self.env}/{sub + '/' if sub else ''}"

    def role_arn_pattern(self, account: str, sub: str = "") -> str:
        """ArnLike pattern matching every role this stack creates under the path (and sub-path)."""
        return f"arn:{PARTITION}:iam::{account}:role{self.role_path(sub)}*"

    @property
    def deployment_role(self) -> str:
        return f"{self.app}-{self.env}-deployment"

    # --- ECR: one repository per service, shared by every environment of the app -----------------
    def repository(self, service: str) -> str:
        return f"{self.repository_prefix}{service}"

    @property
    def repository_prefix(self) -> str:
        """The prefix of every repository of the app, as the replication filter matches names."""
        return f"{self.creation_template_prefix}/"

    @property
    def creation_template_prefix(self) -> str:
        """The same namespace as a repository creation template's prefix: ECR always assumes the
        trailing `/` and stores the prefix without it, so the input must not have one (it would
        never match what ECR returns: a replacement planned on every `pulumi up`)."""
        return self.app

    def repository_arn(self, region: str, account: str, service: str) -> str:
        return f"arn:{PARTITION}:ecr:{region}:{account}:repository/{self.repository(service)}"

    def repository_arn_pattern(self, region: str, account: str) -> str:
        return self.repository_arn(region, account, "*")

    # --- Notifications: the topics ("alerts", "approval") and EventBridge rules ("failed", ...) ----
    def notification(self, purpose: str) -> str:
        return f"{self.app}-{self.env}-pipeline-{purpose}"

    # --- KMS aliases: the environment's keys ("artifacts", "notifications"); the image keys belong
    # to the app, as the repositories do, so they have no environment in their alias.
    def key_alias(self, purpose: str) -> str:
        return f"alias/{self.app}-{self.env}-{purpose}"

    @property
    def images_key_alias(self) -> str:
        # Scoped by environment: two stacks of one account must not both own the alias.
        return f"alias/{self.app}-{self.env}-images"

    # --- CloudWatch: an alarm is named after the pipeline or project it watches, so the stack's
    # alarms are those matching the pipeline pattern; one dashboard per stack.
    def alarm(self, subject: str, metric: str) -> str:
        return f"{subject}-{metric}"

    def alarm_arn_pattern(self, region: str, account: str) -> str:
        """ArnLike pattern of the stack's alarms in a region (aws:SourceArn of CloudWatch's publishes)."""
        return f"arn:{PARTITION}:cloudwatch:{region}:{account}:alarm:{self.pipeline_pattern}-*"

    @property
    def dashboard(self) -> str:
        return f"{self.app}-{self.env}-pipelines"

    # --- Approvers: a path of their own, outside `role_path()`, so the key and trust policies that
    # name "the roles of this stack" never include the role people assume to approve.
    @property
    def approver_path(self) -> str:
        return f"/delivery-approvers/{self.app}/{self.env}/"

    @property
    def approver_policy(self) -> str:
        return f"{self.app}-{self.env}-approvers"

    @property
    def approver_role(self) -> str:
        return f"{self.app}-{self.env}-approver"

    # --- Kubernetes -------------------------------------------------------------------------------
    @property
    def gitops_repository_secret(self) -> str:
        return f"{self.app}-gitops-repository"
