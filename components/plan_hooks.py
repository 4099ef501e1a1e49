"""What the offline plan (`python -m offline.plan`) needs to know of this program besides running it.

The program's settings errors are `SettingsError`; the registry stack a promoting stack reads
through a StackReference exports `ecrRepositoryUrls` and `ecrRepositoryArns` (service -> value), as
`ContainerRegistry` names them: repositories `<app>/<service>` in the tooling account's home region.
The access paths the plan evaluates are `components.access_paths`.
"""

from __future__ import annotations

from typing import Any, Mapping

from components.access_paths import declared_paths
from components.settings import SettingsError, from_config
from offline.mocks import PlanHooks, ecr_repository_url


def registry_outputs(stack_name: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """The outputs of the stack owning the ECR repositories, for the services of this stack."""
    settings = from_config(config)
    account, region, names = settings.tooling_account, settings.home_region, settings.names
    services = [service.name for service in settings.services]
    return {
        "ecrRepositoryUrls": {s: ecr_repository_url(account, region, names.repository(s)) for s in services},
        "ecrRepositoryArns": {s: names.repository_arn(region, account, s) for s in services},
    }


HOOKS = PlanHooks(stack_reference_outputs=registry_outputs, settings_errors=(SettingsError,),
                  access_paths=declared_paths)
