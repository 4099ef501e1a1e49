"""The prod pipeline's Resolve step and both pipelines' Promote step, run the way CodeBuild runs
them: the buildspec's install and build commands in one bash session, the tool bundle made from
the same files the program uploads, and the real gitops CLI against the real test git server.

Only what belongs to the CodeBuild host is stood in for: `aws s3 cp` hands over the bundle,
`pip install` checks the requirements file is in the bundle (the packages are in this virtualenv
already), and the host path /opt/tools is a temporary directory.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from components import tools_bundle
from components.build_projects import BUILDSPECS
from tests.gitops.conftest import DIGEST_A, DIGEST_B, values_yaml

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A CodeBuild-like PATH (python, aws, pip shims) and the tool bundle as the program builds it."""
    root = tmp_path_factory.mktemp("codebuild-host")
    bundle = root / "tools.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        for path in tools_bundle._files():
            archive.write(path, f"gitops/{path.relative_to(tools_bundle.GITOPS_DIR).as_posix()}")
    bin_dir = root / "bin"
    bin_dir.mkdir()
    scripts = {
        # A wrapper, not a symlink: a virtualenv's python must run from its own directory.
        "python": f'exec "{sys.executable}" "$@"\n',
        "aws": f'[ "$1 $2" = "s3 cp" ] || {{ echo "unexpected aws $*" >&2; exit 2; }}\ncp "{bundle}" "${{@: -1}}"\n',
        "pip": '[ -f "${@: -1}" ] || { echo "no requirements file ${@: -1}" >&2; exit 2; }\n',
    }
    for name, body in scripts.items():
        (bin_dir / name).write_text("#!/usr/bin/env bash\nset -eu\n" + body)
        (bin_dir / name).chmod(0o755)
    return {"PATH": f"{bin_dir}:/usr/bin:/bin", "TOOLS_BUNDLE": "s3://artifacts/tools/gitops-0.zip"}


def run_step(buildspec: str, env: dict[str, str], workdir: Path, tools: Path) -> tuple[int, dict[str, str], str]:
    """Run install and build phases in one shell, as CodeBuild does; return the exported variables."""
    spec = yaml.safe_load((BUILDSPECS / buildspec).read_text())
    commands = [c for phase in ("install", "build") for c in spec["phases"].get(phase, {}).get("commands", [])]
    exported = workdir / ".exported"
    script = "\n".join(commands).replace("/opt/tools", str(tools)) + "\n" + "".join(
        f'printf "%s=%s\\n" {name} "${{{name}}}" >> "{exported}"\n' for name in spec["env"]["exported-variables"])
    result = subprocess.run(["bash", "-c", script], cwd=workdir, env=env, capture_output=True, text=True,
                            timeout=120)
    variables = dict(line.split("=", 1) for line in exported.read_text().splitlines()) if exported.exists() else {}
    return result.returncode, variables, result.stdout + result.stderr


def test_resolve_exports_the_tag_and_digest_of_the_upstream_values(host, tmp_path):
    source = tmp_path / "source"
    (source / "envs/staging/api").mkdir(parents=True)
    (source / "envs/staging/api/values.yaml").write_text(values_yaml("api", "4f2a9c1", DIGEST_B))
    code, exported, output = run_step("resolve.yml", {**host, "UPSTREAM_ENV": "staging", "SERVICE": "api"},
                                      source, tmp_path / "tools")
    assert code == 0, output
    assert exported == {"TAG": "4f2a9c1", "DIGEST": DIGEST_B}


def test_resolve_refuses_an_upstream_image_without_digest(host, tmp_path):
    source = tmp_path / "source"
    (source / "envs/staging/api").mkdir(parents=True)
    (source / "envs/staging/api/values.yaml").write_text(values_yaml("api", "4f2a9c1", ""))
    code, exported, output = run_step("resolve.yml", {**host, "UPSTREAM_ENV": "staging", "SERVICE": "api"},
                                      source, tmp_path / "tools")
    assert code != 0
    assert "has no image.digest" in output and "TAG" not in exported


def promote_env(host: dict[str, str], repo, tag: str, digest: str) -> dict[str, str]:
    return {**host, "GITOPS_URL": repo.url, "GITOPS_BRANCH": "main", "ENVIRONMENT": "staging",
            "SERVICE": "api", "PROMOTION_MODE": "commit", "PROMOTION_FLAGS": "", "GITOPS_TOKEN": repo.token,
            "IMAGE_TAG": tag, "IMAGE_DIGEST": digest, "SOURCE_COMMIT": SHA, "EXECUTION_ID": "exec-1",
            "HOME": os.environ.get("HOME", "/root")}


def test_promote_step_commits_and_exports_what_verify_waits_for(host, gitops_repo, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    code, exported, output = run_step("promote.yml", promote_env(host, gitops_repo, "4f2a9c1", DIGEST_B),
                                      work, tmp_path / "tools")
    assert code == 0, output
    head = gitops_repo.refs()["refs/heads/main"]
    assert exported == {"COMMIT_SHA": head, "PR_URL": "none"}
    assert gitops_repo.file("envs/staging/api/values.yaml") == values_yaml("api", "4f2a9c1", DIGEST_B).encode()
    assert f"Source-Commit: {SHA}" in gitops_repo.show("%B")
    assert gitops_repo.token not in output


def test_promote_step_on_a_tag_already_there_changes_nothing_and_still_names_the_revision(
        host, gitops_repo, tmp_path):
    before = gitops_repo.refs()
    work = tmp_path / "work"
    work.mkdir()
    code, exported, output = run_step("promote.yml", promote_env(host, gitops_repo, "1.0.0", DIGEST_A),
                                      work, tmp_path / "tools")
    assert code == 0, output
    assert gitops_repo.refs() == before
    assert exported == {"COMMIT_SHA": before["refs/heads/main"], "PR_URL": "none"}


def test_promote_step_fails_the_action_when_the_promotion_fails(host, gitops_repo, tmp_path):
    before = gitops_repo.refs()
    work = tmp_path / "work"
    work.mkdir()
    code, exported, output = run_step("promote.yml", promote_env(host, gitops_repo, "bad tag!", DIGEST_B),
                                      work, tmp_path / "tools")
    assert code != 0 and "COMMIT_SHA" not in exported
    assert "'bad tag!' is not a valid image tag" in output
    assert gitops_repo.refs() == before
