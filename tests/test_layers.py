"""The package's import graph only points downward, and a folder is a layer.

Every import of every module of ``platform/ncsweep`` counts, module-level and inside
functions (a deferred import hides a cycle, it does not remove it), relative imports
resolved, and the modules a package's ``_LAZY`` table names (its PEP 562 ``__getattr__``
imports them); only ``if TYPE_CHECKING:`` blocks (never run) are left out. A module belongs to the
layer of its folder (``LAYERS``: folders, never single modules inside one); an import may stay
in its layer or go down, never up; no set of modules, and no set of folders, may import each
other in a cycle; the plain-PyTorch layers import neither Ray nor MLflow. There are no
exceptions. ``python tests/test_layers.py`` prints the layer map and every offending edge."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "platform" / "ncsweep"

#: Lowest first. A module belongs to the layer of its folder under ``ncsweep/`` (a module at
#: the top of the package is a unit of its own): foundation, plain Python every layer may
#: use; libraries and core, plain PyTorch (specs, losses, geometry, data, models; one training
#: run and the evaluation suites), importing neither Ray nor MLflow; tracking, the one door
#: to MLflow; plan, a sweep's description; runtime, Ray Train and Tune; features, what the
#: commands do; interface, the CLI and the package's public names.
LAYERS: dict[str, tuple[str, ...]] = {
    "foundation": (
        "_environment",
        "_shipped",
        "defaults",
        "metric_keys",
        "redact",
        "registry",
        "status",
    ),
    "libraries": ("config", "losses", "geometry", "models", "data", "uncertainty"),
    "core": ("train", "evaluate"),
    "tracking": ("tracking",),
    "plan": ("plan",),
    "runtime": ("runtime",),
    "features": ("sweep", "study", "report"),
    "interface": ("cli", "__init__", "__main__"),
}

#: Layers whose modules may import neither Ray nor MLflow (plain PyTorch).
PLAIN_LAYERS = ("foundation", "libraries", "core")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _without_type_checking(tree: ast.Module) -> ast.Module:
    """The tree without ``if TYPE_CHECKING:`` blocks (annotations only, never run)."""
    for node in ast.walk(tree):
        for field in ("body", "orelse"):
            block = getattr(node, field, None)
            if isinstance(block, list):
                block[:] = [
                    n
                    for n in block
                    if not (isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test))
                ]
    return tree


def _lazy_imports(node: ast.AST) -> list[ast.ImportFrom]:
    """A package's ``_LAZY`` table (public name -> module relative to the package, imported by
    its PEP 562 ``__getattr__``), as the imports it performs: ``"metrics"`` and ``".metrics"``
    are ``from . import metrics``, ``"..plan.plan"`` is ``from ..plan import plan``."""
    target = node.target if isinstance(node, ast.AnnAssign) else None
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target = node.targets[0]
    value = getattr(node, "value", None)
    if not (isinstance(target, ast.Name) and target.id == "_LAZY" and isinstance(value, ast.Dict)):
        return []
    found = []
    for item in value.values:
        if isinstance(item, ast.Constant) and isinstance(item.value, str):
            dotted = item.value.lstrip(".")
            level = max(1, len(item.value) - len(dotted))
            parent, _, module = dotted.rpartition(".")
            found.append(
                ast.ImportFrom(module=parent or None, names=[ast.alias(module)], level=level)
            )
    return found


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The package modules ``name`` imports anywhere in its file (``from a import b``
    counts as ``a.b`` when ``b`` is a module)."""
    found: set[str] = set()
    for node in ast.walk(_without_type_checking(ast.parse(path.read_text(), str(path)))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            targets = []
            for imp in [node] if isinstance(node, ast.ImportFrom) else _lazy_imports(node):
                base = _resolve(name, path.name == "__init__.py", imp)
                targets += [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in imp.names
                ]
        for target in targets:
            while target and target not in known:  # `import ncsweep.x.y` as far as it exists
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imports(name, path, known) for name, path in found.items()}


def unit_of(name: str) -> str:
    """The folder (or top-level module) of ``ncsweep.a.b``: ``a``; the package itself: ``__init__``."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def layer_of(name: str) -> tuple[int, str]:
    unit = unit_of(name)
    for index, (layer, units) in enumerate(LAYERS.items()):
        if unit in units:
            return index, layer
    raise AssertionError(f"{name}: its folder {unit!r} is in no layer: add it to LAYERS")


def upward_edges(edges: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{a} ({layer_of(a)[1]}) -> {b} ({layer_of(b)[1]})"
        for a, targets in edges.items()
        for b in targets
        if layer_of(b)[0] > layer_of(a)[0]
    )


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(found)


def cycle_edges(edges: dict[str, set[str]], component: list[str]) -> list[str]:
    members = set(component)
    return sorted(f"{a} -> {b}" for a in component for b in edges[a] & members)


def test_every_module_has_a_layer():
    for name in modules():
        layer_of(name)


def test_imports_only_go_down():
    bad = upward_edges(graph())
    assert not bad, "imports from a lower layer to a higher one:\n" + "\n".join(bad)


def test_no_import_cycles():
    edges = graph()
    found = cycles(edges)
    text = "\n\n".join("\n".join(cycle_edges(edges, c)) for c in found)
    assert not found, f"import cycles ({len(found)}), their edges:\n{text}"


def folder_graph(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """Which folders import which (edges between modules of two different folders)."""
    folders: dict[str, set[str]] = {}
    for a, targets in edges.items():
        folders.setdefault(unit_of(a), set()).update(
            unit_of(b) for b in targets if unit_of(b) != unit_of(a)
        )
    return folders


def test_no_cycles_between_folders():
    """Two folders of one layer may import each other's modules in one direction only
    (``train/`` and ``evaluate/`` once imported each other)."""
    folders = folder_graph(graph())
    found = cycles(folders)
    text = "\n\n".join("\n".join(cycle_edges(folders, c)) for c in found)
    assert not found, f"folders that import each other ({len(found)}):\n{text}"


def third_party_imports(path: Path) -> set[str]:
    """Top-level names of the packages a module imports anywhere (deferred imports too)."""
    found: set[str] = set()
    for node in ast.walk(_without_type_checking(ast.parse(path.read_text(), str(path)))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_plain_layers_import_neither_ray_nor_mlflow():
    bad = sorted(
        f"{name} imports {sorted(third_party_imports(path) & {'ray', 'mlflow'})}"
        for name, path in modules().items()
        if layer_of(name)[1] in PLAIN_LAYERS and third_party_imports(path) & {"ray", "mlflow"}
    )
    assert not bad, "plain-PyTorch layers that import Ray or MLflow:\n" + "\n".join(bad)


def test_only_tracking_imports_mlflow():
    """``tracking/`` is the one door to MLflow: the features and the runtime read and write
    through its store and helpers (deferred imports count too)."""
    bad = sorted(
        name
        for name, path in modules().items()
        if unit_of(name) != "tracking" and "mlflow" in third_party_imports(path)
    )
    assert not bad, "modules outside ncsweep.tracking that import mlflow:\n" + "\n".join(bad)


def test_graph_sees_deferred_and_relative_imports():
    """The walker itself: a function-level relative import is an edge (today's
    ``cli/train.py`` imports the driver inside its command)."""
    edges = graph()
    assert "ncsweep.config" in edges["ncsweep.cli.train"]
    assert "ncsweep.runtime.trainer" in edges["ncsweep.cli.train"]


@pytest.mark.slow  # a fresh interpreter per module, each importing torch
@pytest.mark.parametrize(
    "module",
    [
        "ncsweep.train.core",
        "ncsweep.train.probes",
        "ncsweep.evaluate.hook",
        "ncsweep.losses",
        "ncsweep.geometry",
        "ncsweep.models",
        "ncsweep.data",
        "ncsweep.config",
    ],
)
def test_training_core_and_leaves_import_without_ray(module):
    """In a fresh interpreter: what a plain-PyTorch user imports loads neither Ray nor MLflow."""
    code = (
        f"import sys, {module}; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'ray', 'mlflow'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]", f"{module} imports {out.stdout.strip()}"


if __name__ == "__main__":
    edges = graph()
    for layer, _ in LAYERS.items():
        members = [m for m in sorted(edges) if layer_of(m)[1] == layer]
        print(f"{layer}: {', '.join(members)}\n")
    print("upward:", *upward_edges(edges), sep="\n  ")
    for component in cycles(edges):
        print("cycle:", *cycle_edges(edges, component), sep="\n  ")
