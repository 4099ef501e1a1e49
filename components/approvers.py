"""Approvers: who may answer the stack's manual approvals, and nothing else.

One IAM managed policy per stack allows `codepipeline:PutApprovalResult` on exactly the stack's
approval actions (`arn:aws:codepipeline:<region>:<account>:<pipeline>/<stage>/<action>`, the
`action` resource type of the Service Authorization Reference) and the read-only calls a reviewer
needs on those pipelines. Who gets it:

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
from typing import Sequence

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
class ApprovalPipeline:
    """One of the stack's pipelines with manual approvals, and their (stage, action) names."""

    arn: pulumi.Input[str]
    approvals: tuple[tuple[str, str], ...] = ((APPROVAL_STAGE, APPROVAL_ACTION),)

    def approval_arns(self) -> list[pulumi.Output[str]]:
        return [pulumi.Output.concat(self.arn, f"/{stage}/{action}") for stage, action in self.approvals]


@dataclass(frozen=True)
class GatedStage:
    """A stage with a release gate (components.release_gates): a window, alarms or a bake."""

    pipeline_arn: pulumi.Input[str]
    stage: str

    @property
    def arn(self) -> pulumi.Output[str]:
        # The `stage` resource type of OverrideStageCondition: <pipeline arn>/<stage>.
        return pulumi.Output.concat(self.pipeline_arn, f"/{self.stage}")


@dataclass(frozen=True)
class ApproversArgs:
    names: Names
    # Who may approve.
    approvers: ApproverSettings
    # Every pipeline of the stack that has a manual approval; at least one.
    pipelines: Sequence[ApprovalPipeline]
    # The stages whose conditions approvers may override (OverrideStageCondition). Default: none.
    gated: Sequence[GatedStage] = ()


def policy_statements(pipelines: Sequence[ApprovalPipeline], gated: Sequence[GatedStage] = ()) -> list[dict]:
    # A pipeline ARN once, even when its approval and its gated stages both name it.
    read = list({id(arn): arn for arn in [*(p.arn for p in pipelines), *(g.pipeline_arn for g in gated)]}.values())
    statements = [
        statement("AnswerStackApprovals", ["codepipeline:PutApprovalResult"],
                  [arn for p in pipelines for arn in p.approval_arns()]),
        statement("ReadApprovalPipelines", READ_ACTIONS, read),
    ]
    if gated:
        # Letting an execution past a closed window, a firing alarm or an unfinished bake is the
        # approvers' call, as `--override-freeze` is for the freeze file; CloudTrail records it.
        statements.append(statement("OverrideReleaseGates", ["codepipeline:OverrideStageCondition"],
                                    [g.arn for g in gated]))
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
        if not any(p.approvals for p in args.pipelines):
            raise ValueError("Approvers needs a pipeline with an approval: create it only when approval is enabled")
        child = pulumi.ResourceOptions(parent=self)
        policy = aws.iam.Policy(
            name,
            name=names.approver_policy,
            path=names.approver_path,
            description=f"Answer the manual approvals of the {names.app} {names.env} pipelines",
            policy=document(policy_statements(args.pipelines, args.gated)),
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
