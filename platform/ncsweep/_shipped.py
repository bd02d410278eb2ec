"""Folders that live at the top of the repository and ship inside the package.

``search_spaces/`` and ``dashboards/`` stay at the top of the repository, where users edit
them and where a checkout or an editable install reads them in place. A regular install
(``pip install .``, the cluster image) gets a copy inside the package, ``ncsweep/<name>``:
setup.py lists which folders and files.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

__all__ = ["MissingShippedFiles", "shipped_dir"]


class MissingShippedFiles(RuntimeError):
    """Files that ship with ncsweep are not where the installation should have put them:
    an installation fault, not a user mistake (the CLI exits 1)."""


def shipped_dir(name: str) -> Path:
    """The copy a regular install ships inside the package (``ncsweep/<name>``), else
    ``<repo>/<name>`` next to the package source (a checkout or an editable install, which
    ship no copy), else ``./<name>`` (a Ray job's working directory). Read at each call."""
    shipped = Path(str(importlib.resources.files("ncsweep") / name))
    if shipped.is_dir():
        return shipped
    beside = Path(__file__).resolve().parents[2] / name
    return beside if beside.is_dir() else Path.cwd() / name
