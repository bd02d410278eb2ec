"""Every third-party module the package imports is a dependency pyproject.toml declares."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "platform" / "ncsweep"


def _imported_top_levels() -> dict[str, set[str]]:
    """``{top-level module: files importing it}`` for absolute imports outside the stdlib."""
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.partition(".")[0]
                if top != "ncsweep" and top not in sys.stdlib_module_names:
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> set[str]:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return {_canonical(re.match(r"[A-Za-z0-9_.\-]+", d).group()) for d in dependencies}


def test_every_imported_third_party_module_is_declared():
    distributions = importlib.metadata.packages_distributions()
    declared = _declared()
    missing = {}
    for module, files in _imported_top_levels().items():
        owners = {_canonical(d) for d in distributions.get(module, [])}
        if not owners & declared:
            missing[module] = (sorted(owners) or ["not installed"], sorted(files))
    assert not missing, f"imported but not in pyproject.toml dependencies: {missing}"


def test_the_walk_sees_the_package_imports():
    imported = _imported_top_levels()
    assert {"torch", "ray", "mlflow", "PIL", "scipy"} <= set(imported)
    assert "os" not in imported and "ncsweep" not in imported
