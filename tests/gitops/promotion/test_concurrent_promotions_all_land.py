"""Concurrent promotions into one branch through the real git server: none is lost."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor

import yaml

from gitops.clients.git import GitClient, GitRunner
from gitops.promotion.promote import PromoteRequest, promote
from tests.gitops.conftest import DIGEST_A, seed_files, values_yaml


def _promote(repo, env: str, service: str, tag: str):
    request = PromoteRequest(repo_url=repo.url, env=env, service=service, tag=tag)
    return promote(request, GitClient(GitRunner(repo.token)))


def _merges(repo) -> str:
    return subprocess.run(["git", "--git-dir", str(repo.bare), "rev-list", "--merges", "main"],
                          capture_output=True, text=True, check=True).stdout


def test_twenty_parallel_promotions_of_different_services_all_land(make_gitops_repo):
    services = tuple(f"svc{i:02d}" for i in range(20))
    repo = make_gitops_repo(seed_files(services, ("staging", "prod")))
    with ThreadPoolExecutor(max_workers=len(services)) as pool:
        results = list(pool.map(lambda s: _promote(repo, "staging", s, f"2.0.{s[3:]}"), services))

    assert all(not r.noop and r.commit for r in results)
    assert sum(r.attempts for r in results) > len(services)  # they really raced
    for service in services:
        assert repo.file(f"envs/staging/{service}/values.yaml") == \
            values_yaml(service, f"2.0.{service[3:]}", "").encode()
        assert repo.file(f"envs/prod/{service}/values.yaml") == \
            values_yaml(service, "1.0.0", DIGEST_A).encode()
    assert _merges(repo) == ""
    subjects = [line.split(" ", 1)[1] for line in repo.log()]
    assert len(subjects) == len(services) + 1
    assert sorted(subjects[:-1]) == sorted(f"promote(staging/{s}): 1.0.0 → 2.0.{s[3:]}"
                                           for s in services)
    assert {r.commit for r in results} == {line.split()[0] for line in repo.log()[:-1]}


def test_racing_promotions_of_one_service_end_with_one_consistent_file(make_gitops_repo):
    repo = make_gitops_repo()
    tags = [f"3.{i}.0" for i in range(6)]
    with ThreadPoolExecutor(max_workers=len(tags)) as pool:
        results = list(pool.map(lambda t: _promote(repo, "prod", "api", t), tags))

    final = repo.file("envs/prod/api/values.yaml").decode()
    final_tag = yaml.safe_load(final)["image"]["tag"]
    assert final_tag in tags
    assert final == values_yaml("api", final_tag, "")   # every other line untouched
    assert all(r.commit or r.noop for r in results)
    assert _merges(repo) == ""
    # Each landed promotion is one commit; the last one landed is what the file says.
    landed = [r for r in results if r.commit]
    assert repo.log()[0].split()[0] in {r.commit for r in landed}
    assert len(repo.log()) == len(landed) + 1
