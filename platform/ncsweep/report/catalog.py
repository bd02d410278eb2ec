"""Which MLflow metric keys a dashboard may name (derived from ``metric_keys`` and the
geometry registry).

Fixed keys are ``ncsweep.metric_keys.FIXED_KEYS``; NC keys are ``<prefix>/<name>`` for every name in
:data:`ncsweep.geometry.METRIC_NAMES`; evaluations are ``eval/<suite>/<key>`` (``eval/*``
selects all of them).
"""

from __future__ import annotations

from .. import metric_keys as keys
from ..geometry import METRIC_NAMES

__all__ = ["FIXED_KEYS", "NC_PREFIXES", "EVAL_PREFIX", "is_known_metric", "known_metric_keys"]

FIXED_KEYS: tuple[str, ...] = keys.FIXED_KEYS
NC_PREFIXES: tuple[str, ...] = tuple(p.rstrip("/") for p in keys.NC_PREFIXES)
EVAL_PREFIX = "eval/"


def known_metric_keys() -> list[str]:
    """Every key a panel may name, besides ``eval/...``."""
    return [*FIXED_KEYS, *(f"{p}/{n}" for p in NC_PREFIXES for n in METRIC_NAMES)]


def is_known_metric(key: str) -> bool:
    if key == "eval/*" or (key.startswith(EVAL_PREFIX) and key.count("/") >= 2):
        return True
    return key in known_metric_keys()
