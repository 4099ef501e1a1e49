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
import re
from dataclasses import dataclass
from pathlib import Path

from gitops.errors import UsageError


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
    return ApplicationSource(
        application=service,
        chart=chart_dir(service),
        value_files=(values_file(env, service), region_file(env, service, region)),
    )


# --- Every path of the repository layout, in one place ------------------------------------------
# Promote, status, show, schema, init, verify, revert, freeze, the Argo CD component and the
# pipeline triggers all name paths through these functions; nothing else spells them.

ENVS_DIR = "envs"
# A service or environment name, as the Pulumi program's settings accept it: a lowercase DNS label
# of at most 20 characters, starting with a letter (the names AWS resources derive from them must
# fit AWS's limits). `gitops init` holds new repositories to it.
NAME = re.compile(r"^[a-z]([a-z0-9-]{0,18}[a-z0-9])?$")
# What every command accepts as an environment or service: a DNS-1123 label, as Kubernetes and
# Argo CD accept the Application `<service>` the ApplicationSet makes of `envs/<env>/<service>`
# (and so also a directory name and a part of a branch name, promote/<env>/<service>).
LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
MAX_LABEL = 63
CHARTS_DIR = "charts"
VALUES_FILE = "values.yaml"
SCHEMA_FILE = "values.schema.json"
FREEZE_FILE = "freeze.yaml"
BLOCKLIST_FILE = "blocklist.yaml"
# Every environment's values file of every service, as a glob relative to the root.
VALUES_GLOB = f"{ENVS_DIR}/*/*/{VALUES_FILE}"
# Every environment's freeze file.
FREEZE_GLOB = f"{ENVS_DIR}/*/{FREEZE_FILE}"
# Every environment's block list (promote refuses a digest blocked in any of them).
BLOCKLIST_GLOB = f"{ENVS_DIR}/*/{BLOCKLIST_FILE}"


def env_dir(env: str) -> str:
    return f"{ENVS_DIR}/{env}"


def freeze_file(env: str) -> str:
    """The environment's deployment freezes and freeze windows (see gitops.governance.freeze).

    A file beside the service directories: the ApplicationSet's directories generator makes
    Applications of directories only, and no pipeline trigger matches it (they watch
    `envs/<env>/<service>/**`), so recording a freeze deploys nothing and starts no pipeline,
    while a CODEOWNERS rule on `envs/<env>/` still makes it reviewed like the environment's values.
    """
    return f"{env_dir(env)}/{FREEZE_FILE}"


def service_dir(env: str, service: str) -> str:
    return f"{ENVS_DIR}/{env}/{service}"


def values_file(env: str, service: str) -> str:
    return f"{service_dir(env, service)}/{VALUES_FILE}"


def region_file(env: str, service: str, region: str) -> str:
    return f"{service_dir(env, service)}/values-{region}.yaml"


def env_glob(env: str) -> str:
    """The directories the environment's ApplicationSet generates Applications from."""
    return f"{ENVS_DIR}/{env}/*"


def service_trigger_glob(env: str, service: str) -> str:
    """Every file of a service in an environment: what a pipeline triggered by it watches."""
    return f"{service_dir(env, service)}/**"


def chart_dir(service: str) -> str:
    return f"{CHARTS_DIR}/{service}"


def chart_values_file(service: str) -> str:
    return f"{chart_dir(service)}/{VALUES_FILE}"


def schema_file(service: str) -> str:
    return f"{chart_dir(service)}/{SCHEMA_FILE}"


def blocklist_file(env: str) -> str:
    """The environment's block list: a file, so the ApplicationSet's directory generator skips it,
    and outside every service directory, so no pipeline's path trigger fires on it."""
    return f"{env_dir(env)}/{BLOCKLIST_FILE}"


def revert_branch(env: str, service: str) -> str:
    """The branch a pull-request revert in ENV pushes to."""
    return f"revert/{env}/{service}"


def proposal_branch(env: str, service: str) -> str:
    """The branch a pull-request promotion into ENV pushes its proposal to."""
    return f"promote/{env}/{service}"


def is_label(name: str) -> bool:
    return len(name) <= MAX_LABEL and LABEL.fullmatch(name) is not None


def check_name(flag: str, name: str | None) -> None:
    """A name given with `flag` (an environment, service, region, application) is a DNS-1123 label."""
    if name is not None and not is_label(name):
        raise UsageError(f"{flag} {name!r} is not a DNS-1123 label (lowercase letters, digits and '-')")


def scope_of(path: str) -> tuple[str, str | None] | None:
    """The (environment, service) whose files `path` is: a service's directory, or (env, None) for
    a file directly in the environment's directory (its freeze file, block list); None outside
    every environment's directory."""
    parts = path.split("/")
    if len(parts) < 3 or parts[0] != ENVS_DIR:
        return None
    return parts[1], parts[2] if len(parts) > 3 else None


# "does not exist" errors list at most this many of the names that do.
_LISTED = 20


def missing(path: str, branch: str, kind: str, existing: list[str]) -> str:
    """`envs/prodd does not exist on main (environments: prod, staging)`: what a "does not exist"
    error says, with the `kind` of names (environments, services) that do exist."""
    names = sorted(existing)
    shown = ", ".join(names[:_LISTED]) + (f", … ({len(names)} in all)" if len(names) > _LISTED else "")
    return f"{path} does not exist on {branch} ({kind}: {shown or 'none'})"
