"""Evaluation during training: accuracy, loss and every NC metric, reduced across workers.

Each rank evaluates a disjoint shard (``sampling.eval_shard``); sums are all-reduced, so the
numbers equal one pass over the whole split in one process. NC statistics come from
``geometry.ClassStats`` (streaming, float64), never from features held in memory.

Which features and prototypes the geometry sees depends on the family:

- classifier losses (``ce``, ``normface``, ``ntce``, ``nonl``): the penultimate feature
  ``z`` (B×D) and the classifier rows ``W`` (K×D); prediction ``argmax(Wz + b)`` for ``ce``,
  ``argmax_c ŵ_c·u`` for the normalised losses;
- ``scl``: the projection-head output ``a`` (B×128) and the fixed class-mean prototypes of
  the training features (the paper's evaluation head), prediction ``argmax_c μ̂_c·â``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Subset

from .. import metric_keys as keys
from ..data import DataBundle
from ..geometry import (
    ClassMeanClassifier,
    ClassStats,
    NCCAgreement,
    collapse_metrics,
    nc_scores,
    single_threaded_blas,
    times_transposed,
)
from ..models import NCModel
from .distributed import all_reduce_
from .distributed import rank as dist_rank
from .distributed import world_size as dist_world_size
from .sampling import eval_shard
from .streaming import StreamedEvalSplit, is_stream

__all__ = [
    "FeatureView",
    "EvalLoaders",
    "make_eval_loaders",
    "evaluate",
    "evaluate_test",
    "split_nc",
]


# An in-memory shard whose inputs fit this many bytes is read as ONE batch (digits: 1,347
# samples of 64 floats, 345 kB): a small model's forward then pays its per-call costs once
# per split. Larger inputs keep the given batch size, which bounds activation memory.
WHOLE_SHARD_BYTES = 4 * 2**20

#: What ``with autocast():`` enters around a forward (:func:`autocast_for`).
Autocast = Callable[[], AbstractContextManager[Any]]


class EvalSplit:
    """This rank's fixed shard of one split, iterated as ``(x, y)`` batches in order.

    A dataset with ``batch(indices)`` (the in-memory ones) is read one gather per batch
    (one batch in all when the shard's inputs fit :data:`WHOLE_SHARD_BYTES`); others go
    through a ``DataLoader`` (per-sample ``__getitem__`` and collation). ``prepare(x)`` on
    the device turns a batch into the model's input: the dataset's ``augment_batch``
    (raw uint8 samples -> ToFloat, Normalize) when it has one, else ``x``."""

    def __init__(
        self, dataset: Any, indices: list[int], batch_size: int, loader_workers: int = 0
    ) -> None:
        self.dataset, self.indices, self.batch_size = dataset, indices, batch_size
        self.prepare = getattr(dataset, "augment_batch", lambda x: x)
        self._loader: DataLoader[Any] | None = None
        if callable(getattr(dataset, "batch", None)):
            if indices:
                x, _ = dataset.batch(indices[:1])
                if len(indices) * x.numel() * x.element_size() <= WHOLE_SHARD_BYTES:
                    self.batch_size = max(batch_size, len(indices))
        else:
            self._loader = DataLoader(
                Subset(dataset, indices),
                batch_size=batch_size,
                shuffle=False,
                num_workers=loader_workers,
            )

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self._loader is not None:
            yield from self._loader
            return
        index = torch.as_tensor(self.indices, dtype=torch.long)
        for start in range(0, len(index), self.batch_size):
            yield self.dataset.batch(index[start : start + self.batch_size])

    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.dataset[0][0].shape)


@dataclass
class EvalLoaders:
    """Each an ``EvalSplit``, or a ``streaming.StreamedEvalSplit`` for a streamed dataset."""

    train: EvalSplit | StreamedEvalSplit  # fixed seeded subset of the un-augmented training
    # set (NC, prototypes)
    val: EvalSplit | StreamedEvalSplit
    train_full: (
        EvalSplit | StreamedEvalSplit
    )  # the whole un-augmented training set (exact SCL prototypes, probes)
    # the held-out test split; only when a run asks for it
    test: EvalSplit | StreamedEvalSplit | None = None


def make_eval_loaders(
    bundle: DataBundle,
    batch_size: int,
    nc_samples: int,
    seed: int,
    loader_workers: int = 0,
    rank: int | None = None,
    world_size: int | None = None,
    test: bool = False,
) -> EvalLoaders:
    """This rank's shards (default: the initialised process group's rank and size);
    ``test``: also the bundle's test split (``DataBundle.require_test``: an error that says
    why where the dataset has none)."""
    r = dist_rank() if rank is None else rank
    w = dist_world_size() if world_size is None else world_size

    def split(dataset: Any, limit: int | None = None) -> EvalSplit | StreamedEvalSplit:
        if is_stream(dataset):  # each rank its share, in the written order
            share = None if limit is None else math.ceil(limit / w)
            return StreamedEvalSplit(dataset.for_rank(r, w), share, batch_size, loader_workers)
        shard = eval_shard(len(dataset), r, w, limit, seed)
        return EvalSplit(dataset, shard, batch_size, loader_workers)

    return EvalLoaders(
        train=split(bundle.train_eval, nc_samples),
        val=split(bundle.val),
        train_full=split(bundle.train_eval),
        test=split(bundle.require_test()) if test else None,
    )


class FeatureView:
    """What evaluation reads off a model for one loss family.

    Args:
        model: an ``NCModel`` (unwrapped from DDP).
        normalized: prediction by cosine (True) or ``Wz + b`` (False).
        projection: use the projection head output and class-mean prototypes (SCL).
    """

    def __init__(self, model: NCModel, normalized: bool, projection: bool) -> None:
        self.model = model
        self.normalized = normalized
        self.projection = projection
        self.class_means: ClassMeanClassifier | None = None

    def features(self, x: torch.Tensor) -> torch.Tensor:
        z = self.model.features(x)
        return self.model.embed(z) if self.projection else z

    def prototypes(self) -> torch.Tensor | None:
        if self.projection:
            return None if self.class_means is None else self.class_means.prototypes
        return self._weight().detach()

    def _weight(self) -> torch.Tensor:
        """K×D classifier rows of a head with prototypes (every head but ``projection``)."""
        weight = self.model.prototypes
        if weight is None:
            raise ValueError(f"head {self.model.head_name!r} has no prototypes: use projection")
        return weight

    def logits(self, feats: torch.Tensor) -> torch.Tensor | None:
        """B×K scores of the classifier the family is evaluated with (None before SCL
        means); no gradient (evaluation only)."""
        if self.projection:
            return None if self.class_means is None else self.class_means.logits(feats)
        weight = self._weight().float()
        if self.normalized:
            return times_transposed(F.normalize(feats.float(), dim=1), F.normalize(weight, dim=1))
        scores = times_transposed(feats.float(), weight)
        bias = self.model.bias
        return scores if bias is None else scores + bias.detach().float()


# Features of one split are kept for the evaluation's later passes (NC agreement, accuracy)
# when they fit this budget (digits: 1,347 × 256 float32, 1.4 MB), as ONE batch: every pass
# then costs one call per step instead of one per loader batch. Larger splits are encoded
# again per pass, batch by batch, so memory never grows with the dataset.
FEATURE_CACHE_BYTES = 256 * 2**20


class _Features:
    """One split's features for one evaluation: encoded once if they fit the budget."""

    def __init__(
        self,
        split: EvalSplit | StreamedEvalSplit,
        view: FeatureView,
        device: torch.device | str,
        autocast: Autocast,
    ) -> None:
        self.split, self.view, self.device, self.autocast = split, view, device, autocast
        self.cached: tuple[torch.Tensor, torch.Tensor] | None = None
        self._over_budget = False

    def _encode(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for x, y in self.split:
            x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            x = self.split.prepare(x)
            with self.autocast():
                feats = self.view.features(x)
            yield feats.float(), y

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """``(features [B, D] float32, labels [B])``: the whole split as one batch when it
        fits the budget, else the loader's batches."""
        if self.cached is not None:
            yield self.cached
            return
        stream = self._encode()
        if self._over_budget:
            yield from stream
            return
        keep: list[tuple[torch.Tensor, torch.Tensor]] = []
        size = 0
        for feats, y in stream:
            keep.append((feats, y))
            size += feats.numel() * feats.element_size()
            if size > FEATURE_CACHE_BYTES:
                self._over_budget = True
                yield from keep
                yield from stream
                return
        if keep:
            one = len(keep) == 1  # a whole shard in one batch: no copy
            self.cached = (
                keep[0]
                if one
                else (torch.cat([f for f, _ in keep]), torch.cat([y for _, y in keep]))
            )
            yield self.cached

    def dim(self) -> int:
        for feats, _ in self:
            return feats.shape[1]
        x = torch.zeros(1, *self.split.sample_shape(), device=self.device)
        return self.view.features(x).shape[1]


def _class_stats(features: _Features, num_classes: int, device: torch.device | str) -> ClassStats:
    stats = None
    for feats, y in features:
        if stats is None:
            stats = ClassStats(num_classes, feats.shape[1], device=device)
        stats.update(feats, y)
    if stats is None:  # this rank's shard is empty: still join the collective
        stats = ClassStats(num_classes, features.dim(), device=device)
    return stats.all_reduce()


def _nc(
    features: _Features, view: FeatureView, stats: ClassStats, initial: dict[str, float] | None
) -> tuple[dict[str, float], dict[str, float]]:
    """Second pass (NC4 agreement) and the metrics; returns (raw, scores)."""
    agreement = NCCAgreement(stats)
    for feats, y in features:
        agreement.update(feats, y, view.logits(feats))
    agreement.all_reduce()
    raw = collapse_metrics(stats, prototypes=view.prototypes(), agreement=agreement)
    return raw, nc_scores(raw, num_classes=stats.num_classes, initial=initial)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    view: FeatureView,
    loaders: EvalLoaders,
    eval_loss: nn.Module,
    num_classes: int,
    device: torch.device | str,
    autocast: Autocast = nullcontext,
    initial: dict[str, float] | None = None,
    val_nc: bool = True,
    exact_prototypes: bool = False,
) -> dict[str, float]:
    """All evaluation metrics, keyed as MLflow logs them (``val/acc1``, ``nc/nc1``, ...).

    Args:
        initial: raw training-set NC metrics at step 0, the reference for the scores.
        exact_prototypes: SCL only: class means over the whole training set (final
            evaluation) instead of the NC subset.
    """
    was_training = model.training
    model.eval()
    try:
        # numpy's BLAS at one thread for the metrics' host maths, entered once
        with single_threaded_blas():
            train = _Features(loaders.train, view, device, autocast)
            val = _Features(loaders.val, view, device, autocast)
            train_stats = _class_stats(train, num_classes, device)
            if view.projection:
                source = train_stats
                if exact_prototypes and len(loaders.train_full) != len(loaders.train):
                    full = _Features(loaders.train_full, view, device, autocast)
                    source = _class_stats(full, num_classes, device)
                view.class_means = ClassMeanClassifier.from_stats(source)
            raw, scores = _nc(train, view, train_stats, initial)
            metrics = keys.prefixed(keys.NC, raw)
            metrics.update(keys.prefixed(keys.NC_SCORE, scores))
            metrics.update(_accuracy(val, view, eval_loss, device, _VAL_KEYS))
            if val_nc:
                val_stats = _class_stats(val, num_classes, device)
                vraw, vscores = _nc(val, view, val_stats, None)
                metrics.update(keys.prefixed(keys.VAL_NC, vraw))
                metrics.update(keys.prefixed(keys.VAL_NC_SCORE, vscores))
            return metrics
    finally:
        model.train(was_training)


@torch.no_grad()
def evaluate_test(
    model: nn.Module,
    view: FeatureView,
    split: EvalSplit | StreamedEvalSplit,
    eval_loss: nn.Module,
    num_classes: int,
    device: torch.device | str,
    autocast: Autocast = nullcontext,
    nc: bool = True,
) -> dict[str, float]:
    """``test/loss``, ``test/acc1``, ``test/acc5`` on the test split and, with ``nc``,
    ``test_nc/<name>`` and ``test_nc_score/<name>`` (scored like ``val_nc``, no initial
    reference), against the model as it is now. Call it after :func:`evaluate` at the same
    step: SCL predicts with the class means that evaluation set on ``view``."""
    was_training = model.training
    model.eval()
    try:
        with single_threaded_blas():
            test = _Features(split, view, device, autocast)
            metrics = _accuracy(test, view, eval_loss, device, _TEST_KEYS)
            if nc:
                raw, scores = _nc(test, view, _class_stats(test, num_classes, device), None)
                metrics.update(keys.prefixed(keys.TEST_NC, raw))
                metrics.update(keys.prefixed(keys.TEST_NC_SCORE, scores))
            return metrics
    finally:
        model.train(was_training)


_VAL_KEYS = (keys.VAL_LOSS, keys.VAL_ACC1, keys.VAL_ACC5)
_TEST_KEYS = (keys.TEST_LOSS, keys.TEST_ACC1, keys.TEST_ACC5)


def _accuracy(
    features: _Features,
    view: FeatureView,
    eval_loss: nn.Module,
    device: torch.device | str,
    names: tuple[str, str, str],
) -> dict[str, float]:
    """Mean loss, top-1 and top-5 accuracy over the split, keyed by ``names`` (loss, acc1,
    acc5)."""
    totals = torch.zeros(4, dtype=torch.float64, device=device)  # n, loss sum, top1, top5
    for feats, y in features:
        logits = view.logits(feats)
        if logits is None:
            raise RuntimeError("the class-mean prototypes are set before validation")
        k = min(5, logits.shape[1])
        top = logits.topk(k, dim=1).indices
        hits = top.eq(y[:, None])
        totals[0] += y.numel()
        totals[1] += float(_loss_value(eval_loss, view, feats, y)) * y.numel()
        totals[2] += hits[:, 0].sum()
        totals[3] += hits.any(dim=1).sum()
    all_reduce_(totals)
    n = max(totals[0].item(), 1.0)
    return {name: totals[i + 1].item() / n for i, name in enumerate(names)}


def _loss_value(
    eval_loss: nn.Module, view: FeatureView, feats: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    value: torch.Tensor
    if view.projection:  # SCL on single val views: NormFace against the class-mean prototypes
        value = eval_loss(feats, y, view.prototypes())
    else:
        value = eval_loss(feats, y, view.model.prototypes, view.model.bias)
    return value


def split_nc(metrics: dict[str, float], prefix: str = keys.NC) -> dict[str, float]:
    """``{"nc/nc1": x, ...}`` -> ``{"nc1": x, ...}``."""
    return keys.per_metric(prefix, metrics)


def autocast_for(device: torch.device, amp: str) -> Autocast:
    """bf16 autocast on GPU for ``auto``/``bf16``; on CPU only when asked for ``bf16``."""
    use = amp == "bf16" or (amp == "auto" and device.type == "cuda")
    if not use:
        return nullcontext
    return lambda: torch.autocast(device.type, dtype=torch.bfloat16)
