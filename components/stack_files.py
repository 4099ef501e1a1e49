"""What the settings learn from the project's stack files themselves rather than from the config
values the engine hands the program: the environments the project's stacks are for, and the
scalars a stack file writes without quotes that YAML reads as numbers.

Pulumi runs the program from the project directory, where `Pulumi.<stack>.yaml` lie. The engine
passes config values already parsed, so `account: 012345678901` arrives as a number and nothing in
the value tells that the file held twelve digits: only the file does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from components.validators import PROJECT
from gitops.yaml import goyaml

# Larger files are not stack files this program wrote or reads (the offline plan's reader refuses
# them too); they are skipped rather than parsed.
MAX_BYTES = 1024 * 1024
_STACK_FILE = re.compile(r"^Pulumi\.(?P<stack>.+)\.ya?ml$")
# Digits with a leading zero: YAML 1.1 (go-yaml, which Helm and Go tools use) reads an octal or a
# float; PyYAML reads octal digits as a number and others as text. Never what an id means.
_LEADING_ZERO = re.compile(r"^[-+]?0[0-9_]+$")


def _load(path: Path) -> object:
    try:
        if path.stat().st_size > MAX_BYTES:
            return None
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None


def project_environments(project_dir: Path) -> set[str]:
    """The environment each stack file of the project is for: its `environment.name`, else (no
    readable name) the stack's own name."""
    environments = set()
    for path in sorted(Path(project_dir).glob("Pulumi.*.y*ml")):
        match = _STACK_FILE.match(path.name)
        if not match:
            continue
        data = _load(path)
        config = data.get("config") if isinstance(data, dict) else None
        section = None
        if isinstance(config, dict):
            section = config.get(f"{PROJECT}:environment", config.get("environment"))
        name = section.get("name") if isinstance(section, dict) else None
        environments.add(name if isinstance(name, str) and name else match["stack"])
    return environments


@dataclass(frozen=True)
class UnquotedNumber:
    """A plain scalar of the project's settings that YAML reads as a number (`path` as the settings
    name it: ("registry", "pullAccounts", 1))."""

    path: tuple[str | int, ...]
    text: str
    line: int
    number: int | float

    @property
    def key(self) -> str:
        shown = str(self.path[0])
        for part in self.path[1:]:
            shown += f"[{part}]" if isinstance(part, int) else f".{part}"
        return shown


def unquoted_numbers(stack_file: Path) -> list[UnquotedNumber]:
    """Every plain scalar with a leading zero under the project's keys of `stack_file`, in file
    order; none when the file is absent or unreadable (the engine reports that itself)."""
    try:
        if stack_file.stat().st_size > MAX_BYTES:
            return []
        root = yaml.compose(stack_file.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []
    config = _mapping_value(root, "config")
    if not isinstance(config, yaml.MappingNode):
        return []
    found: list[UnquotedNumber] = []
    for key_node, value_node in config.value:
        namespace, _, key = str(key_node.value).rpartition(":")
        if namespace in ("", PROJECT):
            _collect(value_node, (key,), found, set())
    return found


def _mapping_value(node: object, key: str) -> object:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if key_node.value == key:
                return value_node
    return None


def _collect(node: yaml.Node, path: tuple[str | int, ...], found: list[UnquotedNumber],
             seen: set[int]) -> None:
    if id(node) in seen:  # an alias: its node was walked where it was anchored
        return
    seen.add(id(node))
    if isinstance(node, yaml.ScalarNode):
        if node.style is None and _LEADING_ZERO.match(node.value):
            _, number = goyaml.resolve_plain(node.value)
            if isinstance(number, float) and number.is_integer():
                number = int(number)   # go-yaml's float of digits with an 8 or 9: shown as its digits
            found.append(UnquotedNumber(path, node.value, node.start_mark.line + 1, number))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _collect(item, (*path, index), found, seen)
    elif isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            _collect(value_node, (*path, str(key_node.value)), found, seen)
