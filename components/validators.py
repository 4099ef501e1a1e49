"""Validators of stack settings: each checks one value and fails with a `SettingsError` naming the
key, the value and what is expected.

`components.settings` and `components.argocd_settings` read their sections with `Reader`, which
remembers the keys it used so unknown ones are rejected instead of silently ignored.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable, Mapping

import botocore.session

PROJECT = "delivery-pipeline"

# The `aws` partition's regions, from botocore's endpoint data rather than a list kept by hand.
AWS_REGIONS: frozenset[str] = frozenset(
    botocore.session.get_session().get_available_regions("codepipeline", partition_name="aws")
)

ACCOUNT = re.compile(r"^\d{12}$")
DNS_LABEL = re.compile(r"^[a-z]([a-z0-9-]{0,18}[a-z0-9])?$")
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
ROLE_ARN = re.compile(r"^arn:aws:iam::(?P<account>\d{12}):role/[A-Za-z0-9+=,.@_/-]{1,512}$")
STACK_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
CLUSTER = re.compile(r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")
HTTPS_URL = re.compile(r"^https://[A-Za-z0-9.-]+(:\d+)?/[^\s]+$")
TAG_KEY = re.compile(r"^(?!aws:)[\w .:/=+@-]{1,128}$")


class SettingsError(ValueError):
    """A stack setting is missing or wrong. The message names the key, the value and the fix."""


def fail(key: str, value: Any, expected: str) -> SettingsError:
    shown = json.dumps(value) if not isinstance(value, str) else repr(value)
    return SettingsError(f"{PROJECT}:{key} = {shown}: expected {expected}")


class Reader:
    """Reads one mapping of settings, remembering which keys were used so leftovers are rejected."""

    def __init__(self, prefix: str, data: Mapping[str, Any]):
        self.prefix = prefix
        self.data = data
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def get(self, name: str, check: Callable[[str, Any], Any], default: Any = ...) -> Any:
        self.used.add(name)
        if name not in self.data or self.data[name] is None:
            if default is ...:
                raise SettingsError(f"{PROJECT}:{self.key(name)} is missing: set it in Pulumi.<stack>.yaml "
                                    f"(see the README's settings table)")
            return default
        return check(self.key(name), self.data[name])

    def section(self, name: str, required: bool = True) -> "Reader":
        self.used.add(name)
        value = self.data.get(name)
        if value is None and not required:
            value = {}
        if value is None:
            raise SettingsError(f"{PROJECT}:{self.key(name)} is missing: set it in Pulumi.<stack>.yaml")
        if not isinstance(value, Mapping):
            raise fail(self.key(name), value, "a mapping of settings")
        return Reader(self.key(name), value)

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            known = ", ".join(sorted(self.used))
            raise SettingsError(
                f"{PROJECT}:{self.key(unknown[0])} is not a known setting (known here: {known})"
            )


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
        items = tuple(item(f"{key}[{i}]", v) for i, v in enumerate(value))
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


def tags(key: str, value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise fail(key, value, "a mapping of tag names to string values")
    for name, tag_value in value.items():
        if not isinstance(name, str) or not TAG_KEY.match(name):
            raise fail(f"{key}.{name}", tag_value, "a tag name of 1-128 characters not starting with aws:")
        if not isinstance(tag_value, str) or len(tag_value) > 256:
            raise fail(f"{key}.{name}", tag_value, "a string of at most 256 characters")
    return dict(value)


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
DASHBOARD_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


def integer(minimum: int, maximum: int) -> Callable[[str, Any], int]:
    def check(key: str, value: Any) -> int:
        # Pulumi config stores scalars set with `pulumi config set` as strings.
        number = int(value) if isinstance(value, str) and value.isdigit() else value
        if not isinstance(number, int) or isinstance(number, bool) or not minimum <= number <= maximum:
            raise fail(key, value, f"a whole number from {minimum} to {maximum}")
        return number

    return check
