"""`python -m gitops init`: create a GitOps repository for a set of services from the template.

The result is what the ApplicationSets and the pipelines expect (see gitops/repo/layout.py):

    README.md
    charts/<service>/...                        the template's sample chart, renamed
    envs/<env>/<service>/values.yaml            the template's env values, image.repository set
    envs/<env>/<service>/values-<region>.yaml   an empty override per region given with --regions

An environment the template has no values for (it has staging and prod) starts from staging's.
The repository is built and committed in a temporary directory beside the target and moved into
place only when complete, so a failure leaves nothing half written.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from gitops.repo import layout
from gitops.errors import UsageError
from gitops.clients.git import GitRunner
from gitops.clients.revisions import HistoryClient
from gitops.repo.layout import application_source
from gitops.clients.push import DEFAULT_AUTHOR
from gitops.repo.schema import validate_stack

TEMPLATE = Path(__file__).parent / "template"
SAMPLE = "sample"  # the template's service name, replaced by each service's
BRANCH = "main"
# host[:port][/path], lowercase path components: what goes before "/<service>" in an image name.
_REGISTRY = re.compile(r"^[A-Za-z0-9.-]+(:\d+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*$")
_SAMPLE_WORD = re.compile(rf"\b{SAMPLE}\b")


@dataclass(frozen=True)
class Plan:
    services: tuple[str, ...]
    envs: tuple[str, ...]
    regions: dict[str, tuple[str, ...]]  # env -> regions with an override file
    image_registry: str | None


def names(text: str, what: str) -> tuple[str, ...]:
    """Service or environment names, held to the rule the stack settings apply (layout.NAME)."""
    found = tuple(part.strip() for part in text.split(","))
    for name in found:
        if not layout.NAME.match(name):
            raise UsageError(f"{what} {name!r} is not a name the stack settings accept: lowercase "
                             "letters, digits and '-', starting with a letter, ending alphanumeric, "
                             "at most 20 characters (the AWS names derived from it must fit)")
    duplicates = sorted({n for n in found if found.count(n) > 1})
    if duplicates:
        raise UsageError(f"{what} listed twice: {', '.join(duplicates)}")
    return found


def aws_regions() -> frozenset[str]:
    """The aws partition's regions, from botocore's endpoint data (as the stack settings read them)."""
    import botocore.session

    return frozenset(botocore.session.get_session().get_available_regions("codepipeline",
                                                                          partition_name="aws"))


def parse_regions(specs: list[str], envs: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    regions: dict[str, tuple[str, ...]] = {}
    known = aws_regions() if specs else frozenset()
    for spec in specs:
        env, sep, listed = spec.partition("=")
        if not sep or not listed:
            raise UsageError(f"--regions {spec!r}: write ENV=REGION[,REGION…], e.g. "
                             "prod=us-east-1,eu-west-1")
        if env not in envs:
            raise UsageError(f"--regions {spec!r}: environment {env!r} is not in --envs "
                             f"({','.join(envs)})")
        if env in regions:
            raise UsageError(f"--regions given twice for {env}; list its regions once")
        parsed = tuple(part.strip() for part in listed.split(","))
        bad = [r for r in parsed if r not in known]
        if bad:
            raise UsageError(f"--regions {spec!r}: {', '.join(bad)} is not an AWS region of the aws "
                             "partition (like eu-west-1)")
        duplicates = sorted({r for r in parsed if parsed.count(r) > 1})
        if duplicates:
            raise UsageError(f"--regions {spec!r}: {', '.join(duplicates)} listed twice")
        regions[env] = parsed
    return regions


def make_plan(*, services: str, envs: str, regions: list[str],
              image_registry: str | None) -> Plan:
    """The plan of a repository from the command line's text: comma-separated service and
    environment names, `ENV=REGION[,REGION…]` specs, and the images' registry (and path)."""
    env_names = names(envs, "environment")
    registry = image_registry.rstrip("/") if image_registry else None
    if registry is not None and not _REGISTRY.match(registry):
        raise UsageError(f"--image-registry {image_registry!r} is not a registry host with "
                         "an optional path (like 111111111111.dkr.ecr.us-east-1.amazonaws.com/app); "
                         "no scheme, tag or digest")
    return Plan(services=names(services, "service"), envs=env_names,
                regions=parse_regions(regions, env_names), image_registry=registry)


def _rename_sample(text: str, service: str) -> str:
    return _SAMPLE_WORD.sub(service, text)


def _env_values(env: str, service: str, repository: str) -> str:
    source = TEMPLATE / layout.values_file(env, SAMPLE)
    if not source.is_file():
        source = TEMPLATE / layout.values_file("staging", SAMPLE)
    yaml = YAML()  # round trip: the template's comments and quoting stay
    yaml.preserve_quotes = True
    data: Any = yaml.load(_rename_sample(source.read_text(encoding="utf-8"), service))
    data["image"]["repository"] = repository
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def _region_values(env: str, region: str, service: str) -> str:
    return (f"# {service} in {env}, {region} only: Argo CD applies this file after values.yaml.\n"
            "# Keep it partial (only what differs in this region) and never set image.* here, or\n"
            "# promotions, which edit values.yaml, would not reach this region.\n")


def write_repository(plan: Plan, root: Path) -> list[str]:
    """Write the repository's files under `root`; return their paths, sorted."""
    files: dict[str, str] = {"README.md": (TEMPLATE / "README.md").read_text(encoding="utf-8")}
    chart = TEMPLATE / layout.chart_dir(SAMPLE)
    for service in plan.services:
        for path in sorted(p for p in chart.rglob("*") if p.is_file()):
            relative = path.relative_to(chart).as_posix()
            files[f"{layout.chart_dir(service)}/{relative}"] = _rename_sample(
                path.read_text(encoding="utf-8"), service)
        repository = f"{plan.image_registry}/{service}" if plan.image_registry else service
        for env in plan.envs:
            files[layout.values_file(env, service)] = _env_values(env, service, repository)
            for region in plan.regions.get(env, ()):
                files[layout.region_file(env, service, region)] = _region_values(
                    env, region, service)
    for relative, text in files.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    # What Argo CD will render for every cluster must pass the charts' schemas.
    for service in plan.services:
        for env in plan.envs:
            validate_stack(root, service, [layout.values_file(env, service)])
            for region in plan.regions.get(env, ()):
                source = application_source(env, region, service)
                validate_stack(root, service, source.present_value_files(root))
    return sorted(files)


def init_repository(plan: Plan, path: Path, git: HistoryClient | None = None
                    ) -> tuple[str, list[str]]:
    """Create the repository at `path` (absent or an empty directory, or a symlink to an empty
    directory, which is where it is created); return (commit, files)."""
    given = path
    if path.is_symlink():
        if not path.exists():
            raise UsageError(f"{given} is a symlink to {os.readlink(path)}, which does not exist; give "
                             "a new path or an empty directory")
        path = path.resolve()
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise UsageError(f"{given} exists and is not an empty directory; give a new path")
    path.parent.mkdir(parents=True, exist_ok=True)
    git = git or HistoryClient(GitRunner())
    work = Path(tempfile.mkdtemp(prefix=f".{path.name}.init-", dir=path.parent))
    try:
        files = write_repository(plan, work)
        git.init(work, BRANCH)
        git.add(work, files)  # `commit` commits tracked paths; these files are new
        commit = git.commit(work, files, _commit_message(plan), DEFAULT_AUTHOR)
        # rename() replaces an empty directory atomically; the repository appears whole or not at all
        os.rename(work, path)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return commit, files


def _commit_message(plan: Plan) -> str:
    return (f"Create GitOps repository for {', '.join(plan.services)}\n\n"
            f"Environments: {', '.join(plan.envs)}. Created by `python -m gitops init` from the "
            "delivery-pipeline template.\n")
