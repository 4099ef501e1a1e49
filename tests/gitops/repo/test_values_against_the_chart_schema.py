"""validate_values: chart defaults + one values file against charts/<svc>/values.schema.json."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitops.errors import ValuesError
from gitops.repo.schema import coalesce, validate_stack, validate_values

TEMPLATE = Path(__file__).resolve().parents[3] / "gitops" / "repo" / "template"
GOOD = 'image:\n  repository: 111111111111.dkr.ecr.us-east-1.amazonaws.com/app/api\n  tag: "{tag}"\n  digest: "{digest}"\n'
DIGEST = "sha256:" + "a1" * 32


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    shutil.copytree(TEMPLATE / "charts" / "sample", tmp_path / "charts" / "api")
    return tmp_path


def errors_of(repo: Path, text: str) -> str:
    with pytest.raises(ValuesError) as caught:
        validate_values(repo, "api", text, source="envs/prod/api/values.yaml")
    return str(caught.value)


@pytest.mark.parametrize("tag", ["3f2a9c1", "v1.2.3", "1.2.3-rc.1_build", "_x", "a" * 128])
def test_valid_tags_and_digests_pass(repo: Path, tag: str) -> None:
    validate_values(repo, "api", GOOD.format(tag=tag, digest=DIGEST))
    validate_values(repo, "api", GOOD.format(tag=tag, digest=""))


@pytest.mark.parametrize("tag", ["", ".hidden", "-dash", "has space", "a/b", "a" * 129, "tag:x"])
def test_bad_tags_are_rejected_with_path_and_rule(repo: Path, tag: str) -> None:
    message = errors_of(repo, GOOD.format(tag=tag, digest=""))
    assert "envs/prod/api/values.yaml" in message
    assert "charts/api/values.schema.json" in message
    assert "$.image.tag" in message and "(rule: pattern)" in message


@pytest.mark.parametrize(
    "digest", ["sha256:abc", "sha256:" + "A1" * 32, "sha512:" + "a1" * 32, DIGEST + "0", "a1" * 32]
)
def test_bad_digests_are_rejected(repo: Path, digest: str) -> None:
    message = errors_of(repo, GOOD.format(tag="v1", digest=digest))
    assert "$.image.digest" in message and "(rule: pattern)" in message


def test_unquoted_number_tag_is_a_type_error(repo: Path) -> None:
    # YAML reads `tag: 1.10` as the float 1.1; Helm would deploy image:1.1
    message = errors_of(repo, "image:\n  tag: 1.10\n")
    assert "$.image.tag: 1.1 is not of type 'string' (rule: type)" in message


def test_every_error_is_listed_in_path_order(repo: Path) -> None:
    message = errors_of(repo, "replicaCount: -1\nreplicas: 2\nservice:\n  port: 70000\n")
    lines = [line.strip() for line in message.splitlines() if line.startswith("  ")]
    assert [line.split(":")[0] for line in lines] == ["$", "$.replicaCount", "$.service.port"]
    assert "'replicas' was unexpected" in lines[0] and "(rule: additionalProperties)" in lines[0]


def test_defaults_fill_what_the_env_file_leaves_out(repo: Path) -> None:
    validate_values(repo, "api", "image:\n  tag: v2\n")  # repository, digest, replicas: defaults


def test_null_deletes_a_default_and_the_required_rule_catches_it(repo: Path) -> None:
    message = errors_of(repo, "replicaCount: null\n")
    assert "$: 'replicaCount' is a required property (rule: required)" in message


def test_no_schema_means_nothing_to_check(tmp_path: Path) -> None:
    (tmp_path / "charts" / "api").mkdir(parents=True)
    validate_values(tmp_path, "api", "image:\n  tag: not a tag\n")


@pytest.mark.parametrize(
    "text,needle", [("image: [\n", ":2:1: did not find expected node content"),
                    ("- a\n- b\n", " must be a YAML mapping")]
)
def test_unparsable_values_name_the_file(repo: Path, text: str, needle: str) -> None:
    message = errors_of(repo, text)
    assert message.startswith("envs/prod/api/values.yaml") and needle in message


def test_duplicate_keys_fail_closed(repo: Path) -> None:
    assert 'values.yaml:2:1: duplicate key "replicaCount"' in errors_of(
        repo, "replicaCount: 1\nreplicaCount: 2\n")


def test_broken_schema_file_is_reported(repo: Path) -> None:
    (repo / "charts/api/values.schema.json").write_text('{"type": ')
    assert "charts/api/values.schema.json is not valid JSON" in errors_of(repo, "{}")
    (repo / "charts/api/values.schema.json").write_text('{"type": "no-such-type"}')
    assert "not a valid draft-07 JSON Schema" in errors_of(repo, "{}")


def test_stack_applies_region_file_last(repo: Path) -> None:
    env = repo / "envs/prod/api"
    env.mkdir(parents=True)
    (env / "values.yaml").write_text(GOOD.format(tag="v1", digest=""))
    (env / "values-eu-west-1.yaml").write_text("replicaCount: many\n")
    validate_stack(repo, "api", ["envs/prod/api/values.yaml"])
    with pytest.raises(ValuesError, match=r"values-eu-west-1.yaml over envs/prod/api/values.yaml"):
        validate_stack(repo, "api", ["envs/prod/api/values.yaml", "envs/prod/api/values-eu-west-1.yaml"])
    with pytest.raises(ValuesError, match="cannot read envs/prod/api/values-us-east-1.yaml"):
        validate_stack(repo, "api", ["envs/prod/api/values-us-east-1.yaml"])


def test_coalesce_merges_maps_and_override_wins() -> None:
    base = {"image": {"repository": "r", "tag": "a"}, "resources": {"limits": {"memory": "1Gi"}}, "x": 1}
    over = {"image": {"tag": "b"}, "resources": "none", "x": None}
    assert coalesce(base, over) == {"image": {"repository": "r", "tag": "b"}, "resources": "none"}
    assert base["image"]["tag"] == "a"  # inputs are not modified


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z"))
def test_any_oci_tag_is_accepted(tag: str) -> None:
    validate_values(TEMPLATE, "sample", GOOD.format(tag=tag, digest=""))


@pytest.mark.parametrize("repository", [
    "111111111111.dkr.ecr.us-east-1.amazonaws.com/shop/api", "localhost:5000/api", "api",
    "registry.example/team/api-server_v2"])
def test_valid_repositories_pass(repo: Path, repository: str) -> None:
    validate_values(repo, "api", f"image:\n  repository: {repository}\n")


@pytest.mark.parametrize("repository", [
    "https://registry.example/api", "registry.example/Team/api", "api:1.0", "api@" + DIGEST,
    "registry.example/api/", ""])
def test_repository_with_scheme_tag_digest_or_uppercase_path_is_rejected(
        repo: Path, repository: str) -> None:
    message = errors_of(repo, f"image:\n  repository: \"{repository}\"\n")
    assert "$.image.repository" in message and "(rule: pattern)" in message
