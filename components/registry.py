"""ContainerRegistry: one ECR repository per service, in the stack that builds the images.

The stack exports `ecrRepositoryUrls` / `ecrRepositoryArns`; stacks that promote (prod) own no
repository and read none: their steps never name one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Mapping

import pulumi
import pulumi_aws as aws

from components import logical_names as logical
from components.artifact_store import key_policy
from components.iam import ServiceRoleArgs, service_role, statement
from components.naming import Names
from components.settings import BuildSource

# Untagged layers are garbage after a week; tagged images (commit shas) are kept to a bound that
# leaves room for rollbacks across many releases.
LIFECYCLE_POLICY = json.dumps({"rules": [
    {"rulePriority": 1, "description": "Expire untagged images after 7 days",
     "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 7},
     "action": {"type": "expire"}},
    {"rulePriority": 2, "description": "Keep the newest 500 images",
     "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 500},
     "action": {"type": "expire"}},
]})

PULL_ACTIONS = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]


def ecr_grants(account: str, region: str) -> list[dict]:
    """Key-policy statements letting ECR, on behalf of this account, create and retire the grants
    an encrypted repository needs (at repository creation and for replicas)."""
    root = {"AWS": f"arn:aws:iam::{account}:root"}
    via_ecr = {"kms:ViaService": f"ecr.{region}.amazonaws.com"}
    return [
        {"Sid": "EcrCreatesGrants", "Effect": "Allow", "Principal": root, "Action": "kms:CreateGrant",
         "Resource": "*",
         "Condition": {"StringEquals": via_ecr, "Bool": {"kms:GrantIsForAWSResource": "true"}}},
        {"Sid": "EcrManagesGrants", "Effect": "Allow", "Principal": root,
         "Action": ["kms:DescribeKey", "kms:RetireGrant"], "Resource": "*",
         "Condition": {"StringEquals": via_ecr}},
    ]


def image_key(name: str, names: Names, account: str, region: str, parent: pulumi.Resource) -> aws.kms.Key:
    key = aws.kms.Key(
        name,
        region=region,
        description=f"{names.app} container images in {region}",
        enable_key_rotation=True,
        deletion_window_in_days=30,
        policy=key_policy(names, account, ecr_grants(account, region)),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    aws.kms.Alias(f"{name}-alias", region=region, name=names.images_key_alias, target_key_id=key.key_id,
                  opts=pulumi.ResourceOptions(parent=parent))
    return key


@dataclass(frozen=True)
class ContainerRegistryArgs:
    names: Names
    # The repositories live in the tooling account's home region.
    tooling_account: str
    home_region: str
    # One repository per service.
    services: tuple[str, ...]
    # The stack builds its images: who pulls them and where they are replicated.
    source: BuildSource
    # What the replicas ECR creates are tagged with: the stack's tags.
    tags: Mapping[str, str]


class ContainerRegistry(pulumi.ComponentResource):
    """ECR repositories: immutable tags, scan on push, KMS, lifecycle, pull by environment accounts,
    replicated to the regions that run the services."""

    urls: dict[str, pulumi.Output[str]]
    arns: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: ContainerRegistryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("delivery:registry:ContainerRegistry", name, None, opts)
        names, source = args.names, args.source
        child = pulumi.ResourceOptions(parent=self)
        key = image_key(logical.key(name), names, args.tooling_account, args.home_region, self)

        pull_policy = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Sid": "EnvironmentAccountsPull", "Effect": "Allow",
            "Principal": {"AWS": [f"arn:aws:iam::{account}:root" for account in source.pull_accounts]},
            "Action": PULL_ACTIONS,
        }]})
        self.urls, self.arns = {}, {}
        for service in args.services:
            repository = aws.ecr.Repository(
                logical.repository(name, service),
                name=names.repository(service),
                image_tag_mutability="IMMUTABLE",
                image_scanning_configuration={"scan_on_push": True},
                encryption_configurations=[{"encryption_type": "KMS", "kms_key": key.arn}],
                tags={"service": service},
                opts=child,
            )
            aws.ecr.LifecyclePolicy(f"{name}-{service}-lifecycle", repository=repository.name,
                                    policy=LIFECYCLE_POLICY, opts=child)
            aws.ecr.RepositoryPolicy(f"{name}-{service}-policy", repository=repository.name,
                                     policy=pull_policy, opts=child)
            self.urls[service] = repository.repository_url
            self.arns[service] = repository.arn

        if source.replica_regions:
            # ECR replication is one configuration per registry (account and region): this stack
            # owns it for the tooling account's home region.
            aws.ecr.ReplicationConfiguration(
                f"{name}-replication",
                replication_configuration={"rules": [{
                    "destinations": [{"region": region, "registry_id": args.tooling_account}
                                     for region in source.replica_regions],
                    "repository_filters": [{"filter": names.repository_prefix, "filter_type": "PREFIX_MATCH"}],
                }]},
                opts=child,
            )
            self._replica_template(name, args, pull_policy)
        self.register_outputs({"urls": self.urls, "arns": self.arns})

    def _replica_template(self, name: str, args: ContainerRegistryArgs, pull_policy: str) -> None:
        """Replicas are created by ECR, not by this program: a creation template per replica region
        gives them the same pull policy, lifecycle, immutability and a customer-managed key there.
        ECR needs a role of ours to create KMS-encrypted repositories."""
        names, account, regions = args.names, args.tooling_account, args.source.replica_regions
        keys = {region: image_key(logical.replica_key(name, region), names, account, region, self) for region in regions}
        role = service_role(logical.replica_creation_role(name), ServiceRoleArgs(
            service="ecr.amazonaws.com",
            path=names.role_path(),
            description=f"ECR creates {names.app} replica repositories",
            # AWS documents this trust without source keys.
            source_account=None,
            statements=[
                statement("CreateReplicaRepositories", ["ecr:CreateRepository", "ecr:ReplicateImage", "ecr:TagResource"],
                          [names.repository_arn_pattern(region, account) for region in regions]),
                statement("EncryptReplicas", ["kms:CreateGrant", "kms:DescribeKey", "kms:RetireGrant"],
                          [key.arn for key in keys.values()]),
            ],
        ), self)
        for region, key in keys.items():
            aws.ecr.RepositoryCreationTemplate(
                f"{name}-replica-template-{region}",
                region=region,
                prefix=names.creation_template_prefix,
                applied_fors=["REPLICATION"],
                description=f"{names.app} image replicas",
                custom_role_arn=role.arn,
                image_tag_mutability="IMMUTABLE",
                repository_policy=pull_policy,
                lifecycle_policy=LIFECYCLE_POLICY,
                encryption_configurations=[{"encryption_type": "KMS", "kms_key": key.arn}],
                resource_tags=dict(args.tags),
                opts=pulumi.ResourceOptions(parent=self, depends_on=role.resources),
            )
