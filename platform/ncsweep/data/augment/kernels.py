"""Deterministic batched image kernels: every sample has its own parameters, one call per batch.

Inputs are B×C×H×W tensors; geometric kernels take uint8 or float, colour kernels take float
in [0, 1] and follow torchvision's tensor implementations (``transforms.functional``), so a
batch here equals a loop of torchvision's tensor calls with the same per-sample parameters.
The randomness lives in :mod:`ncsweep.data.augment.ops`; these functions draw nothing.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

__all__ = [
    "adjust_brightness",
    "adjust_contrast",
    "adjust_hue",
    "adjust_saturation",
    "apply_where",
    "crop_padded",
    "grayscale",
    "pad",
    "resized_crop",
    "unit_float",
]

# ITU-R 601-2 luma, as torchvision's rgb_to_grayscale for tensors
_LUMA = (0.2989, 0.587, 0.114)


def crop_padded(
    x: torch.Tensor, top: torch.Tensor, left: torch.Tensor, size: tuple[int, int]
) -> torch.Tensor:
    """Per-sample ``size`` crops at (``top``, ``left``) of ``x`` (already padded), one gather.

    Shapes: ``x`` B×C×Hp×Wp, ``top``/``left`` B integer offsets into ``x``; out B×C×h×w.
    """
    b, c, hp, wp = x.shape
    h, w = size
    rows = top[:, None] + torch.arange(h, device=x.device)  # B×h
    cols = left[:, None] + torch.arange(w, device=x.device)  # B×w
    flat = (rows[:, :, None] * wp + cols[:, None, :]).reshape(b, 1, h * w).expand(b, c, h * w)
    return x.reshape(b, c, hp * wp).gather(2, flat).reshape(b, c, h, w)


def apply_where(
    x: torch.Tensor, mask: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    """``fn`` applied to the samples where ``mask`` (B booleans) is true; the others as they are.

    Only the chosen samples are computed (a gather and an ``index_copy``), which on the CPU
    is also much faster than ``torch.where`` over the whole batch. ``fn`` keeps the shape of
    a sample; a dtype change (uint8 -> float) converts the others with ``unit_float``.
    """
    rows = mask.nonzero()[:, 0]
    y = fn(x[rows])
    if y.dtype != x.dtype:
        x = unit_float(x)
    return x.index_copy(0, rows, y)


def unit_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 0..255 -> float32 in [0, 1] (``ToTensor``); float passes through."""
    return x.float().div_(255) if x.dtype == torch.uint8 else x


def _resample_weights(
    start: torch.Tensor, length: torch.Tensor, in_size: int, out_size: int
) -> torch.Tensor:
    """B×out×in weights of PIL's bilinear (triangle) filter from a crop [start, start+length).

    PIL (and torchvision's ``antialias=True``) widens the triangle by the scale when it
    shrinks, so downscaling is antialiased; pixels outside the crop get no weight and each
    row is renormalised, which is PIL's clamping at the crop's edges.
    """
    scale = length / out_size  # B
    support = scale.clamp(min=1.0)
    dev = start.device
    centre = (torch.arange(out_size, device=dev, dtype=scale.dtype) + 0.5) * scale[:, None]
    pos = torch.arange(in_size, device=dev, dtype=scale.dtype)[None, None, :] - start[:, None, None]
    weight = (1 - ((pos + 0.5 - centre[:, :, None]) / support[:, None, None]).abs()).clamp(min=0)
    weight = weight * ((pos >= 0) & (pos < length[:, None, None]))
    return weight / weight.sum(-1, keepdim=True)


def resized_crop(
    x: torch.Tensor,
    top: torch.Tensor,
    left: torch.Tensor,
    height: torch.Tensor,
    width: torch.Tensor,
    size: tuple[int, int],
    gain: float = 1.0,
) -> torch.Tensor:
    """Crop (``top``, ``left``, ``height``, ``width``) of each sample, resized bilinearly to ``size``,
    times ``gain`` (folded into the small weight matrices: ``1/255`` gives [0, 1] from uint8
    without another pass over the images).

    Separable: out = Wy · x · Wxᵀ with per-sample B×h×H and B×w×W weight matrices (two batched
    matmuls), the filter of PIL's ``resize(BILINEAR)`` on the cropped image, antialias included.
    Returns float in the scale of ``x`` times ``gain``. Differences from
    PIL: PIL rounds to uint8 between its horizontal and vertical passes and at the end, and
    uses fixed-point weights: at most about one grey level.
    """
    xf = x.float()
    wy = _resample_weights(top.float(), height.float(), x.shape[-2], size[0])
    wx = _resample_weights(left.float(), width.float(), x.shape[-1], size[1]) * gain
    return wy[:, None] @ xf @ wx.transpose(1, 2)[:, None]


def _per_sample(factor: torch.Tensor) -> torch.Tensor:
    return factor.reshape(-1, 1, 1, 1)


def _blend(x: torch.Tensor, other: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``factor · x + (1 - factor) · other``, clamped to [0, 1] (as a lerp: one pass)."""
    return torch.lerp(other.expand_as(x), x, _per_sample(factor)).clamp_(0, 1)


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """B×1×H×W luma of B×3×H×W float RGB."""
    luma = torch.tensor(_LUMA, device=x.device, dtype=x.dtype)
    return torch.einsum("bchw,c->bhw", x, luma).unsqueeze(1)


def adjust_brightness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend with black: ``x · factor``, clamped to [0, 1]."""
    return (x * _per_sample(factor)).clamp_(0, 1)


def adjust_contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend with the sample's mean grey level."""
    return _blend(x, grayscale(x).mean(dim=(1, 2, 3), keepdim=True), factor)


def adjust_saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend with the sample's greyscale image."""
    return _blend(x, grayscale(x), factor)


def adjust_hue(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Rotate the hue by ``factor`` turns (in [-0.5, 0.5]): torchvision's RGB -> HSV -> RGB.

    Written with the hue in sextants (0..6) and without forming S and V: with M = max,
    C = max - min, channel n of the result is M - C·clamp(min(k, 4 - k), 0, 1),
    k = (n + 6h) mod 6 for n = 5, 3, 1; the same function as torchvision's, fewer passes.
    """
    r, g, b = x.unbind(1)
    maxc, minc = x.amax(1), x.amin(1)
    cr = maxc - minc
    inv = cr.clamp_min(1e-12).reciprocal_()  # grey pixels: C = 0, so their hue is irrelevant
    # the sextant by which channel is the max (r first, then g), selected arithmetically
    # (torch.where is several times slower than a multiply-add on the CPU); in place and
    # fused (addcmul) where possible: each fresh B×H×W buffer costs a pass of page faults
    sextant = (r - g).add_(cr, alpha=4)
    from_g = (maxc == g) & (maxc != r)
    sextant.addcmul_(from_g, (b - r).add_(cr, alpha=2).sub_(sextant))
    sextant.addcmul_(maxc == r, (g - b).sub_(sextant))
    sextant.mul_(inv).add_(factor.reshape(-1, 1, 1) * 6)
    n = torch.tensor((5.0, 3.0, 1.0), device=x.device, dtype=x.dtype).reshape(1, 3, 1, 1)
    k = torch.remainder(sextant.unsqueeze(1) + n, 6.0)
    ramp = k.sub_(2).abs_().neg_().add_(2).clamp_(0, 1)  # clamp(min(k, 4 - k), 0, 1)
    return torch.addcmul(maxc.unsqueeze(1), cr.unsqueeze(1), ramp, value=-1)


def pad(x: torch.Tensor, padding: tuple[int, int, int, int], fill: float) -> torch.Tensor:
    """Constant padding (left, top, right, bottom), torchvision's order, any dtype."""
    left, top, right, bottom = padding
    if not any(padding):
        return x
    return F.pad(x, (left, right, top, bottom), value=fill)
