"""What the offline plan (`python -m offline.plan`) needs to know of this program besides running it.

The errors a user fixes outside the program (exit 2, one line) are `SettingsError` and
`ClusterError` (an existing cluster the program cannot use as it is); the access paths the plan
evaluates are `policy.access.declared`. The program reads no other stack (no StackReference to answer).
"""

from components.argocd import ClusterError
from components.settings import SettingsError
from offline.mocks import PlanHooks
from policy.access.declared import declared_paths

HOOKS = PlanHooks(settings_errors=(SettingsError, ClusterError), access_paths=declared_paths)
