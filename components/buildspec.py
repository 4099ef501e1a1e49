"""The buildspec CodeBuild runs for a step, rendered from the `Step`.

A file in `buildspecs/` holds what only it knows: a comment saying what the step does and which
variables it reads, then its `phases:` (the commands). What the step declares is rendered around
them, so it is written once, in the step: the variables it exports (`env.exported-variables`,
from `Step.exports`, the names `Step.ref` lets later actions read) and, for a step that runs the
gitops CLI (`Step.needs_tool_bundle`), the install phase that unpacks the tool bundle the project
names in `TOOLS_BUNDLE` and installs its hash-locked requirements.
"""

from __future__ import annotations

import functools
from pathlib import Path

BUILDSPECS = Path(__file__).resolve().parent.parent / "buildspecs"

PHASES = "phases:\n"
PREAMBLE = "version: 0.2\nenv:\n  shell: bash\n"
INSTALL = "  install:"
TOOL_BUNDLE_INSTALL = f"""\
{INSTALL}
    runtime-versions:
      python: "3.11"
    commands:
      - set -euo pipefail
      - aws s3 cp --only-show-errors "$TOOLS_BUNDLE" /tmp/tools.zip
      - unzip -q /tmp/tools.zip -d /opt/tools
      - pip install --quiet --require-hashes --no-deps --requirement /opt/tools/gitops/requirements.lock
"""


class BuildspecError(ValueError):
    """A file of buildspecs/ states what the step renders; the message names the file and the fix."""


def render(file: str, exports: tuple[str, ...], tool_bundle: bool) -> str:
    """The buildspec of `buildspecs/<file>` for a step exporting `exports`, with the tool bundle's
    install phase when `tool_bundle`."""
    comment, phases = _parts(file)
    if tool_bundle and f"\n{INSTALL}\n" in "\n" + phases:
        raise BuildspecError(f"buildspecs/{file} has an install phase: the step's is rendered (it installs the "
                             f"tool bundle), put its commands there or in pre_build")
    exported = "".join(f"    - {name}\n" for name in exports)
    return (comment + PREAMBLE + ("  exported-variables:\n" + exported if exports else "")
            + PHASES + (TOOL_BUNDLE_INSTALL if tool_bundle else "") + phases)


@functools.cache
def _parts(file: str) -> tuple[str, str]:
    """(the leading comment, what follows `phases:`) of a file."""
    text = (BUILDSPECS / file).read_text()
    head, found, phases = text.partition(PHASES)
    if not found or any(line.strip() and not line.startswith("#") for line in head.splitlines()):
        raise BuildspecError(f"buildspecs/{file}: only comments may precede `phases:` (the version, the env and "
                             f"the exported variables are rendered from the step)")
    return head, phases
