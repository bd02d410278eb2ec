"""Random batched augmentations, each drawing its per-sample parameters like torchvision's.

Every op is called as ``op(x, generator)`` on a B×C×H×W batch (uint8 0..255 or float in
[0, 1]) and draws from ``generator`` only (a ``torch.Generator`` on any device, or None for
torch's default one), so a saved ``generator.get_state()`` replays the stream. Parameters are
drawn on the generator's device and moved to the batch's device.

``from_torchvision(t)`` converts a torchvision transform into its batched op through a
registry keyed by the transform's class: the torchvision pipelines in
:mod:`ncsweep.data.transforms` stay the one declaration of each augmentation.

Sampling follows torchvision 0.2x:

- ``RandomCrop``: after padding, top then left uniform over every valid offset.
- ``RandomResizedCrop.get_params``: up to 10 tries of (area fraction ~ U(scale), log aspect
  ratio ~ U(log ratio)), sides rounded, the first try that fits wins and its offset is
  uniform; when none fits, the centre crop clamped to the ratio range. All 10 tries are
  drawn at once per sample (same distribution, a different stream than torchvision's).
- ``ColorJitter.get_params``: a uniformly random order of the four adjustments per sample
  and one factor per adjustment, uniform in its range.
- flips, ``RandomApply`` and ``RandomGrayscale``: one Bernoulli(p) per sample.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import torch
from torchvision import transforms as T

from ncsweep.data.augment import kernels as K

__all__ = [
    "BatchOp",
    "ColorJitter",
    "HorizontalFlip",
    "Normalize",
    "RandomApply",
    "RandomCrop",
    "RandomGrayscale",
    "RandomResizedCrop",
    "ToFloat",
    "from_torchvision",
    "supported_transforms",
]


class BatchOp(Protocol):
    """``op(x, generator) -> x'``: a B×C×H×W batch in, a batch out, randomness from ``generator``.

    ``random`` says whether the op augments (draws) or is a fixed step (``ToFloat``, ``Normalize``).
    """

    random: bool

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor: ...


def _rand(shape: Sequence[int], x: torch.Tensor, generator: torch.Generator | None):
    """U[0, 1) float64 draws from ``generator`` (on its device), moved to ``x``'s device."""
    device = generator.device if generator is not None else x.device
    u = torch.rand(tuple(shape), generator=generator, device=device, dtype=torch.float64)
    return u.to(x.device)


def _uniform(lo: float, hi: float, shape, x, generator) -> torch.Tensor:
    return lo + (hi - lo) * _rand(shape, x, generator)


def _randint(high: torch.Tensor | int, shape, x, generator) -> torch.Tensor:
    """Uniform integers in [0, high) (``high`` per sample or one int)."""
    return (_rand(shape, x, generator) * high).floor().long()


_FROM_TORCHVISION: dict[type, Callable[[Any], BatchOp]] = {}


def _converts(tv_type: type):
    def register(convert: Callable[[Any], BatchOp]):
        _FROM_TORCHVISION[tv_type] = convert
        return convert

    return register


def supported_transforms() -> list[str]:
    """Names of the torchvision transforms that have a batched equivalent."""
    return sorted(t.__name__ for t in _FROM_TORCHVISION)


def from_torchvision(transform: Any) -> BatchOp:
    """The batched op equivalent to one torchvision transform; ValueError names the others."""
    convert = _FROM_TORCHVISION.get(type(transform))
    if convert is None:
        raise ValueError(
            f"no batched equivalent of {transform!r}; supported torchvision transforms: "
            f"{', '.join(supported_transforms())}"
        )
    return convert(transform)


class RandomCrop:
    """Pad by ``padding`` (left, top, right, bottom) with ``fill``, then a random ``size`` crop.

    ``fill`` is in 0..255 units, as torchvision's on PIL images.
    """

    random = True

    def __init__(self, size: tuple[int, int], padding: tuple[int, int, int, int], fill: float):
        self.size, self.padding, self.fill = tuple(size), tuple(padding), float(fill)

    def sample(self, b: int, padded_hw: tuple[int, int], x, generator):
        """(top, left): B offsets each into the padded batch."""
        (hp, wp), (h, w) = padded_hw, self.size
        if hp < h or wp < w:
            raise ValueError(f"crop {self.size} larger than the padded image {padded_hw}")
        return _randint(hp - h + 1, (b,), x, generator), _randint(wp - w + 1, (b,), x, generator)

    def __call__(self, x, generator):
        fill = self.fill if x.dtype == torch.uint8 else self.fill / 255
        padded = K.pad(x, self.padding, fill)
        top, left = self.sample(len(x), padded.shape[-2:], x, generator)
        return K.crop_padded(padded, top, left, self.size)

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding}, fill={self.fill})"


@_converts(T.RandomCrop)
def _random_crop(t: T.RandomCrop) -> RandomCrop:
    if t.padding_mode != "constant" or t.pad_if_needed or not isinstance(t.fill, int | float):
        raise ValueError(f"{t!r}: only constant padding with one fill value is batched")
    p = t.padding or 0
    p = [p] if isinstance(p, int) else list(p)
    padding = p * 4 if len(p) == 1 else (p * 2 if len(p) == 2 else p)
    return RandomCrop(t.size, tuple(padding), t.fill)


def _mirror(x: torch.Tensor) -> torch.Tensor:
    return x.flip(-1)


class HorizontalFlip:
    """Mirror each sample with probability ``p``."""

    random = True

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def draw(self, b: int, x, generator) -> torch.Tensor:
        """B booleans: which samples are mirrored."""
        return _rand((b,), x, generator) < self.p

    def __call__(self, x, generator):
        return K.apply_where(x, self.draw(len(x), x, generator), _mirror)

    def __repr__(self) -> str:
        return f"HorizontalFlip(p={self.p})"


_converts(T.RandomHorizontalFlip)(lambda t: HorizontalFlip(t.p))


class RandomResizedCrop:
    """torchvision's RandomResizedCrop, per sample; resized with PIL's bilinear filter.

    Output is float in [0, 1]. Bilinear only (the SCL and ImageNet pipelines' choice);
    antialiased like PIL when a crop is larger than ``size`` (see ``kernels.resized_crop``).
    """

    random = True

    def __init__(self, size: tuple[int, int], scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)) -> None:
        self.size, self.scale, self.ratio = tuple(size), tuple(scale), tuple(ratio)

    def sample(self, b: int, hw: tuple[int, int], x, generator, tries: int = 10):
        """(top, left, height, width): B crops of an H×W image, as torchvision's get_params."""
        height, width = hw
        area = height * width
        log_lo, log_hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        target = area * _uniform(self.scale[0], self.scale[1], (b, tries), x, generator)
        aspect = torch.exp(_uniform(log_lo, log_hi, (b, tries), x, generator))
        w = torch.sqrt(target * aspect).round().long()
        h = torch.sqrt(target / aspect).round().long()
        fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
        first = fits.long().argmax(1, keepdim=True)  # the first try that fits (0 if none)
        w, h = w.gather(1, first)[:, 0], h.gather(1, first)[:, 0]
        top = _randint(height - h + 1, (b,), x, generator)
        left = _randint(width - w + 1, (b,), x, generator)
        # fallback, as torchvision: the whole image, clamped to the ratio range, centred
        ch, cw = self._centre(height, width)
        none = ~fits.any(1)
        h, w = torch.where(none, ch, h), torch.where(none, cw, w)
        top = torch.where(none, (height - ch) // 2, top)
        left = torch.where(none, (width - cw) // 2, left)
        return top, left, h, w

    def _centre(self, height: int, width: int) -> tuple[int, int]:
        in_ratio = width / height
        if in_ratio < min(self.ratio):
            return int(round(width / min(self.ratio))), width
        if in_ratio > max(self.ratio):
            return height, int(round(height * max(self.ratio)))
        return height, width

    def __call__(self, x, generator):
        top, left, h, w = self.sample(len(x), x.shape[-2:], x, generator)
        gain = 1 / 255 if x.dtype == torch.uint8 else 1.0
        return K.resized_crop(x, top, left, h, w, self.size, gain)

    def __repr__(self) -> str:
        return f"RandomResizedCrop(size={self.size}, scale={self.scale}, ratio={self.ratio})"


@_converts(T.RandomResizedCrop)
def _random_resized_crop(t: T.RandomResizedCrop) -> RandomResizedCrop:
    if t.interpolation != T.InterpolationMode.BILINEAR:
        raise ValueError(f"{t!r}: only bilinear interpolation is batched")
    return RandomResizedCrop(t.size, t.scale, t.ratio)


class RandomApply:
    """Apply ``ops`` in order to each sample with probability ``p`` (only those are computed)."""

    random = True

    def __init__(self, ops: Sequence[BatchOp], p: float) -> None:
        self.ops, self.p = list(ops), p

    def draw(self, b: int, x, generator) -> torch.Tensor:
        """B booleans: which samples get ``ops`` (their own draws follow, for those only)."""
        return _rand((b,), x, generator) < self.p

    def __call__(self, x, generator):
        def run(y: torch.Tensor) -> torch.Tensor:
            for op in self.ops:
                y = op(y, generator)
            return y

        return K.apply_where(x, self.draw(len(x), x, generator), run)

    def __repr__(self) -> str:
        return f"RandomApply({self.ops}, p={self.p})"


_converts(T.RandomApply)(lambda t: RandomApply([from_torchvision(s) for s in t.transforms], t.p))

_JITTERS = (K.adjust_brightness, K.adjust_contrast, K.adjust_saturation, K.adjust_hue)


class ColorJitter:
    """torchvision's ColorJitter per sample: factor ranges (lo, hi) or None (no change).

    Each sample draws a random order of the four adjustments; round k applies, to the
    samples whose k-th adjustment is j, adjustment j (so 4 adjustments' work in all).
    Large CPU batches instead sort the samples by their order (24 blocks), run each block's
    four adjustments on its contiguous slice and scatter back once: two copies instead of
    sixteen gathers and scatters, and each block's ~30 elementwise passes stay in the cache
    (1.5x at 820 samples on one core, 1.1-1.2x at 410; below ~300 the per-call costs eat the gain;
    on CUDA 96 small blocks would cost more kernel launches than they save).
    """

    random = True
    #: batches at least this large take the block path on the CPU (same result, bit for bit)
    BLOCKS_FROM = 384

    def __init__(self, brightness=None, contrast=None, saturation=None, hue=None) -> None:
        self.ranges = (brightness, contrast, saturation, hue)

    def sample(self, b: int, x, generator):
        """(B×4 order of the adjustments, per-sample factors of each, None where disabled)."""
        order = _rand((b, 4), x, generator).argsort(1)
        factors = [
            None if r is None else _uniform(r[0], r[1], (b,), x, generator).float()
            for r in self.ranges
        ]
        return order, factors

    def __call__(self, x, generator):
        order, factors = self.sample(len(x), x, generator)
        if x.device.type == "cpu" and len(x) >= self.BLOCKS_FROM:
            return self._by_blocks(x, order, factors)
        x = x.float().div(255) if x.dtype == torch.uint8 else x.clone()  # updated in place
        for k in range(4):
            for j, (adjust, factor) in enumerate(zip(_JITTERS, factors, strict=True)):
                if factor is None:
                    continue
                rows = (order[:, k] == j).nonzero()[:, 0]
                if len(rows):
                    x = x.index_copy_(0, rows, adjust(x[rows], factor[rows]))
        return x

    @staticmethod
    def _by_blocks(x, order, factors):
        code = (order * torch.tensor([64, 16, 4, 1], device=order.device)).sum(1)
        perm = code.argsort(stable=True)
        y = K.unit_float(x[perm])  # a copy, sorted by order: updated in place
        _, counts = torch.unique_consecutive(code[perm], return_counts=True)
        rows = order[perm].tolist()
        start = 0
        for n in counts.tolist():
            idx = perm[start : start + n]
            block = y[start : start + n]
            for j in rows[start]:
                if factors[j] is not None:
                    block = _JITTERS[j](block, factors[j][idx])
            y[start : start + n] = block
            start += n
        return torch.empty_like(y).index_copy_(0, perm, y)

    def __repr__(self) -> str:
        names = ("brightness", "contrast", "saturation", "hue")
        return (
            f"ColorJitter({', '.join(f'{n}={r}' for n, r in zip(names, self.ranges, strict=True))})"
        )


_converts(T.ColorJitter)(lambda t: ColorJitter(t.brightness, t.contrast, t.saturation, t.hue))


class RandomGrayscale:
    """Replace each sample by its 3-channel grey image with probability ``p``."""

    random = True

    def __init__(self, p: float = 0.1) -> None:
        self.p = p

    def draw(self, b: int, x, generator) -> torch.Tensor:
        """B booleans: which samples turn grey."""
        return _rand((b,), x, generator) < self.p

    def __call__(self, x, generator):
        grey = self.draw(len(x), x, generator)
        return K.apply_where(K.unit_float(x), grey, lambda y: K.grayscale(y).expand_as(y))

    def __repr__(self) -> str:
        return f"RandomGrayscale(p={self.p})"


_converts(T.RandomGrayscale)(lambda t: RandomGrayscale(t.p))


class ToFloat:
    """``ToTensor`` for batches: uint8 0..255 -> float in [0, 1]."""

    random = False

    def __call__(self, x, generator):
        return K.unit_float(x)

    def __repr__(self) -> str:
        return "ToFloat()"


_converts(T.ToTensor)(lambda t: ToFloat())


class Normalize:
    """(x - mean) / std per channel."""

    random = False

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.mean, self.std = tuple(mean), tuple(std)

    def __call__(self, x, generator):
        x = K.unit_float(x)
        mean = torch.tensor(self.mean, device=x.device, dtype=torch.float64).reshape(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x.device, dtype=torch.float64).reshape(1, -1, 1, 1)
        # x / std - mean / std in one fused pass (equal to (x - mean) / std within rounding)
        return torch.addcmul((-mean / std).to(x.dtype), x, (1 / std).to(x.dtype))

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean}, std={self.std})"


_converts(T.Normalize)(lambda t: Normalize(t.mean, t.std))
