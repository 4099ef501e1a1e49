"""How Helm reads a YAML scalar: go-yaml v2's resolver, and what a template prints for the result.

Helm parses values files with sigs.k8s.io/yaml, which is go-yaml v2 (YAML 1.1 rules, with its own
choices) followed by a round trip through JSON. This module restates go-yaml v2's `resolve.go` for
plain scalars, rule by rule, so the tool knows when a value that YAML 1.2 reads as a string reaches
Helm as a boolean or a number:

* a table of exact spellings: booleans `y Y yes Yes YES true True TRUE on On ON` (and their `n no
  false off` counterparts), nulls `~ null Null NULL` and the empty scalar, `.nan .inf -.inf +.inf`
  in three capitalisations;
* a scalar starting with a digit or a sign: a timestamp (`2006-1-2`, with an optional time), else an
  integer after removing every `_` (Go's `ParseInt(s, 0, 64)`, then `ParseUint`: decimal, `0x`,
  `0o`, `0b`, and a leading `0` meaning octal), else a float matching
  `[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?` that does not overflow;
* a scalar starting with `.`: a float as Go's `ParseFloat` reads it;
* anything else is a string. Sexagesimal numbers (`1:20`) are deliberately strings in go-yaml v2.

go-yaml v2 hands a timestamp to an `interface{}` as its original string, and JSON turns every number
into a float64, which Go's `fmt` prints in its shortest form, switching to an exponent at 1e+06.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

BOOL = "bool"
NULL = "null"
INT = "int"
FLOAT = "float"
TIMESTAMP = "timestamp"
STR = "str"

_EXACT: dict[str, tuple[str, object]] = {}
for _words, _value in (("y Y yes Yes YES true True TRUE on On ON", True),
                       ("n N no No NO false False FALSE off Off OFF", False)):
    _EXACT.update({word: (BOOL, _value) for word in _words.split()})
_EXACT.update({word: (NULL, None) for word in ("", "~", "null", "Null", "NULL")})
_EXACT.update({word: (FLOAT, math.nan) for word in (".nan", ".NaN", ".NAN")})
_EXACT.update({sign + word: (FLOAT, value) for word in (".inf", ".Inf", ".INF")
               for sign, value in (("", math.inf), ("+", math.inf), ("-", -math.inf))})

# The first character decides which rules apply (resolveTable): "M" exact spellings only,
# "D"/"S" digits and signs, "." floats; any other first character makes a string.
_HINT = {**dict.fromkeys("yYnNtTfFoO~", "M"), **dict.fromkeys("0123456789", "D"),
         **dict.fromkeys("+-", "S"), ".": "."}
# yamlStyleFloat; it is also every form of Go's ParseFloat that a scalar reaching it can take (no
# underscores without a base prefix, and a scalar starting with "." cannot be inf, nan or hex).
_YAML_STYLE_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_TIMESTAMPS = (
    # 2006-1-2T15:4:5.999999999Z07:00 (also with t), 2006-1-2 15:4:5.999999999, 2006-1-2
    re.compile(r"\d{4}-\d{1,2}-\d{1,2}[Tt]\d{1,2}:\d{1,2}:\d{1,2}(\.\d+)?(Z|[-+]\d{2}:\d{2})"),
    re.compile(r"\d{4}-\d{1,2}-\d{1,2} \d{1,2}:\d{1,2}:\d{1,2}(\.\d+)?"),
    re.compile(r"\d{4}-\d{1,2}-\d{1,2}"),
)
_INT64 = (-(2 ** 63), 2 ** 63 - 1)
_UINT64_MAX = 2 ** 64 - 1
_DIGITS = {2: "01", 8: "01234567", 10: "0123456789", 16: "0123456789abcdefABCDEF"}


def resolve_plain(text: str) -> tuple[str, object]:
    """(kind, value) of a plain scalar as go-yaml v2 resolves it; kind is one of BOOL, NULL, INT,
    FLOAT, TIMESTAMP, STR."""
    hint = _HINT.get(text[:1], "M" if text == "" else None)
    if hint is None:
        return STR, text
    if text in _EXACT:
        return _EXACT[text]
    if hint == ".":
        value = _go_parse_float(text)
        return (FLOAT, value) if value is not None else (STR, text)
    if hint in ("D", "S"):
        if _is_timestamp(text):
            return TIMESTAMP, text
        plain = text.replace("_", "")
        number = _go_parse_int(plain)
        if number is not None:
            return INT, number
        if _YAML_STYLE_FLOAT.fullmatch(plain):
            value = _go_parse_float(plain)
            if value is not None:
                return FLOAT, value
    return STR, text


def reads_as_string(text: str) -> bool:
    """True when go-yaml v2 (Helm) reads the plain scalar `text` as the string `text`."""
    kind, _ = resolve_plain(text)
    # A timestamp reaches Helm as its own text, but a typed reader would take it as a time.
    return kind == STR


def template_text(kind: str, value: object) -> str | None:
    """What `{{ .Values.x }}` prints for a value go-yaml resolved to (kind, value); None for null."""
    if kind == NULL:
        return None
    if kind == BOOL:
        return "true" if value else "false"
    if kind in (INT, FLOAT):
        return go_format_float(float(value))  # JSON made it a float64
    return str(value)


def go_format_float(value: float) -> str:
    """Go's `fmt.Sprint(float64)`: shortest digits, %e form when the exponent is < -4 or >= 6."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        return sign + "0"
    _, digit_tuple, exponent = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    point = len(digits) + exponent            # digits before the decimal point
    exp10 = point - 1
    if exp10 < -4 or exp10 >= 6:
        mantissa = digits[0] + (f".{digits[1:]}" if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def _is_timestamp(text: str) -> bool:
    # parseTimestamp's quick check: four digits and a dash first.
    if not re.match(r"\d{4}-", text):
        return False
    return any(pattern.fullmatch(text) and _valid_date(text) for pattern in _TIMESTAMPS)


def _valid_date(text: str) -> bool:
    year, month, day = (int(part) for part in re.match(r"(\d{4})-(\d{1,2})-(\d{1,2})", text).groups())
    if not 1 <= month <= 12:
        return False
    days = [31, 29 if (year % 4 == 0 and year % 100 != 0) or year % 400 == 0 else 28,
            31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    if not 1 <= day <= days:
        return False
    time_part = re.search(r"[Tt ](\d{1,2}):(\d{1,2}):(\d{1,2})", text)
    return time_part is None or (int(time_part[1]) < 24 and int(time_part[2]) < 60
                                 and int(time_part[3]) < 60)


def _go_parse_int(text: str) -> int | None:
    """strconv.ParseInt(text, 0, 64), else strconv.ParseUint(text, 0, 64); None when both fail."""
    signed = text[:1] in "+-" and text != ""
    body = text[1:] if signed else text
    negative = text.startswith("-")
    number = _go_parse_uint_base0(body)
    if number is None:
        return None
    if negative:
        number = -number
    if _INT64[0] <= number <= _INT64[1]:
        return number
    # ParseUint takes no sign and anything up to 2**64 - 1.
    return number if not signed and number <= _UINT64_MAX else None


def _go_parse_uint_base0(text: str) -> int | None:
    base, digits = 10, text
    if text[:1] == "0":
        prefix = text[1:2].lower()
        if len(text) >= 3 and prefix in ("b", "o", "x"):
            base, digits = {"b": 2, "o": 8, "x": 16}[prefix], text[2:]
        else:
            base, digits = 8, text[1:]
            if digits == "":
                return 0
    if digits == "" or any(c not in _DIGITS[base] for c in digits):
        return None
    return int(digits, base)


def _go_parse_float(text: str) -> float | None:
    """strconv.ParseFloat(text, 64) for the decimal forms go-yaml passes it; None on a syntax or
    range error (an overflow to infinity is an error in Go)."""
    if not _YAML_STYLE_FLOAT.fullmatch(text):
        return None
    value = float(text)
    return None if math.isinf(value) else value
