"""The frozen model a suite evaluates: encoder features, its own classifier, its data.

:func:`build_model` is "spec + checkpoint state -> model": ``train.core.build_model`` (the
training core's own factory) with the checkpoint's weights loaded.

Shapes: ``encode`` returns z N×D (float32, CPU) and labels N; ``embed(z)`` is the projection
head output N×P for SCL and z itself otherwise; ``logits(z)`` N×K.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from ..config import ExperimentSpec
from ..data import DataBundle, create_dataset
from ..losses import loss_info
from ..models import NCModel
from ..train.core import build_model as core_build_model

__all__ = [
    "Subject",
    "build_bundle",
    "build_model",
    "class_mean_prototypes",
    "live_subject",
    "subject_from_state",
]


def build_bundle(spec: ExperimentSpec) -> DataBundle:
    """The run's data, un-augmented, one view, with its long tail (the seed picks the same
    subset as in training)."""
    data = spec.data
    return create_dataset(
        data.name,
        root=data.root,
        views=1,
        augment=False,
        imbalance=data.imbalance.model_dump() if data.imbalance else None,
        seed=spec.run.seed,
        cache_dir=data.cache_dir,
        **data.options,
    )


def build_model(spec: ExperimentSpec, bundle: DataBundle, state: dict[str, Any] | None) -> NCModel:
    """The training core's model for ``spec`` with the checkpoint's ``state["model"]``."""
    model = core_build_model(
        spec.model_copy(update={"model": spec.model.model_copy(update={"sync_bn": False})}),
        bundle.num_classes,
        bundle.input_shape,
    )
    if state is not None:
        model.load_state_dict(state["model"])
    return model.eval()


@dataclass
class Subject:
    """A trained model, frozen, with the spec and data it was trained on."""

    model: NCModel
    spec: ExperimentSpec
    bundle: DataBundle
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    batch_size: int = 512
    _class_means: torch.Tensor | None = None
    _cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)

    @property
    def family(self) -> str:
        return self.spec.loss.name

    @property
    def head(self) -> str:
        """``linear`` (Wz + b), ``prototype`` (cosine to W) or ``projection`` (SCL)."""
        return loss_info(self.spec.loss.name).head

    @property
    def input_shape(self) -> tuple[int, int, int]:
        c, h, w = self.bundle.input_shape
        return c, h, w

    @torch.no_grad()
    def encode_tensors(
        self, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """z (N×D float32 CPU) and labels (N long) of ``(x, y)`` batches."""
        self.model.eval()
        feats, labels = [], []
        for x, y in batches:
            feats.append(self.model.features(x.to(self.device).float()).float().cpu())
            labels.append(torch.as_tensor(y).long().cpu())
        if not feats:
            return torch.zeros(0, self.model.feature_dim), torch.zeros(0, dtype=torch.long)
        return torch.cat(feats), torch.cat(labels)

    def encode(
        self, dataset: Dataset[Any], key: str | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """z and labels of a dataset (cached under ``key``: train/val are encoded once).
        A dataset of raw samples (``data.augment_on=device``: uint8) goes through its
        ``augment_batch`` (ToFloat, Normalize) first."""
        if key is not None and key in self._cache:
            return self._cache[key]
        loader = DataLoader(dataset, batch_size=self.batch_size, shuffle=False)
        prepare = getattr(dataset, "augment_batch", None)
        batches = loader if prepare is None else ((prepare(x), y) for x, y in loader)
        out = self.encode_tensors(batches)
        if key is not None:
            self._cache[key] = out
        return out

    def encode_arrays(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        to_input: Callable[[np.ndarray], torch.Tensor],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """z and labels of uint8 N×H×W×C images through ``to_input`` (the model's input)."""

        def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
            for i in range(0, len(images), self.batch_size):
                yield (
                    to_input(images[i : i + self.batch_size]),
                    torch.as_tensor(labels[i : i + self.batch_size]),
                )

        return self.encode_tensors(batches())

    @torch.no_grad()
    def embed(self, z: torch.Tensor) -> torch.Tensor:
        """What the family's loss saw: the SCL projection of z, else z."""
        if self.head != "projection":
            return z
        self.model.head.to(self.device)
        return (
            torch.cat(
                [
                    self.model.embed(z[i : i + self.batch_size].to(self.device)).float().cpu()
                    for i in range(0, len(z), self.batch_size)
                ]
            )
            if len(z)
            else z
        )

    def class_means(self) -> torch.Tensor:
        """K×P unit class means of unit ``embed(z)`` over the whole (un-augmented) training set."""
        if self._class_means is None:
            z, y = self.encode(self.bundle.train_eval, "train")
            self._class_means = class_mean_prototypes(self.embed(z), y, self.bundle.num_classes)
        return self._class_means

    @torch.no_grad()
    def logits(self, z: torch.Tensor) -> torch.Tensor:
        """Scores of the classifier the family is evaluated with (docs/paper.md)."""
        if self.head == "projection":
            return F.normalize(self.embed(z), dim=1) @ self.class_means().T
        prototypes = self.model.prototypes
        if prototypes is None:
            raise ValueError(f"head {self.head!r} has no prototypes")
        weight = prototypes.detach().float().cpu()
        if self.head == "linear":
            bias = self.model.bias
            return F.linear(z, weight, None if bias is None else bias.detach().float().cpu())
        return F.normalize(z, dim=1) @ F.normalize(weight, dim=1).T

    def predict(self, z: torch.Tensor) -> torch.Tensor:
        return self.logits(z).argmax(1)


def class_mean_prototypes(
    features: torch.Tensor, labels: torch.Tensor, num_classes: int
) -> torch.Tensor:
    """K×D normalised means of the unit features of each class (zero rows for absent classes)."""
    u = F.normalize(features.double(), dim=1)
    sums = torch.zeros(num_classes, u.shape[1], dtype=torch.float64).index_add_(0, labels, u)
    return F.normalize(sums, dim=1).float()


def subject_from_state(
    spec: ExperimentSpec, state: dict[str, Any] | None, device: str | torch.device = "cpu"
) -> Subject:
    """Build data and model of ``spec`` and load a checkpoint's state into it."""
    bundle = build_bundle(spec)
    model = build_model(spec, bundle, state).to(device)
    return Subject(model, spec, bundle, torch.device(device))


def live_subject(
    model: NCModel, spec: ExperimentSpec, bundle: DataBundle, device: torch.device | str
) -> Subject:
    """A :class:`Subject` around a model still in memory (the end of a training run)."""
    return Subject(model, spec, bundle, torch.device(device))
