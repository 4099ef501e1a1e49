"""The gitops tool bundle CodeBuild downloads: content-addressed, complete, pinned like the project."""

from pathlib import Path

from components import tools_bundle

ROOT = Path(__file__).resolve().parent.parent


def pins(path: Path) -> dict[str, str]:
    result = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            result[name.lower()] = version
    return result


def test_bundle_requirements_are_the_projects_pins():
    project, bundle = pins(ROOT / "requirements.txt"), pins(ROOT / "gitops" / "requirements.txt")
    assert bundle
    for name, version in bundle.items():
        assert project.get(name) == version, f"gitops/requirements.txt pins {name}=={version}, " \
                                             f"requirements.txt has {project.get(name)}"


def test_bundle_holds_the_package_and_nothing_compiled():
    names = set(tools_bundle.bundle_archive().assets)
    assert {"gitops/__main__.py", "gitops/promote.py", "gitops/verify.py", "gitops/requirements.txt"} <= names
    assert any(n.startswith("gitops/template/charts/") for n in names)
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)


def test_bundle_key_follows_the_content(tmp_path, monkeypatch):
    package = tmp_path / "gitops"
    package.mkdir()
    (package / "cli.py").write_text("print('one')\n")
    monkeypatch.setattr(tools_bundle, "GITOPS_DIR", package)
    first = tools_bundle.bundle_key()
    assert first == tools_bundle.bundle_key()
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "cli.cpython-311.pyc").write_bytes(b"\0")
    assert tools_bundle.bundle_key() == first
    (package / "cli.py").write_text("print('two')\n")
    assert tools_bundle.bundle_key() != first
    assert first.startswith("tools/gitops-") and first.endswith(".zip")
