"""Which MLflow metric keys a dashboard may name (derived from the geometry registry).

Fixed keys are the training loop's; NC keys are ``<prefix>/<name>`` for every name in
:data:`ncsweep.geometry.METRIC_NAMES`; evaluations are ``eval/<suite>/<key>`` (``eval/*``
selects all of them).
"""

from __future__ import annotations

from ..geometry import METRIC_NAMES

__all__ = ["FIXED_KEYS", "NC_PREFIXES", "EVAL_PREFIX", "is_known_metric", "known_metric_keys"]

FIXED_KEYS: tuple[str, ...] = (
    "train/loss",
    "val/loss",
    "val/acc1",
    "val/acc5",
    "val/acc1_prototypes",
    "val/acc1_probe",
    "val/acc1_normprobe",
    "epoch",
    "lr",
    "step",
    "total_steps",
    "objective/nc_steps",
)
NC_PREFIXES: tuple[str, ...] = ("nc", "nc_score", "nc_iters", "val_nc", "val_nc_score")
EVAL_PREFIX = "eval/"


def known_metric_keys() -> list[str]:
    """Every key a panel may name, besides ``eval/...``."""
    return [*FIXED_KEYS, *(f"{p}/{n}" for p in NC_PREFIXES for n in METRIC_NAMES)]


def is_known_metric(key: str) -> bool:
    if key == "eval/*" or (key.startswith(EVAL_PREFIX) and key.count("/") >= 2):
        return True
    return key in known_metric_keys()
