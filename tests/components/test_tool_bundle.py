"""The gitops tool bundle CodeBuild downloads: content-addressed, complete, pinned like the project,
and its hash lock: the closure of its requirements as installed here, every file hashed."""

import hashlib
import importlib.metadata
import io
import os
import re
import tarfile
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from components import tools_bundle
from tools import lock

from tests.conftest import REPO_ROOT as ROOT
LOCK = ROOT / "gitops" / "requirements.lock"
# Where CodeBuild evaluates the packages' environment markers: CPython 3.11 on Linux, either machine.
CODEBUILD_ENVIRONMENTS = [
    {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix", "implementation_name": "cpython",
     "platform_python_implementation": "CPython", "python_version": "3.11", "platform_machine": machine}
    for machine in ("x86_64", "aarch64")]


def pins(path: Path) -> dict[str, str]:
    result = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            result[name.lower()] = version
    return result


def locked(text: str) -> dict[str, tuple[str, list[str]]]:
    """canonical name -> (version, sha256 digests) of a hash lock; anything else on a line fails."""
    entries = {}
    for line in text.replace("\\\n", " ").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement, *options = line.split()
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==([A-Za-z0-9.+!-]+)", requirement)
        assert match, f"{requirement!r} is not pinned with =="
        digests = [re.fullmatch(r"--hash=sha256:([0-9a-f]{64})", option) for option in options]
        assert digests and all(digests), f"{requirement}: {options} are not sha256 hashes"
        key = lock.canonical(match[1])
        assert key not in entries, f"{match[1]} is locked twice"
        entries[key] = (match[2], [digest[1] for digest in digests])
    return entries


def installed_closure(requirements: list[str]) -> dict[str, str]:
    """canonical name -> version installed here of the requirements and all they need on CodeBuild."""
    versions, seen = {}, set()
    pending = [Requirement(r) for r in requirements]
    while pending:
        requirement = pending.pop()
        key = lock.canonical(requirement.name)
        extras = tuple(sorted(requirement.extras))
        if (key, extras) in seen:
            continue
        seen.add((key, extras))
        distribution = importlib.metadata.distribution(requirement.name)
        versions[key] = distribution.version
        for dependency in map(Requirement, distribution.requires or []):
            if dependency.marker is None or any(dependency.marker.evaluate({**environment, "extra": extra})
                                                for environment in CODEBUILD_ENVIRONMENTS
                                                for extra in extras or ("",)):
                pending.append(dependency)
    return versions


def test_bundle_requirements_are_the_projects_pins():
    project, bundle = pins(ROOT / "requirements.txt"), pins(ROOT / "gitops" / "requirements.txt")
    assert bundle
    for name, version in bundle.items():
        assert project.get(name) == version, f"gitops/requirements.txt pins {name}=={version}, " \
                                             f"requirements.txt has {project.get(name)}"


def test_the_lock_pins_what_the_requirements_and_the_project_pin():
    entries = locked(LOCK.read_text())
    bundle, project = pins(ROOT / "gitops" / "requirements.txt"), pins(ROOT / "requirements.txt")
    assert {lock.canonical(name) for name in bundle} <= set(entries)
    for name, version in {**project, **bundle}.items():
        if lock.canonical(name) in entries:
            assert entries[lock.canonical(name)][0] == version, \
                f"the requirements pin {name}=={version}, the lock has {entries[lock.canonical(name)][0]}: " \
                f"run `make lock`"


def test_the_lock_is_the_closure_of_the_bundle_requirements_as_installed():
    lines = [line.split("#", 1)[0].strip() for line in (ROOT / "gitops" / "requirements.txt").read_text().splitlines()]
    expected = installed_closure([line for line in lines if line])
    actual = {name: version for name, (version, _) in locked(LOCK.read_text()).items()}
    assert "pyjwt" in expected and "cryptography" in expected  # through PyGithub's pyjwt[crypto]
    missing = {name: version for name, version in expected.items() if actual.get(name) != version}
    extra = {name: version for name, version in actual.items() if name not in expected}
    assert not missing and not extra, f"the lock lacks or differs on {missing}, has {extra} beyond the " \
                                      f"closure installed here: run `make lock`"


@pytest.mark.parametrize("text, wrong", [
    ("idna==3.20\n", "not sha256 hashes"),
    ("idna>=3.20 \\\n    --hash=sha256:" + "a" * 64 + "\n", "not pinned"),
    ("idna==3.20 --hash=md5:" + "a" * 32 + "\n", "not sha256 hashes"),
    ("idna==3.20 --hash=sha256:" + "a" * 64 + "\nIDNA==3.20 --hash=sha256:" + "b" * 64 + "\n", "locked twice"),
])
def test_the_lock_reader_refuses_what_pip_require_hashes_would(text, wrong):
    with pytest.raises(AssertionError, match=wrong):
        locked(text)


def test_bundle_holds_the_package_and_nothing_compiled():
    names = set(tools_bundle.bundle_archive().assets)
    assert {"gitops/__main__.py", "gitops/promotion/promote.py", "gitops/verification/verify.py",
            "gitops/requirements.txt", "gitops/requirements.lock"} <= names
    assert any(n.startswith("gitops/repo/template/charts/") for n in names)
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


# tools/lock.py against the real pip, on a package index in a temporary directory (file: URLs, no
# network): lockprobe has wheels for some targets and an sdist, lockpure one pure wheel in two
# versions, lockdep only an sdist (an in-tree build backend that only writes metadata).

BACKEND = '''import os
def get_requires_for_build_wheel(config_settings=None):
    return []
def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    os.makedirs(os.path.join(metadata_directory, "lockdep-2.0.dist-info"))
    with open(os.path.join(metadata_directory, "lockdep-2.0.dist-info", "METADATA"), "w") as metadata:
        metadata.write("Metadata-Version: 2.1\\nName: lockdep\\nVersion: 2.0\\n")
    return "lockdep-2.0.dist-info"
'''
PROBE_WHEELS = ("cp311-cp311-manylinux_2_34_x86_64", "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64",
                "cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64", "cp311-cp311-manylinux_2_35_aarch64")


def _wheel(path: Path, name: str, version: str, tag: str, requires: tuple[str, ...] = ()) -> None:
    info = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{name}/__init__.py", "")
        archive.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                         + "".join(f"Requires-Dist: {r}\n" for r in requires))
        archive.writestr(f"{info}/WHEEL", f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: {tag}\n")
        archive.writestr(f"{info}/RECORD", "")


def _sdist(path: Path, name: str, version: str, files: dict[str, str]) -> None:
    with tarfile.open(path, "w:gz") as archive:
        for member, text in {"PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", **files}.items():
            data = text.encode()
            entry = tarfile.TarInfo(f"{name}-{version}/{member}")
            entry.size = len(data)
            archive.addfile(entry, io.BytesIO(data))


@pytest.fixture
def offline_index(tmp_path, monkeypatch) -> dict[str, str]:
    """A PEP 503 index of file: URLs that pip alone reads (its configuration and PIP_* set aside);
    file name -> sha256."""
    files = tmp_path / "files"
    files.mkdir()
    for tag in PROBE_WHEELS:
        _wheel(files / f"lockprobe-1.0-{tag}.whl", "lockprobe", "1.0", tag, ("lockpure", "lockdep"))
    _sdist(files / "lockprobe-1.0.tar.gz", "lockprobe", "1.0", {})
    for version in ("1.0", "1.1"):
        _wheel(files / f"lockpure-{version}-py3-none-any.whl", "lockpure", version, "py3-none-any")
    _sdist(files / "lockdep-2.0.tar.gz", "lockdep", "2.0", {
        "backend.py": BACKEND,
        "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n'})
    digests = {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in files.iterdir()}
    for project in ("lockprobe", "lockpure", "lockdep"):
        (tmp_path / "simple" / project).mkdir(parents=True)
        (tmp_path / "simple" / project / "index.html").write_text("".join(
            f'<a href="{(files / name).as_uri()}#sha256={digest}">{name}</a>\n'
            for name, digest in sorted(digests.items()) if name.startswith(project + "-")))
    for variable in [v for v in os.environ if v.startswith("PIP_")]:
        monkeypatch.delenv(variable)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", (tmp_path / "simple").as_uri())
    (tmp_path / "requirements.txt").write_text("lockprobe==1.0\n")
    monkeypatch.setattr(lock, "REQUIREMENTS", tmp_path / "requirements.txt")
    monkeypatch.setattr(lock, "LOCK", tmp_path / "requirements.lock")
    # As if lockpure 1.0 were installed here: the resolution keeps to it, though 1.1 is newer.
    monkeypatch.setattr(lock, "installed_constraints", lambda: "lockpure==1.0\n")
    return digests


def test_the_lock_script_hashes_the_wheels_pip_picks_per_target_and_sdists_only_without_one(offline_index, capsys):
    assert lock.main() == 0
    text = lock.LOCK.read_text()
    assert text.startswith(lock.HEADER)
    assert locked(text) == {
        # x86_64: glibc 2.34's wheel and manylinux2014's; aarch64: only manylinux2014's fits
        # (2.35 is newer than either glibc); the sdist is never needed.
        "lockprobe": ("1.0", sorted(offline_index[f"lockprobe-1.0-{tag}.whl"] for tag in PROBE_WHEELS[:3])),
        "lockpure": ("1.0", [offline_index["lockpure-1.0-py3-none-any.whl"]]),
        "lockdep": ("2.0", [offline_index["lockdep-2.0.tar.gz"]]),
    }
    assert "3 packages, 5 hashes" in capsys.readouterr().out


def test_the_lock_script_stops_with_pips_error_and_writes_nothing(offline_index, capsys):
    lock.REQUIREMENTS.write_text("lockprobe==9.9\n")
    assert lock.main() == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "Traceback" not in error
    assert error.startswith(f"tools/lock.py: pip could not resolve {lock.REQUIREMENTS}")
    assert "lockprobe==9.9" in error
    assert not lock.LOCK.exists()


def test_the_lock_script_keeps_to_the_versions_installed_here():
    constraints = lock.installed_constraints().splitlines()
    assert f"PyYAML=={importlib.metadata.version('PyYAML')}" in constraints
    assert f"urllib3=={importlib.metadata.version('urllib3')}" in constraints


@pytest.mark.parametrize("version, implementation, system", [
    ((3, 12), "cpython", "Linux"), ((3, 11), "pypy", "Linux"), ((3, 11), "cpython", "Darwin")])
def test_the_lock_script_runs_only_where_markers_read_as_on_codebuild(version, implementation, system):
    with pytest.raises(lock.LockError, match="run it with the project's virtualenv, CPython 3.11 on Linux"):
        lock.check_interpreter(version, implementation, system)
    lock.check_interpreter((3, 11), "cpython", "Linux")


def test_the_lock_script_offers_pip_the_tags_of_a_codebuild_host_best_first():
    x86 = lock.platform_tags("x86_64", 34)
    assert x86[0] == "manylinux_2_34_x86_64" and x86[-1] == "manylinux1_x86_64"
    assert x86.index("manylinux2014_x86_64") == x86.index("manylinux_2_17_x86_64") + 1
    assert "manylinux2010_x86_64" in x86
    assert lock.platform_tags("aarch64", 17) == ["manylinux_2_17_aarch64", "manylinux2014_aarch64"]
    args = lock.target_args("aarch64", 34)
    assert args[:7] == ["--no-deps", "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311"]


def test_the_lock_script_refuses_a_file_without_a_hash_or_a_target_without_the_package():
    with pytest.raises(lock.LockError, match="gave no sha256 for https://files.invalid/idna-3.20.whl"):
        lock.sha256_of({"download_info": {"url": "https://files.invalid/idna-3.20.whl", "archive_info": {}}})
    with pytest.raises(lock.LockError, match="pip picked no idna==3.20 for one of the targets"):
        lock.render({"idna": ("idna", "3.20")}, [{"idna": ("3.20", "a" * 64)}, {"idna": ("3.19", "b" * 64)}])
