"""Streaming, mergeable class statistics for Neural Collapse metrics (first pass).

One pass over the data fills float64 accumulators from which every metric in
:mod:`ncsweep.geometry.metrics` is a function. Two feature views are tracked per sample:
the raw penultimate feature ``h`` (classical NC1-NC4, Papyan et al. 2020) and the unit
feature ``u = h/‖h‖`` (the paper's five metrics, docs/paper.md "Neural Collapse metrics").

State (K classes, D dims, m = classes with a per-class scatter, see below)::

    counts     [K]        n_c
    sum_h      [K, D]     Σ_{i∈c} h_i
    sum_u      [K, D]     Σ_{i∈c} u_i
    sqnorm_h   [K]        Σ_{i∈c} ‖h_i‖²        (CDNV: σ_c² = sqnorm_h/n_c − ‖μ_c‖²)
    sqnorm_u   [K]        Σ_{i∈c} ‖u_i‖²        (1, or 0 for a zero feature)
    moment_h   [D, D]     Σ_i h_i h_iᵀ          (pooled Σ_W = (moment_h − Σ_c n_c μ_c μ_cᵀ)/N)
    moment_u   [m, D, D]  Σ_{i∈c} u_i u_iᵀ      (per-class scatter of u for the intra erank)

Every field is an uncentred sum, so merging shards is addition and a distributed reduce is
ONE ``all_reduce`` of one flat float64 buffer (all fields are views into it). The price of
uncentred moments is cancellation: the within-class scatter is recovered to a relative error
of about ``1e-16 · (‖μ_c‖/σ_c)²`` (1e-8 at a within-class std of 1e-4 of the mean's norm).

Memory budget: the per-class scatters of ``u`` cost K·D²·8 bytes (33 GB at K=1000, D=2048).
When that exceeds ``scatter_budget_bytes`` only ``m = budget // (D²·8)`` classes, drawn
with ``seed`` (identical on every rank), keep one; :attr:`scatter_classes` lists them and the
metrics report it.

Kept rows (the fast path of small evaluations): while the raw and unit rows seen so far fit
``keep_rows_bytes`` (float64), they are kept and the two moments are NOT accumulated; the
sums are. The metrics then read the rows (:meth:`kept_rows`) and use cheaper exact forms:
NC1 from the r ≤ K−1 projections of the centred rows instead of the D×D Σ_W, and each class's
scatter spectrum from its n_c×n_c centred Gram when n_c < D (same non-zero eigenvalues). On
digits (N = 1,347, D = 256, K = 10) that replaces two 176-MFLOP GEMMs and ten 256×256
eigendecompositions with ten ~135×135 ones. Anything that needs the moments (reading
``moment_h``/``moment_u``, :meth:`merge`, a distributed :meth:`all_reduce`, or more rows than
the budget) first folds the kept rows into them and drops the rows, so the state, the
all_reduce and every value are the same as without kept rows. ``keep_rows_bytes=0`` turns
the mode off.

Updates are staged, in preallocated buffers (no per-batch allocation, no ``torch.cat``):

1. raw rows are copied (as float64) into a chunk stage of ``stage_bytes``; a full chunk is
   folded in with ``index_add_`` for the sums and ONE ``[n, D]ᵀ[n, D]`` GEMM for ``moment_h``;
2. its unit rows, sorted by class, go to a per-class stage of R rows per scatter class
   (R = ``class_stage_bytes``/(m·D·8), clamped to [16, 1024]); a class's scatter gets one
   rank-R GEMM update when its stage is full (or when its block in a chunk is ≥ R rows).

A class touched by many small batches therefore costs one D×D rank-R update per R samples,
not one per batch or per chunk: at K = 100, D = 512 a chunk holds ~160 rows per class, the
stage 327; at K = 1000 with a 64-class scatter subset, rank-4 updates of 2048×2048 (one per
chunk) become rank-128 ones. Every read of the state, ``merge`` and ``all_reduce`` flush both
stages first; the stages are not part of the all-reduced buffer.

Why uncentred sums (and not per-chunk centring with Chan et al.'s pairwise merge,
M2 = M2_a + M2_b + δδᵀ·n_a n_b/n): a merge of (count, mean, M2) is not a sum, so the
distributed reduce would become an ``all_gather`` of K·D² per rank plus a merge, instead of
one in-place ``all_reduce``; and sums around a fixed per-class shift (additive AND free of
cancellation) need a shift every rank knows before the first batch, which this class does
not have. The cancellation bound above is what the metrics' noise floor accounts for
(:mod:`ncsweep.geometry.metrics`).

Example:
    >>> stats = ClassStats(num_classes=10, dim=512)
    >>> for x, y in loader:                                  # doctest: +SKIP
    ...     stats.update(backbone(x), y)
    >>> stats.all_reduce()                                   # doctest: +SKIP
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["ClassStats", "KeptRows"]


class KeptRows(NamedTuple):
    """Rows kept by :class:`ClassStats`: raw ``h`` and unit ``u = h/‖h‖`` ([N, D]
    float64) and labels ``y`` ([N] long)."""

    h: Tensor
    u: Tensor
    y: Tensor


_FIELDS = ("counts", "sum_h", "sum_u", "sqnorm_h", "sqnorm_u", "moment_h", "moment_u")


class ClassStats:
    """Per-class float64 sums of raw and unit features (see module docstring).

    Args:
        num_classes: K ≥ 2.
        dim: feature dimension D ≥ 1.
        device: where the accumulators live; ``None`` means the device of the first batch
            given to :meth:`update` (CPU until then).
        scatter_budget_bytes: cap on the per-class scatters of unit features (K·D²·8 bytes).
        seed: draws the subset of classes that keep a scatter when over budget.
        stage_bytes: size of the update staging buffer (performance only).
        class_stage_bytes: size of the per-class staging of unit features (performance
            only; at least 16 rows per scatter class).
        keep_rows_bytes: keep the float64 rows, raw and unit (and skip the moments), while
            they fit in this many bytes (performance only; see module docstring).
    """

    # views into the one flat float64 buffer, bound by _bind (layout: _shapes)
    _counts: Tensor
    _sum_h: Tensor
    _sum_u: Tensor
    _sqnorm_h: Tensor
    _sqnorm_u: Tensor
    _moment_h: Tensor
    _moment_u: Tensor

    def __init__(
        self,
        num_classes: int,
        dim: int,
        *,
        device: torch.device | str | None = None,
        scatter_budget_bytes: int = 2 * 2**30,
        seed: int = 0,
        stage_bytes: int = 64 * 2**20,
        class_stage_bytes: int = 128 * 2**20,
        keep_rows_bytes: int = 64 * 2**20,
    ) -> None:
        if int(num_classes) < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        if int(dim) < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        if scatter_budget_bytes < 0:
            raise ValueError(f"scatter_budget_bytes must be >= 0, got {scatter_budget_bytes}")
        self.num_classes = K = int(num_classes)
        self.dim = D = int(dim)
        self.scatter_budget_bytes = int(scatter_budget_bytes)
        self.seed = int(seed)
        per_class = D * D * 8
        m = min(K, self.scatter_budget_bytes // per_class)
        if m == K:
            chosen = torch.arange(K)
        else:
            gen = torch.Generator().manual_seed(self.seed)
            chosen = torch.randperm(K, generator=gen)[:m].sort().values
        self._scatter_classes = chosen
        self._device_fixed = device is not None
        self._chunk_rows = max(1, int(stage_bytes) // (8 * D))
        # per-class stage of unit rows: R rows per scatter class within class_stage_bytes
        self._class_rows = max(16, min(1024, int(class_stage_bytes) // (max(m, 1) * D * 8)))
        self.keep_rows_bytes = max(0, int(keep_rows_bytes))
        self._allocate(torch.device(device) if device is not None else torch.device("cpu"))

    # ------------------------------------------------------------------ state layout
    def _shapes(self) -> dict[str, tuple[int, ...]]:
        K, D, m = self.num_classes, self.dim, len(self._scatter_classes)
        return {
            "counts": (K,),
            "sum_h": (K, D),
            "sum_u": (K, D),
            "sqnorm_h": (K,),
            "sqnorm_u": (K,),
            "moment_h": (D, D),
            "moment_u": (m, D, D),
        }

    def _allocate(self, device: torch.device) -> None:
        shapes = self._shapes()
        total = sum(math.prod(s) for s in shapes.values())
        self._buffer = torch.empty(total, dtype=torch.float64, device=device)
        self._bind()
        self._moments_offset = total - self._moment_h.numel() - self._moment_u.numel()
        self._rows: list[KeptRows] | None = None
        self._reset_state()
        slot = torch.full((self.num_classes,), -1, dtype=torch.long)
        slot[self._scatter_classes] = torch.arange(len(self._scatter_classes))
        self._slot = slot.to(device)
        self._stage_h: Tensor | None = None
        self._stage_y: Tensor | None = None
        self._fill = 0
        self._ubuf: Tensor | None = None
        self._ufill: list[int] = []

    def _reset_state(self) -> None:
        """Zero the sums; the moments too unless rows are kept (then they are zeroed when
        the rows are folded into them: an untouched K·D² region is not worth zeroing)."""
        self._rows = [] if self.keep_rows_bytes > 0 else None
        self._rows_bytes = 0
        self._rows_cat: KeptRows | None = None
        end = self._moments_offset if self._rows is not None else self._buffer.numel()
        self._buffer[:end].zero_()

    def _bind(self) -> None:
        offset = 0
        for name, shape in self._shapes().items():
            size = math.prod(shape)
            setattr(self, "_" + name, self._buffer[offset : offset + size].view(shape))
            offset += size

    @property
    def device(self) -> torch.device:
        return self._buffer.device

    @property
    def scatter_classes(self) -> list[int]:
        """Classes that keep a per-class scatter of ``u`` (all K when within budget)."""
        return self._scatter_classes.tolist()

    @property
    def scatter_subset(self) -> bool:
        """True when the budget forced a subset of classes for the intra-class erank."""
        return len(self._scatter_classes) < self.num_classes

    @property
    def nbytes(self) -> int:
        """Bytes held by the accumulators (staging buffers excluded: ``stage_bytes`` +
        about ``class_stage_bytes``, allocated on the first fold)."""
        return self._buffer.numel() * 8

    # ------------------------------------------------------------------ updates
    def _check(self, features: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        if features.dim() != 2 or features.shape[1] != self.dim:
            raise ValueError(
                f"features must have shape [B, {self.dim}], got {list(features.shape)}"
            )
        if not features.is_floating_point():
            raise ValueError(f"features must be floating point, got {features.dtype}")
        labels = labels.reshape(-1)
        if labels.numel() != features.shape[0]:
            raise ValueError(
                f"labels must have {features.shape[0]} entries (one per feature row), "
                f"got {labels.numel()}"
            )
        if labels.is_floating_point() or labels.dtype == torch.bool:
            raise ValueError(f"labels must be integers, got {labels.dtype}")
        if labels.numel():
            lo, hi = int(labels.min()), int(labels.max())
            if lo < 0 or hi >= self.num_classes:
                raise ValueError(
                    f"labels must lie in [0, {self.num_classes}), got values in [{lo}, {hi}]"
                )
        return features, labels

    def update(self, features: Tensor, labels: Tensor) -> ClassStats:
        """Add a batch.

        Args:
            features: ``[B, D]`` raw penultimate features ``h``, any float dtype and device.
            labels: ``[B]`` integer class ids in ``[0, K)``.

        Raises:
            ValueError: wrong shape, or a label outside ``[0, K)``.
        """
        features, labels = self._check(features, labels)
        if not self._device_fixed:
            if self._fill == 0 and not bool(self._counts.any()):
                if features.device != self.device:
                    self._allocate(features.device)
            self._device_fixed = True
        h = features.detach()
        y = labels.detach()
        if self._rows is not None:
            self._keep(self._rows, h, y)
            return self
        rows, done = h.shape[0], 0
        cap = self._chunk_rows
        while done < rows:
            if self._fill == 0 and rows - done >= cap:
                # a whole chunk straight from the batch: no copy into the stage
                hc = h[done : done + cap].to(device=self.device, dtype=torch.float64)
                yc = y[done : done + cap].to(device=self.device, dtype=torch.long)
                self._fold(hc.contiguous(), yc)
                done += cap
                continue
            stage_h, stage_y = self._stage()
            take = min(cap - self._fill, rows - done)
            stage_h[self._fill : self._fill + take].copy_(h[done : done + take])
            stage_y[self._fill : self._fill + take].copy_(y[done : done + take])
            self._fill += take
            done += take
            if self._fill == cap:
                self._fill = 0
                self._fold(stage_h, stage_y)
        return self

    def _keep(self, rows: list[KeptRows], h: Tensor, y: Tensor) -> None:
        """Row mode: fold the sums, keep the float64 rows in ``rows`` (``self._rows``);
        over budget, fold the moments."""
        h = h.to(device=self.device, dtype=torch.float64, copy=True)
        y = y.to(device=self.device, dtype=torch.long)
        u = self._fold_sums(h, y)
        rows.append(KeptRows(h, u, y))
        self._rows_cat = None
        self._rows_bytes += 2 * h.numel() * 8
        if self._rows_bytes > self.keep_rows_bytes:
            self._spill_rows()

    def _spill_rows(self) -> None:
        """Leave row mode: fold the kept rows into the (zeroed) moments, drop the rows."""
        if self._rows is None:
            return
        kept, self._rows, self._rows_cat = self._rows, None, None
        self._buffer[self._moments_offset :].zero_()
        for h, u, y in kept:
            self._fold_moments(h, u, y)

    def kept_rows(self) -> KeptRows | None:
        """Every row so far, in arrival order, while rows are kept (see module docstring);
        ``None`` once the state holds only sums and moments."""
        if self._rows is None:
            return None
        if self._rows_cat is None:
            if len(self._rows) == 1:
                self._rows_cat = self._rows[0]
            else:
                empty = torch.empty(0, self.dim, dtype=torch.float64, device=self.device)
                ids = torch.empty(0, dtype=torch.long, device=self.device)
                parts = self._rows or [KeptRows(empty, empty, ids)]
                self._rows_cat = KeptRows(*(torch.cat(p) for p in zip(*parts, strict=True)))
        return self._rows_cat

    def _stage(self) -> tuple[Tensor, Tensor]:
        """The preallocated staging rows (raw features, labels), created on first use."""
        if self._stage_h is None or self._stage_y is None:
            rows, dev = self._chunk_rows, self.device
            self._stage_h = torch.empty(rows, self.dim, dtype=torch.float64, device=dev)
            self._stage_y = torch.empty(rows, dtype=torch.long, device=dev)
        return self._stage_h, self._stage_y

    def _class_stage(self) -> Tensor:
        """Per-class staging of unit features ``[m, R, D]`` for the scatter, created on first use."""
        if self._ubuf is None:
            m = len(self._scatter_classes)
            self._ubuf = torch.empty(
                m, self._class_rows, self.dim, dtype=torch.float64, device=self.device
            )
            self._ufill = [0] * m
        return self._ubuf

    def _fold(self, h: Tensor, y: Tensor) -> None:
        """Fold a chunk of float64 rows ``h`` with labels ``y`` into the sums (one GEMM for
        ``moment_h``); unit rows of scatter classes go to their per-class stage, and a class
        whose stage is full gets one rank-R update of its scatter."""
        if h.shape[0] == 0:
            return
        u = self._fold_sums(h, y)
        self._fold_moments(h, u, y)

    def _fold_sums(self, h: Tensor, y: Tensor) -> Tensor:
        """Fold rows ``h`` [n, D] into the sums; returns their unit rows ``u = h/‖h‖``.

        Row norms come from ``vector_norm`` (no [n, D] temporary: on CPU a fresh
        multi-megabyte tensor costs page faults, more than the arithmetic)."""
        norm: Tensor = torch.linalg.vector_norm(h, dim=1)
        scale = norm.clamp_min(1e-12)  # F.normalize's definition
        u = h / scale.unsqueeze(1)
        self._counts += torch.bincount(y, minlength=self.num_classes)
        self._sum_h.index_add_(0, y, h)
        self._sum_u.index_add_(0, y, u)
        self._sqnorm_h.index_add_(0, y, norm.square())
        self._sqnorm_u.index_add_(0, y, (norm / scale).square())  # ‖u_i‖², 1 or 0
        return u

    def _fold_moments(self, h: Tensor, u: Tensor, y: Tensor) -> None:
        if h.shape[0] == 0:
            return
        self._moment_h.addmm_(h.T, h)
        m = self._moment_u.shape[0]
        if m == 0:
            return
        slot = self._slot[y]
        order = torch.argsort(slot, stable=True)
        slot = slot[order]
        sizes = torch.bincount(slot + 1, minlength=m + 1).tolist()
        u = u[order[sizes[0] :]]  # rows of classes without a scatter sort first (slot -1)
        ubuf, fill, R = self._class_stage(), self._ufill, self._class_rows
        start = 0
        for s in range(m):
            n = sizes[s + 1]
            if not n:
                continue
            block = u[start : start + n]
            start += n
            if fill[s] == 0 and n >= R:
                self._moment_u[s].addmm_(block.T, block)  # big enough: no staging
                continue
            while n:
                take = min(R - fill[s], n)
                ubuf[s, fill[s] : fill[s] + take].copy_(block[:take])
                block, n = block[take:], n - take
                fill[s] += take
                if fill[s] == R:
                    self._moment_u[s].addmm_(ubuf[s].T, ubuf[s])
                    fill[s] = 0

    def _flush(self) -> None:
        """Fold everything staged (the chunk stage and the per-class stages) into the state."""
        if self._fill:
            n, self._fill = self._fill, 0
            stage_h, stage_y = self._stage()
            self._fold(stage_h[:n], stage_y[:n])
        if self._ubuf is not None:
            for s, n in enumerate(self._ufill):
                if n:
                    block = self._ubuf[s, :n]
                    self._moment_u[s].addmm_(block.T, block)
                    self._ufill[s] = 0

    # ------------------------------------------------------------------ reduction
    def _compatible(self, other: ClassStats) -> None:
        if not isinstance(other, ClassStats):
            raise TypeError(f"can only merge ClassStats, got {type(other).__name__}")
        if (other.num_classes, other.dim) != (self.num_classes, self.dim):
            raise ValueError(
                f"cannot merge stats of (K={other.num_classes}, D={other.dim}) into "
                f"(K={self.num_classes}, D={self.dim})"
            )
        if not torch.equal(other._scatter_classes, self._scatter_classes):
            raise ValueError(
                "cannot merge stats with different per-class scatter subsets: use the same "
                "scatter_budget_bytes and seed on every shard"
            )

    def merge(self, other: ClassStats) -> ClassStats:
        """Add ``other``'s sums into this one (in place); returns ``self``."""
        self._compatible(other)
        self._spill_rows()
        other._spill_rows()
        self._flush()
        other._flush()
        self._buffer.add_(other._buffer.to(self.device))
        return self

    def all_reduce(self) -> ClassStats:
        """Sum the state over all ranks: ONE ``all_reduce`` of one flat float64 buffer.

        A no-op when ``torch.distributed`` is not initialised. Every rank must have been
        built with the same K, D, budget and seed (same buffer layout).
        """
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            self._spill_rows()
            self._flush()
            dist.all_reduce(self._buffer)
        else:
            self._flush()
        return self

    def reset(self) -> ClassStats:
        """Zero the accumulators (keeps layout and device)."""
        self._fill = 0
        self._ufill = [0] * len(self._ufill)
        self._reset_state()
        return self

    # ------------------------------------------------------------------ read access
    def _field(self, name: str) -> Tensor:
        self._flush()
        field: Tensor = getattr(self, "_" + name)
        return field

    @property
    def counts(self) -> Tensor:
        """``[K]`` float64 sample count per class."""
        return self._field("counts")

    @property
    def num_samples(self) -> int:
        return int(round(float(self.counts.sum())))

    @property
    def empty_classes(self) -> list[int]:
        """Classes with no sample so far."""
        return torch.nonzero(self.counts == 0).flatten().tolist()

    @property
    def sum_h(self) -> Tensor:
        return self._field("sum_h")

    @property
    def sum_u(self) -> Tensor:
        return self._field("sum_u")

    @property
    def sqnorm_h(self) -> Tensor:
        return self._field("sqnorm_h")

    @property
    def sqnorm_u(self) -> Tensor:
        return self._field("sqnorm_u")

    @property
    def moment_h(self) -> Tensor:
        """``[D, D]`` Σ_i h_i h_iᵀ over all samples (folds kept rows in, leaving row mode)."""
        self._spill_rows()
        return self._field("moment_h")

    @property
    def moment_u(self) -> Tensor:
        """``[m, D, D]`` Σ_{i∈c} u_i u_iᵀ for c in :attr:`scatter_classes` (that order;
        folds kept rows in, leaving row mode)."""
        self._spill_rows()
        return self._field("moment_u")

    def class_means(self, normalized_features: bool = False) -> Tensor:
        """``[K, D]`` float64 class means: of raw ``h`` (default) or of unit ``u``.

        ``μ_c = Σ_{i∈c} h_i / n_c`` (or of ``u_i``). Rows of empty classes are NaN.
        """
        sums = self.sum_u if normalized_features else self.sum_h
        counts = self.counts
        means = sums / counts.clamp_min(1).unsqueeze(1)
        means[counts == 0] = float("nan")
        return means

    def within_scatter(self) -> Tensor:
        """``[D, D]`` pooled within-class scatter of raw features, Σ_c Σ_{i∈c}(h_i−μ_c)(h_i−μ_c)ᵀ."""
        counts = self.counts
        nz = counts > 0
        sums = self.sum_h[nz]
        return self.moment_h - (sums.T / counts[nz]) @ sums

    def class_scatter_u(self, start: int = 0, stop: int | None = None) -> Tensor:
        """Per-class scatter of unit features, Σ_{i∈c}(u_i−μ_c)(u_i−μ_c)ᵀ.

        Returns ``[stop−start, D, D]`` for the classes ``scatter_classes[start:stop]``
        (slice it to bound the temporary memory).
        """
        idx = self._scatter_classes[start:stop].to(self.device)
        counts = self.counts[idx].clamp_min(1)
        sums = self.sum_u[idx]
        scatter = self.moment_u[start:stop].clone()
        scatter.baddbmm_(sums.unsqueeze(2), (sums / counts.unsqueeze(1)).unsqueeze(1), alpha=-1)
        return scatter

    def __repr__(self) -> str:
        return (
            f"ClassStats(num_classes={self.num_classes}, dim={self.dim}, "
            f"samples={self.num_samples}, scatter_classes={len(self._scatter_classes)}, "
            f"device={self.device})"
        )
