"""Where a result came from: git commit and package versions (tags and export files)."""

from __future__ import annotations

import functools
import subprocess
from importlib import metadata
from pathlib import Path

__all__ = ["git_commit", "package_versions", "provenance_tags"]

_PACKAGES = ("ncsweep", "torch", "torchvision", "ray", "optuna", "mlflow", "numpy")


@functools.cache
def git_commit() -> str:
    """HEAD of the checkout the package runs from (``-dirty`` if modified), else ``unknown``."""
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


@functools.cache
def package_versions() -> dict[str, str]:
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def provenance_tags() -> dict[str, str]:
    """``ncsweep.git_commit`` and ``ncsweep.version.<package>`` tags for MLflow."""
    tags = {"ncsweep.git_commit": git_commit()}
    tags.update({f"ncsweep.version.{k}": v for k, v in package_versions().items()})
    return tags
