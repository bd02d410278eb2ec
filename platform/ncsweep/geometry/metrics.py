"""Neural Collapse metrics as functions of accumulated :class:`ClassStats`.

Notation (docs/paper.md "Neural Collapse metrics"): K' non-empty classes c with n_c samples,
N = Σ n_c, raw features h, unit features u = h/‖h‖, raw class means μ_c, global mean
μ_G = (1/K') Σ_c μ_c (mean of class means), centred means M̄ (K'×D, rows μ_c − μ_G),
prototypes W (K×D, rows w_c), unit prototypes ŵ_c = w_c/‖w_c‖. All maths in float64.

Classical (raw features h):

- ``nc1``  = tr(Σ_W Σ_B^†)/K' with Σ_W = (1/N) Σ_c Σ_{i∈c} (h_i−μ_c)(h_i−μ_c)ᵀ and
  Σ_B = M̄ᵀM̄/K'. From the thin SVD M̄ = U S Vᵀ keeping r ≤ K'−1 components with
  s_j > max(K', D)·ε·s_1: Σ_B^† = K' Σ_j v_j v_jᵀ/s_j², so nc1 = Σ_j v_jᵀ Σ_W v_j / s_j².
- ``cdnv`` (Galanti et al. 2022) = mean over pairs c<c' of (σ_c² + σ_c'²)/(2‖μ_c − μ_c'‖²),
  σ_c² = (1/n_c) Σ_{i∈c} ‖h_i − μ_c‖².
- ``equinorm``    = std(‖μ_c − μ_G‖)/mean(‖μ_c − μ_G‖)   (population std, ddof 0).
- ``equiangular`` = std over pairs c<c' of cos(μ_c−μ_G, μ_c'−μ_G)  (ddof 0).
- ``max_angle``   = mean over pairs c<c' of |cos + 1/(K'−1)|.
- ``etf_error``   = ‖G/‖G‖_F − (I − 11ᵀ/K')/√(K'−1)‖_F with G = M̄M̄ᵀ. Both terms have
  unit Frobenius norm; the value lies in [0, √(2 − 2/√(K'−1))] (worst case: rank-one G).
- ``self_duality`` (NC3) = ‖W/‖W‖_F − M̄/‖M̄‖_F‖²_F, W restricted to the K' classes; in [0, 4].
- ``ncc_mismatch`` (NC4) = fraction of samples where argmax of the classifier's logits and
  argmin_c ‖h − μ_c‖ differ (second pass, :class:`NCCAgreement`).

The paper's five (unit features u, unit prototypes ŵ; erank(A) = exp(−Σ_j p_j log p_j),
p = λ(A)/Σλ(A), Roy & Vetterli 2007; erank of the zero matrix is 0):

- ``erank_intra`` = mean over classes (with n_c ≥ 2 and a kept scatter) of
  erank(Σ_{i∈c} (u_i − ū_c)(u_i − ū_c)ᵀ). That scatter has rank ≤ n_c − 1; when this is
  well below D its spectrum comes from a range finder (exact for a rank-deficient matrix).
- ``erank_inter`` = erank of the covariance of the K' class means ū_c of u; ≤ K'−1.
- ``erank_proto`` = erank of the covariance of the K unit prototypes ŵ_c; ≤ K−1.
- ``align_proto_class``    = (1/K') Σ_c ‖ŵ_c − μ̂_c‖², μ̂_c = ū_c/‖ū_c‖; in [0, 4].
- ``align_proto_instance`` = (1/N) Σ_i ‖ŵ_{y_i} − u_i‖²
  = (1/N) Σ_c (n_c‖ŵ_c‖² + Σ_{i∈c}‖u_i‖² − 2 ŵ_c·Σ_{i∈c} u_i); in [0, 4].

Companions (Song et al., arXiv 2406.03999, as in the authors' code ``util.py``): with the
Grams G_W = [ŵ_c·ŵ_c'] and G_M = [m_c·m_c'], m_c = normalise(μ̂_c − (1/K')Σ_c' μ̂_c'),
both K'×K', and the matrix entropy H(G) = −Σ λ log λ over the eigenvalues λ of G/tr(G):

- ``mir`` = (H(G_W) + H(G_M) − H(G_W ∘ G_M)) / min(H(G_W), H(G_M))  (∘ = Hadamard), in [0, 1].
- ``hdr`` = |H(G_W) − H(G_M)| / max(H(G_W), H(G_M)), in [0, 1].

Deviation from the authors' code: they centre the normalised class means by the NORMALISED
sample mean of the features; at collapse that mean is ≈ 0 and normalising it yields an
arbitrary unit vector, so here the centre is the plain mean of the normalised class means.
At exact collapse both Grams equal the simplex-ETF Gram: hdr = 0 and mir = :func:`mir_at_collapse`
(K), which is below 1 (0.5 at K = 3, 0.952 at K = 10, 0.998 at K = 100), so mir's optimum is
that value, not 1. Two unrelated near-orthogonal Grams (random features in high D) are both
≈ I and also give mir ≈ 1, hdr ≈ 0: these two compare Grams, they do not certify collapse.

Numerical noise floor: eigenvalues below D·ε·tr(Σ_{i∈c} u_i u_iᵀ) of a per-class scatter
are cancellation noise of the uncentred moments and count as zero (a within-class std below
≈ 3e-7 of the feature norm is indistinguishable from exact collapse). ``nc1`` and ``cdnv``
come from the rows centred on their class means while :class:`ClassStats` keeps the rows
(exact at any degree of collapse); from the moments alone their within-class spreads are
clamped at 0, the sign of a value below the moments' noise floor ε·‖μ_c‖² being noise
(:func:`_within_class_spread`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, TypeVar

import numpy as np
import torch
from torch import Tensor

from ._host import map_with_blas_per_thread, single_threaded_blas, to_host
from .agreement import NCCAgreement
from .descriptors import (  # noqa: F401  (re-exported)
    METRIC_DIRECTIONS,
    METRIC_NAMES,
    METRICS,
    PROTOTYPE_METRICS,
    mir_at_collapse,
)
from .stats import ClassStats

__all__ = [
    "METRIC_NAMES",
    "PROTOTYPE_METRICS",
    "METRIC_DIRECTIONS",
    "MetricsInfo",
    "NCMetrics",
    "collapse_metrics",
    "effective_rank",
    "effective_rank_from_spectrum",
    "matrix_entropy",
    "mir_at_collapse",
]

_EPS = torch.finfo(torch.float64).eps
_TINY = torch.finfo(torch.float64).tiny
# Bound on the temporary memory of the per-class spectra (bytes).
_CHUNK_BYTES = 256 * 2**20


@dataclass
class MetricsInfo:
    """How a metrics dict was computed.

    Attributes:
        num_classes: K.
        dim: D.
        num_samples: N.
        empty_classes: classes without samples (excluded from class-mean metrics).
        erank_intra_classes: classes averaged in ``erank_intra``.
        erank_intra_subset: True when the scatter budget limited those to a seeded subset.
        absent: metric name -> why it is not in the dict.
        ncc_accuracy: nearest-class-centre accuracy of the agreement pass, if any.
        classifier_accuracy: accuracy of ``argmax logits`` in the agreement pass, if any.
    """

    num_classes: int
    dim: int
    num_samples: int
    empty_classes: list[int] = field(default_factory=list)
    erank_intra_classes: list[int] = field(default_factory=list)
    erank_intra_subset: bool = False
    absent: dict[str, str] = field(default_factory=dict)
    ncc_accuracy: float | None = None
    classifier_accuracy: float | None = None


class NCMetrics(dict[str, float]):
    """A flat ``dict[str, float]`` of metric values with an ``info`` attribute (:class:`MetricsInfo`)."""

    def __init__(self, values: dict[str, float], info: MetricsInfo) -> None:
        super().__init__(values)
        self.info = info


def _eigvalsh(matrix: Tensor) -> Tensor:
    """Eigenvalues of symmetric ``[..., n, n]``; on CPU through numpy's LAPACK, one matrix
    per thread (:func:`~._host.map_with_blas_per_thread`), elsewhere torch."""
    if matrix.device.type != "cpu":
        eigenvalues: Tensor = torch.linalg.eigvalsh(matrix)
        return eigenvalues
    arr = np.ascontiguousarray(matrix.detach().numpy())
    flat = arr.reshape(-1, *arr.shape[-2:])
    lam = np.stack(map_with_blas_per_thread(np.linalg.eigvalsh, flat))
    return torch.from_numpy(lam.reshape(arr.shape[:-1]))


_Points = TypeVar("_Points", Tensor, np.ndarray)


def _centred_gram(points: _Points) -> _Points:
    """The smaller of the n×n Gram and the D×D scatter of the rows of ``points`` [n, D]
    about their mean (same non-zero spectrum); a numpy array or a tensor, as given."""
    centred = points - points.mean(0)
    gram: _Points = (
        centred @ centred.T if centred.shape[0] <= centred.shape[1] else centred.T @ centred
    )
    return gram


def _centred_spectra(points: Tensor, labels: Tensor, classes: list[int]) -> np.ndarray:
    """``[len(classes), max n_c]`` the eigenvalues of :func:`_centred_gram` of the rows of
    ``points`` [N, D] labelled c, for each c in ``classes``, zero-padded (a zero eigenvalue
    adds nothing to an effective rank). The Grams are formed where the rows are and solved
    on the host: one solver call per class on a GPU costs more than the whole n_c×n_c solve
    on the CPU."""
    if points.device.type == "cpu":
        rows, y = points.numpy(), labels.numpy()
        ends = np.cumsum(np.bincount(y, minlength=max(classes) + 1))
        groups = np.split(np.argsort(y, kind="stable"), ends[:-1])

        def spectrum(index: np.ndarray) -> np.ndarray:
            block = rows[index]  # a copy: centred in place
            block -= np.add.reduce(block, axis=0) / len(index)
            gram = block @ block.T if block.shape[0] <= block.shape[1] else block.T @ block
            return np.linalg.eigvalsh(gram)

        found = map_with_blas_per_thread(spectrum, [groups[c] for c in classes])
    else:
        order = torch.argsort(labels, stable=True)
        sizes = torch.bincount(labels, minlength=max(classes) + 1).tolist()
        blocks = torch.split(points[order], sizes)
        grams = [_centred_gram(blocks[c]).cpu().numpy() for c in classes]
        found = map_with_blas_per_thread(np.linalg.eigvalsh, grams)
    out = np.zeros((len(found), max(len(lam) for lam in found)))
    for i, lam in enumerate(found):
        out[i, : len(lam)] = lam
    return out


def _erank(eigenvalues: np.ndarray, tol: np.ndarray | float | None = None) -> np.ndarray:
    """:func:`effective_rank_from_spectrum` on numpy spectra ``[..., n]``."""
    lam = np.asarray(eigenvalues, dtype=np.float64)
    if tol is None:
        tol = lam.shape[-1] * _EPS * np.abs(lam).max(-1, keepdims=True)
    else:
        tol = np.asarray(tol, dtype=np.float64)
        tol = tol[..., None] if tol.ndim else tol
    lam = np.where(lam > tol, lam, 0.0)
    total = lam.sum(-1, keepdims=True)
    p = lam / np.maximum(total, _TINY)
    plogp = np.where(p > 0, p * np.log(np.maximum(p, _TINY)), 0.0)
    erank = np.exp(-plogp.sum(-1))
    return np.where(total[..., 0] > 0, erank, 0.0)


def effective_rank_from_spectrum(eigenvalues: Tensor, tol: Tensor | float | None = None) -> Tensor:
    """Roy-Vetterli effective rank of spectra ``[..., n]``: exp(−Σ p log p), p = λ/Σλ.

    Eigenvalues ≤ ``tol`` count as zero (default n·ε·max|λ|, per spectrum; a tensor gives
    one per spectrum). Returns ``[...]`` float64 on the spectra's device; 0 for an all-zero
    spectrum.
    """
    erank = _erank(to_host(eigenvalues), to_host(tol) if isinstance(tol, Tensor) else tol)
    return torch.from_numpy(np.asarray(erank)).to(eigenvalues.device)


def effective_rank(matrix: Tensor, tol: Tensor | float | None = None) -> Tensor:
    """Effective rank of symmetric PSD matrices ``[..., n, n]`` (see :func:`effective_rank_from_spectrum`)."""
    return effective_rank_from_spectrum(_eigvalsh(matrix.to(torch.float64)), tol)


def _scatter_spectrum(scatter: Tensor, rank: int) -> Tensor:
    """Eigenvalues of PSD scatters ``[b, D, D]`` known to have rank ≤ ``rank`` (≤ n_c − 1).

    When the rank is well below D the non-zero spectrum is exact from a range finder:
    Q = orth(S Ω) with Ω a fixed Gaussian D×(rank+8), then eig(QᵀSQ) — O(D²·rank) instead
    of O(D³). Otherwise a full ``eigvalsh``.
    """
    d = scatter.shape[-1]
    width = rank + 8
    if 2 * width >= d:
        return _eigvalsh(scatter)
    gen = torch.Generator().manual_seed(0)
    omega = torch.randn(d, width, generator=gen, dtype=torch.float64).to(scatter.device)
    q, _ = torch.linalg.qr(scatter @ omega)
    small = q.transpose(-1, -2) @ scatter @ q
    return _eigvalsh(0.5 * (small + small.transpose(-1, -2)))


def _within_class_spread(
    stats: ClassStats,
    directions: np.ndarray,
    class_means: np.ndarray,
    present: np.ndarray,
    counts: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The two within-class spreads of the raw features: ``[r]`` vᵀ Σ_W v for the rows v of
    ``directions`` [r, D] (NC1; Σ_W the pooled within-class covariance, scatter / N) and
    ``[K']`` σ_c² = (1/n_c) Σ_{i∈c} ‖h_i − μ_c‖² for the classes ``present`` (CDNV).
    ``class_means`` [K, D] and ``counts`` [K'] (n_c of the present classes) are the host
    copies :func:`collapse_metrics` already holds.

    From kept rows: the rows centred on their class means, then projected on the r
    directions (O(N·D·r)) and their squared norms summed per class. A row minus a mean
    close to it is exact in floating point (Sterbenz's lemma), so both spreads keep their
    full relative precision however small they are against ‖μ_c‖².

    Otherwise from the uncentred sums: Σ_W from ``moment_h`` − Σ_c n_c μ_c μ_cᵀ and σ_c²
    from Σ‖h_i‖²/n_c − ‖μ_c‖². Each is a difference of two numbers of size ~‖μ_c‖² and
    carries an absolute error of ~ε·‖μ_c‖² (ClassStats' docstring): near exact collapse that
    noise exceeds the true value and can come out negative. A variance is never negative,
    so both are clamped at 0: below that floor collapse is exact as far as the moments can
    tell."""
    total = counts.sum()
    rows = stats.kept_rows()
    if rows is None:
        dirs = torch.from_numpy(directions).to(stats.device)
        along = to_host(((dirs @ stats.within_scatter()) * dirs).sum(1)) / total
        mu = class_means[present]
        sigma2 = to_host(stats.sqnorm_h)[present] / counts - (mu**2).sum(1)
        return np.maximum(along, 0), np.maximum(sigma2, 0)
    # numpy on the CPU (module _host: no torch dispatch, numpy's BLAS), torch elsewhere;
    # both take the same expressions, so the operands are typed as either
    xp: ModuleType
    h: Any
    y: Any
    means: Any
    v: Any
    if rows.h.device.type == "cpu":
        xp, h, y, means, v = np, rows.h.numpy(), rows.y.numpy(), class_means, directions
    else:
        xp, h, y = torch, rows.h, rows.y
        means, v = (torch.from_numpy(a).to(h.device) for a in (class_means, directions))
    offsets = means[y]
    offsets -= h  # μ_c − h_i, in place: only squares are used, the sign does not matter
    projected = offsets @ v.T
    along = xp.einsum("ij,ij->j", projected, projected)  # einsum: no [N, D] temporary
    squared = xp.einsum("ij,ij->i", offsets, offsets)
    per_class = xp.bincount(y, weights=squared, minlength=stats.num_classes)
    return _on_host(along) / total, _on_host(per_class)[present] / counts


def _on_host(values: np.ndarray | Tensor) -> np.ndarray:
    return values if isinstance(values, np.ndarray) else to_host(values)


def _intra_class_eranks(stats: ClassStats, classes: list[int]) -> np.ndarray:
    """``[len(classes)]`` effective rank of each class's scatter of unit features
    Σ_{i∈c}(u_i − ū_c)(u_i − ū_c)ᵀ, eigenvalues ≤ D·ε·Σ‖u_i‖² counting as zero.

    From kept rows: each class's centred rows, through the smaller of its n_c×n_c Gram and
    its D×D scatter (:func:`_centred_gram`: same non-zero spectrum). Otherwise from
    the per-class moments, a bounded chunk of classes at a time."""
    D, device = stats.dim, stats.device
    if not classes:
        return np.empty(0)
    rows = stats.kept_rows()
    if rows is not None:
        host_tol = D * _EPS * to_host(stats.sqnorm_u)[classes]
        return _erank(_centred_spectra(rows.u, rows.y, classes), host_tol)
    tol = D * _EPS * stats.sqnorm_u[torch.tensor(classes, device=device)]
    class_ids = torch.tensor(classes)
    slot = {c: i for i, c in enumerate(stats.scatter_classes)}
    positions = torch.tensor([slot[c] for c in class_ids.tolist()])
    counts_cpu = stats.counts.cpu()
    chunk = max(1, _CHUNK_BYTES // (D * D * 8))
    eranks = []
    for lo in range(0, len(slot), chunk):
        hi = min(lo + chunk, len(slot))
        sel = (positions >= lo) & (positions < hi)
        if not bool(sel.any()):
            continue
        scatter = stats.class_scatter_u(lo, hi)
        local = positions[sel] - lo
        if local.numel() != hi - lo:  # an index copies K·D² floats: only when needed
            scatter = scatter[local.to(device)]
        rank = min(int(counts_cpu[class_ids[sel]].max()) - 1, D)
        eranks.append(
            effective_rank_from_spectrum(_scatter_spectrum(scatter, rank), tol[sel.to(device)])
        )
    return to_host(torch.cat(eranks))


def _small_spectra(matrices: list[np.ndarray]) -> list[np.ndarray]:
    """Eigenvalues of small symmetric matrices (lower triangles), one LAPACK call per shape:
    numpy's wrapper costs ~20 µs a call, more than the solve of a K×K matrix."""
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i, matrix in enumerate(matrices):
        by_shape.setdefault(matrix.shape, []).append(i)
    found: list[np.ndarray] = [np.empty(0)] * len(matrices)
    for members in by_shape.values():
        solved = np.linalg.eigvalsh(np.stack([matrices[i] for i in members]))
        for i, lam in zip(members, solved, strict=True):
            found[i] = lam
    return found


def _trace_normalised(gram: np.ndarray) -> np.ndarray:
    """(G + Gᵀ)/2 / tr(G): the matrix whose spectrum :func:`_entropy` reads."""
    sym = 0.5 * (gram + gram.T)
    normalised: np.ndarray = sym / np.trace(sym)
    return normalised


def _entropy(eigenvalues: np.ndarray) -> float:
    """−Σ λ log λ over the eigenvalues of a :func:`_trace_normalised` Gram (0 log 0 = 0)."""
    lam = eigenvalues.clip(min=0)
    return float(-np.where(lam > 0, lam * np.log(np.maximum(lam, 1e-300)), 0.0).sum())


def matrix_entropy(gram: Tensor) -> float:
    """H(G) = −Σ λ log λ over the eigenvalues λ of G/tr(G) (natural log; 0 log 0 = 0)."""
    with single_threaded_blas():
        return _entropy(np.linalg.eigvalsh(_trace_normalised(to_host(gram))))


def collapse_metrics(
    stats: ClassStats,
    prototypes: Tensor | None = None,
    agreement: NCCAgreement | None = None,
) -> NCMetrics:
    """All Neural Collapse metrics (module docstring) from finished statistics.

    Args:
        stats: first-pass statistics (all-reduced if distributed).
        prototypes: ``[K, D]`` classifier weights W (rows per class, like ``nn.Linear``);
            without them the prototype metrics are absent.
        agreement: second pass; with logits it gives ``ncc_mismatch``.

    Returns:
        :class:`NCMetrics`: ``{name: value}`` for the metrics that could be computed, in
        :data:`METRIC_NAMES` order; ``.info`` lists empty classes, the erank subset and why
        any metric is absent.

    Raises:
        ValueError: fewer than two non-empty classes, or prototypes of the wrong shape.
    """
    # a pair of coincident class means gives cdnv = inf, as the formula says
    with single_threaded_blas(), np.errstate(divide="ignore", invalid="ignore"):
        return _collapse_metrics(stats, prototypes, agreement)


@functools.lru_cache(maxsize=8)
def _pairs(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the pairs c < c' of k classes (``np.triu_indices``, cached:
    it costs more than the metrics it indexes)."""
    pairs = np.triu_indices(k, 1)
    for index in pairs:
        index.flags.writeable = False  # shared by every call
    return pairs


def _normalize(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` over max(‖row‖, 1e-12) (``F.normalize``'s definition)."""
    unit_rows: np.ndarray = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return unit_rows


def _collapse_metrics(
    stats: ClassStats, prototypes: Tensor | None, agreement: NCCAgreement | None
) -> NCMetrics:
    K, D = stats.num_classes, stats.dim
    counts = to_host(stats.counts)
    present = np.flatnonzero(counts > 0)
    kp = len(present)
    empty = stats.empty_classes
    if kp < 2:
        raise ValueError(
            f"need samples from at least 2 classes, got {kp} non-empty of K={K} "
            f"(empty classes: {empty})"
        )
    n = counts[present]
    N = n.sum()
    info = MetricsInfo(num_classes=K, dim=D, num_samples=stats.num_samples, empty_classes=empty)
    out: dict[str, float] = {}
    rows, cols = _pairs(kp)

    # ---- classical metrics on raw features
    means = to_host(stats.sum_h) / np.maximum(counts, 1)[:, None]  # [K, D], empty rows 0
    mu = means[present]
    mbar = mu - mu.mean(0)
    _, s, vh = np.linalg.svd(mbar, full_matrices=False)
    r = min(kp - 1, D)
    s, vh = s[:r], vh[:r]
    keep = s > max(kp, D) * _EPS * s[0]
    s, vh = s[keep], vh[keep]
    along, sigma2 = _within_class_spread(stats, vh, means, present, n)
    out["nc1"] = float((along / s**2).sum())

    gram = mbar @ mbar.T
    sq = np.diagonal(gram)
    dist2 = np.maximum(sq[rows] + sq[cols] - 2 * gram[rows, cols], 0)
    out["cdnv"] = float(((sigma2[rows] + sigma2[cols]) / (2 * dist2)).mean())

    norms = np.sqrt(sq)
    out["equinorm"] = float(norms.std() / norms.mean())
    denom = np.maximum(norms, _TINY)
    cos = np.clip(gram[rows, cols] / (denom[rows] * denom[cols]), -1, 1)
    out["equiangular"] = float(cos.std()) if cos.size > 1 else 0.0
    out["max_angle"] = float(np.abs(cos + 1.0 / (kp - 1)).mean())
    etf = (np.eye(kp) - 1.0 / kp) / math.sqrt(kp - 1)
    out["etf_error"] = float(np.linalg.norm(gram / np.linalg.norm(gram) - etf))

    # ---- prototypes: validated once, used by NC3 and the paper's metrics
    w = None
    if prototypes is not None:
        if tuple(prototypes.shape) != (K, D):
            raise ValueError(
                f"prototypes must have shape [{K}, {D}] (num_classes, dim), "
                f"got {list(prototypes.shape)}"
            )
        w = to_host(prototypes)
        wp = w[present]
        diff = wp / np.linalg.norm(wp) - mbar / np.linalg.norm(mbar)
        out["self_duality"] = float((diff**2).sum())
    else:
        for name in sorted(PROTOTYPE_METRICS):
            info.absent[name] = "needs prototypes"

    if agreement is not None:
        info.ncc_accuracy = agreement.ncc_accuracy
        info.classifier_accuracy = agreement.classifier_accuracy
        if agreement.mismatch is not None:
            out["ncc_mismatch"] = agreement.mismatch
        else:
            info.absent["ncc_mismatch"] = "agreement pass had no logits"
    else:
        info.absent["ncc_mismatch"] = "needs an NCCAgreement pass with logits"

    # ---- the paper's metrics on unit features
    usable = [c for c in stats.scatter_classes if counts[c] >= 2]
    eranks = _intra_class_eranks(stats, usable)
    info.erank_intra_classes = usable
    info.erank_intra_subset = stats.scatter_subset
    if eranks.size:
        out["erank_intra"] = float(eranks.mean())
    else:
        info.absent["erank_intra"] = (
            "no class with >= 2 samples has a per-class scatter "
            f"(scatter_budget_bytes={stats.scatter_budget_bytes}, D={D})"
        )

    sum_u, sqnorm_u = to_host(stats.sum_u)[present], to_host(stats.sqnorm_u)[present]
    mu_u = sum_u / n[:, None]
    spectra = {"erank_inter": _centred_gram(mu_u)}  # solved together below
    if w is not None:
        w_hat = _normalize(w)
        mu_hat = _normalize(mu_u)
        wp_hat = w_hat[present]
        out["align_proto_class"] = float(((wp_hat - mu_hat) ** 2).sum(1).mean())
        inst = n * (wp_hat**2).sum(1) + sqnorm_u - 2 * (wp_hat * sum_u).sum(1)
        out["align_proto_instance"] = float(inst.sum() / N)
        m = _normalize(mu_hat - mu_hat.sum(0) / kp)
        g_w, g_m = wp_hat @ wp_hat.T, m @ m.T
        spectra["erank_proto"] = _centred_gram(w_hat)
        spectra.update(h_w=g_w, h_m=g_m, h_wm=g_w * g_m)
        for name in ("h_w", "h_m", "h_wm"):
            spectra[name] = _trace_normalised(spectra[name])
    lam = dict(zip(spectra, _small_spectra(list(spectra.values())), strict=True))
    out["erank_inter"] = float(_erank(lam["erank_inter"]))
    if w is not None:
        out["erank_proto"] = float(_erank(lam["erank_proto"]))
        h_w, h_m, h_wm = (_entropy(lam[name]) for name in ("h_w", "h_m", "h_wm"))
        if min(h_w, h_m) > 0:
            out["mir"] = (h_w + h_m - h_wm) / min(h_w, h_m)
        else:
            info.absent["mir"] = "a Gram has zero entropy (rank one), mir is 0/0"
        out["hdr"] = abs(h_w - h_m) / max(h_w, h_m) if max(h_w, h_m) > 0 else 0.0

    ordered = {name: out[name] for name in METRIC_NAMES if name in out}
    return NCMetrics(ordered, info)
