"""The architecture, checked from the source: layers import only downwards (sandboxes <- agent <- scaling <- eval,
and inside eval: tasks <- runs <- analysis, bot <- cli), no module takes part in an import cycle, and every package
folder is installed under the one name `codescale`."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LAYERS = ["sandboxes", "agent", "scaling", "eval"]
"""Lowest first: a module may import its own layer and the ones before it. configs is data, open to all."""
EVAL_LAYERS = [["tasks"], ["runs"], ["analysis", "bot"], ["cli", "api"]]
"""eval/'s own folders (and api.py, the Python API), lowest first; those on one level (analysis and bot; cli and api)
may not import each other."""


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


def imports(path: Path, name: str, typing: bool = True) -> set[str]:
    """Every codescale module `path` imports, at module level or inside functions (without `typing`: leaving out
    those under `if TYPE_CHECKING:`, which are never imported when the program runs)."""
    return imported(ast.parse(path.read_text()), name if path.name == "__init__.py" else name.rpartition(".")[0], typing)


def imported(tree: ast.AST, package: str, typing: bool = True) -> set[str]:
    """The codescale modules `tree` (a module of `package`) imports."""
    found = set()
    skipped: set[int] = set()
    if not typing:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                skipped |= {id(inner) for inner in ast.walk(node)}
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return {m for m in found if m.startswith("codescale.")}


def graph(typing: bool = True) -> dict[str, set[str]]:
    mods = modules()
    return {name: {m for m in imports(path, name, typing) if m in mods and m != name} for name, path in mods.items()}


def layer(module: str) -> int | None:
    top = module.split(".")[1]
    return LAYERS.index(top) if top in LAYERS else None


def eval_layer(module: str) -> tuple[int, str] | None:
    """(level, folder) of a module in one of eval/'s folders (or the folder itself, or api.py); None elsewhere (eval/__init__,
    other layers)."""
    parts = module.split(".")
    if len(parts) < 3 or parts[1] != "eval":
        return None
    return next(((level, parts[2]) for level, folders in enumerate(EVAL_LAYERS) if parts[2] in folders), None)


def upward(edges: dict[str, set[str]]) -> list[str]:
    """The imports that point up: to a later top layer, or inside eval/ to a later level or a sibling folder."""
    found = []
    for a, targets in edges.items():
        for b in targets:
            if layer(a) is not None and layer(b) is not None and layer(b) > layer(a):
                found.append(f"{a} imports {b}")
            elif (ea := eval_layer(a)) and (eb := eval_layer(b)) and (eb[0] > ea[0] or (eb[0] == ea[0] and eb[1] != ea[1])):
                found.append(f"{a} imports {b}")
    return found


def test_layers_import_only_downwards():
    assert upward(graph()) == []


def test_an_upward_import_inside_eval_is_found():
    """The check above is not blind inside eval/: a tasks module importing runs, and analysis importing bot, fail it."""
    known = modules()
    sources = {
        "codescale.eval.tasks.load": "from codescale.eval.runs.rundir import RunDir",
        "codescale.eval.analysis.select": "from ..bot import fix_issue",
        "codescale.eval.runs.solve": "from codescale.eval.tasks.kinds import as_kind",
    }
    fed = {name: {m for m in imported(ast.parse(text), name.rpartition(".")[0]) if m in known}
           for name, text in sources.items()}
    assert sorted(upward(fed)) == ["codescale.eval.analysis.select imports codescale.eval.bot",
                                   "codescale.eval.analysis.select imports codescale.eval.bot.fix_issue",
                                   "codescale.eval.tasks.load imports codescale.eval.runs.rundir"]


def test_no_import_cycles():
    """No cycle among the imports that run (an import for type checking only cannot make one)."""
    edges = graph(typing=False)
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
