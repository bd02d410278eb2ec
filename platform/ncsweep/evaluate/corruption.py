"""Suite ``corruption``: error under the 15 corruptions × 5 severities, and mCE.

Images come from the published set when ``root`` holds one (CIFAR-10-C/100-C arrays or
ImageNet-C folders, ``data.corrupted.find_published``), otherwise they are generated from the
run's clean test split (``data.corruptions``: CIFAR-10-C parameters for images under ~85 px,
ImageNet-C parameters above; seeded, cached).

Per corruption c and severity s the run's error ``E_{s,c}`` (its own classifier); the
unnormalised mean error ``mean_c mean_s E_{s,c}``; and against a baseline run b
(Hendrycks & Dietterich 2019):

    CE_c = Σ_s E_{s,c} / Σ_s E^b_{s,c}                       mCE = 100 · mean_c CE_c
    relCE_c = Σ_s (E_{s,c} − E_clean) / Σ_s (E^b_{s,c} − E^b_clean)   relative mCE likewise

so the baseline's own mCE is exactly 100.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..data.corrupted_sets import clean_source, find_published, generated_set
from ..data.corruption_ops import CORRUPTIONS, SEVERITIES, plan_for
from ..data.transforms import CIFAR10_STATS, CIFAR100_STATS, IMAGENET_STATS
from ._registry import SuiteKey, SuiteResult, register_suite
from .subject import Subject

__all__ = ["compare_corruption", "mean_corruption_error"]

#: uint8 N×H×W×C images -> the model's N×C×H×W input
ToInput = Callable[[np.ndarray], torch.Tensor]

_STATS = {"cifar10": CIFAR10_STATS, "cifar100": CIFAR100_STATS, "imagenet": IMAGENET_STATS}


def _normalizer(dataset: str) -> ToInput:
    if dataset not in _STATS:
        raise ValueError(
            f"corruption: a published set needs a run trained on {', '.join(_STATS)}; this "
            f"run trained on {dataset!r} (leave the root out to generate corrupted images)"
        )
    mean, std = (torch.tensor(s).view(1, 3, 1, 1) for s in _STATS[dataset])

    def to_input(batch: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(batch).astype(np.float32) / 255.0).permute(
            0, 3, 1, 2
        )
        return (x - mean) / std

    return to_input


def _error(subject: Subject, images: np.ndarray, labels: np.ndarray, to_input: ToInput) -> float:
    expected = subject.input_shape
    if images.shape[1:3] != expected[1:] or images.shape[3] != expected[0]:
        raise ValueError(
            f"corruption: images are {images.shape[1:]} (H×W×C) but the model takes "
            f"{expected} (C×H×W)"
        )
    z, y = subject.encode_arrays(images, labels, to_input)
    return float((subject.predict(z) != y).float().mean())


def _imagenet_c(folder: Path, classes: list[str], size: int) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for label, wnid in enumerate(classes):
        for path in sorted((folder / wnid).glob("*")):
            with Image.open(path) as opened:
                img = opened.convert("RGB")
                scale = size / min(img.size)
                img = img.resize(
                    (max(size, round(img.width * scale)), max(size, round(img.height * scale)))
                )
                left, top = (img.width - size) // 2, (img.height - size) // 2
                images.append(np.asarray(img.crop((left, top, left + size, top + size))))
                labels.append(label)
    if not images:
        raise ValueError(f"corruption: no images of the run's classes under {folder}")
    return np.stack(images), np.asarray(labels)


def _subset(
    images: np.ndarray, labels: np.ndarray, limit: int | None, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    if limit is None or limit >= len(labels):
        return images, labels
    idx = np.sort(np.random.default_rng(seed).permutation(len(labels))[:limit])
    return images[idx], labels[idx]


def mean_corruption_error(errors: dict[str, dict[int, float]]) -> float:
    """Unnormalised mean error over corruptions and severities."""
    return float(np.mean([np.mean(list(by_s.values())) for by_s in errors.values()]))


def _per_severity(metrics: Mapping[str, float | None]) -> dict[str, dict[int, float]]:
    out: dict[str, dict[int, float]] = {}
    for key, value in metrics.items():
        parts = key.split("/")
        if len(parts) == 3 and parts[0] == "error" and value is not None:
            out.setdefault(parts[1], {})[int(parts[2])] = float(value)
    return out


def compare_corruption(
    result: Mapping[str, float | None], baseline: Mapping[str, float | None]
) -> dict[str, float | None]:
    """``ce/<c>``, ``mce`` (baseline = 100), ``relative_ce/<c>``, ``relative_mce``."""
    run, base = _per_severity(result), _per_severity(baseline)
    clean, base_clean = result.get("clean_error"), baseline.get("clean_error")
    out: dict[str, float | None] = {}
    ces, rel = [], []
    for c in run:
        severities = sorted(set(run[c]) & set(base.get(c, {})))
        if not severities:
            continue
        num = sum(run[c][s] for s in severities)
        den = sum(base[c][s] for s in severities)
        ce = num / den if den > 0 else None
        out[f"ce/{c}"] = None if ce is None else 100 * ce
        if ce is not None:
            ces.append(ce)
        if clean is not None and base_clean is not None:
            rden = sum(base[c][s] - base_clean for s in severities)
            rce = sum(run[c][s] - clean for s in severities) / rden if rden > 0 else None
            out[f"relative_ce/{c}"] = None if rce is None else 100 * rce
            if rce is not None:
                rel.append(rce)
    out["mce"] = 100 * float(np.mean(ces)) if ces else None
    out["relative_mce"] = 100 * float(np.mean(rel)) if rel else None
    return out


_C = {"corruption": tuple(CORRUPTIONS)}

KEYS = (
    SuiteKey("clean_error", "min", "error on the clean test images"),
    SuiteKey("mean_error", "min", "unnormalised mean error over corruptions and severities"),
    SuiteKey("error/<corruption>", "min", "mean error over severities", _C),
    SuiteKey(
        "error/<corruption>/<severity>",
        "min",
        "error at one severity",
        {**_C, "severity": tuple(map(str, SEVERITIES))},
    ),
    SuiteKey("ce/<corruption>", "min", "corruption error relative to the baseline", _C, True),
    SuiteKey("mce", "min", "mean corruption error (baseline = 100)", baseline=True),
    SuiteKey("relative_ce/<corruption>", "min", "relative CE against the baseline", _C, True),
    SuiteKey("relative_mce", "min", "relative mCE (baseline = 100)", baseline=True),
)


@register_suite("corruption", keys=KEYS, compare=compare_corruption)
def run_corruption(
    subject: Subject,
    *,
    root: str | None = None,
    corruptions: tuple[str, ...] = tuple(CORRUPTIONS),
    severities: tuple[int, ...] = SEVERITIES,
    seed: int = 0,
    limit: int | None = None,
    cache_dir: str | None = None,
) -> SuiteResult:
    """Error per corruption and severity (published sets, else generated), mean error."""
    unknown = [c for c in corruptions if c not in CORRUPTIONS]
    bad = [s for s in severities if s not in SEVERITIES]
    if unknown or bad:
        raise ValueError(
            f"corruption: unknown corruptions {unknown} or severities {bad}; allowed: "
            f"{', '.join(CORRUPTIONS)}; severities {SEVERITIES}"
        )
    spec = subject.spec
    source = find_published(root)
    errors: dict[str, dict[int, float]] = {}
    kind = source.kind
    if source.kind == "generated":
        clean = clean_source(
            spec.data.name, root=spec.data.root, seed=spec.run.seed, options=spec.data.options
        )
        images, labels = _subset(clean.images, clean.labels, limit, seed)
        clean.images, clean.labels = images, labels
        clean_error = _error(subject, images, labels, clean.to_input)
        table, k = plan_for(*images.shape[1:3])
        kind = f"generated, {table.name} parameters at {k * images.shape[1]} px"
        for c in corruptions:
            errors[c] = {
                s: _error(
                    subject, generated_set(clean, c, s, seed, cache_dir), labels, clean.to_input
                )
                for s in severities
            }
    else:
        # the published sets corrupt the official test split (imagenet_shards: its val)
        bundle = subject.bundle
        clean_split = bundle.test if bundle.test is not None else bundle.val
        z, y = subject.encode(clean_split, "test" if bundle.test is not None else "val")
        clean_error = float((subject.predict(z) != y).float().mean())
        for c in corruptions:
            errors[c] = {}
            for s in severities:
                if source.kind == "cifar-c":
                    images, labels = source.cifar_c(c, s)
                    to_input = _normalizer(spec.data.name)
                else:
                    classes = list(getattr(clean_split, "classes", []))
                    images, labels = _imagenet_c(
                        source.imagenet_c_folder(c, s), classes, subject.input_shape[1]
                    )
                    to_input = _normalizer("imagenet")
                images, labels = _subset(images, labels, limit, seed)
                errors[c][s] = _error(subject, images, labels, to_input)
    metrics: dict[str, float | None] = {
        "clean_error": clean_error,
        "mean_error": mean_corruption_error(errors),
    }
    for c, by_s in errors.items():
        metrics[f"error/{c}"] = float(np.mean(list(by_s.values())))
        metrics.update({f"error/{c}/{s}": e for s, e in by_s.items()})
    rows = [
        {"corruption": c, **{f"s{s}": by_s[s] for s in sorted(by_s)}, "mean": metrics[f"error/{c}"]}
        for c, by_s in errors.items()
    ]
    rows.append({"corruption": f"clean ({kind})", "mean": clean_error})
    return SuiteResult(metrics, rows)
