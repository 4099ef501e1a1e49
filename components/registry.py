"""ContainerRegistry: one ECR repository per service, in the stack that builds the images.

Stacks that promote (prod) read the repositories through a StackReference to this stack's
`ecrRepositoryUrls` / `ecrRepositoryArns` outputs instead of owning them.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from components.artifact_store import key_policy
from components.settings import Settings

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


def repository_name(settings: Settings, service: str) -> str:
    return f"{settings.app}/{service}"


class ContainerRegistry(pulumi.ComponentResource):
    """ECR repositories: immutable tags, scan on push, KMS, lifecycle, pull by environment accounts,
    replicated to the regions that run the services."""

    urls: dict[str, pulumi.Output[str]]
    arns: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, settings: Settings, opts: pulumi.ResourceOptions | None = None):
        super().__init__("delivery:registry:ContainerRegistry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        key = aws.kms.Key(
            f"{name}-key",
            description=f"{settings.app} container images",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=key_policy(settings, []),
            tags=settings.stack_tags(),
            opts=child,
        )
        aws.kms.Alias(f"{name}-key-alias", name=f"alias/{settings.app}-images", target_key_id=key.key_id, opts=child)

        pull_policy = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Sid": "EnvironmentAccountsPull", "Effect": "Allow",
            "Principal": {"AWS": [f"arn:aws:iam::{account}:root" for account in settings.registry_pull_accounts]},
            "Action": PULL_ACTIONS,
        }]})
        self.urls, self.arns = {}, {}
        for service in settings.services:
            repository = aws.ecr.Repository(
                f"{name}-{service.name}",
                name=repository_name(settings, service.name),
                image_tag_mutability="IMMUTABLE",
                image_scanning_configuration={"scan_on_push": True},
                encryption_configurations=[{"encryption_type": "KMS", "kms_key": key.arn}],
                tags={**settings.stack_tags(), "service": service.name},
                opts=child,
            )
            aws.ecr.LifecyclePolicy(f"{name}-{service.name}-lifecycle", repository=repository.name,
                                    policy=LIFECYCLE_POLICY, opts=child)
            aws.ecr.RepositoryPolicy(f"{name}-{service.name}-policy", repository=repository.name,
                                     policy=pull_policy, opts=child)
            self.urls[service.name] = repository.repository_url
            self.arns[service.name] = repository.arn

        if settings.registry_replica_regions:
            # ECR replication is one configuration per registry (account and region): this stack
            # owns it for the tooling account's home region.
            aws.ecr.ReplicationConfiguration(
                f"{name}-replication",
                replication_configuration={"rules": [{
                    "destinations": [{"region": region, "registry_id": settings.tooling_account}
                                     for region in settings.registry_replica_regions],
                    "repository_filters": [{"filter": f"{settings.app}/", "filter_type": "PREFIX_MATCH"}],
                }]},
                opts=child,
            )
        for region in settings.registry_replica_regions:
            # Replicas are created by ECR, not by this program: the template gives them the same
            # pull policy, lifecycle and immutability. Their encryption is AES256: a KMS template
            # needs a custom creation role and a key per region (see the README's known gaps).
            aws.ecr.RepositoryCreationTemplate(
                f"{name}-replica-template-{region}",
                region=region,
                prefix=f"{settings.app}/",
                applied_fors=["REPLICATION"],
                description=f"{settings.app} image replicas",
                image_tag_mutability="IMMUTABLE",
                repository_policy=pull_policy,
                lifecycle_policy=LIFECYCLE_POLICY,
                encryption_configurations=[{"encryption_type": "AES256"}],
                opts=child,
            )
        self.register_outputs({"urls": self.urls, "arns": self.arns})
