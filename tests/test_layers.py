"""The package's import graph only points downward (issue 19, "an acyclic house").

Every import of every module of ``platform/ncsweep`` counts, module-level and inside
functions (a deferred import hides a cycle, it does not remove it), relative imports
resolved; only ``if TYPE_CHECKING:`` blocks (never run) are left out. Each module belongs to one layer (``LAYERS``, longest prefix wins); an import may
stay in its layer or go down, never up, and no set of modules may import each other in a
cycle. ``python tests/test_layers.py`` prints the layer map and every offending edge.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "platform" / "ncsweep"

#: Lowest first. leaf: specs, registries, the plain-PyTorch libraries; core: one training
#: run in plain PyTorch and what measures a trained model (no Ray); orchestration: Ray,
#: MLflow, sweeps and studies; top: what a person calls (report, CLI).
LAYERS: dict[str, tuple[str, ...]] = {
    "leaf": (
        "ncsweep._environment",
        "ncsweep._shipped",
        "ncsweep.config",
        "ncsweep.data",
        "ncsweep.defaults",
        "ncsweep.geometry",
        "ncsweep.losses",
        "ncsweep.metric_keys",
        "ncsweep.models",
        "ncsweep.redact",
        "ncsweep.registry",
        "ncsweep.status",
    ),
    "core": (
        "ncsweep.train",  # the package itself re-exports the core only
        "ncsweep.train._malloc",
        "ncsweep.train.checkpoint",
        "ncsweep.train.core",
        "ncsweep.train.distributed",
        "ncsweep.train.evaluation",
        "ncsweep.train.optimization",
        "ncsweep.train.probes",
        "ncsweep.train.sampling",
        "ncsweep.evaluate",  # the suites and the hooks that run them at the end of a run
        "ncsweep.preflight",
    ),
    "orchestration": (
        "ncsweep.tracking",
        "ncsweep.train._node_probe",
        "ncsweep.train._ray_private",
        "ncsweep.train.cluster",
        "ncsweep.train.failures",
        "ncsweep.train.local_ray",
        "ncsweep.train.mlflow_hooks",
        "ncsweep.train.ray_train",
        "ncsweep.train.trainer",
        "ncsweep.evaluate.runs",  # ``ncsweep evaluate``: runs and results in MLflow
        "ncsweep.evaluate.runner",
        "ncsweep.sweep",
        "ncsweep.study",
    ),
    "top": (
        "ncsweep",
        "ncsweep.__main__",
        "ncsweep.cli",
        "ncsweep.report",
        "ncsweep.summary",
    ),
}

#: Edges that break the rules today and are being removed (the rewrite of sweep/ and
#: study/). Nothing may be added here.
ALLOWED: set[tuple[str, str]] = set()  # imports that break the layering on purpose: none


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


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The package modules ``name`` imports anywhere in its file (``from a import b``
    counts as ``a.b`` when ``b`` is a module)."""
    found: set[str] = set()
    for node in ast.walk(_without_type_checking(ast.parse(path.read_text(), str(path)))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(name, path.name == "__init__.py", node)
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names
            ]
        else:
            continue
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


def layer_of(name: str) -> tuple[int, str]:
    best = (-1, 0, "")
    for index, (layer, prefixes) in enumerate(LAYERS.items()):
        for prefix in prefixes:
            if name == prefix or name.startswith(prefix + "."):
                best = max(best, (len(prefix), index, layer))
    if best[0] < 0:
        raise AssertionError(f"{name} is in no layer: add it to LAYERS")
    return best[1], best[2]


def upward_edges(edges: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{a} ({layer_of(a)[1]}) -> {b} ({layer_of(b)[1]})"
        for a, targets in edges.items()
        for b in targets
        if (a, b) not in ALLOWED and layer_of(b)[0] > layer_of(a)[0]
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
            if (v, w) in ALLOWED:
                continue
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
    return sorted(
        f"{a} -> {b}" for a in component for b in edges[a] & members if (a, b) not in ALLOWED
    )


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


def test_allowed_edges_still_exist():
    """An exception that no longer happens is removed from ``ALLOWED``."""
    edges = graph()
    stale = sorted(f"{a} -> {b}" for a, b in ALLOWED if b not in edges.get(a, ()))
    assert not stale, "ALLOWED edges that the code no longer has:\n" + "\n".join(stale)


def test_graph_sees_deferred_and_relative_imports():
    """The walker itself: a function-level relative import is an edge (today's
    ``cli/train.py`` imports the driver inside its command)."""
    edges = graph()
    assert "ncsweep.config" in edges["ncsweep.cli.train"]
    assert "ncsweep.train.trainer" in edges["ncsweep.cli.train"]


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
