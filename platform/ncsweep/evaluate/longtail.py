"""Suite ``longtail``: accuracy on the balanced test set by how often a class was trained on.

A run trained on a long-tailed split (``data.imbalance``; the LDAM profile
``n_i = n_max · ratio^(i/(K−1))``, ``data.longtail``) is scored on its balanced validation
set with its own classifier, overall and per group of classes by training-set size:
many (> 100 images), medium (20–100), few (< 20), as in Liu et al. (OLTR) and the paper.
A group with no class is reported as empty (``None``), never as 0 %.

Compared with a baseline run: the difference in points and relative (%), per group.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ._registry import SuiteKey, SuiteResult, register_suite
from .subject import Subject

__all__ = ["GROUPS", "class_groups", "group_accuracy", "compare_longtail"]

GROUPS = ("many", "medium", "few")


def class_groups(
    class_counts: Sequence[int], many: int = 100, few: int = 20
) -> dict[str, list[int]]:
    """``{"many": [c, ...], "medium": [...], "few": [...]}``: > many, [few, many], < few images."""
    counts = np.asarray(class_counts)
    return {
        "many": np.flatnonzero(counts > many).tolist(),
        "medium": np.flatnonzero((counts >= few) & (counts <= many)).tolist(),
        "few": np.flatnonzero(counts < few).tolist(),
    }


def group_accuracy(
    pred: np.ndarray,
    labels: np.ndarray,
    class_counts: Sequence[int],
    many: int = 100,
    few: int = 20,
) -> dict[str, float | None]:
    """Accuracy overall and per group (samples of the group's classes); ``None`` if empty."""
    pred, labels = np.asarray(pred), np.asarray(labels)
    out: dict[str, float | None] = {
        "overall": float((pred == labels).mean()) if len(labels) else None
    }
    for group, classes in class_groups(class_counts, many, few).items():
        mask = np.isin(labels, classes)
        out[group] = float((pred[mask] == labels[mask]).mean()) if mask.any() else None
    return out


def compare_longtail(
    result: Mapping[str, float | None], baseline: Mapping[str, float | None]
) -> dict[str, float | None]:
    """Per group: ``gain_points/<g>`` = 100·(a − b), ``gain_relative/<g>`` = 100·(a − b)/b."""
    out: dict[str, float | None] = {}
    for group in ("overall", *GROUPS):
        a, b = result.get(f"acc/{group}"), baseline.get(f"acc/{group}")
        if a is None or b is None:
            out[f"gain_points/{group}"] = out[f"gain_relative/{group}"] = None
            continue
        out[f"gain_points/{group}"] = 100 * (a - b)
        out[f"gain_relative/{group}"] = 100 * (a - b) / b if b else None
    return out


_SPLITS = {"group": ("overall", *GROUPS)}

KEYS = (
    SuiteKey("acc/<group>", "max", "balanced-test accuracy overall or on a group", _SPLITS),
    SuiteKey("classes/<group>", None, "classes in the group", {"group": GROUPS}),
    SuiteKey("gain_points/<group>", "max", "accuracy minus the baseline's (points)", _SPLITS, True),
    SuiteKey("gain_relative/<group>", "max", "100·(a − b)/b against the baseline", _SPLITS, True),
)


@register_suite("longtail", keys=KEYS, compare=compare_longtail)
def run_longtail(subject: Subject, *, many: int = 100, few: int = 20) -> SuiteResult:
    """Balanced-test accuracy overall and on many / medium / few-shot classes."""
    counts = list(subject.bundle.class_counts)
    z, y = subject.encode(subject.bundle.val, "val")
    acc = group_accuracy(subject.predict(z).numpy(), y.numpy(), counts, many, few)
    groups = class_groups(counts, many, few)
    metrics: dict[str, float | None] = {f"acc/{k}": v for k, v in acc.items()}
    metrics.update({f"classes/{g}": float(len(c)) for g, c in groups.items()})
    rows = [{"group": "overall", "classes": len(counts), "accuracy": acc["overall"]}]
    rows += [{"group": g, "classes": len(groups[g]), "accuracy": acc[g]} for g in GROUPS]
    return SuiteResult(metrics, rows)
