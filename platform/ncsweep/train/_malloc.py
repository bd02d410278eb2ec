"""Keep freed multi-megabyte blocks in a training process (glibc's malloc only).

glibc serves a large allocation with its own ``mmap`` and returns it to the OS on free, and
it trims the heap's free top the same way; the next allocation of that size then faults in
fresh zeroed pages. An evaluation allocates and frees a few dozen such tensors (features,
float64 copies, per-class Grams: 1-3 MB each on digits), so on CPU it paid more in page
faults than in arithmetic: 29 ms against 23-24 ms per digits evaluation with the thresholds
below (``tests/bench/bench_train.py``). Raising the mmap and trim thresholds keeps those
blocks in the heap for reuse, at the price of holding up to ``trim`` bytes of freed memory.

A threshold the user set through glibc's own environment variables
(``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``) is left as it is.
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["retain_freed_memory"]

_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
_M_MMAP_THRESHOLD = -3
_ENV = {_M_MMAP_THRESHOLD: "MALLOC_MMAP_THRESHOLD_", _M_TRIM_THRESHOLD: "MALLOC_TRIM_THRESHOLD_"}


def retain_freed_memory(
    mmap_bytes: int = 64 * 2**20, trim_bytes: int = 128 * 2**20
) -> dict[str, bool]:
    """Set glibc's mmap and trim thresholds for this process; returns ``{env name: applied}``
    (empty off Linux or without glibc; ``False`` for a threshold the environment set)."""
    if not sys.platform.startswith("linux"):
        return {}
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl or another libc
        return {}
    applied: dict[str, bool] = {}
    for param, value in ((_M_MMAP_THRESHOLD, mmap_bytes), (_M_TRIM_THRESHOLD, trim_bytes)):
        name = _ENV[param]
        applied[name] = name not in os.environ and bool(mallopt(param, int(value)))
    return applied
