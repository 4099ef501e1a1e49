"""Validate a service's values against its chart's ``values.schema.json`` (JSON Schema draft-07).

Helm validates the *coalesced* values (chart defaults, then each values file) against the chart's
schema, so this does the same: ``charts/<service>/values.yaml`` overlaid with the values being
checked. ``validate_values`` checks an environment's ``values.yaml`` alone over the defaults; region
files (``values-<region>.yaml``) are partial overrides and are checked only by ``validate_stack``,
layered over the env file, the way Argo CD renders one region.

The chart's files are read like values files (gitops.repo.files): a `values.yaml` or schema that is a
symlink, lies outside the repository, or passes the size limit is refused unread, so no content of
a file elsewhere can reach an error message. Values are read as Helm reads them (gitops.yaml.document).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitops.repo import files
from gitops.yaml import document
from gitops.errors import ValuesError
from gitops.repo.layout import chart_values_file, schema_file

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
        text = files.read_repo_file(repo_root, name)
        if text is None:
            raise ValuesError(f"cannot read {name}: it does not exist")
        layers.append((name, text))
    _validate(repo_root, service, layers)


def _validate(repo_root: Path, service: str, layers: list[tuple[str, str]]) -> None:
    schema_name, defaults_name = schema_file(service), chart_values_file(service)
    schema_text = files.read_repo_file(repo_root, schema_name)
    if schema_text is None:
        return
    validator = _load_validator(schema_text, schema_name)
    defaults_text = files.read_repo_file(repo_root, defaults_name)
    values: dict[str, Any] = {} if defaults_text is None else _parse(defaults_text, defaults_name)
    for name, text in layers:
        values = coalesce(values, _parse(text, name))
    errors = sorted(validator.iter_errors(values), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        names = " over ".join([name for name, _ in reversed(layers)] + [defaults_name])
        lines = [f"  {_json_path(e.absolute_path)}: {e.message} (rule: {e.validator})" for e in errors]
        raise ValuesError(
            f"{names} break {schema_name}:\n" + "\n".join(lines)
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


def _load_validator(text: str, name: str) -> Draft7Validator:
    # Imported here: most promotions of a repository without schemas never need jsonschema.
    from jsonschema import Draft7Validator
    from jsonschema.exceptions import SchemaError

    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValuesError(f"{name} is not valid JSON (line {exc.lineno}): {exc.msg}") from exc
    try:
        Draft7Validator.check_schema(schema)
    except SchemaError as exc:
        raise ValuesError(f"{name} is not a valid draft-07 JSON Schema: {exc.message}") from exc
    return Draft7Validator(schema)


def _parse(text: str, name: str) -> dict[str, Any]:
    documents = document.compose(text, name)
    if len(documents) > 1:
        raise ValuesError(f"{name} holds {len(documents)} YAML documents; a values file is one")
    data = document.to_python(documents[0], text) if documents else None
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
