"""The offline plan's hooks of this program: components.plan_hooks."""

from components.plan_hooks import HOOKS  # noqa: F401
