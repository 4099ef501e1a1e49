"""What a component declares about the requests its resources make at run time.

An `AccessPath` names the principal, the action, the resource and the request context AWS sends
with that call, whether the plan must allow it (`required`) or must deny it (`forbidden`), and a
sentence a reader understands. Principals and resources that the program creates are named by a
`Ref` to the planned resource (type and logical name), resolved against the plan when the path is
evaluated; everything else (an operator, another account, a cluster that exists already) is a
literal ARN. Paths are plain frozen data: a step or component can return them beside its
resources without knowing how they are evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Union

REQUIRED = "required"
FORBIDDEN = "forbidden"


@dataclass(frozen=True)
class Ref:
    """A planned resource's output (`arn` unless told), followed by `suffix`."""

    type: str
    name: str
    attribute: str = "arn"
    suffix: str = ""

    def __str__(self) -> str:
        return f"{self.name}{'.' + self.attribute if self.attribute != 'arn' else ''}{self.suffix}"

    def then(self, suffix: str) -> "Ref":
        return Ref(self.type, self.name, self.attribute, self.suffix + suffix)


Value = Union[str, Ref]


@dataclass(frozen=True)
class Role:
    """An IAM role the program creates: its identity policies are the plan's."""

    ref: Ref

    def __str__(self) -> str:
        return f"role {self.ref.name}"


@dataclass(frozen=True)
class Service:
    """An AWS service principal, e.g. "events.amazonaws.com"."""

    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class External:
    """A principal the program does not create (the operator running `pulumi up`, a principal of
    another account). Its identity policies are outside the plan and assumed to allow anything,
    so only the plan's resource, key and trust policies decide."""

    arn: str
    who: str

    def __str__(self) -> str:
        return self.who


@dataclass(frozen=True)
class Holder:
    """A principal the program does not create whose only identity policy is a managed policy of
    the plan: someone IAM Identity Center provisions with it (a permission set referencing it)."""

    policy: Ref
    arn: str
    who: str

    def __str__(self) -> str:
        return self.who


AnyPrincipal = Union[Role, Service, External, Holder]


@dataclass(frozen=True)
class AccessPath:
    principal: AnyPrincipal
    action: str
    resource: Value
    expect: str  # REQUIRED or FORBIDDEN
    description: str
    # Request context keys (documented for this call) -> value or values.
    context: Mapping[str, Union[Value, tuple[Value, ...]]] = field(default_factory=dict)


Context = Mapping[str, Union[Value, tuple[Value, ...]]]


def required(principal: AnyPrincipal, action: str, resource: Value, description: str,
             context: Context | None = None) -> AccessPath:
    return AccessPath(principal, action, resource, REQUIRED, description, dict(context or {}))


def forbidden(principal: AnyPrincipal, action: str, resource: Value, description: str,
              context: Context | None = None) -> AccessPath:
    return AccessPath(principal, action, resource, FORBIDDEN, description, dict(context or {}))
