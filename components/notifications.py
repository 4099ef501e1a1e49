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
from components.naming import Names
from components.pipeline_model import ACTION_EXECUTION_STATE_CHANGE, PIPELINE_EXECUTION_STATE_CHANGE, event_pattern


@dataclass(frozen=True)
class NotificationsArgs:
    names: Names
    tooling_account: str
    # Where the pipelines run: the topics, the rules and the console links are there.
    home_region: str
    # Email addresses subscribed to the alerts and to the approval requests.
    alert_subscribers: tuple[str, ...]
    approval_subscribers: tuple[str, ...]


# EventBridge rule -> (detail-type, detail filter). `pipeline` is filled per stack. The keys end
# the rules' names (`Names.notification`), which EventBridge holds to 64 characters: at the longest
# app and environment names a key has 15 characters left ("approval-needed" had 17).
RULES = {
    "failed": (PIPELINE_EXECUTION_STATE_CHANGE, {"state": ["FAILED"]}),
    "succeeded": (PIPELINE_EXECUTION_STATE_CHANGE, {"state": ["SUCCEEDED"]}),
    "approval": (ACTION_EXECUTION_STATE_CHANGE, {"state": ["STARTED"], "type": {"category": ["Approval"]}}),
}


class Notifications(pulumi.ComponentResource):
    """Alerts on pipeline failure, success and pending approval, and the approval topic."""

    key_arn: pulumi.Output[str]
    alerts_topic_arn: pulumi.Output[str]
    approval_topic_arn: pulumi.Output[str]

    def __init__(self, name: str, args: NotificationsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("delivery:notify:Notifications", name, None, opts)
        names = args.names
        child = pulumi.ResourceOptions(parent=self)
        key = self._key(name, args, child)
        alerts = aws.sns.Topic(logical.topic(name, "alerts"), name=names.notification("alerts"),
                               kms_master_key_id=key.arn, opts=child)
        approval = aws.sns.Topic(logical.topic(name, "approval"), name=names.notification("approval"),
                                 kms_master_key_id=key.arn, opts=child)
        rules = [self._rule(name, rule_name, detail_type, detail, alerts, args, child)
                 for rule_name, (detail_type, detail) in RULES.items()]
        self._alerts_policy(name, alerts, rules, args, child)
        for topic_name, topic, addresses in (("alerts", alerts, args.alert_subscribers),
                                             ("approval", approval, args.approval_subscribers)):
            for address in addresses:
                # Named after the address, so removing one subscriber never replaces the others.
                suffix = hashlib.sha256(address.lower().encode()).hexdigest()[:8]
                aws.sns.TopicSubscription(f"{name}-{topic_name}-{suffix}", topic=topic.arn,
                                          protocol="email", endpoint=address, opts=child)

        self.key_arn = key.arn
        self.alerts_topic_arn = alerts.arn
        self.approval_topic_arn = approval.arn
        self.register_outputs({"alerts_topic_arn": alerts.arn, "approval_topic_arn": approval.arn})

    @staticmethod
    def _key(name: str, args: NotificationsArgs, child: pulumi.ResourceOptions) -> aws.kms.Key:
        names = args.names
        key = aws.kms.Key(
            logical.key(name),
            description=f"{names.app} {names.env} pipeline notifications",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=key_policy(names, args.tooling_account, [{
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
        return key

    @staticmethod
    def _rule(name: str, rule_name: str, detail_type: str, detail: dict, alerts: aws.sns.Topic,
              args: NotificationsArgs, child: pulumi.ResourceOptions) -> aws.cloudwatch.EventRule:
        """One EventBridge rule over the stack's pipelines, and its target: the alerts topic."""
        names, region = args.names, args.home_region
        # The delivery pipelines and the verify pipelines a merge starts.
        pattern = event_pattern(detail_type, args.tooling_account, {
            "pipeline": [{"wildcard": names.pipeline_pattern}, {"wildcard": names.verify_pipeline_pattern}], **detail})
        rule = aws.cloudwatch.EventRule(
            logical.rule(name, rule_name),
            name=names.notification(rule_name),
            description=f"{names.app} {names.env} pipelines: {rule_name}",
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
        return rule

    @staticmethod
    def _alerts_policy(name: str, alerts: aws.sns.Topic, rules: list[aws.cloudwatch.EventRule],
                       args: NotificationsArgs, child: pulumi.ResourceOptions) -> None:
        """Who may publish alerts: the stack's rules and the stack's alarms, nobody else."""
        account = args.tooling_account
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
                "Condition": {"ArnLike": {"aws:SourceArn": args.names.alarm_arn_pattern(args.home_region, account)},
                              "StringEquals": {"aws:SourceAccount": account}},
            }]),
            opts=child,
        )
