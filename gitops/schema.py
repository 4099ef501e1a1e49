"""Validate a service's values against its chart's ``values.schema.json`` (JSON Schema draft-07).

Helm validates the *coalesced* values (chart defaults, then each values file) against the chart's
schema, so this does the same: ``charts/<service>/values.yaml`` overlaid with the values being
checked. ``validate_values`` checks an environment's ``values.yaml`` alone over the defaults; region
files (``values-<region>.yaml``) are partial overrides and are checked only by ``validate_stack``,
layered over the env file, the way Argo CD renders one region.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from gitops.errors import ValuesError

if TYPE_CHECKING:
    from jsonschema import Draft7Validator


def validate_values(
    repo_root: Path, service: str, values_text: str, *, source: str = "values"
) -> None:
    """Raise ValuesError when ``values_text`` over the chart defaults breaks the chart's schema.

    ``source`` names the values file in messages (e.g. ``envs/prod/api/values.yaml``).
    Nothing to check, and no error, when the chart has no ``values.schema.json``.
    """
    _validate(repo_root, service, [(source, values_text)])


def validate_stack(repo_root: Path, service: str, value_files: Iterable[str]) -> None:
    """Validate the chart defaults overlaid with repository-relative ``value_files``, in order."""
    layers = []
    for name in value_files:
        try:
            layers.append((name, (repo_root / name).read_text(encoding="utf-8")))
        except OSError as exc:
            raise ValuesError(f"cannot read {name}: {exc.strerror}") from exc
    _validate(repo_root, service, layers)


def _validate(repo_root: Path, service: str, layers: list[tuple[str, str]]) -> None:
    chart = f"charts/{service}"
    schema_path = repo_root / chart / "values.schema.json"
    if not schema_path.is_file():
        return
    validator = _load_validator(schema_path, f"{chart}/values.schema.json")
    defaults_path = repo_root / chart / "values.yaml"
    values: dict[str, Any] = {}
    if defaults_path.is_file():
        values = _parse(defaults_path.read_text(encoding="utf-8"), f"{chart}/values.yaml")
    for name, text in layers:
        values = coalesce(values, _parse(text, name))
    errors = sorted(validator.iter_errors(values), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        names = " over ".join([name for name, _ in reversed(layers)] + [f"{chart}/values.yaml"])
        lines = [f"  {_json_path(e.absolute_path)}: {e.message} (rule: {e.validator})" for e in errors]
        raise ValuesError(
            f"{names} break {chart}/values.schema.json:\n" + "\n".join(lines)
            + "\nfix the values (or the schema, if the rule is wrong) and retry"
        )


def coalesce(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's merge of two values layers: maps merge key by key, a null deletes the key."""
    merged = dict(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = coalesce(merged[key], value)
        else:
            merged[key] = value
    return merged


def _load_validator(path: Path, name: str) -> Draft7Validator:
    # Imported here: most promotions of a repository without schemas never need jsonschema.
    from jsonschema import Draft7Validator
    from jsonschema.exceptions import SchemaError

    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValuesError(f"{name} is not valid JSON (line {exc.lineno}): {exc.msg}") from exc
    try:
        Draft7Validator.check_schema(schema)
    except SchemaError as exc:
        raise ValuesError(f"{name} is not a valid draft-07 JSON Schema: {exc.message}") from exc
    return Draft7Validator(schema)


def _parse(text: str, name: str) -> dict[str, Any]:
    try:
        data = YAML(typ="safe", pure=True).load(text)
    except YAMLError as exc:
        raise ValuesError(f"{name} is not valid YAML: {exc}") from exc
    if data is None:  # an empty or comment-only file sets nothing, as in Helm
        return {}
    if not isinstance(data, dict):
        raise ValuesError(f"{name} must be a YAML mapping at the top, not {type(data).__name__}")
    return data


def _json_path(parts: Iterable[str | int]) -> str:
    path = "$"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path
