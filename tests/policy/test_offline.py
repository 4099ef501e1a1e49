"""The offline evaluation: the pack's own policy objects, called with CrossGuard's argument shapes."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2, json_format, struct_pb2
from hypothesis import given, settings
from hypothesis import strategies as st
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy

from offline.model import Plan, PlannedResource
from policy.offline import _as_struct_carries, evaluate, summary
from policy.rules import PACK_NAME, POLICIES
from policy.rules.base import ADVISORY, Finding, resource_policy
from tests.conftest import cached_plan
from tests.policy.records import doc, replace, secure_stack

POLICY_DIR = Path(__file__).resolve().parents[2] / "policy"


def weakened_stack() -> list[dict]:
    """Public bucket, "*" action, rotation off."""
    stack = replace(secure_stack(), "artifacts-public-access", blockPublicPolicy=False, restrictPublicBuckets=False)
    stack = replace(stack, "artifacts-policy", policy=doc(
        {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": "arn:aws:s3:::artifacts/*"}))
    stack = replace(stack, "build-role-policy", policy=doc({"Sid": "Admin", "Effect": "Allow", "Action": "*",
                                                            "Resource": "*"}))
    return replace(stack, "artifacts-key", enableKeyRotation=False)


def test_weakened_stack_is_caught_with_the_right_messages():
    found = {(v.policy, v.name): v for v in evaluate(weakened_stack())}
    assert set(found) == {
        ("s3-public-access-block", "artifacts-public-access"),
        ("s3-policy-not-public", "artifacts-policy"),
        ("s3-tls-only", "artifacts"),  # the replaced policy lost its TLS statement too
        ("iam-no-wildcard-action", "build-role-policy"),
        ("iam-pass-role-scoped", "build-role-policy"),  # "*" includes iam:PassRole on every role
        ("kms-key-rotation", "artifacts-key"),
    }
    assert found[("s3-public-access-block", "artifacts-public-access")].message == (
        "Bucket 'artifacts': BucketPublicAccessBlock 'artifacts-public-access' leaves "
        "['blockPublicPolicy', 'restrictPublicBuckets'] off")
    assert found[("s3-public-access-block", "artifacts-public-access")].fix == (
        "set blockPublicPolicy, restrictPublicBuckets = True")
    assert "statement #0 (\"PublicRead\") allows any principal" in found[("s3-policy-not-public",
                                                                         "artifacts-policy")].message
    assert found[("iam-no-wildcard-action", "build-role-policy")].message == (
        "RolePolicy 'build-role-policy': identity (policy) statement 'Admin' allows wildcard action(s) ['*']")
    assert found[("kms-key-rotation", "artifacts-key")].message == "Key 'artifacts-key' does not rotate its key material"
    assert found[("kms-key-rotation", "artifacts-key")].fix == "set enable_key_rotation=True on the aws.kms.Key"
    assert all(v.mandatory and v.type and v.urn.endswith("::" + v.name) for v in found.values())
    listing = summary(list(found.values()))
    assert "[mandatory] kms-key-rotation: Key 'artifacts-key' does not rotate" in listing


def test_plan_resources_are_accepted():
    """The offline plan's PlannedResource records, not just mappings."""
    planned = [PlannedResource(urn=r["urn"], type=r["type"], name=r["name"], id=r["id"], parent=None,
                               account="111111111111", region="us-east-1", inputs=r["inputs"], outputs=r["outputs"],
                               custom=True, provider=r["provider"]) for r in weakened_stack()]
    as_records = sorted((v.policy, v.urn, v.message) for v in evaluate(weakened_stack()))
    assert sorted((v.policy, v.urn, v.message) for v in evaluate(planned)) == as_records


def test_violation_serializes_for_the_plan_json():
    violation = evaluate(weakened_stack())[0]
    document = Plan(project="p", stack="s", resources=[], outputs={}, violations=[violation], policy_ran=True).to_json()
    (serialized,) = json.loads(json.dumps(document))["violations"]
    assert serialized == dataclasses.asdict(violation)
    assert set(serialized) == {"policy", "enforcement", "urn", "type", "name", "message", "fix"}


def test_stack_rules_see_outputs_and_id():
    """The bucket's name reaches stack rules through its `id`/`bucket` outputs, as from the engine."""
    stack = secure_stack()
    for resource in stack:
        if resource["type"] == "aws:s3/bucket:Bucket":
            resource["outputs"] = {}
    assert evaluate(stack) == []  # still joined, by id
    for resource in stack:
        if resource["type"] == "aws:s3/bucket:Bucket":
            resource["id"] = "renamed"
    assert {v.policy for v in evaluate(stack)} >= {"s3-public-access-block", "s3-versioning"}


def test_enforcement_level_comes_from_the_policy():
    advisory = resource_policy("advisory-probe", "probe", ("aws:sns/topic:Topic",),
                               lambda t, p, u, n: [Finding(f"{n} probed", "nothing")], ADVISORY)
    [violation] = evaluate(secure_stack(), policies=[advisory])
    assert (violation.enforcement, violation.mandatory, violation.name) == ("advisory", False, "alerts")


def test_a_crashing_rule_is_an_error_not_a_pass():
    def crash(args, report_violation):
        raise KeyError("boom")

    broken = ResourceValidationPolicy("broken", "crashes", validate=crash,
                                      enforcement_level=EnforcementLevel.MANDATORY)
    with pytest.raises(RuntimeError, match="policy broken failed on urn:pulumi:test"):
        evaluate(secure_stack(), policies=[broken])


def test_every_policy_names_what_it_mirrors():
    for policy in POLICIES:
        assert policy.enforcement_level == EnforcementLevel.MANDATORY
        assert "Mirrors" in policy.description or "No public rule" in policy.description, policy.name


def _struct(values: dict) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(json.loads(json.dumps(values)))
    return struct


def _analyzer_resource(message: type, resource: dict, properties: dict):
    provider = None
    if resource["provider"]:
        provider = analyzer_pb2.AnalyzerProviderResource(
            type="pulumi:providers:kubernetes", properties=_struct({}), urn=resource["provider"],
            name=resource["provider"].rsplit("::", 1)[-1])
    return message(type=resource["type"], properties=_struct(properties), urn=resource["urn"],
                   name=resource["name"], provider=provider)


def test_pack_under_the_cli_protocol_reports_what_the_offline_evaluation_reports(tmp_path):
    """Start the pack the way the Pulumi CLI does (`python -m pulumi.policy <engine> <pack dir>`),
    talk to its analyzer over gRPC like the engine, and compare with `evaluate` on the same stack."""
    process = subprocess.Popen([sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", str(POLICY_DIR)],
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = process.stdout.readline().strip()
        assert port.isdigit(), process.stderr.read() if process.poll() is not None else "no port printed"
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            analyzer = analyzer_pb2_grpc.AnalyzerStub(channel)
            info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
            assert info.name == PACK_NAME
            assert [p.name for p in info.policies] == [p.name for p in POLICIES]
            assert {p.enforcementLevel for p in info.policies} == {analyzer_pb2.MANDATORY}

            stack = weakened_stack()
            reported = set()
            for resource in stack:
                response = analyzer.Analyze(_analyzer_resource(analyzer_pb2.AnalyzeRequest, resource,
                                                               resource["inputs"]), timeout=30)
                reported |= {(d.policyName, resource["urn"], d.message.split("\n", 1)[1]) for d in response.diagnostics}
            state = [_analyzer_resource(analyzer_pb2.AnalyzerResource, r, {**r["inputs"], **r["outputs"], "id": r["id"]})
                     for r in stack]
            response = analyzer.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=state), timeout=30)
            reported |= {(d.policyName, d.urn, d.message.split("\n", 1)[1]) for d in response.diagnostics}
    finally:
        process.kill()
        process.communicate(timeout=10)
    # The engine's message is "<description>\n<violation>"; the violation is message + "\nFix: " + fix.
    expected = {(v.policy, v.urn, f"{v.message}\nFix: {v.fix}") for v in evaluate(weakened_stack())}
    assert reported == expected
    assert len(expected) == 7


def test_docs_table_lists_every_policy():
    table = (POLICY_DIR.parent / "docs" / "reference" / "policy-rules.md").read_text()
    assert [p.name for p in POLICIES if f"| `{p.name}` |" not in table] == []


def _through_a_struct(values: dict) -> dict:
    struct = struct_pb2.Struct()
    struct.update(values)
    return json_format.MessageToDict(struct)


def _typed(value):
    # Values with their types, dicts as sorted items: a Struct's map keeps no key order.
    if isinstance(value, dict):
        return sorted((key, _typed(item)) for key, item in value.items())
    if isinstance(value, list):
        return ["list", *map(_typed, value)]
    return (type(value).__name__, value)


def test_engine_props_are_what_a_trip_through_a_struct_makes_of_them():
    values = {"b": 1, "a": {"z": 2, "c": [1, "x", None, True, {"k": 3.5}]}, "empty": {}, "list": [],
              "flag": False, "none": None, "text": "é", "big": 2**60, "tuple": (1, "y")}
    assert _typed(_as_struct_carries(values)) == _typed(_through_a_struct(values))
    for bad, error in (({"bad": float("inf")}, ValueError), ({"bad": [float("nan")]}, ValueError),
                       ({"bad": {1: "x"}}, TypeError), ({"bad": object()}, ValueError)):
        with pytest.raises(error):
            _through_a_struct(bad)
        with pytest.raises(error):
            _as_struct_carries(bad)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=6), json_values, max_size=5))
def test_engine_props_match_a_struct_trip_for_any_json_value(values):
    assert _typed(_as_struct_carries(values)) == _typed(_through_a_struct(values))


def test_engine_props_match_a_struct_trip_for_every_planned_resource():
    for stack in ("staging", "prod"):
        for resource in cached_plan(stack).resources:
            for values in (resource.inputs, {**resource.inputs, **resource.outputs}):
                assert _typed(_as_struct_carries(values)) == _typed(_through_a_struct(values)), resource.urn