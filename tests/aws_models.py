"""AWS's own limits, read from the API models botocore ships (the pinned version): what a request
may hold before the service refuses it. Tests compare the program's limits and names with these
rather than with numbers copied by hand."""

from __future__ import annotations

import functools
import gzip
import importlib.util
import json
from pathlib import Path
from typing import Any


@functools.cache
def model(service: str) -> dict[str, Any]:
    """The newest API model of `service` (`codepipeline`, `events`, `iam`, …)."""
    spec = importlib.util.find_spec("botocore")
    assert spec is not None and spec.origin is not None
    versions = sorted((Path(spec.origin).parent / "data" / service).glob("*/service-2.json*"))
    path = versions[-1]
    raw = path.read_bytes()
    return json.loads(gzip.decompress(raw) if path.suffix == ".gz" else raw)


def shape(service: str, name: str) -> dict[str, Any]:
    return model(service)["shapes"][name]


def member_shape(service: str, operation: str, member: str) -> dict[str, Any]:
    """The shape of one member of an operation's input (`CreateProject`, `name`)."""
    data = model(service)
    input_shape = data["shapes"][data["operations"][operation]["input"]["shape"]]
    return data["shapes"][input_shape["members"][member]["shape"]]
