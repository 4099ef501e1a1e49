"""The deployment role in the environment account, trusted by the tooling pipeline's verify roles."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from dataclasses import dataclass
from typing import Mapping

from components.iam import document, statement
from components.naming import Names
from components.steps import VERIFY_ROLE_SUBPATH


@dataclass(frozen=True)
class DeploymentRoleArgs:
    names: Names
    # The tooling account, whose verify roles assume this one.
    tooling_account: str
    # The environment account, where the role lives, and its EKS clusters (region -> name).
    env_account: str
    clusters: Mapping[str, str]


class DeploymentRole(pulumi.ComponentResource):
    """Role in the environment account that the Verify actions assume to read cluster state.

    Trust names the tooling account and narrows it with `aws:PrincipalArn` to this stack's verify
    roles (never `*`); an ExternalId-free trust is fine here because both accounts belong to the
    same organisation and the principal is an exact account. Permissions: describe the
    environment's EKS clusters; what it may read inside a cluster is granted by the cluster's EKS
    access entry (the Argo CD component), not by IAM.
    """

    arn: pulumi.Output[str]

    def __init__(self, name: str, args: DeploymentRoleArgs, opts: pulumi.ResourceOptions | None = None):
        """`opts` carries the environment account's provider: the role lives there."""
        super().__init__("delivery:iam:DeploymentRole", name, None, opts)
        names = args.names
        child = pulumi.ResourceOptions(parent=self)
        trust = document([{
            "Sid": "AssumedByVerifyRoles",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{args.tooling_account}:root"},
            "Action": "sts:AssumeRole",
            "Condition": {"ArnLike": {"aws:PrincipalArn": names.role_arn_pattern(args.tooling_account, VERIFY_ROLE_SUBPATH)}},
        }])
        self.role = aws.iam.Role(
            name,
            name=names.deployment_role,
            path=names.role_path(),
            description=f"Assumed by the {names.app} {names.env} delivery pipelines to verify deployments",
            assume_role_policy=trust,
            max_session_duration=3600,
            opts=child,
        )
        clusters = [
            f"arn:aws:eks:{region}:{args.env_account}:cluster/{cluster}"
            for region, cluster in args.clusters.items()
        ]
        aws.iam.RolePolicy(
            f"{name}-policy",
            role=self.role.id,
            policy=document([statement("DescribeEnvironmentClusters", ["eks:DescribeCluster"], clusters)]),
            opts=child,
        )
        self.arn = self.role.arn
        self.register_outputs({"arn": self.arn})
