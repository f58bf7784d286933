"""The architecture, checked from the source: layers import only downwards (sandboxes <- agent <- scaling <- eval),
no module takes part in an import cycle, and every package folder is installed under the one name `codescale`."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LAYERS = ["sandboxes", "agent", "scaling", "eval"]
"""Lowest first: a module may import its own layer and the ones before it. configs is data, open to all."""


def modules() -> dict[str, Path]:
    found = {}
    for layer in [*LAYERS, "configs"]:
        for path in (REPO / layer).rglob("*.py"):
            if "suite" in path.relative_to(REPO).parts:
                continue  # the bundled tasks' own repositories
            parts = path.relative_to(REPO).with_suffix("").parts
            if parts[-1] in ("__init__", "__main__"):
                parts = parts[:-1] if parts[-1] == "__init__" else parts
            name = ".".join(("codescale", *parts))
            found[name] = path
    return found


def imports(path: Path, name: str) -> set[str]:
    """Every codescale module `path` imports, at module level or inside functions."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return {m for m in found if m.startswith("codescale.")}


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: {m for m in imports(path, name) if m in mods and m != name} for name, path in mods.items()}


def layer(module: str) -> int | None:
    top = module.split(".")[1]
    return LAYERS.index(top) if top in LAYERS else None


def test_layers_import_only_downwards():
    upward = [f"{a} imports {b}" for a, targets in graph().items() for b in targets
              if layer(a) is not None and layer(b) is not None and layer(b) > layer(a)]
    assert upward == []


def test_no_import_cycles():
    edges = graph()
    cycles, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [node, nxt]) if nxt in stack else f"{node} -> {nxt}")
            elif nxt not in state:
                visit(nxt, stack + [node])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [])
    assert cycles == []


def test_every_package_is_installed_under_codescale():
    setup = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {name for name, path in modules().items() if path.name == "__init__.py"}
    assert set(setup["packages"]) == folders
    assert all(name.startswith("codescale.") for name in setup["packages"])
    assert {k: v for k, v in setup["package-dir"].items()} == {f"codescale.{top}": top for top in [*LAYERS, "configs"]}


def test_the_checks_see_the_tree():
    """The graph is not empty and knows the layers: the tests above cannot pass by seeing nothing."""
    edges = graph()
    assert "codescale.eval.cli.main" in edges and "codescale.sandboxes.docker" in edges
    assert "codescale.agent.records" in edges["codescale.agent.rollout"]
