"""The delivery-baseline CrossGuard pack: `pulumi preview --policy-pack policy`.

The Pulumi CLI runs this file with the pack directory as its program; the rules are imported from
`rules/` beside it (the same package `policy/offline.py` imports as `policy.rules`).
"""

import sys
from pathlib import Path

from pulumi_policy import PolicyPack

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rules import DEFAULT_ENFORCEMENT, PACK_NAME, POLICIES  # noqa: E402  (needs the path above)

PolicyPack(name=PACK_NAME, policies=POLICIES, enforcement_level=DEFAULT_ENFORCEMENT)
