"""gitops init: a new GitOps repository from the template, committed, valid against its schemas."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from gitops.cli import main
from gitops.errors import GitError, UsageError
from gitops.clients.git import GitRunner
from gitops.clients.revisions import HistoryClient
from gitops.repo.scaffold import Plan, init_repository
from gitops.repo.layout import application_source
from gitops.repo.schema import validate_stack
from gitops.repo.values import read_image

REGISTRY = "111111111111.dkr.ecr.us-east-1.amazonaws.com/shop"
CHART_FILES = ["Chart.yaml", "templates/_helpers.tpl", "templates/deployment.yaml",
               "templates/rollout.yaml", "templates/service-preview.yaml",
               "templates/service.yaml", "values.schema.json", "values.yaml"]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout


def run_init(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["init", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_creates_exactly_the_layout_and_commits_it(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "gitops"
    code, out, _ = run_init("--path", str(target), "--services", "api,web",
                            "--regions", "prod=us-east-1,eu-west-1",
                            "--image-registry", REGISTRY + "/", "--output", "json", capsys=capsys)
    assert code == 0
    report = json.loads(out)
    expected = sorted(
        ["README.md"]
        + [f"charts/{svc}/{name}" for svc in ("api", "web") for name in CHART_FILES]
        + [f"envs/{env}/{svc}/values.yaml" for env in ("staging", "prod") for svc in ("api", "web")]
        + [f"envs/prod/{svc}/values-{region}.yaml" for svc in ("api", "web")
           for region in ("us-east-1", "eu-west-1")])
    on_disk = sorted(p.relative_to(target).as_posix() for p in target.rglob("*")
                     if p.is_file() and ".git" not in p.relative_to(target).parts)
    assert report["files"] == expected == on_disk
    # one commit on main holding exactly those files, and nothing left uncommitted
    assert git(target, "rev-parse", "HEAD").strip() == report["commit"]
    assert git(target, "symbolic-ref", "--short", "HEAD").strip() == "main"
    assert git(target, "rev-list", "--count", "HEAD").strip() == "1"
    assert sorted(git(target, "ls-files").split()) == expected
    assert git(target, "status", "--porcelain") == ""
    assert not [p for p in tmp_path.iterdir() if p.name != "gitops"]  # no temporary directory left


def test_values_validate_and_name_each_service_image(tmp_path: Path) -> None:
    plan = Plan(services=("api", "web"), envs=("staging", "prod"),
                regions={"prod": ("eu-west-1",)}, image_registry=REGISTRY)
    init_repository(plan, tmp_path / "repo")
    repo = tmp_path / "repo"
    for svc in plan.services:
        for env in plan.envs:
            image = read_image(repo / f"envs/{env}/{svc}/values.yaml")  # what promote reads
            assert image.repository == f"{REGISTRY}/{svc}"
            assert image.tag == "0.1.0" and not image.digest  # placeholder until the first promote
            source = application_source(env, "eu-west-1", svc)
            validate_stack(repo, svc, source.present_value_files(repo))
    assert application_source("prod", "eu-west-1", "api").present_value_files(repo) == (
        "envs/prod/api/values.yaml", "envs/prod/api/values-eu-west-1.yaml")
    # prod starts from the template's prod values, which differ from staging's
    assert "replicaCount: 2" in (repo / "envs/prod/api/values.yaml").read_text()
    assert "replicaCount: 1" in (repo / "envs/staging/api/values.yaml").read_text()


def test_charts_are_renamed_throughout(tmp_path: Path) -> None:
    init_repository(Plan(("billing-api",), ("staging",), {}, None), tmp_path / "repo")
    chart = tmp_path / "repo" / "charts" / "billing-api"
    assert re.search(r"^name: billing-api$", (chart / "Chart.yaml").read_text(), re.M)
    text = "".join(p.read_text() for p in chart.rglob("*") if p.is_file())
    assert "sample" not in text
    defined = set(re.findall(r'define "([^"]+)"', text))
    included = set(re.findall(r'include "([^"]+)"', text))
    assert included and included <= defined and all(n.startswith("billing-api.") for n in defined)
    values = (tmp_path / "repo/envs/staging/billing-api/values.yaml").read_text()
    assert "  repository: billing-api\n" in values  # no registry given: the bare service name


def test_an_env_the_template_lacks_starts_from_staging(tmp_path: Path) -> None:
    init_repository(Plan(("api",), ("dev",), {}, None), tmp_path / "repo")
    text = (tmp_path / "repo/envs/dev/api/values.yaml").read_text()
    assert "replicaCount: 1" in text and text.startswith("# api in this environment.")


def test_an_empty_existing_directory_is_used(tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
    init_repository(Plan(("api",), ("staging",), {}, None), tmp_path / "repo")
    assert (tmp_path / "repo/.git").is_dir()


@pytest.mark.parametrize("existing", ["file", "dir-with-file"])
def test_refuses_a_non_empty_target(tmp_path: Path, existing: str,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "repo"
    if existing == "file":
        target.write_text("keep me\n")
    else:
        target.mkdir()
        (target / "notes.txt").write_text("keep me\n")
    code, _, err = run_init("--path", str(target), "--services", "api", capsys=capsys)
    assert code == 2
    assert f"error: {target} exists and is not an empty directory" in err
    assert sorted(p.name for p in tmp_path.rglob("*")) == (
        ["repo"] if existing == "file" else ["notes.txt", "repo"])


@pytest.mark.parametrize("argv,message", [
    (["--services", "Api"], "service 'Api' is not a name the stack settings accept"),
    (["--services", "api_v2"], "service 'api_v2' is not a name the stack settings accept"),
    (["--services=-api"], "service '-api' is not a name the stack settings accept"),
    # Valid DNS labels, which the stack settings refuse: too long for derived AWS names, or a digit first.
    (["--services", "a" * 21], "at most 20 characters"),
    (["--services", "9api"], "service '9api' is not a name the stack settings accept"),
    (["--services", "api,,web"], "service '' is not a name the stack settings accept"),
    (["--services", "api,web,api"], "service listed twice: api"),
    (["--services", "api", "--envs", "staging,Prod"], "environment 'Prod' is not a name the stack settings accept"),
    (["--services", "api", "--regions", "qa=us-east-1"], "environment 'qa' is not in --envs"),
    (["--services", "api", "--regions", "prod"], "write ENV=REGION"),
    (["--services", "api", "--regions", "prod=useast1"], "useast1 is not an AWS region"),
    # Shaped like a region, but none of the aws partition's (botocore's endpoint data).
    (["--services", "api", "--regions", "prod=xx-nowhere-9"], "xx-nowhere-9 is not an AWS region"),
    (["--services", "api", "--regions", "prod=us-east-1,us-east-1"], "us-east-1 listed twice"),
    (["--services", "api", "--regions", "prod=us-east-1", "--regions", "prod=eu-west-1"],
     "--regions given twice for prod"),
    (["--services", "api", "--image-registry", "https://registry.example/x"], "no scheme"),
    (["--services", "api", "--image-registry", "registry.example/App"], "no scheme"),
])
def test_bad_input_is_refused_before_anything_is_written(
        tmp_path: Path, argv: list[str], message: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_init("--path", str(tmp_path / "repo"), *argv, capsys=capsys)
    assert code == 2 and message in err
    assert list(tmp_path.iterdir()) == []


def test_a_failure_leaves_nothing_behind(tmp_path: Path) -> None:
    class FailingCommit(HistoryClient):
        def commit(self, *args, **kwargs):
            raise GitError("git commit failed (exit 1): disk full")

    with pytest.raises(GitError, match="disk full"):
        init_repository(Plan(("api",), ("staging",), {}, None), tmp_path / "repo",
                        FailingCommit(GitRunner()))
    assert list(tmp_path.iterdir()) == []


def test_text_output_says_what_to_do_next(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_init("--path", str(tmp_path / "r"), "--services", "api", capsys=capsys)
    assert code == 0
    assert re.match(r"created .*/r \(11 files, commit [0-9a-f]{12} on main\)\n", out)
    assert "push -u origin main" in out


def test_usage_error_type_is_raised_by_the_library(tmp_path: Path) -> None:
    (tmp_path / "repo").write_text("x")
    with pytest.raises(UsageError):
        init_repository(Plan(("api",), ("staging",), {}, None), tmp_path / "repo")


def test_a_symlink_to_an_empty_directory_is_created_in(tmp_path: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "empty")
    code, out, err = run_init("--path", str(tmp_path / "link"), "--services", "api", capsys=capsys)
    assert code == 0, err
    assert (tmp_path / "link").is_symlink() and (tmp_path / "empty/.git").is_dir()
    assert (tmp_path / "empty/envs/prod/api/values.yaml").is_file()


def test_a_dangling_symlink_is_one_line(tmp_path: Path, capsys) -> None:
    (tmp_path / "link").symlink_to(tmp_path / "gone")
    code, _, err = run_init("--path", str(tmp_path / "link"), "--services", "api", capsys=capsys)
    assert code == 2
    assert err == (f"error: {tmp_path / 'link'} is a symlink to {tmp_path / 'gone'}, which does not "
                   "exist; give a new path or an empty directory\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link"]
