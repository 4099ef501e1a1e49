"""What the offline plan (`python -m offline.plan`) needs to know of this program besides running it.

The errors a user fixes outside the program (exit 2, one line) are `SettingsError` and
`ClusterError` (an existing cluster the program cannot use as it is); the access paths the plan evaluates are
`components.access_paths`. The program reads no other stack (no StackReference to answer).
"""

from __future__ import annotations

from components.access_paths import declared_paths
from components.argocd import ClusterError
from components.settings import SettingsError
from offline.mocks import PlanHooks

HOOKS = PlanHooks(settings_errors=(SettingsError, ClusterError), access_paths=declared_paths)
