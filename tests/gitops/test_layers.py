"""The layering of the gitops package (gitops/__init__.py): clients/, repo/ and yaml/ never import
a use case or a command, use cases never import a command, and no module imports another in a
cycle. Read from the source with ast, so an import inside a function counts too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
USE_CASES = ("gitops.promotion", "gitops.verification", "gitops.governance")
COMMANDS = ("gitops.commands", "gitops.cli")
BELOW_USE_CASES = ("gitops.clients", "gitops.repo", "gitops.yaml", "gitops.errors", "gitops.output")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The gitops modules `path` imports (`from gitops.x import y` counts gitops.x.y when that is
    a module, else gitops.x)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if not node.module.startswith("gitops"):
                continue
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                found.add(name if name in modules else node.module)
    return found & modules


def import_graph(root: Path) -> dict[str, set[str]]:
    paths = {module_name(p, root): p for p in (root / "gitops").rglob("*.py")}
    modules = set(paths)
    return {name: imports_of(path, modules) - {name} for name, path in paths.items()}


# The layers top to bottom, as gitops/__init__.py lists them: a module imports only from its own
# layer or one below.
ORDER = ("gitops.cli", "gitops.commands", "gitops.promotion", "gitops.verification",
         "gitops.governance", "gitops.repo", "gitops.yaml", "gitops.clients", "gitops.errors",
         "gitops.output")


def rank(module: str) -> int:
    return next(i for i, layer in enumerate(ORDER) if in_layer(module, (layer,)))


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return [f"{module} imports {target}" for module, imported in sorted(graph.items())
            if module not in ("gitops", "gitops.__main__")
            for target in sorted(imported) if rank(target) < rank(module)]


def in_layer(module: str, layer: tuple[str, ...]) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in layer)


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    found = []
    for module, imported in sorted(graph.items()):
        for target in sorted(imported):
            if in_layer(module, BELOW_USE_CASES) and in_layer(target, USE_CASES + COMMANDS):
                found.append(f"{module} imports {target}")
            elif in_layer(module, USE_CASES) and in_layer(target, COMMANDS):
                found.append(f"{module} imports {target}")
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every group of modules that reach each other through imports (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in graph.get(module, ()):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return groups


def test_lower_layers_never_import_use_cases_or_commands_and_use_cases_never_import_commands():
    assert layer_violations(import_graph(ROOT)) == []


def test_every_import_goes_to_the_same_layer_or_one_below():
    assert upward_imports(import_graph(ROOT)) == []


def test_the_order_check_finds_an_import_upwards():
    graph = {"gitops.repo.x": {"gitops.governance.trailers", "gitops.yaml.document"},
             "gitops.governance.trailers": set(), "gitops.yaml.document": set()}
    assert upward_imports(graph) == ["gitops.repo.x imports gitops.governance.trailers"]


def test_no_gitops_module_imports_another_in_a_cycle():
    assert cycles(import_graph(ROOT)) == []


def test_every_gitops_module_is_in_a_layer():
    assert [m for m in import_graph(ROOT) if m not in ("gitops", "gitops.__main__")
            and not in_layer(m, ORDER)] == []


@pytest.mark.parametrize("source, expected", [
    ({"gitops/clients/x.py": "from gitops.promotion import promote\n",
      "gitops/promotion/promote.py": ""}, ["gitops.clients.x imports gitops.promotion.promote"]),
    ({"gitops/governance/x.py": "from gitops.commands.options import add_repo\n",
      "gitops/commands/options.py": ""}, ["gitops.governance.x imports gitops.commands.options"]),
    ({"gitops/repo/x.py": "def f():\n    import gitops.cli\n", "gitops/cli.py": ""},
     ["gitops.repo.x imports gitops.cli"]),
    ({"gitops/commands/x.py": "from gitops.promotion import promote\n",
      "gitops/promotion/promote.py": "from gitops.clients import git\n", "gitops/clients/git.py": ""}, []),
])
def test_the_layer_check_finds_an_import_against_the_rule(tmp_path, source, expected):
    for name, text in source.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert layer_violations(import_graph(tmp_path)) == expected


def test_the_cycle_check_finds_a_cycle():
    graph = {"gitops.a": {"gitops.b"}, "gitops.b": {"gitops.c"}, "gitops.c": {"gitops.a"},
             "gitops.d": {"gitops.a"}}
    assert cycles(graph) == [["gitops.a", "gitops.b", "gitops.c"]]
