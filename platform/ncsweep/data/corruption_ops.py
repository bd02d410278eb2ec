"""The 15 corruptions of Hendrycks & Dietterich (ICLR 2019) at 5 severities, in numpy.

Two parameter sets (:data:`PARAMETER_SETS`), each tuned by the authors for one image side:
``cifar`` (``make_cifar_c.py``, 32 px) and ``imagenet`` (``make_imagenet_c.py``, 224 px).
Lengths in the tables (blur radii and sigmas, glass-blur shifts, motion radii, elastic
alpha/sigma/affine) are in pixels at that side; the ImageNet elastic values keep the
authors' ``244 ×`` factor (their comment: "244 should have been 224").

Which set, and at what size (:func:`plan_for`), one rule for every image size:

- the set is the one whose reference side is nearest on a log scale to the image side
  ``min(H, W)``: sides below √(32·224) ≈ 84.7 px get ``cifar``, larger ones ``imagenet``;
- the image is corrupted at ``k·H × k·W`` with ``k = ⌈reference / side⌉`` (``k = 1`` when the
  side is at least the reference): upsampled by nearest neighbour, corrupted, and
  area-downsampled by ``k``. For an integer ``k`` that round trip is exact, so only the
  corruption changes the image (digits 8 px -> 32; 64 px at native size with ``cifar``;
  96 px -> 288 and 224 px native with ``imagenet``).

Why this rule: the pixel lengths above mean what the authors meant only at (or near) their
reference side, so small images are brought up to it; downsampling a larger image to the
reference and back would itself blur it at every severity, so larger images keep their size
(at ``k·side ∈ [reference, reference + side)`` a length is at most ~1.5-3× milder relative to
the image than at the reference). Per-pixel corruptions (noises) are averaged over ``k²``
samples by the area downsampling, so for ``k > 1`` they are milder at the native resolution;
severities stay ordered and a baseline corrupted the same way is comparable (mCE). Cost: at
most ``(reference + side)²`` pixels per image; glass blur's sequential pixel swaps dominate.

Why our own implementation and not the ``imagecorruptions`` package: its maintained fork
needs OpenCV and scikit-image (≈100 MB more in every environment), uses the ImageNet-C
parameters at every size and draws from numpy's global random state; here every call takes
its own ``numpy.random.Generator``, so a corrupted set is a pure function of (images,
corruption, severity, seed). Differences from the published code, each for lack of a
dependency: blurs and warps use scipy instead of OpenCV and ImageMagick (motion blur is a
one-sided line kernel with Gaussian weights, as ImageMagick's; the elastic transform
composes its affine and elastic maps into one resampling), and ``frost`` is procedural: a
seeded plasma-fractal ice texture, blended with the published weights, instead of crops of
the six frost photographs.

Shapes: :func:`corrupt_images` takes and returns uint8 N×H×W×C (C = 1 or 3).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from scipy import ndimage

__all__ = [
    "CORRUPTIONS",
    "PARAMETER_SETS",
    "SEVERITIES",
    "ParameterSet",
    "corrupt_image",
    "corrupt_images",
    "plan_for",
]

SEVERITIES = (1, 2, 3, 4, 5)

Fn = Callable[[np.ndarray, object, np.random.Generator], np.ndarray]


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    return ndimage.gaussian_filter(x, sigma=(sigma, sigma, 0), mode="nearest", truncate=4.0)


def _convolve(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    return ndimage.convolve(x, kernel[:, :, None], mode="reflect")


def _clipped_zoom(x: np.ndarray, factor: float) -> np.ndarray:
    """Zoom H×W×C into the centre by ``factor`` and crop back to H×W."""
    h, w = x.shape[:2]
    ch, cw = int(math.ceil(h / factor)), int(math.ceil(w / factor))
    top, left = (h - ch) // 2, (w - cw) // 2
    out = ndimage.zoom(x[top : top + ch, left : left + cw], (factor, factor, 1), order=1)
    trim, side = (out.shape[0] - h) // 2, (out.shape[1] - w) // 2
    return out[trim : trim + h, side : side + w]


def _disk(radius: float, alias_blur: float) -> np.ndarray:
    half = 8 if radius <= 8 else int(math.ceil(radius))
    grid = np.arange(-half, half + 1)
    xx, yy = np.meshgrid(grid, grid)
    kernel = (xx**2 + yy**2 <= radius**2).astype(np.float64)
    kernel /= kernel.sum()
    kernel = ndimage.gaussian_filter(kernel, alias_blur)
    return kernel / kernel.sum()


def _motion_kernel(radius: int, sigma: float, angle_deg: float) -> np.ndarray:
    """One-sided line of length ``radius`` at ``angle``, Gaussian weights (ImageMagick's)."""
    size = 2 * radius + 1
    kernel = np.zeros((size, size))
    theta = math.radians(angle_deg)
    for t in range(radius + 1):
        weight = math.exp(-(t**2) / (2 * sigma**2))
        r, c = radius - t * math.sin(theta), radius + t * math.cos(theta)
        r0, c0 = int(math.floor(r)), int(math.floor(c))
        fr, fc = r - r0, c - c0
        for dr, dc, w in (
            (0, 0, (1 - fr) * (1 - fc)),
            (1, 0, fr * (1 - fc)),
            (0, 1, (1 - fr) * fc),
            (1, 1, fr * fc),
        ):
            if 0 <= r0 + dr < size and 0 <= c0 + dc < size:
                kernel[r0 + dr, c0 + dc] += weight * w
    return kernel / kernel.sum()


def _plasma(size: int, decay: float, rng: np.random.Generator) -> np.ndarray:
    """Diamond-square plasma fractal in [0, 1], ``size`` a power of two (the authors' code)."""
    grid = np.zeros((size, size))
    step, wibble = size, 100.0

    def wibbled(a: np.ndarray) -> np.ndarray:
        return a / 4 + wibble * rng.uniform(-wibble, wibble, a.shape)

    while step >= 2:
        half = step // 2
        corners = grid[0:size:step, 0:size:step]
        acc = corners + np.roll(corners, -1, axis=0)
        acc = acc + np.roll(acc, -1, axis=1)
        grid[half:size:step, half:size:step] = wibbled(acc)
        dr = grid[half:size:step, half:size:step]
        ul = grid[0:size:step, 0:size:step]
        grid[0:size:step, half:size:step] = wibbled(
            dr + np.roll(dr, 1, axis=0) + ul + np.roll(ul, -1, axis=1)
        )
        grid[half:size:step, 0:size:step] = wibbled(
            dr + np.roll(dr, 1, axis=1) + ul + np.roll(ul, -1, axis=0)
        )
        step //= 2
        wibble /= decay
    grid -= grid.min()
    return grid / max(grid.max(), 1e-12)


def _gray(x: np.ndarray) -> np.ndarray:
    if x.shape[2] == 1:
        return x
    return (x @ np.array([0.299, 0.587, 0.114]))[..., None]


# --- the 15 corruptions: f(x float H×W×C in [0, 1], parameter, rng) -> same ------------


def gaussian_noise(x, c, rng):
    return x + rng.normal(size=x.shape, scale=c)


def shot_noise(x, c, rng):
    return rng.poisson(np.clip(x, 0, 1) * c) / c


def impulse_noise(x, c, rng):
    out = x.copy()
    flip = rng.random(x.shape) < c
    out[flip] = (rng.random(int(flip.sum())) < 0.5).astype(x.dtype)
    return out


def defocus_blur(x, c, rng):
    return _convolve(x, _disk(*c))


def glass_blur(x, c, rng):
    sigma, delta, iterations = c
    x = np.round(np.clip(_blur(x, sigma), 0, 1) * 255) / 255
    h, w = x.shape[:2]
    rows, cols = range(h - delta, delta, -1), range(w - delta, delta, -1)
    offsets = rng.integers(-delta, delta, size=(iterations, len(rows), len(cols), 2)).tolist()
    for it in range(iterations):  # sequential local swaps, as in the authors' code
        for a, i in enumerate(rows):
            for b, j in enumerate(cols):
                dy, dx = offsets[it][a][b]
                pixel = x[i, j].copy()
                x[i, j] = x[i + dy, j + dx]
                x[i + dy, j + dx] = pixel
    return _blur(x, sigma)


def motion_blur(x, c, rng):
    radius, sigma = c
    return _convolve(x, _motion_kernel(radius, sigma, rng.uniform(-45, 45)))


def zoom_blur(x, c, rng):
    out = np.zeros_like(x)
    for factor in c:
        out += _clipped_zoom(x, factor)
    return (x + out) / (len(c) + 1)


def snow(x, c, rng):
    loc, scale, zoom, threshold, radius, sigma, blend = c
    layer = rng.normal(size=x.shape[:2], loc=loc, scale=scale)[..., None]
    layer = _clipped_zoom(layer, zoom)
    layer[layer < threshold] = 0
    layer = _convolve(np.clip(layer, 0, 1), _motion_kernel(radius, sigma, rng.uniform(-135, -45)))
    x = blend * x + (1 - blend) * np.maximum(x, _gray(x) * 1.5 + 0.5)
    return x + layer + np.rot90(layer, k=2)


def frost(x, c, rng):
    weight, frost_weight = c
    h, w = x.shape[:2]
    size = 1 << max(5, (max(h, w) - 1).bit_length())
    texture = (
        0.6 * _plasma(size, 1.6, rng)[:h, :w] + 0.4 * _blur(rng.random((h, w, 1)), 0.5)[..., 0]
    )
    texture = np.clip((texture - texture.min()) / max(np.ptp(texture), 1e-12), 0, 1)
    tint = np.array([0.85, 0.92, 1.0])[: x.shape[2]] if x.shape[2] == 3 else np.array([0.92])
    return weight * x + frost_weight * texture[..., None] * tint


def fog(x, c, rng):
    strength, decay = c
    h, w = x.shape[:2]
    size = 1 << max(5, (max(h, w) - 1).bit_length())
    peak = x.max()
    x = x + strength * _plasma(size, decay, rng)[:h, :w, None]
    return x * peak / (peak + strength)


def brightness(x, c, rng):
    value = x.max(axis=2, keepdims=True)  # HSV value; hue and saturation are kept
    new = np.clip(value + c, 0, 1)
    safe = np.where(value > 0, value, 1.0)
    return np.where(value > 0, x * new / safe, new)


def contrast(x, c, rng):
    means = x.mean(axis=(0, 1), keepdims=True)
    return (x - means) * c + means


def elastic_transform(x, c, rng):
    alpha, sigma, affine = c  # pixels
    h, w = x.shape[:2]
    center = np.array([h, w], dtype=np.float64) // 2
    square = min(h, w) // 3
    src = np.array([center + square, [center[0] + square, center[1] - square], center - square])
    dst = src + rng.uniform(-affine, affine, size=src.shape)
    # affine (row, col) of the output -> input: solve dst -> src on the three point pairs
    solve = np.linalg.lstsq(np.hstack([dst, np.ones((3, 1))]), src, rcond=None)[0]
    dx = (
        ndimage.gaussian_filter(rng.uniform(-1, 1, (h, w)), sigma, mode="reflect", truncate=3)
        * alpha
    )
    dy = (
        ndimage.gaussian_filter(rng.uniform(-1, 1, (h, w)), sigma, mode="reflect", truncate=3)
        * alpha
    )
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    points = np.stack([(rows + dy).ravel(), (cols + dx).ravel(), np.ones(h * w)], axis=1)
    source = points @ solve
    out = np.empty_like(x)
    for ch in range(x.shape[2]):
        out[..., ch] = ndimage.map_coordinates(
            x[..., ch], [source[:, 0], source[:, 1]], order=1, mode="mirror"
        ).reshape(h, w)
    return out


def _pil(x: np.ndarray) -> Image.Image:
    array = np.round(np.clip(x, 0, 1) * 255).astype(np.uint8)
    return Image.fromarray(array[..., 0] if array.shape[2] == 1 else array)


def _from_pil(image: Image.Image, channels: int) -> np.ndarray:
    array = np.asarray(image, dtype=np.float64) / 255
    return array.reshape(*array.shape[:2], channels)


def pixelate(x, c, rng):
    h, w = x.shape[:2]
    small = _pil(x).resize((max(1, int(w * c)), max(1, int(h * c))), Image.BOX)
    return _from_pil(small.resize((w, h), Image.BOX), x.shape[2])


def jpeg_compression(x, c, rng):
    buffer = io.BytesIO()
    _pil(x).save(buffer, "JPEG", quality=c)
    return _from_pil(Image.open(buffer), x.shape[2])


# name -> function, in the paper's order
CORRUPTIONS: dict[str, Fn] = {
    fn.__name__: fn
    for fn in (
        gaussian_noise,
        shot_noise,
        impulse_noise,
        defocus_blur,
        glass_blur,
        motion_blur,
        zoom_blur,
        snow,
        frost,
        fog,
        brightness,
        contrast,
        elastic_transform,
        pixelate,
        jpeg_compression,
    )
}


@dataclass(frozen=True)
class ParameterSet:
    """One published parameter table: ``size`` the image side it was tuned for (pixels),
    ``params[corruption]`` the parameters of severities 1..5."""

    name: str
    size: int
    source: str
    params: dict[str, tuple]


def _px(size: float, rows) -> tuple:
    """Rows of fractions of the image side -> pixels (the authors' ``IMSIZE * f``)."""
    return tuple(tuple(size * v for v in row) for row in rows)


def _steps(*ranges: tuple[float, float]) -> tuple:
    return tuple(tuple(np.arange(1, top, step)) for top, step in ranges)


_CIFAR = ParameterSet(
    "cifar",
    32,
    "make_cifar_c.py (CIFAR-10-C)",
    {
        "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),
        "shot_noise": (500, 250, 100, 75, 50),
        "impulse_noise": (0.01, 0.02, 0.03, 0.05, 0.07),
        "defocus_blur": ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)),
        "glass_blur": ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)),
        "motion_blur": ((10, 1), (10, 1.5), (10, 2), (10, 2.5), (12, 3)),
        "zoom_blur": _steps((1.06, 0.01), (1.11, 0.01), (1.16, 0.01), (1.21, 0.01), (1.26, 0.01)),
        "snow": (
            (0.1, 0.2, 1, 0.6, 8, 3, 0.95),
            (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
            (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
            (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
            (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8),
        ),
        "frost": ((1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)),
        "fog": ((0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)),
        "brightness": (0.05, 0.1, 0.15, 0.2, 0.3),
        "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),
        "elastic_transform": _px(
            32,
            (
                (0, 0, 0.08),
                (0.05, 0.2, 0.07),
                (0.08, 0.06, 0.06),
                (0.1, 0.04, 0.05),
                (0.1, 0.03, 0.03),
            ),
        ),
        "pixelate": (0.95, 0.9, 0.85, 0.75, 0.65),
        "jpeg_compression": (80, 65, 58, 50, 40),
    },
)

_IMAGENET = ParameterSet(
    "imagenet",
    224,
    "make_imagenet_c.py (ImageNet-C)",
    {
        "gaussian_noise": (0.08, 0.12, 0.18, 0.26, 0.38),
        "shot_noise": (60, 25, 12, 5, 3),
        "impulse_noise": (0.03, 0.06, 0.09, 0.17, 0.27),
        "defocus_blur": ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)),
        "glass_blur": ((0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)),
        "motion_blur": ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15)),
        "zoom_blur": _steps((1.11, 0.01), (1.16, 0.01), (1.21, 0.02), (1.26, 0.02), (1.31, 0.03)),
        "snow": (
            (0.1, 0.3, 3, 0.5, 10, 4, 0.8),
            (0.2, 0.3, 2, 0.5, 12, 4, 0.7),
            (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
            (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65),
            (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55),
        ),
        "frost": ((1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75)),
        "fog": ((1.5, 2), (2, 2), (2.5, 1.7), (2.5, 1.5), (3, 1.4)),
        "brightness": (0.1, 0.2, 0.3, 0.4, 0.5),
        "contrast": (0.4, 0.3, 0.2, 0.1, 0.05),
        "elastic_transform": _px(
            244,
            (
                (2, 0.7, 0.1),
                (2, 0.08, 0.2),
                (0.05, 0.01, 0.02),
                (0.07, 0.01, 0.02),
                (0.12, 0.01, 0.02),
            ),
        ),
        "pixelate": (0.6, 0.5, 0.4, 0.3, 0.25),
        "jpeg_compression": (25, 18, 15, 10, 7),
    },
)

# parameter-set name -> table; every table covers every corruption
PARAMETER_SETS: dict[str, ParameterSet] = {p.name: p for p in (_CIFAR, _IMAGENET)}


def _check(name: str, severity: int) -> None:
    if name not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r}; allowed: {', '.join(CORRUPTIONS)}")
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, got {severity!r}")


def plan_for(height: int, width: int) -> tuple[ParameterSet, int]:
    """(parameter set, integer upsampling factor k) for H×W images (module docstring's rule)."""
    side = max(1, min(height, width))
    chosen = min(PARAMETER_SETS.values(), key=lambda p: abs(math.log(side / p.size)))
    return chosen, max(1, math.ceil(chosen.size / side))


def corrupt_image(
    image: np.ndarray,
    name: str,
    severity: int,
    rng: np.random.Generator,
    parameters: str = "cifar",
) -> np.ndarray:
    """One H×W×C uint8 image -> corrupted uint8 H×W×C, with table ``parameters`` at the
    image's own size (no resampling; :func:`corrupt_images` chooses both)."""
    _check(name, severity)
    if parameters not in PARAMETER_SETS:
        raise ValueError(
            f"unknown parameter set {parameters!r}; allowed: {', '.join(PARAMETER_SETS)}"
        )
    x = image.astype(np.float64) / 255
    out = CORRUPTIONS[name](x, PARAMETER_SETS[parameters].params[name][severity - 1], rng)
    return np.round(np.clip(out, 0, 1) * 255).astype(np.uint8)


def _resize(images: np.ndarray, size: tuple[int, int], mode: str) -> np.ndarray:
    """uint8 N×H×W×C -> float64 N×h×w×C in [0, 255] (nearest up or area down)."""
    t = torch.from_numpy(images.astype(np.float32)).permute(0, 3, 1, 2)
    out = torch.nn.functional.interpolate(t, size=size, mode=mode)
    return out.permute(0, 2, 3, 1).double().numpy()


def corrupt_images(images: np.ndarray, name: str, severity: int, seed: int = 0) -> np.ndarray:
    """Corrupt uint8 N×H×W×C images; deterministic for (images, name, severity, seed).

    Parameter set and working size from :func:`plan_for`: images are upsampled (nearest)
    by k, corrupted, and area-downsampled by k.
    """
    _check(name, severity)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] not in (1, 3):
        raise ValueError(
            f"need uint8 N×H×W×C images with C in (1, 3), got {images.dtype} {images.shape}"
        )
    rng = np.random.default_rng([seed, list(CORRUPTIONS).index(name), severity])
    n, h, w, _ = images.shape
    table, k = plan_for(h, w)
    work = (
        np.round(_resize(images, (k * h, k * w), "nearest-exact")).clip(0, 255).astype(np.uint8)
        if k > 1
        else images
    )
    out = (
        np.stack([corrupt_image(img, name, severity, rng, table.name) for img in work])
        if n
        else work
    )
    if k > 1:
        out = np.round(_resize(out, (h, w), "area")).clip(0, 255).astype(np.uint8)
    return out
