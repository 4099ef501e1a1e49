"""The gitops package as installed: the console script, and a bundle whose requirements cover
every third-party module the CLI imports."""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Import name -> distribution name, for the modules whose names differ.
DISTRIBUTIONS = {"yaml": "PyYAML", "ruamel": "ruamel.yaml", "github": "PyGithub"}


def test_the_console_script_is_the_cli_entry_point() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["scripts"] == {"gitops": "gitops.cli:main"}
    packages = {str(p.parent.relative_to(ROOT)).replace("/", ".")
                for p in (ROOT / "gitops").rglob("__init__.py")}
    assert sorted(project["tool"]["setuptools"]["packages"]) == sorted(packages)
    from gitops.cli import main  # what the script calls, with sys.exit(main())

    assert callable(main)


def test_the_bundle_requirements_cover_every_third_party_import() -> None:
    pinned = {line.split("==")[0].lower() for line in
              (ROOT / "gitops/requirements.txt").read_text().splitlines()
              if line and not line.startswith("#")}
    imported = set()
    for path in (ROOT / "gitops").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            imported.update(name.split(".")[0] for name in names if name)
    third_party = {name for name in imported
                   if name not in sys.stdlib_module_names and name not in ("gitops", "__future__")}
    missing = {DISTRIBUTIONS.get(name, name) for name in third_party
               if DISTRIBUTIONS.get(name, name).lower() not in pinned}
    assert not missing, f"gitops imports {sorted(missing)} but gitops/requirements.txt lacks them"


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_no_module_reaches_into_another_modules_private_names() -> None:
    """What one module uses of another is that module's public API, so a module's private
    helpers can change without breaking a caller elsewhere."""
    uses = []
    for path in sorted((ROOT / "gitops").rglob("*.py")):
        tree = ast.parse(path.read_text())
        modules = {alias.asname or alias.name for node in ast.walk(tree)
                   if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("gitops")
                   for alias in node.names}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("gitops"):
                uses += [f"{path.name}: {node.module}.{a.name}" for a in node.names if _private(a.name)]
            elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                  and node.value.id in modules and _private(node.attr)):
                uses.append(f"{path.name}: {node.value.id}.{node.attr}")
    assert uses == []
