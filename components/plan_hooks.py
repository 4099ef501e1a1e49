"""What the offline plan (`python -m offline.plan`) needs to know of this program besides running it.

The program's settings errors are `SettingsError`; the access paths the plan evaluates are
`components.access_paths`. The program reads no other stack (no StackReference to answer).
"""

from __future__ import annotations

from components.access_paths import declared_paths
from components.settings import SettingsError
from offline.mocks import PlanHooks

HOOKS = PlanHooks(settings_errors=(SettingsError,), access_paths=declared_paths)
