"""Approvers: who may answer the stack's manual approvals, and nothing else.

One IAM managed policy per stack allows `codepipeline:PutApprovalResult` on the stack's approval
actions (`arn:aws:codepipeline:<region>:<account>:<pipeline>/<stage>/<action>`, the `action`
resource type of the Service Authorization Reference) and the read-only calls a reviewer needs on
those pipelines. The policy names them by the pipelines' name pattern (`Names.pipeline_arn_pattern`),
not one by one: a managed policy holds at most 6,144 characters, which one ARN per pipeline passed
at 41 services. The pattern `<app>-*-<env>` alone would also match the pipelines of an app whose
name starts with `<app>-`; both statements therefore require the stack's identity tags on the
pipeline (`aws:ResourceTag/app`, `aws:ResourceTag/environment`, which the `action` and `pipeline`
resource types support), which every stack of this program carries through its providers' default
tags. `IfExists`: a pipeline without the tags is decided by its name alone, so the stack's own
approvals never depend on AWS sending the tags. Verify pipelines (`<pipeline>-verify`) do not
match. Who gets it:

* `approval.approverPrincipals`: a role, `Names.approver_role`, trusting exactly those IAM users
  and roles. Users must have signed in with MFA (`aws:MultiFactorAuthPresent`); roles are trusted
  as they are, because a role session carries no MFA key even when the person behind it used MFA
  (IAM Identity Center, SAML): the identity provider enforces it there. The trust also allows
  `sts:SetSourceIdentity`, so a caller whose session has a source identity can assume the role and
  CloudTrail records that identity on every `PutApprovalResult`.
* `approval.permissionSetArn`: a member account cannot attach anything to an IAM Identity Center
  permission set. The operator adds a customer managed policy reference (the policy's name and
  path, exported as `approvers.permissionSet`) to the permission set in the management or
  delegated administrator account; IAM Identity Center then attaches this policy to the role it
  provisions here.

The policy and role live under `Names.approver_path`, outside the path of the pipeline's roles, so
nothing that trusts "the roles of this stack" trusts an approver.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import pulumi
import pulumi_aws as aws

from components.iam import document, statement
from components.naming import Names
from components.settings import ApproverSettings
from components.validators import IAM_PRINCIPAL_ARN

# The stage and action `DeliveryPipeline` gives its manual approval; the tests check every
# planned pipeline's approval actions against the policy.
APPROVAL_STAGE = "Approval"
APPROVAL_ACTION = "Approve"
# What a reviewer reads before answering: the pipeline, its state (which holds the approval
# token), the execution under review and its actions' inputs and outputs.
READ_ACTIONS = ("codepipeline:GetPipeline", "codepipeline:GetPipelineExecution", "codepipeline:GetPipelineState",
                "codepipeline:ListActionExecutions", "codepipeline:ListPipelineExecutions")


@dataclass(frozen=True)
class GatedStages:
    """The stages of the stack's pipelines that release gates give a condition
    (components.release_gates): approvers may let an execution past them."""

    delivery: tuple[str, ...] = ()
    # Of the verify pipelines (`<pipeline>-verify`).
    verification: tuple[str, ...] = ()


@dataclass(frozen=True)
class ApproversArgs:
    names: Names
    # Where the stack's pipelines are.
    home_region: str
    tooling_account: str
    # The tags every pipeline of the stack carries and no other stack's does (`Settings.identity_tags`).
    identity_tags: Mapping[str, str]
    # Who may approve.
    approvers: ApproverSettings
    # The stages whose conditions approvers may override (OverrideStageCondition). Default: none.
    gated: GatedStages = GatedStages()


def policy_statements(names: Names, region: str, account: str, identity_tags: Mapping[str, str],
                      gated: GatedStages = GatedStages()) -> list[dict]:
    """The same size for any number of pipelines: they are named by pattern."""
    pipelines = names.pipeline_arn_pattern(region, account)
    verify_pipelines = names.verify_pipeline_arn_pattern(region, account)
    stack = {"StringEqualsIfExists": {f"aws:ResourceTag/{key}": value for key, value in identity_tags.items()}}
    statements = [
        statement("AnswerStackApprovals", ["codepipeline:PutApprovalResult"],
                  f"{pipelines}/{APPROVAL_STAGE}/{APPROVAL_ACTION}", condition=stack),
        statement("ReadApprovalPipelines", READ_ACTIONS,
                  [pipelines, verify_pipelines] if gated.verification else pipelines, condition=stack),
    ]
    stages = [f"{pipelines}/{stage}" for stage in gated.delivery] + \
             [f"{verify_pipelines}/{stage}" for stage in gated.verification]
    if stages:
        # Letting an execution past a closed window, a firing alarm or an unfinished bake is the
        # approvers' call, as `--override-freeze` is for the freeze file; CloudTrail records it.
        statements.append(statement("OverrideReleaseGates", ["codepipeline:OverrideStageCondition"],
                                    stages if len(stages) > 1 else stages[0], condition=stack))
    return statements


def trust_statements(principals: Sequence[str]) -> list[dict]:
    """Named roles as they are; named users only with MFA."""
    kinds: dict[str, list[str]] = {"role": [], "user": []}
    for principal in principals:
        kinds[IAM_PRINCIPAL_ARN.match(principal).group("kind")].append(principal)
    statements = []
    if kinds["role"]:
        statements.append({"Sid": "AssumedByNamedRoles", "Effect": "Allow", "Principal": {"AWS": kinds["role"]},
                           "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"]})
    if kinds["user"]:
        statements.append({"Sid": "AssumedByNamedUsersWithMfa", "Effect": "Allow",
                           "Principal": {"AWS": kinds["user"]},
                           "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
                           "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}})
    return statements


class Approvers(pulumi.ComponentResource):
    """The approver policy, and the approver role when principals are named."""

    policy_arn: pulumi.Output[str]
    # None unless `approval.approverPrincipals` names someone.
    role_arn: pulumi.Output[str] | None

    def __init__(self, name: str, args: ApproversArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("delivery:iam:Approvers", name, None, opts)
        names = args.names
        child = pulumi.ResourceOptions(parent=self)
        policy = aws.iam.Policy(
            name,
            name=names.approver_policy,
            path=names.approver_path,
            description=f"Answer the manual approvals of the {names.app} {names.env} pipelines",
            policy=document(policy_statements(names, args.home_region, args.tooling_account, args.identity_tags,
                                              args.gated)),
            opts=child,
        )
        self.policy_arn = policy.arn
        self.role_arn = None
        principals = args.approvers.principals
        if principals:
            role = aws.iam.Role(
                f"{name}-role",
                name=names.approver_role,
                path=names.approver_path,
                description=f"Assumed by the people who approve {names.app} {names.env} promotions",
                assume_role_policy=document(trust_statements(principals)),
                max_session_duration=3600,
                opts=child,
            )
            aws.iam.RolePolicyAttachment(f"{name}-role-policy", role=role.name, policy_arn=policy.arn, opts=child)
            self.role_arn = role.arn
        self.outputs = {
            "policyArn": policy.arn,
            "roleArn": self.role_arn,
            "permissionSet": None if args.approvers.permission_set_arn is None else {
                "arn": args.approvers.permission_set_arn,
                # What the operator adds to the permission set as a customer managed policy reference.
                "customerManagedPolicyReference": {"name": names.approver_policy, "path": names.approver_path},
            },
        }
        self.register_outputs(self.outputs)
