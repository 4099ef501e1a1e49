"""Notifications: alert and approval SNS topics (customer-managed key) and EventBridge rules."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import logical_names as logical
from components.artifact_store import key_policy
from components.iam import document
from components.settings import Settings


@dataclass(frozen=True)
class NotificationsArgs:
    settings: Settings

# EventBridge rule -> (detail-type, detail filter). `pipeline` is filled per stack.
RULES = {
    "failed": ("CodePipeline Pipeline Execution State Change", {"state": ["FAILED"]}),
    "succeeded": ("CodePipeline Pipeline Execution State Change", {"state": ["SUCCEEDED"]}),
    "approval-needed": ("CodePipeline Action Execution State Change",
                        {"state": ["STARTED"], "type": {"category": ["Approval"]}}),
}


class Notifications(pulumi.ComponentResource):
    """Alerts on pipeline failure, success and pending approval, and the approval topic."""

    key_arn: pulumi.Output[str]
    alerts_topic_arn: pulumi.Output[str]
    approval_topic_arn: pulumi.Output[str]

    def __init__(self, name: str, args: NotificationsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("delivery:notify:Notifications", name, None, opts)
        settings = args.settings
        child = pulumi.ResourceOptions(parent=self)
        account, region = settings.tooling_account, settings.home_region
        names = settings.names

        key = aws.kms.Key(
            logical.key(name),
            description=f"{settings.app} {settings.env_name} pipeline notifications",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=key_policy(settings, [{
                # EventBridge needs the key to publish to an encrypted topic. AWS's documented
                # statement has no condition: the request SNS makes to KMS for it carries no source
                # keys. Which rules may publish is narrowed by the topic policy (aws:SourceArn).
                "Sid": "EventBridgePublishes", "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
            }, {
                # CloudWatch alarms publish to the alerts topic (components.monitoring); the same
                # documented form, narrowed to the stack's alarms by the topic policy.
                "Sid": "CloudWatchAlarmsPublish", "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
            }]),
            opts=child,
        )
        aws.kms.Alias(f"{name}-key-alias", name=names.key_alias("notifications"),
                      target_key_id=key.key_id, opts=child)

        alerts = aws.sns.Topic(logical.topic(name, "alerts"), name=names.notification("alerts"),
                               kms_master_key_id=key.arn, opts=child)
        approval = aws.sns.Topic(logical.topic(name, "approval"), name=names.notification("approval"),
                                 kms_master_key_id=key.arn, opts=child)

        rules = []
        for rule_name, (detail_type, detail) in RULES.items():
            pattern = {
                "source": ["aws.codepipeline"],
                "detail-type": [detail_type],
                "account": [account],
                # The delivery pipelines and the verify pipelines a merge starts.
                "detail": {"pipeline": [{"wildcard": names.pipeline_pattern},
                                        {"wildcard": names.verify_pipeline_pattern}], **detail},
            }
            rule = aws.cloudwatch.EventRule(
                logical.rule(name, rule_name),
                name=names.notification(rule_name),
                description=f"{settings.app} {settings.env_name} pipelines: {rule_name}",
                event_pattern=json.dumps(pattern),
                opts=child,
            )
            aws.cloudwatch.EventTarget(
                f"{name}-{rule_name}-target",
                rule=rule.name,
                arn=alerts.arn,
                input_transformer={
                    "input_paths": {"pipeline": "$.detail.pipeline", "execution": "$.detail.execution-id",
                                    "state": "$.detail.state", "stage": "$.detail.stage",
                                    "action": "$.detail.action"},
                    "input_template": json.dumps(
                        f"Pipeline <pipeline> {rule_name}: state <state>, stage <stage>, action <action>. "
                        f"Execution: https://{region}.console.aws.amazon.com/codesuite/codepipeline/"
                        f"pipelines/<pipeline>/executions/<execution>/timeline?region={region}"),
                },
                opts=child,
            )
            rules.append(rule)

        aws.sns.TopicPolicy(
            f"{name}-alerts-policy",
            arn=alerts.arn,
            policy=document([{
                "Sid": "EventBridgeRulesPublish", "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sns:Publish", "Resource": alerts.arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": [r.arn for r in rules]}},
            }, {
                # The stack's alarms only (confused-deputy prevention as CloudWatch documents it).
                "Sid": "StackAlarmsPublish", "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": "sns:Publish", "Resource": alerts.arn,
                "Condition": {"ArnLike": {"aws:SourceArn": names.alarm_arn_pattern(region, account)},
                              "StringEquals": {"aws:SourceAccount": account}},
            }]),
            opts=child,
        )
        for topic_name, topic, addresses in (("alerts", alerts, settings.alert_subscribers),
                                             ("approval", approval, settings.approval_subscribers)):
            for address in addresses:
                # Named after the address, so removing one subscriber never replaces the others.
                suffix = hashlib.sha256(address.lower().encode()).hexdigest()[:8]
                aws.sns.TopicSubscription(f"{name}-{topic_name}-{suffix}", topic=topic.arn,
                                          protocol="email", endpoint=address, opts=child)

        self.key_arn = key.arn
        self.alerts_topic_arn = alerts.arn
        self.approval_topic_arn = approval.arn
        self.register_outputs({"alerts_topic_arn": alerts.arn, "approval_topic_arn": approval.arn})
