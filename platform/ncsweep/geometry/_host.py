"""Host-side arithmetic of the geometry: numpy views of tensors, numpy's BLAS thread count,
and the products the metrics run on the host.

Why numpy: the metrics' K-sized maths (K×D class means, K×K Grams) costs a few µs per numpy
call against 5-10 µs per torch dispatch, and on the CPU a skinny product [N, D]·[k, D]ᵀ
(k = K class means or r ≤ K−1 directions) runs 2-3× faster in numpy's OpenBLAS than in the
MKL bundled with torch (digits, N = 1,347, D = 256, k = 10, float64, one thread: 0.16 vs
0.41 ms; :func:`times_transposed`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import Tensor

try:  # a dependency of scikit-learn, so normally present
    from threadpoolctl import ThreadpoolController
except ImportError:  # pragma: no cover
    ThreadpoolController = None

__all__ = ["map_with_blas_per_thread", "single_threaded_blas", "times_transposed", "to_host"]

_blas: list[Any] = []  # the ThreadpoolController, found once: its scan of the loaded libraries
# costs ~10 ms, more than the eigvalsh of a 256×256 matrix
_blas_limited = threading.local()


def _blas_controller() -> Any:
    """threadpoolctl's controller (untyped), or None without threadpoolctl."""
    if not _blas and ThreadpoolController is not None:
        _blas.append(ThreadpoolController())
    return _blas[0] if _blas else None


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """numpy's BLAS at one thread inside (re-entrant: entering threadpoolctl's limit costs
    ~0.1 ms, so an evaluation enters it once for all its products and eigensolvers)."""
    controller = _blas_controller()
    if controller is None or getattr(_blas_limited, "on", False):
        yield
        return
    with controller.limit(limits=1, user_api="blas"):
        _blas_limited.on = True
        try:
            yield
        finally:
            _blas_limited.on = False


def map_with_blas_per_thread(
    fn: Callable[[np.ndarray], np.ndarray], arrays: Collection[np.ndarray]
) -> list[np.ndarray]:
    """``[fn(a) for a in arrays]`` with single-threaded BLAS, spread over
    ``torch.get_num_threads()`` Python threads (LAPACK releases the GIL).

    Why: the tridiagonal reduction of an eigensolver is mostly memory-bound BLAS-2, so one
    matrix per core beats a multi-threaded BLAS per matrix, and it does not collapse when
    the cores are shared: multi-threaded OpenBLAS spin-waits against torch's OpenMP threads
    (measured on 2 shared cores, 100 matrices of 512×512: 4-15 s multi-threaded, 1 s this
    way; torch's batched CPU kernel is 3-4x slower than numpy's)."""
    workers = max(1, min(torch.get_num_threads(), len(arrays)))
    with single_threaded_blas():
        if workers == 1:
            return [fn(a) for a in arrays]
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(fn, arrays))


def to_host(t: Tensor) -> np.ndarray:
    """A float64 numpy array of ``t`` on the host (a view of a CPU float64 tensor)."""
    return t.detach().to(device="cpu", dtype=torch.float64).numpy()


def times_transposed(a: Tensor, b: Tensor) -> Tensor:
    """``a @ b.T`` for ``a`` [N, D] and a few rows ``b`` [k, D] of the same dtype; on the CPU
    through numpy (single-threaded BLAS, module docstring), elsewhere torch."""
    if a.device.type != "cpu":
        return a @ b.T
    with single_threaded_blas():
        return torch.from_numpy(a.detach().numpy() @ b.detach().numpy().T)
