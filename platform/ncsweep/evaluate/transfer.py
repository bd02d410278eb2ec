"""Suite ``transfer``: the frozen encoder, a linear probe per target dataset.

Targets (:data:`TARGETS`):

- the torchvision datasets of ``data.transfer`` (Flowers102, DTD, OxfordIIITPet,
  StanfordCars, FGVCAircraft, Food101, Caltech101, SUN397) and ``cifar10``/``cifar100``, read
  from ``root`` (local or ``s3://``) in their usual layouts, resized to the encoder's input;
- two that always work offline, for digits-sized encoders (1×8×8):
  ``digits_5to9``: probe on digits 5–9 (train the source run on ``digits_subset``, classes
  0–4, to make it a transfer); ``digits_corrupted``: digits where every image carries one of
  the 15 corruptions (seeded, severity 3), probe fitted and scored in that domain.

The probe is ``logistic.linear_probe`` (C chosen on held-out training features), scored with
mean per-class accuracy where the dataset's protocol uses it
(``data.transfer.MEAN_PER_CLASS``), top-1 otherwise. Against a baseline run: the relative
improvement per target, ``100·(a − b)/b``, and its mean over targets (the paper's +5.5 %).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from ..data import DataBundle, DatasetNotFoundError, create_dataset
from ..data.corrupted_sets import clean_source, generated_set
from ..data.corruption_ops import CORRUPTIONS
from ..data.transfer import MEAN_PER_CLASS, TRANSFER_DATASETS
from ._registry import SuiteKey, SuiteResult, register_suite
from .logistic import C_GRID, linear_probe
from .subject import Subject

__all__ = ["TARGETS", "OFFLINE_TARGETS", "compare_transfer"]

DIGITS_SHAPE = (1, 8, 8)

#: train z, train y, test z, test y (numpy)
Features = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Target:
    """``features(subject, root, seed) -> (train z, train y, test z, test y)`` (numpy)."""

    features: Callable[[Subject, str | None, int], Features]
    mean_per_class: bool
    offline: bool


def _need_shape(subject: Subject, shape: tuple[int, int, int], target: str) -> None:
    if subject.input_shape != shape:
        raise ValueError(
            f"transfer target {target} feeds {shape} (C×H×W) images; this encoder takes "
            f"{subject.input_shape}"
        )


def _encode_bundle(subject: Subject, bundle: DataBundle) -> Features:
    """Fit on the whole fit split (``train_eval`` and ``val``: the probe holds out its own
    part to choose C), score on the target's ``test`` split."""
    fit = [subject.encode(split) for split in (bundle.train_eval, bundle.val)]
    sz, sy = subject.encode(bundle.require_test())
    fz, fy = (torch.cat(parts).numpy() for parts in zip(*fit, strict=True))
    return fz, fy, sz.numpy(), sy.numpy()


def _digits_5to9(subject: Subject, root: str | None, seed: int) -> Features:
    _need_shape(subject, DIGITS_SHAPE, "digits_5to9")
    bundle = create_dataset(
        "digits_subset", augment=False, seed=subject.spec.run.seed, classes=(5, 6, 7, 8, 9)
    )
    return _encode_bundle(subject, bundle)


def _digits_corrupted(subject: Subject, root: str | None, seed: int) -> Features:
    _need_shape(subject, DIGITS_SHAPE, "digits_corrupted")
    out: list[tuple[np.ndarray, np.ndarray]] = []
    for split in ("train", "test"):
        source = clean_source("digits", root=None, seed=subject.spec.run.seed, split=split)
        pick = np.random.default_rng([seed, len(split)]).integers(
            len(CORRUPTIONS), size=len(source.labels)
        )
        images = source.images.copy()
        for i, name in enumerate(CORRUPTIONS):
            rows = pick == i
            if rows.any():
                images[rows] = generated_set(source, name, 3, seed)[rows]
        z, y = subject.encode_arrays(images, source.labels, source.to_input)
        out.append((z.numpy(), y.numpy()))
    (train_z, train_y), (test_z, test_y) = out
    return train_z, train_y, test_z, test_y


def _registry_target(name: str) -> Callable[[Subject, str | None, int], Features]:
    def features(subject: Subject, root: str | None, seed: int) -> Features:
        if root is None:
            raise DatasetNotFoundError(
                f"transfer target {name} needs a root: --option transfer.root=DIR or s3://..."
            )
        c, h, _ = subject.input_shape
        if name in ("cifar10", "cifar100"):
            _need_shape(subject, (3, 32, 32), name)
            bundle = create_dataset(name, root=root, augment=False)
        else:
            bundle = create_dataset(name, root=root, augment=False, image_size=h, channels=c)
        return _encode_bundle(subject, bundle)

    return features


TARGETS: dict[str, Target] = {
    **{
        n: Target(_registry_target(n), n in MEAN_PER_CLASS, False)
        for n in (*TRANSFER_DATASETS, "cifar10", "cifar100")
    },
    "digits_5to9": Target(_digits_5to9, False, True),
    "digits_corrupted": Target(_digits_corrupted, False, True),
}
OFFLINE_TARGETS = tuple(n for n, t in TARGETS.items() if t.offline)


def _default_targets(subject: Subject, root: str | None) -> list[str]:
    if root is not None:
        return [n for n, t in TARGETS.items() if not t.offline]
    if subject.input_shape == DIGITS_SHAPE:
        return list(OFFLINE_TARGETS)
    raise DatasetNotFoundError(
        "transfer: this encoder takes "
        f"{subject.input_shape} images and the offline targets ({', '.join(OFFLINE_TARGETS)}) "
        "are digits-sized; give --option transfer.root=DIR (torchvision layouts) and "
        f"optionally transfer.targets=[...] from {', '.join(TARGETS)}"
    )


def compare_transfer(
    result: Mapping[str, float | None], baseline: Mapping[str, float | None]
) -> dict[str, float | None]:
    """``gain_points/<t>``, ``gain_relative/<t>`` = 100·(a − b)/b, ``gain_relative/mean``."""
    out: dict[str, float | None] = {}
    gains = []
    for key, a in result.items():
        parts = key.split("/")
        if len(parts) != 2 or parts[0] != "acc" or parts[1] == "mean":
            continue
        b = baseline.get(key)
        if a is None or b is None:
            continue
        out[f"gain_points/{parts[1]}"] = 100 * (a - b)
        out[f"gain_relative/{parts[1]}"] = 100 * (a - b) / b if b else None
        if b:
            gains.append(100 * (a - b) / b)
    out["gain_relative/mean"] = float(np.mean(gains)) if gains else None
    return out


_T = {"target": tuple(TARGETS)}

KEYS = (
    SuiteKey("acc/<target>", "max", "linear-probe accuracy on the target", _T),
    SuiteKey("acc/mean", "max", "mean accuracy over the targets"),
    SuiteKey("gain_points/<target>", "max", "accuracy minus the baseline's (points)", _T, True),
    SuiteKey("gain_relative/<target>", "max", "100·(a − b)/b against the baseline", _T, True),
    SuiteKey("gain_relative/mean", "max", "mean relative gain over targets", baseline=True),
)


@register_suite("transfer", keys=KEYS, compare=compare_transfer)
def run_transfer(
    subject: Subject,
    *,
    targets: tuple[str, ...] | None = None,
    root: str | None = None,
    seed: int = 0,
    c_grid: tuple[float, ...] = C_GRID,
    holdout: float = 0.2,
) -> SuiteResult:
    """A linear probe on the frozen encoder per target dataset."""
    names = list(targets) if targets else _default_targets(subject, root)
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        raise ValueError(f"transfer: unknown target(s) {unknown}; allowed: {', '.join(TARGETS)}")
    metrics: dict[str, float | None] = {}
    rows = []
    for name in names:
        target = TARGETS[name]
        train_z, train_y, test_z, test_y = target.features(subject, root, seed)
        probe = linear_probe(
            train_z,
            train_y,
            test_z,
            test_y,
            c_grid=tuple(c_grid),
            holdout=holdout,
            seed=seed,
            mean_per_class=target.mean_per_class,
        )
        metrics[f"acc/{name}"] = probe.accuracy
        rows.append(
            {
                "target": name,
                "accuracy": probe.accuracy,
                "metric": "mean per-class" if target.mean_per_class else "top-1",
                "C": probe.C,
                "train": len(train_y),
                "test": len(test_y),
            }
        )
    metrics["acc/mean"] = float(np.mean([metrics[f"acc/{n}"] for n in names])) if names else None
    return SuiteResult(metrics, rows)
