"""show: the image of a local values file (the prod pipeline's Resolve action)."""

from __future__ import annotations

import json

import pytest

from gitops.cli import main
from tests.gitops.conftest import DIGEST_B, values_yaml

FILE = "envs/staging/api/values.yaml"


@pytest.fixture
def artifact(tmp_path, monkeypatch):
    """A source artifact: the repository's files, no .git; the action runs at its root."""
    (tmp_path / "envs/staging/api").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _show(capsys, *argv):
    code = main(["show", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_show_json_and_text(artifact, capsys):
    (artifact / FILE).write_bytes(values_yaml("api", "0123", DIGEST_B).replace("\n", "\r\n").encode())
    code, out, _ = _show(capsys, "--file", FILE, "--output", "json")
    assert code == 0
    assert json.loads(out) == {"repository": "111111111111.dkr.ecr.us-east-1.amazonaws.com/api",
                               "tag": "0123", "digest": DIGEST_B}
    code, out, _ = _show(capsys, "--file", FILE)
    assert out == ("repository: 111111111111.dkr.ecr.us-east-1.amazonaws.com/api\n"
                   f"tag: 0123\ndigest: {DIGEST_B}\n")


def test_show_without_digest(artifact, capsys):
    (artifact / FILE).write_text("image:\n  repository: r\n  tag: v1\n")
    code, out, _ = _show(capsys, "--file", FILE, "--output", "json")
    assert (code, json.loads(out)) == (0, {"repository": "r", "tag": "v1", "digest": None})


@pytest.mark.parametrize("content,message", [
    (None, "does not exist"),
    ("image: [\n", "values.yaml:2:1: did not find expected node content"),
    ("image: {tag: a}\n---\nimage: {tag: b}\n", "2 YAML documents"),
    ("- 1\n", "not a mapping"),
    ("image: {repository: r}\n", "has no image.tag"),
    ("image: {tag: ''}\n", "has no image.tag"),
    ("image: {tag: 'a/b'}\n", "is not a valid image tag"),
    ("image: {tag: a, digest: sha256:abc}\n", "image.digest 'sha256:abc' is not sha256:"),
])
def test_show_fails_closed(artifact, capsys, content, message):
    if content is not None:
        (artifact / FILE).write_text(content)
    code, out, err = _show(capsys, "--file", FILE, "--output", "json")
    assert code == 3 and json.loads(out)["exit_code"] == 3 and message in json.loads(out)["error"]
    assert err.startswith("error: ") and message in err, err


def test_show_refuses_symlinks(artifact, capsys, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside") / "values.yaml"
    outside.write_text("image: {tag: secret}\n")
    (artifact / FILE).symlink_to(outside)
    code, _, err = _show(capsys, "--file", FILE)
    assert code == 3 and "envs/staging/api/values.yaml is a symlink" in err
    (artifact / "envs/prod").symlink_to(artifact / "envs/staging")
    (artifact / FILE).unlink()
    (artifact / FILE).write_text("image: {tag: a}\n")
    code, _, err = _show(capsys, "--file", "envs/prod/api/values.yaml")
    assert code == 3 and "envs/prod is a symlink" in err


def test_an_absolute_path_through_a_symlinked_directory_is_refused_like_the_relative_one(
        artifact, capsys, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (elsewhere / "values.yaml").write_text(values_yaml("api", "9.9.9", DIGEST_B))
    (artifact / "envs/staging/api").rmdir()
    (artifact / "envs/staging/api").symlink_to(elsewhere)
    for given in (FILE, str(artifact / FILE)):
        code, out, err = _show(capsys, "--file", given)
        assert code == 3 and out == "", given
        assert "envs/staging/api is a symlink (a directory on the way to" in err, given
