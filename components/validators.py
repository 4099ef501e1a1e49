"""Validators of stack settings: each checks one value and fails with a `SettingsError` naming the
key, the value and what is expected.

`components.settings` and `components.argocd_settings` read their sections with `Reader`, which
remembers the keys it used so unknown ones are rejected instead of silently ignored, and collects
the errors so a stack's settings are reported all at once (`SettingsError.messages`).
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import re
from pathlib import Path
from typing import Any, Callable, Mapping

from gitops.repo import layout

PROJECT = "delivery-pipeline"


def _regions(service: str, partition: str = "aws") -> frozenset[str]:
    """The partition's regions where `service` has an endpoint, from botocore's endpoint data
    rather than a list kept by hand: what `botocore.session.get_session().get_available_regions`
    answers, read from the data file without importing botocore's client machinery (a quarter of a
    second of every plan's start-up)."""
    spec = importlib.util.find_spec("botocore")
    assert spec is not None and spec.origin is not None, "botocore is a pinned requirement"
    data = json.loads((Path(spec.origin).parent / "data" / "endpoints.json").read_text())
    for entry in data["partitions"]:
        if entry["partition"] == partition and service in entry["services"]:
            return frozenset(name for name in entry["services"][service]["endpoints"] if name in entry["regions"])
    return frozenset()


AWS_REGIONS: frozenset[str] = _regions("codepipeline")

ACCOUNT = re.compile(r"^\d{12}$")
DNS_LABEL = layout.NAME
REPO_ID = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
BRANCH = re.compile(r"^(?!/|.*//|.*\.\.|.*/$|.*\.lock$)[A-Za-z0-9._/-]{1,255}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
CONNECTION_ARN = re.compile(
    r"^arn:aws:(codestar-connections|codeconnections):(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"connection/[0-9a-f-]{36}$"
)
SECRET_ARN = re.compile(
    r"^arn:aws:secretsmanager:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$"
)
# A key by its ARN (not an alias: a key policy or IAM statement names the key itself); `mrk-` keys
# are multi-Region keys.
KMS_KEY_ARN = re.compile(
    r"^arn:aws:kms:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):key/(mrk-[0-9a-f]{32}|[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12})$"
)
ROLE_ARN = re.compile(r"^arn:aws:iam::(?P<account>\d{12}):role/[A-Za-z0-9+=,.@_/-]{1,512}$")
CLUSTER = re.compile(r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")
HTTPS_URL = re.compile(r"^https://[A-Za-z0-9.-]+(:\d+)?/[^\s]+$")
TAG_KEY = re.compile(r"^(?!aws:)[\w .:/=+@-]{1,128}$")


class SettingsError(ValueError):
    """Stack settings are missing or wrong. Each message is one line naming the key, the value and
    the fix; `messages` holds every error found in the stack's settings, `str()` shows one per line."""

    def __init__(self, *messages: str):
        super().__init__("\n".join(messages))
        self.messages: tuple[str, ...] = messages


def fail(key: str, value: Any, expected: str, namespace: str = PROJECT) -> SettingsError:
    shown = json.dumps(value) if not isinstance(value, str) else repr(value)
    return SettingsError(f"{namespace}:{key} = {shown}: expected {expected}")


class _Invalid:
    """What `Reader.get` returns for a value that failed (its error is collected). Falsy, so a
    check that depends on it (`arn_in(account=...)`, `if auto_merge and ...`) is skipped rather
    than reported as a second, derived error."""

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "<invalid>"


INVALID: Any = _Invalid()


class Errors:
    """The settings errors of one stack, collected so that all of them are reported at once."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, error: SettingsError) -> None:
        self.messages.extend(error.messages)

    def checked(self, check: Callable[[str, Any], Any], key: str, value: Any) -> Any:
        """`check(key, value)`, or INVALID with its error collected."""
        try:
            return check(key, value)
        except SettingsError as error:
            self.add(error)
            return INVALID

    def raise_any(self) -> None:
        if self.messages:
            raise SettingsError(*self.messages)


def _missing(key: str) -> str:
    return f"{PROJECT}:{key} is missing: set it in Pulumi.<stack>.yaml (see docs/guide/settings.md)"


class Reader:
    """Reads one mapping of settings, remembering which keys were used so leftovers are rejected.

    Errors are collected, not raised: a `Reader` made without `errors` owns a collection and its
    `finish()` raises everything found by it and by its sections; a `Reader` given `errors` (a
    section, or a reader inside a larger parse) adds to them. A missing key is reported at
    `finish()`, so that a misspelled key beside it (`acount`) is reported once, as the typo it is.
    """

    def __init__(self, prefix: str, data: Mapping[str, Any], errors: Errors | None = None):
        self.prefix = prefix
        self.data = data
        self.used: set[str] = set()
        self.missing: list[str] = []
        self.owns_errors = errors is None
        self.errors = Errors() if errors is None else errors

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def get(self, name: str, check: Callable[[str, Any], Any], default: Any = ...) -> Any:
        self.used.add(name)
        if name not in self.data or self.data[name] is None:
            if default is ...:
                self.missing.append(name)
                return INVALID
            return default
        if self.data[name] is INVALID:  # already reported where it was decoded
            return INVALID
        return self.errors.checked(check, self.key(name), self.data[name])

    def section(self, name: str, required: bool = True) -> "Reader":
        """The mapping under `name`. When it is missing or not a mapping, the error is collected and
        the section reads as empty, its own missing keys unreported (they follow from this one)."""
        self.used.add(name)
        value = self.data.get(name)
        if value is None and not required:
            value = {}
        if value is None:
            self.missing.append(name)
            return Reader(self.key(name), {}, Errors())
        if not isinstance(value, Mapping):
            self.errors.add(fail(self.key(name), value, "a mapping of settings"))
            return Reader(self.key(name), {}, Errors())
        return Reader(self.key(name), value, self.errors)

    def finish(self) -> None:
        missing = list(self.missing)
        for name in sorted(map(str, set(self.data) - self.used)):
            # A typo of a key this mapping reads: name the intended key, and do not also report
            # that key as missing.
            hint = (difflib.get_close_matches(name, missing, n=1)
                    or difflib.get_close_matches(name, sorted(self.used), n=1))
            if hint:
                if hint[0] in missing:
                    missing.remove(hint[0])
                self.errors.add(SettingsError(
                    f"{PROJECT}:{self.key(name)} is not a known setting: did you mean {self.key(hint[0])}?"))
            else:
                known = ", ".join(sorted(self.used))
                self.errors.add(SettingsError(f"{PROJECT}:{self.key(name)} is not a known setting (known here: {known})"))
        for name in missing:
            self.errors.add(SettingsError(_missing(self.key(name))))
        if self.owns_errors:
            self.errors.raise_any()


def pattern(regex: re.Pattern[str], expected: str) -> Callable[[str, Any], str]:
    def check(key: str, value: Any) -> str:
        if not isinstance(value, str) or not regex.match(value):
            raise fail(key, value, expected)
        return value

    return check


account = pattern(ACCOUNT, 'a 12-digit AWS account id in quotes, e.g. "111111111111"')
dns_name = pattern(DNS_LABEL, "a lowercase DNS label: a-z, 0-9 and '-', starting with a letter, at most 20 (names of derived resources must fit AWS limits)")
branch = pattern(BRANCH, "a git branch name such as main")


def region(key: str, value: Any) -> str:
    if value not in AWS_REGIONS:
        raise fail(key, value, "an AWS region name such as us-east-1 (the aws partition)")
    return value


def text(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise fail(key, value, "a non-empty string")
    return value


def boolean(key: str, value: Any) -> bool:
    # Pulumi config stores scalars set with `pulumi config set` as strings.
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise fail(key, value, "true or false")


def one_of(options: tuple[str, ...]) -> Callable[[str, Any], str]:
    def check(key: str, value: Any) -> str:
        if value not in options:
            raise fail(key, value, "one of " + ", ".join(options))
        return value

    return check


def list_of(item: Callable[[str, Any], Any], *, non_empty: bool = False) -> Callable[[str, Any], tuple]:
    def check(key: str, value: Any) -> tuple:
        if not isinstance(value, list) or (non_empty and not value):
            raise fail(key, value, "a non-empty list" if non_empty else "a list")
        errors = Errors()
        # An item already reported where it was read (INVALID) is not judged again.
        items = tuple(v if v is INVALID else errors.checked(item, f"{key}[{i}]", v) for i, v in enumerate(value))
        errors.raise_any()
        if len(set(map(str, items))) != len(items):
            raise fail(key, value, "a list without duplicates")
        return items

    return check


def email(key: str, value: Any) -> str:
    if not isinstance(value, str) or not EMAIL.match(value):
        raise fail(key, value, "an e-mail address such as oncall@example.com")
    return value


def path_filter(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value or value.startswith("/") or ".." in value.split("/"):
        raise fail(key, value, "a repository-relative glob such as services/api/**")
    return value


def tags(built_in: tuple[str, ...]) -> Callable[[str, Any], dict[str, str]]:
    """A mapping of user tags, none of them named like one of the `built_in` tags the stack sets
    itself. AWS compares tag keys case-sensitively, so `Environment` would be a second tag beside
    `environment`; it is refused too, because tag policies and cost reports that match keys
    case-insensitively would read the two as one."""
    reserved = {name.lower() for name in built_in}

    def check(key: str, value: Any) -> dict[str, str]:
        if not isinstance(value, Mapping):
            raise fail(key, value, "a mapping of tag names to string values")
        errors = Errors()
        for name, tag_value in value.items():
            if not isinstance(name, str) or not TAG_KEY.match(name):
                errors.add(fail(f"{key}.{name}", tag_value, "a tag name of 1-128 characters not starting with aws:"))
            elif name.lower() in reserved:
                errors.add(fail(f"{key}.{name}", tag_value,
                                f"a tag name other than the stack's own {', '.join(built_in)} (compared "
                                f"case-insensitively), which the stack sets itself: rename or remove it"))
            elif not isinstance(tag_value, str) or len(tag_value) > 256:
                errors.add(fail(f"{key}.{name}", tag_value, "a string of at most 256 characters"))
        errors.raise_any()
        return dict(value)

    return check


def arn_region(arn: str) -> str:
    """arn:<partition>:<service>:<region>:<account>:<resource> -> <region>."""
    return arn.split(":")[3]


def arn_in(regex: re.Pattern[str], expected: str, *, account: str | None = None,
            region: str | None = None, where: str = "") -> Callable[[str, Any], str]:
    def check(key: str, value: Any) -> str:
        match = regex.match(value) if isinstance(value, str) else None
        if not match:
            raise fail(key, value, expected)
        if account and match.group("account") != account:
            raise fail(key, value, f"an ARN in account {account} ({where})")
        if region and match.group("region") != region:
            raise fail(key, value, f"an ARN in region {region} ({where})")
        return value

    return check


# An IAM user or role named exactly: no wildcard, no account root (which would trust every
# principal of that account its administrators allow).
IAM_PRINCIPAL_ARN = re.compile(r"^arn:aws:iam::(?P<account>\d{12}):(?P<kind>user|role)/[A-Za-z0-9+=,.@_/-]{1,512}$")
# IAM Identity Center's format (sso-admin's PermissionSetArn shape), in the aws partition.
PERMISSION_SET_ARN = re.compile(r"^arn:aws:sso:::permissionSet/(?P<instance>(sso)?ins-[A-Za-z0-9.-]{16})/ps-[A-Za-z0-9./-]{16}$")
# CloudWatch takes 255 characters; a stack with many pipelines adds `-<page>` (components.monitoring).
DASHBOARD_NAME = re.compile(r"^[A-Za-z0-9_-]{1,250}$")


def integer_in(allowed: tuple[int, ...]) -> Callable[[str, Any], int]:
    """One of a fixed set of whole numbers (e.g. the retention periods CloudWatch Logs accepts)."""
    def check(key: str, value: Any) -> int:
        number = int(value) if isinstance(value, str) and value.isdigit() else value
        if not isinstance(number, int) or isinstance(number, bool) or number not in allowed:
            raise fail(key, value, "one of " + ", ".join(map(str, allowed)))
        return number

    return check


def integer(minimum: int, maximum: int) -> Callable[[str, Any], int]:
    def check(key: str, value: Any) -> int:
        # Pulumi config stores scalars set with `pulumi config set` as strings.
        number = int(value) if isinstance(value, str) and value.isdigit() else value
        if not isinstance(number, int) or isinstance(number, bool) or not minimum <= number <= maximum:
            raise fail(key, value, f"a whole number from {minimum} to {maximum}")
        return number

    return check
