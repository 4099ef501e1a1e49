"""Resource URNs and physical names of both stacks are pinned.

A URN is a resource's identity to the engine: a refactor that changes one (a renamed resource, a
new parent) makes `pulumi up` delete and recreate the infrastructure behind it — artifact buckets,
keys, roles, pipelines. This test turns that into a failing test instead. When a change is meant
(new resources, or a rename you have given `aliases=` to), regenerate the snapshot with
`UPDATE_SNAPSHOTS=1 make test` and review the diff in the commit.
"""

import os
from pathlib import Path

import pytest

from offline.plan import run_plan

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"


def identities(plan) -> list[str]:
    """URN of every resource, with the physical name the program sets (a change replaces it too)."""
    lines = []
    for resource in plan.resources:
        name = resource.inputs.get("name")
        lines.append(f"{resource.urn}  name={name}" if isinstance(name, str) else resource.urn)
    return sorted(lines)


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_urns_and_names_are_stable(stack):
    snapshot = SNAPSHOTS / f"{stack}.urns"
    current = "\n".join(identities(run_plan(stack=stack))) + "\n"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        snapshot.write_text(current)
    expected = snapshot.read_text()
    if current != expected:
        old, new = set(expected.splitlines()), set(current.splitlines())
        gone = "\n  ".join(sorted(old - new)[:20])
        added = "\n  ".join(sorted(new - old)[:20])
        pytest.fail(f"{stack}: resource identities changed; a deployed stack would replace these.\n"
                    f"removed or renamed:\n  {gone}\nadded:\n  {added}\n"
                    "If this is intended, run UPDATE_SNAPSHOTS=1 make test and commit the snapshot.")
