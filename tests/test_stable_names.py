"""Resource URNs and physical names of both stacks are pinned.

A URN is a resource's identity to the engine: a refactor that changes one (a renamed resource, a
new parent) makes `pulumi up` delete and recreate the infrastructure behind it — artifact buckets,
keys, roles, pipelines. This test turns that into a failing test instead. When a change is meant
(new resources, or a rename you have given `aliases=` to), regenerate the snapshot with
`UPDATE_SNAPSHOTS=1 make test` and review the diff in the commit: a renamed resource's line names
the URN it had (`aliases=`), so the engine moves its state instead of replacing it, and a resource
that holds data (STATEFUL) may never leave the snapshot unless a planned resource aliases it.
"""

import os
from pathlib import Path

import pytest

from offline.plan import run_plan
from tests.conftest import stack_settings

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
# Types whose replacement loses what they hold: objects, key material, logs, images, subscriptions,
# execution and build history.
STATEFUL = ("aws:s3/bucket:Bucket", "aws:kms/key:Key", "aws:cloudwatch/logGroup:LogGroup",
            "aws:ecr/repository:Repository", "aws:sns/topic:Topic", "aws:codepipeline/pipeline:Pipeline",
            "aws:codebuild/project:Project")


def urn_type(urn: str) -> str:
    return urn.split("::")[2].rsplit("$", 1)[-1]


def renamed_from(resource) -> list[str]:
    """The program's aliases of a resource: the names it had. (The SDK's own aliases of a type to
    its former types, e.g. aws:s3/bucketV2 to aws:s3/bucket, are the provider's business.)"""
    return [alias for alias in resource.aliases if urn_type(alias) == resource.type]


def identities(plan) -> list[str]:
    """URN of every resource, with the physical name the program sets (a change replaces it too)
    and the URNs it had before (the program's aliases)."""
    lines = []
    for resource in plan.resources:
        name = resource.inputs.get("name")
        line = f"{resource.urn}  name={name}" if isinstance(name, str) else resource.urn
        lines.append(line + (f"  aliases={','.join(renamed_from(resource))}" if renamed_from(resource) else ""))
    return sorted(lines)


def replaced(snapshot: list[str], plan) -> list[str]:
    """The URNs of the snapshot no planned resource has or aliases, stateful ones first marked."""
    kept = {r.urn for r in plan.resources} | {alias for r in plan.resources for alias in r.aliases}
    gone = sorted(line.split()[0] for line in snapshot if line.split()[0] not in kept)
    return [f"{urn} (holds data: STATEFUL)" if urn_type(urn) in STATEFUL else urn for urn in gone]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_urns_and_names_are_stable(stack):
    snapshot = SNAPSHOTS / f"{stack}.urns"
    plan = run_plan(stack=stack)
    current = "\n".join(identities(plan)) + "\n"
    expected = snapshot.read_text()
    stateful = [urn for urn in replaced(expected.splitlines(), plan) if urn.endswith("STATEFUL)")]
    assert stateful == [], f"{stack}: these would be deleted with what they hold: give the renamed resource " \
                           f"aliases=[the old name]"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        snapshot.write_text(current)
        expected = current
    if current != expected:
        old, new = set(expected.splitlines()), set(current.splitlines())
        gone = "\n  ".join(replaced(expected.splitlines(), plan)[:20]) or "(none: renamed with aliases)"
        added = "\n  ".join(sorted(new - old)[:20])
        pytest.fail(f"{stack}: resource identities changed; a deployed stack would replace these.\n"
                    f"removed or renamed without an alias:\n  {gone}\nadded or changed:\n  {added}\n"
                    "If this is intended, run UPDATE_SNAPSHOTS=1 make test and commit the snapshot.")


def test_a_stateful_resource_gone_without_an_alias_is_named():
    plan = run_plan(stack="prod")
    bucket = next(r for r in plan.resources if r.type == "aws:s3/bucket:Bucket")
    role = next(r for r in plan.resources if r.type == "aws:iam/role:Role" and not renamed_from(r))
    renamed = [bucket.urn.replace(bucket.name, f"{bucket.name}-old"), role.urn.replace(role.name, f"{role.name}-old")]
    assert sorted(replaced(renamed, plan)) == sorted([f"{renamed[0]} (holds data: STATEFUL)", renamed[1]])
    aliased = next(r for r in plan.resources if renamed_from(r))
    assert replaced(renamed_from(aliased), plan) == []


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_merged_verify_roles_keep_the_role_of_their_first_region(stack):
    # One verify role per service replaced one per region: the alias keeps the first region's role
    # (and its policy) in place; the other regions' roles are deleted (a role holds no data).
    plan = run_plan(stack=stack)
    planned = {r.urn for r in plan.resources}
    verify_roles = [r for r in plan.resources if r.type == "aws:iam/role:Role" and r.name.endswith("-verify-role")
                    and "delivery:build:BuildProjects$" in r.urn]
    assert verify_roles
    for role in verify_roles:
        service = role.name.removesuffix("-verify-role")
        [alias] = renamed_from(role)
        first = next(s for s in stack_settings(stack).services if s.name == service).regions[0]
        assert alias == role.urn.replace(role.name, f"{service}-verify-{first}-role") and alias not in planned
        policy = next(p for p in plan.resources if p.name == f"{role.name}-policy")
        assert renamed_from(policy) == [policy.urn.replace(policy.name, f"{service}-verify-{first}-role-policy")]
