"""The machine-readable trailers every commit of the GitOps tool carries: the audit log's schema.

Each commit the tool writes (promote, revert, block, unblock, freeze, unfreeze) ends with one
paragraph of `Key: value` lines in git's trailer format, so `git log` over the environment's paths
is the audit trail and the source of the delivery metrics, with no database beside it. Readers go
through `parse`; writers through `render`. A key is written once per commit; values are one line.

| key                  | meaning                                                            |
|----------------------|--------------------------------------------------------------------|
| Delivery-Action      | promote, revert, block, unblock, freeze, unfreeze                  |
| Delivery-Service     | the service (absent for an environment-wide freeze)                |
| Delivery-Environment | the environment whose files the commit changes                     |
| Image-Tag            | the tag the commit sets (promote, revert) or names (block)         |
| Image-Digest         | the digest the commit sets or names                                |
| Previous-Digest      | the digest the commit replaces (promote, revert)                   |
| Source-Commit        | application commit the image was built from                        |
| Source-Commit-Time   | its commit time, ISO 8601 with offset (lead time starts here)      |
| Pipeline-Execution   | CodePipeline execution id that made the change                     |
| Approved-By          | who gave the pipeline's manual approval (its ARN), when known      |
| Pull-Request         | URL of the pull request that carried it (pull-request mode)        |
| Reason               | why (revert, block, unblock, freeze, override)                     |
| Override-Freeze      | "true" on a promotion made during a freeze with --override-freeze  |
| Skip-Proof           | "true" on a promotion made without its upstream's proof (--skip-proof) |
| Proposal-Commit      | the proposal branch's commit a pull request's block describes      |

A promotion pull request carries the same keys as a block in its body (`render_block`), written
from what the proposal branch holds, so later steps read back exactly what was proposed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime

ACTION = "Delivery-Action"
SERVICE = "Delivery-Service"
ENVIRONMENT = "Delivery-Environment"
TAG = "Image-Tag"
DIGEST = "Image-Digest"
PREVIOUS_DIGEST = "Previous-Digest"
SOURCE_COMMIT = "Source-Commit"
SOURCE_COMMIT_TIME = "Source-Commit-Time"
EXECUTION = "Pipeline-Execution"
APPROVER = "Approved-By"
PULL_REQUEST = "Pull-Request"
REASON = "Reason"
OVERRIDE_FREEZE = "Override-Freeze"
SKIP_PROOF = "Skip-Proof"
PROPOSAL_COMMIT = "Proposal-Commit"

KEYS = (ACTION, SERVICE, ENVIRONMENT, TAG, DIGEST, PREVIOUS_DIGEST, SOURCE_COMMIT,
        SOURCE_COMMIT_TIME, EXECUTION, APPROVER, PULL_REQUEST, REASON, OVERRIDE_FREEZE, SKIP_PROOF, PROPOSAL_COMMIT)
ACTIONS = ("promote", "revert", "block", "unblock", "freeze", "unfreeze")

_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9-]*): (.+)$")


def render(values: Mapping[str, str | None]) -> str:
    """The trailer paragraph (no leading blank line) for the keys with a value, in KEYS order."""
    unknown = set(values) - set(KEYS)
    if unknown:
        raise ValueError(f"unknown trailer keys: {', '.join(sorted(unknown))}")
    lines = []
    for key in KEYS:
        value = values.get(key)
        if value is None or value == "":
            continue
        if "\n" in value or "\r" in value or not value.isprintable():
            raise ValueError(f"trailer {key} must be one line of printable characters")
        lines.append(f"{key}: {value}")
    return "\n".join(lines)


def parse(message: str) -> dict[str, str]:
    """The trailers of a commit message: the `Key: value` lines of its last paragraph.

    A message whose last paragraph is not all trailers has none (git's own rule, simplified: the
    tool writes nothing else there). Unknown keys are kept, so newer writers stay readable.
    """
    paragraphs = [p for p in re.split(r"\n\s*\n", message.strip()) if p.strip()]
    if len(paragraphs) < 2:
        return {}
    found: dict[str, str] = {}
    for line in paragraphs[-1].splitlines():
        match = _LINE.match(line.strip())
        if not match:
            return {}
        found.setdefault(match.group(1), match.group(2).strip())
    return found


_BLOCK = re.compile(r"<!-- delivery-pipeline:promotion\n(\{.*?\})\n-->", re.S)


def render_block(values: Mapping[str, str | None]) -> str:
    """A pull request body's machine-readable block: an HTML comment GitHub does not display."""
    render(values)  # the same key and value rules as trailers
    data = {key: values[key] for key in KEYS if values.get(key)}
    return "<!-- delivery-pipeline:promotion\n" + json.dumps(data, indent=1, sort_keys=True) + "\n-->"


def parse_block(body: str | None) -> dict[str, str] | None:
    """The block of a pull request body, or None when it has none (or only a malformed one)."""
    match = _BLOCK.search(body or "")
    if not match:
        return None
    try:
        data = json.loads(match.group(1))
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        return None
    return data


def source_time(text: str | None) -> datetime | None:
    """A Source-Commit-Time value as a time; None when absent, not an ISO 8601 time with an offset,
    or not a time in UTC's calendar (0001-01-01T00:00+14:00 is a day before it begins): a
    hand-written trailer cannot break a report, that promotion just has no source time."""
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
        return when.astimezone(UTC) if when.tzinfo else None
    except (ValueError, OverflowError):
        return None
