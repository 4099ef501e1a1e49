"""The deployment role in the environment account, trusted by the tooling pipeline's verify roles."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.iam import document, role_arn_pattern, role_path, statement
from components.settings import Settings

# CodeBuild roles that run `gitops verify` live under this sub-path; only they may assume the role.
VERIFY_ROLE_SUBPATH = "verify"


class DeploymentRole(pulumi.ComponentResource):
    """Role in the environment account that the Verify actions assume to read cluster state.

    Trust names the tooling account and narrows it with `aws:PrincipalArn` to this stack's verify
    roles (never `*`); an ExternalId-free trust is fine here because both accounts belong to the
    same organisation and the principal is an exact account. Permissions: describe the
    environment's EKS clusters; what it may read inside a cluster is granted by the cluster's EKS
    access entry (the Argo CD component), not by IAM.
    """

    arn: pulumi.Output[str]

    def __init__(self, name: str, settings: Settings, env_provider: aws.Provider,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("delivery:iam:DeploymentRole", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=env_provider)
        trust = document([{
            "Sid": "AssumedByVerifyRoles",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{settings.tooling_account}:root"},
            "Action": "sts:AssumeRole",
            "Condition": {"ArnLike": {"aws:PrincipalArn": role_arn_pattern(settings, VERIFY_ROLE_SUBPATH)}},
        }])
        self.role = aws.iam.Role(
            name,
            name=f"{settings.app}-{settings.env_name}-deployment",
            path=role_path(settings),
            description=f"Assumed by the {settings.app} {settings.env_name} delivery pipelines to verify deployments",
            assume_role_policy=trust,
            max_session_duration=3600,
            opts=child,
        )
        clusters = [
            f"arn:aws:eks:{region}:{settings.env_account}:cluster/{cluster}"
            for region, cluster in settings.clusters.items()
        ]
        aws.iam.RolePolicy(
            f"{name}-policy",
            role=self.role.id,
            policy=document([statement("DescribeEnvironmentClusters", ["eks:DescribeCluster"], clusters)]),
            opts=child,
        )
        self.arn = self.role.arn
        self.register_outputs({"arn": self.arn})
