"""Where Argo CD finds a service's chart and values in the GitOps repository.

The rule, mirrored by the ApplicationSet the Pulumi program installs on each cluster (env, region):

* one Application per directory ``envs/<env>/<service>``, named ``<service>``;
* Helm chart ``charts/<service>``;
* value files, in merge order: ``envs/<env>/<service>/values.yaml``, then
  ``envs/<env>/<service>/values-<region>.yaml``; a missing file is skipped
  (``helm.ignoreMissingValueFiles: true``).

Argo CD resolves ``helm.valueFiles`` relative to the chart directory, hence ``helm_value_files``.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ApplicationSource:
    application: str
    chart: str
    value_files: tuple[str, ...]  # repository-relative, in the order Helm merges them

    @property
    def helm_value_files(self) -> tuple[str, ...]:
        """The value files as the Application's ``spec.source.helm.valueFiles`` names them."""
        return tuple(posixpath.relpath(path, self.chart) for path in self.value_files)

    def present_value_files(self, repo_root: Path) -> tuple[str, ...]:
        """The value files that exist in a checkout: what Helm really merges there."""
        return tuple(path for path in self.value_files if (repo_root / path).is_file())


def application_source(env: str, region: str, service: str) -> ApplicationSource:
    env_dir = f"envs/{env}/{service}"
    return ApplicationSource(
        application=service,
        chart=f"charts/{service}",
        value_files=(f"{env_dir}/values.yaml", f"{env_dir}/values-{region}.yaml"),
    )
