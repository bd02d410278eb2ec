"""numba kernels of :mod:`ncsweep.data.augment.fused`: one pass per view, in a cache-sized buffer.

Imported on the first fused call only (numba's import and its cached machine code cost about
0.2 s, which a pipeline that never fuses should not pay). ``cache=True`` keeps the compiled
code beside this file (or in numba's user cache when the package directory is read-only), so
only the first process after an install compiles (about 2 s).
"""

import numba
import numpy as np

_R, _G, _B = np.float32(0.2989), np.float32(0.587), np.float32(0.114)  # kernels._LUMA
_ZERO, _ONE = np.float32(0.0), np.float32(1.0)
_BRIGHTNESS, _CONTRAST, _SATURATION, _HUE = range(4)  # ops.ColorJitter's order of factors


@numba.njit(cache=True, nogil=True)
def _taps(start, length, out_size, gain, weights, first, count):
    """PIL's bilinear (triangle) filter from the crop [start, start + length): as
    ``kernels._resample_weights``, stored sparsely. Output o reads inputs
    first[o] … first[o] + count[o] - 1 with weights[o, :count[o]] (summing to ``gain``)."""
    scale = length / out_size
    support = max(scale, 1.0)
    for o in range(out_size):
        centre = (o + 0.5) * scale
        lo = max(0, int(np.floor(centre - support - 0.5)))
        hi = min(length, int(np.ceil(centre + support + 0.5)))
        while lo < hi and 1.0 - abs(lo + 0.5 - centre) / support <= 0.0:
            lo += 1  # [lo, hi) is a bound; only taps of non-zero weight are kept
        while hi > lo and 1.0 - abs(hi - 0.5 - centre) / support <= 0.0:
            hi -= 1
        total = 0.0
        for p in range(lo, hi):
            w = 1.0 - abs(p + 0.5 - centre) / support
            weights[o, p - lo] = w
            total += w
        for t in range(hi - lo):
            weights[o, t] = weights[o, t] * (gain / total)
        first[o] = start + lo
        count[o] = hi - lo


@numba.njit(cache=True, nogil=True)
def _clamp01(v):
    return min(max(v, _ZERO), _ONE)


@numba.njit(cache=True, nogil=True)
def _blend(r, g, b, other, factor):
    """factor · x + (1 - factor) · other per channel, clamped (other: one value per pixel)."""
    for i in range(r.size):
        o = other[i]
        r[i] = _clamp01(o + factor * (r[i] - o))
        g[i] = _clamp01(o + factor * (g[i] - o))
        b[i] = _clamp01(o + factor * (b[i] - o))


@numba.njit(cache=True, nogil=True)
def _adjust(which, factor, r, g, b, luma):
    """One ColorJitter adjustment in place on the planes r, g, b (kernels.adjust_*)."""
    n = r.size
    if which == _BRIGHTNESS:
        for i in range(n):
            r[i] = _clamp01(r[i] * factor)
            g[i] = _clamp01(g[i] * factor)
            b[i] = _clamp01(b[i] * factor)
    elif which == _CONTRAST:
        total = 0.0
        for i in range(n):
            total += _R * r[i] + _G * g[i] + _B * b[i]
        luma[:] = np.float32(total / n)
        _blend(r, g, b, luma, factor)
    elif which == _SATURATION:
        for i in range(n):
            luma[i] = _R * r[i] + _G * g[i] + _B * b[i]
        _blend(r, g, b, luma, factor)
    else:  # hue, as kernels.adjust_hue: sextant from the max channel, then one ramp per channel
        turn = np.float32(6.0) * factor
        for i in range(n):
            red, green, blue = r[i], g[i], b[i]
            top = max(red, green, blue)
            chroma = top - min(red, green, blue)
            if top == red:
                sextant = green - blue
            elif top == green:
                sextant = blue - red + 2 * chroma
            else:
                sextant = red - green + 4 * chroma
            h = sextant / max(chroma, np.float32(1e-12)) + turn
            r[i] = top - chroma * _ramp(h + 5)
            g[i] = top - chroma * _ramp(h + 3)
            b[i] = top - chroma * _ramp(h + 1)


@numba.njit(cache=True, nogil=True)
def _ramp(k):
    """clamp(min(k', 4 - k'), 0, 1) with k' = k mod 6."""
    k = k - np.float32(6.0) * np.floor(k / np.float32(6.0))
    return min(max(np.float32(2.0) - abs(k - np.float32(2.0)), _ZERO), _ONE)


@numba.njit(cache=True, nogil=True)
def augment(x, src, crops, gain, flip, jitter, order, factors, enabled, grey, scale, shift, out):
    """out[s] = normalise(grey?(jitter?(flip?(resized_crop(x[src[s]], crops[s]))))).

    Shapes: x N×C×H×W (uint8 or float32), src M, crops M×4 (top, left, height, width),
    flip/jitter/grey M booleans, order M×4, factors M×4 (per ColorJitter adjustment),
    enabled 4, scale/shift C; out M×C×h×w float32.
    """
    m, c, oh, ow = out.shape
    height, width = x.shape[2], x.shape[3]
    wy = np.empty((oh, height), np.float32)
    wx = np.empty((ow, width), np.float32)
    fy, ny = np.empty(oh, np.int64), np.empty(oh, np.int64)
    fx, nx = np.empty(ow, np.int64), np.empty(ow, np.int64)
    rows = np.empty((c, oh, width), np.float32)
    luma = np.empty(oh * ow, np.float32)
    for s in range(m):
        img = x[src[s]]
        top, left, h, w = crops[s, 0], crops[s, 1], crops[s, 2], crops[s, 3]
        _taps(top, h, oh, 1.0, wy, fy, ny)
        _taps(left, w, ow, gain, wx, fx, nx)
        view = out[s]
        for ch in range(c):
            for i in range(oh):  # vertical pass, row by row (vectorises over the columns)
                acc = rows[ch, i]
                acc[left : left + w] = 0
                for t in range(ny[i]):
                    src_row = img[ch, fy[i] + t]
                    weight = wy[i, t]
                    for col in range(left, left + w):
                        acc[col] += weight * np.float32(src_row[col])
            for j in range(ow):  # horizontal pass; a mirrored view reads its taps backwards
                jj = ow - 1 - j if flip[s] else j
                for i in range(oh):
                    acc = np.float32(0.0)
                    for t in range(nx[jj]):
                        acc += wx[jj, t] * rows[ch, i, fx[jj] + t]
                    view[ch, i, j] = acc
        if c == 3:
            r, g, b = view[0].reshape(-1), view[1].reshape(-1), view[2].reshape(-1)
            if jitter[s]:
                for k in range(4):
                    which = order[s, k]
                    if enabled[which]:
                        _adjust(which, factors[s, which], r, g, b, luma)
            if grey[s]:
                for i in range(r.size):
                    v = _R * r[i] + _G * g[i] + _B * b[i]
                    r[i], g[i], b[i] = v, v, v
        for ch in range(c):
            plane = view[ch].reshape(-1)
            for i in range(plane.size):
                plane[i] = plane[i] * scale[ch] + shift[ch]
