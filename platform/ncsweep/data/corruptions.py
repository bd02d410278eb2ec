"""The 15 corruptions of Hendrycks & Dietterich (ICLR 2019) at 5 severities, in numpy.

Parameters are those of CIFAR-10-C (``make_cifar_c.py`` of the authors' repository) for
32×32 images. Why our own implementation and not the ``imagecorruptions`` package: its
maintained fork needs OpenCV and scikit-image (≈100 MB more in every environment), uses the
ImageNet-C parameters at every size (CIFAR-10-C used milder ones) and draws from numpy's
global random state; here every call takes its own ``numpy.random.Generator``, so a corrupted
set is a pure function of (images, corruption, severity, seed). Differences from the
published code, each for lack of a dependency: blurs and warps use scipy instead of OpenCV
and ImageMagick (motion blur is a one-sided line kernel with Gaussian weights, as
ImageMagick's), and ``frost`` blends a seeded procedural ice texture instead of the six
frost photographs.

Images smaller than 32 pixels (digits are 8×8) are upsampled (nearest: an exact round trip
for integer factors) to 32×32, corrupted
with the CIFAR parameters and area-downsampled back, so shape and dtype are kept.

Shapes: :func:`corrupt_images` takes and returns uint8 N×H×W×C (C = 1 or 3).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable

import numpy as np
import torch
from PIL import Image
from scipy import ndimage

__all__ = ["CORRUPTIONS", "SEVERITIES", "corrupt_image", "corrupt_images"]

SEVERITIES = (1, 2, 3, 4, 5)
_SIZE = 32

Fn = Callable[[np.ndarray, object, np.random.Generator], np.ndarray]


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    return ndimage.gaussian_filter(x, sigma=(sigma, sigma, 0), mode="nearest", truncate=4.0)


def _convolve(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    return ndimage.convolve(x, kernel[:, :, None], mode="reflect")


def _clipped_zoom(x: np.ndarray, factor: float) -> np.ndarray:
    """Zoom into the centre by ``factor`` and crop back to the input size."""
    h = x.shape[0]
    ch = int(math.ceil(h / factor))
    top = (h - ch) // 2
    out = ndimage.zoom(x[top : top + ch, top : top + ch], (factor, factor, 1), order=1)
    trim = (out.shape[0] - h) // 2
    return out[trim : trim + h, trim : trim + h]


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
    alpha, sigma, affine = (v * _SIZE for v in c)
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


_S = _SIZE
# name -> (function, parameters for severities 1..5); CIFAR-10-C's, in the paper's order.
CORRUPTIONS: dict[str, tuple[Fn, tuple]] = {
    "gaussian_noise": (gaussian_noise, (0.04, 0.06, 0.08, 0.09, 0.10)),
    "shot_noise": (shot_noise, (500, 250, 100, 75, 50)),
    "impulse_noise": (impulse_noise, (0.01, 0.02, 0.03, 0.05, 0.07)),
    "defocus_blur": (defocus_blur, ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1))),
    "glass_blur": (
        glass_blur,
        ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)),
    ),
    "motion_blur": (motion_blur, ((10, 1), (10, 1.5), (10, 2), (10, 2.5), (12, 3))),
    "zoom_blur": (
        zoom_blur,
        tuple(tuple(np.arange(1, top, 0.01)) for top in (1.06, 1.11, 1.16, 1.21, 1.26)),
    ),
    "snow": (
        snow,
        (
            (0.1, 0.2, 1, 0.6, 8, 3, 0.95),
            (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
            (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
            (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
            (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8),
        ),
    ),
    "frost": (frost, ((1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45))),
    "fog": (fog, ((0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75))),
    "brightness": (brightness, (0.05, 0.1, 0.15, 0.2, 0.3)),
    "contrast": (contrast, (0.75, 0.5, 0.4, 0.3, 0.15)),
    "elastic_transform": (
        elastic_transform,
        ((0, 0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06), (0.1, 0.04, 0.05), (0.1, 0.03, 0.03)),
    ),
    "pixelate": (pixelate, (0.95, 0.9, 0.85, 0.75, 0.65)),
    "jpeg_compression": (jpeg_compression, (80, 65, 58, 50, 40)),
}
del _S


def _check(name: str, severity: int) -> None:
    if name not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r}; allowed: {', '.join(CORRUPTIONS)}")
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, got {severity!r}")


def corrupt_image(
    image: np.ndarray, name: str, severity: int, rng: np.random.Generator
) -> np.ndarray:
    """One H×W×C uint8 image (H, W ≥ 32) -> corrupted uint8 H×W×C."""
    _check(name, severity)
    fn, params = CORRUPTIONS[name]
    x = image.astype(np.float64) / 255
    out = fn(x, params[severity - 1], rng)
    return np.round(np.clip(out, 0, 1) * 255).astype(np.uint8)


def _resize(images: np.ndarray, size: tuple[int, int], mode: str) -> np.ndarray:
    """uint8 N×H×W×C -> float64 N×h×w×C in [0, 255] (nearest up or area down)."""
    t = torch.from_numpy(images.astype(np.float32)).permute(0, 3, 1, 2)
    out = torch.nn.functional.interpolate(t, size=size, mode=mode)
    return out.permute(0, 2, 3, 1).double().numpy()


def corrupt_images(images: np.ndarray, name: str, severity: int, seed: int = 0) -> np.ndarray:
    """Corrupt uint8 N×H×W×C images; deterministic for (images, name, severity, seed).

    Images under 32 pixels a side are upsampled (nearest) to 32×32, corrupted and
    area-downsampled.
    """
    _check(name, severity)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] not in (1, 3):
        raise ValueError(
            f"need uint8 N×H×W×C images with C in (1, 3), got {images.dtype} {images.shape}"
        )
    rng = np.random.default_rng([seed, list(CORRUPTIONS).index(name), severity])
    n, h, w, _ = images.shape
    small = min(h, w) < _SIZE
    work = (
        np.round(_resize(images, (_SIZE, _SIZE), "nearest-exact")).clip(0, 255).astype(np.uint8)
        if small
        else images
    )
    out = np.stack([corrupt_image(img, name, severity, rng) for img in work]) if n else work
    if small:
        out = np.round(_resize(out, (h, w), "area")).clip(0, 255).astype(np.uint8)
    return out
