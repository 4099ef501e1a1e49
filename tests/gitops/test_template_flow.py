"""Walk-through: a repository made by `gitops init`, served by the smart-HTTP git server, promoted
to staging (commit) and then from staging to prod (pull request on the fake GitHub, merged), and
read back the way each cluster's ApplicationSet reads it: chart `charts/<service>`, then
`envs/<env>/<service>/values.yaml`, then `values-<region>.yaml` when present. Then verify, as the
pipelines run it, against Argo CD Applications that report the commits git really has."""

from __future__ import annotations

import json
import posixpath
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from gitops.cli import main
from gitops.repo.layout import application_source
from gitops.repo.schema import coalesce, validate_stack
from sandbox.github_api import FakeGitHub
from sandbox.kube_api import Moment, application, pods_of
from tests.gitops.verification.conftest import cluster  # noqa: F401 (fixture)
from tests.gitops.verification.verify_env import CLUSTER, REGION, Cluster

REGISTRY = "111111111111.dkr.ecr.us-east-1.amazonaws.com/shop"
DIGEST = "sha256:" + "c3" * 32
REGIONS = {"staging": ("us-east-1",), "prod": ("us-east-1", "eu-west-1")}


def git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def rendered_values(checkout: Path, env: str, region: str, service: str) -> dict:
    """What Helm gets on the (env, region) cluster: chart defaults, then the value files."""
    source = application_source(env, region, service)
    values = YAML(typ="safe").load((checkout / source.chart / "values.yaml").read_text())
    for path in source.present_value_files(checkout):
        values = coalesce(values, YAML(typ="safe").load((checkout / path).read_text()) or {})
    return values


def test_init_promote_staging_then_prod_feeds_argo_cd_the_right_files(
        tmp_path: Path, git_server, token_env: str, capsys: pytest.CaptureFixture[str],
        cluster: Cluster) -> None:
    # 1. a new GitOps repository, published as acme/flow on the git server
    made = tmp_path / "made"
    cli(capsys, "init", "--path", str(made), "--services", "api,web", "--regions",
        "prod=us-east-1,eu-west-1", "--image-registry", REGISTRY, "--output", "json")
    bare = git_server.root / "acme" / "flow.git"
    git("clone", "--quiet", "--bare", str(made), str(bare))
    git("--git-dir", str(bare), "config", "uploadpack.allowFilter", "true")
    url = git_server.url("acme/flow")

    # 2. staging: the build's tag and digest, committed to main
    staged = cli(capsys, "promote", "--repo", url, "--env", "staging", "--service", "api",
                 "--tag", "3f2a9c1", "--digest", DIGEST, "--token-env", token_env,
                 "--output", "json")
    assert staged["commit"] == git("--git-dir", str(bare), "rev-parse", "main")

    # 3. prod: what staging runs, as a pull request, then merged by a reviewer
    with FakeGitHub(token=git_server.token) as github:
        repo = github.add_repo("acme/flow")
        # staging's pipeline verified it (the proof prod's promotion needs), as verify reports it
        repo.statuses[staged["commit"]] = [{
            "id": 1, "sha": staged["commit"], "state": "success", "context": f"delivery/staging/{REGION}",
            "description": "api 3f2a9c1: verified", "target_url": None,
            "created_at": "2026-01-02T11:00:00Z", "updated_at": "2026-01-02T11:00:00Z"}]
        proposed = cli(capsys, "promote", "--repo", url, "--env", "prod", "--service", "api",
                       "--from", "staging", "--mode", "pull-request", "--token-env", token_env,
                       "--github-api-url", github.api_url, "--output", "json")
        head = git("--git-dir", str(bare), "rev-parse", "promote/prod/api")
        assert proposed["commit"] == head
        assert git("--git-dir", str(bare), "rev-parse", "main") == staged["commit"]  # not yet
        git("--git-dir", str(bare), "update-ref", "refs/heads/main", head, staged["commit"])
        github.merge(repo, proposed["pr_number"], merge_commit_sha=head)

        # 4. verify as the pipelines do. Argo CD now runs main's head everywhere: for staging
        # that is a later commit keeping the staging files (found with git); for prod it is the
        # PR's merge commit, whose image is the one its body says was approved.
        verify = ["verify", "--region", REGION, "--service", "api", "--cluster", CLUSTER,
                  "--role-arn", cluster.role_arn, "--repo", url, "--token-env", token_env,
                  "--github-api-url", github.api_url, "--output", "json"]
        cluster.kube.script("argocd", "api", [Moment.running(
            application(revision=head, repo_url=url),
            pods_of("Deployment", "api", [DIGEST, DIGEST], repository=f"{REGISTRY}/api"))])
        on_staging = cli(capsys, *verify, "--env", "staging", "--revision", staged["commit"])
        assert (on_staging["revision"], on_staging["synced_revision"]) == (staged["commit"], head)
        on_prod = cli(capsys, *verify, "--env", "prod", "--revision", head)
        assert (on_prod["revision"], on_prod["synced_revision"]) == (head, head)
        assert (on_prod["digest"], on_prod["ready_pods"], on_prod["reported"]) == (DIGEST, 2, True)
        assert [s["state"] for s in repo.statuses[head]] == ["pending", "success"]

    # 5. what each cluster's ApplicationSet feeds Argo CD from main
    checkout = tmp_path / "checkout"
    git("clone", "--quiet", str(bare), str(checkout))
    for env, regions in REGIONS.items():
        for region in regions:
            for service in ("api", "web"):
                source = application_source(env, region, service)
                assert source.application == service
                assert (checkout / source.chart / "Chart.yaml").is_file()
                files = source.present_value_files(checkout)
                expected = [f"envs/{env}/{service}/values.yaml"]
                if env == "prod":
                    expected.append(f"envs/prod/{service}/values-{region}.yaml")
                assert list(files) == expected
                # Argo CD resolves helm.valueFiles against the chart directory
                for relative, path in zip(source.helm_value_files, source.value_files):
                    assert posixpath.normpath(posixpath.join(source.chart, relative)) == path
                validate_stack(checkout, service, files)
                image = rendered_values(checkout, env, region, service)["image"]
                assert image["repository"] == f"{REGISTRY}/{service}"
                if service == "api":  # promoted in both environments, every region gets it
                    assert (image["tag"], image["digest"]) == ("3f2a9c1", DIGEST)
                else:                 # untouched by the promotions
                    assert (image["tag"], image["digest"]) == ("0.1.0", "")
    # the promotions changed exactly the two env files
    changed = git("diff", "--name-only", git("rev-list", "--max-parents=0", "HEAD", cwd=checkout),
                  "HEAD", cwd=checkout).split()
    assert changed == ["envs/prod/api/values.yaml", "envs/staging/api/values.yaml"]
