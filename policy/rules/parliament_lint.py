"""Parliament's findings for a policy document, as `parliament.analyze_policy_string` gives them, faster.

Three things parliament repeats for every document took most of the policy pack's time in a plan:
its JSON parser, jsoncfg, reads a document a character at a time in Python; `get_privilege_info`
scans the whole IAM action database (about 400 services) for every action of every statement;
`is_arn_match` and `is_arn_strictly_valid` redo the same string work for the same ARN formats.
Here a document that `json.loads` reads exactly as jsoncfg would is turned into jsoncfg's own node
tree by jsoncfg's own builder, fed from the parsed value instead of from its character parser, and
the three lookups are memoized (they are pure: the same arguments give the same answer, and
`get_privilege_info` returns the same database entry it would have found). Anything else (comments,
trailing commas, unquoted keys, duplicate keys, NaN, not JSON at all) goes to parliament's own
`analyze_policy_string`, which reports it as it always did.

`tests/policy/test_parliament_lint.py` holds the findings equal to parliament's own for every
document of both stacks and for malformed ones. parliament is pinned (requirements.txt): the names
replaced here are checked to exist when this module is imported.
"""

from __future__ import annotations

import functools
import json
import math
import warnings
from typing import Any

with warnings.catch_warnings():
    # parliament 1.6 imports pkg_resources (deprecated); setuptools<82 is pinned for it.
    warnings.simplefilter("ignore", UserWarning)
    import parliament
    import parliament.statement
    from jsoncfg.parser_listener import ObjectBuilderParserListener
    from jsoncfg.tree_config import ConfigObjectBuilderParams
    from parliament.policy import Policy


def _memoize(module: Any, name: str, cache: Any) -> None:
    original = getattr(module, name)  # AttributeError at import if parliament changed
    if getattr(original, "__wrapped__", None) is None:
        setattr(module, name, cache(original))


# `statement` imported its own references of the ARN helpers; the package's are used by each other.
_memoize(parliament.statement, "get_privilege_info", functools.cache)
for _module in (parliament, parliament.statement):
    _memoize(_module, "is_arn_match", functools.cache)
    _memoize(_module, "is_arn_strictly_valid", functools.cache)


class _NotPlainJson(ValueError):
    """The document is not JSON that json.loads and jsoncfg read alike."""


class _Position:
    """What jsoncfg's builder asks its parser: where a node starts. Findings' locations are not
    reported by the policy pack, so every node of a document read here is at line 0, column 0."""

    line = 0
    column = 0


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise _NotPlainJson("duplicate key")  # json.loads keeps the last; jsoncfg refuses
    return dict(pairs)


def _refuse_constant(name: str) -> Any:
    raise _NotPlainJson(name)  # NaN, Infinity: json.loads reads them; jsoncfg does not


def _emit(value: Any, listener: ObjectBuilderParserListener) -> None:
    """The parser events jsoncfg's own parser would send for `value`."""
    if isinstance(value, dict):
        listener.begin_object()
        for key, item in value.items():
            listener.begin_object_item(key, True)
            _emit(item, listener)
        listener.end_object()
    elif isinstance(value, list):
        listener.begin_array()
        for item in value:
            _emit(item, listener)
        listener.end_array()
    elif isinstance(value, str):
        listener.scalar(value, True)
    elif isinstance(value, float) and not math.isfinite(value):
        raise _NotPlainJson("a number out of range")  # 1e400: json.loads makes it inf
    else:
        # true, false, null and numbers reach jsoncfg's scalar converter as their JSON text.
        listener.scalar(json.dumps(value), False)


def _config_tree(text: str) -> Any:
    value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_refuse_constant)
    if not isinstance(value, dict):
        raise _NotPlainJson("not an object")  # parliament's own path says what it makes of it
    listener = ObjectBuilderParserListener(ConfigObjectBuilderParams())
    listener.begin_parsing(_Position())
    _emit(value, listener)
    listener.end_parsing()
    return listener.result


def analyze(text: str) -> Any:
    """Parliament's analyzed `Policy` of a document text (findings not yet enhanced)."""
    try:
        tree = _config_tree(text)
    except (ValueError, RecursionError):  # json.JSONDecodeError and _NotPlainJson are ValueErrors
        return parliament.analyze_policy_string(text)
    policy = Policy(tree, None, None)
    policy.analyze(False, None, False)  # as analyze_policy_string calls it
    return policy
