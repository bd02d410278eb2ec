"""Augmentations: vectorised tensor ones for in-memory data, torchvision pipelines for images.

``RandomShift`` works on a whole batch at once (one gather, no per-sample loop), which is
what keeps digits' epochs at milliseconds. ``MultiView`` turns any per-sample transform into
V independently augmented views stacked as V×C×H×W (SupCon's two views).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from PIL import Image
from torchvision import transforms as T

__all__ = [
    "CIFAR10_STATS",
    "CIFAR100_STATS",
    "IMAGENET_STATS",
    "ImageTransform",
    "MultiView",
    "RandomShift",
    "cifar_transforms",
    "imagenet_transforms",
]

CIFAR10_STATS = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
CIFAR100_STATS = ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))
IMAGENET_STATS = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))

#: A per-sample transform: a PIL image (or a uint8 C×H×W tensor) -> a float C×H×W tensor
#: (V×C×H×W under ``MultiView``).
ImageTransform = Callable[[Image.Image | torch.Tensor], torch.Tensor]
#: One step of a torchvision pipeline before ``ToTensor``: image in, image out.
_Step = Callable[[Image.Image | torch.Tensor], Image.Image | torch.Tensor]


class RandomShift:
    """Random translation by up to ``pad`` pixels: pad with ``fill``, then a random crop.

    Args:
        pad: largest shift in pixels, per axis.
        fill: value of the pixels shifted in (the normalised background).

    Shapes: ``x`` is C×H×W or B×C×H×W (each sample gets its own shift); same shape out.
    """

    def __init__(self, pad: int = 1, fill: float = 0.0) -> None:
        if pad < 0:
            raise ValueError(f"pad must be >= 0, got {pad}")
        self.pad = pad
        self.fill = float(fill)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.pad == 0:
            return x
        single = x.dim() == 3
        xb = x.unsqueeze(0) if single else x
        b, c, h, w = xb.shape
        p = self.pad
        padded = torch.nn.functional.pad(xb, (p, p, p, p), value=self.fill)
        dy = torch.randint(0, 2 * p + 1, (b,), generator=generator)
        dx = torch.randint(0, 2 * p + 1, (b,), generator=generator)
        rows = (dy[:, None] + torch.arange(h))[:, None, :, None]
        cols = (dx[:, None] + torch.arange(w))[:, None, None, :]
        out = padded[
            torch.arange(b)[:, None, None, None], torch.arange(c)[None, :, None, None], rows, cols
        ]
        return out[0] if single else out

    def __repr__(self) -> str:
        return f"RandomShift(pad={self.pad}, fill={self.fill:.3f})"


class MultiView:
    """Apply ``transform`` ``views`` times independently and stack: one image -> V×C×H×W."""

    def __init__(self, transform: ImageTransform, views: int) -> None:
        self.transform = transform
        self.views = views

    def __call__(self, img: Image.Image | torch.Tensor) -> torch.Tensor:
        return torch.stack([self.transform(img) for _ in range(self.views)])

    def __repr__(self) -> str:
        return f"MultiView({self.transform!r}, views={self.views})"


def _train_pipeline(
    augmentation: list[_Step],
    stats: tuple[Sequence[float], Sequence[float]],
    views: int,
    to_tensor: ImageTransform | None = None,
) -> ImageTransform:
    to_tensor = to_tensor or T.ToTensor()
    single = T.Compose([*augmentation, to_tensor, T.Normalize(*stats)])
    return single if views == 1 else MultiView(single, views)


def cifar_transforms(
    stats: tuple[Sequence[float], Sequence[float]], *, views: int, augment: bool, size: int = 32
) -> tuple[ImageTransform, ImageTransform]:
    """(train, eval) transforms for 32×32 PIL images.

    One view: RandomCrop(32, padding=4) + horizontal flip. Several views (SupCon):
    RandomResizedCrop(32, scale=(0.2, 1)), flip, ColorJitter(0.4, 0.4, 0.4, 0.1) with p=0.8,
    RandomGrayscale(0.2). Both end with ToTensor + Normalize(stats).
    """
    if not augment:
        aug: list[_Step] = []
    elif views == 1:
        aug = [T.RandomCrop(size, padding=4), T.RandomHorizontalFlip()]
    else:
        aug = [
            T.RandomResizedCrop(size, scale=(0.2, 1.0)),
            T.RandomHorizontalFlip(),
            T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
            T.RandomGrayscale(p=0.2),
        ]
    evaluation = T.Compose([T.ToTensor(), T.Normalize(*stats)])
    return _train_pipeline(aug, stats, views), evaluation


def imagenet_transforms(
    *, views: int, augment: bool, size: int = 224, resize: int = 256, from_tensor: bool = False
) -> tuple[ImageTransform, ImageTransform]:
    """(train, eval) transforms for ImageNet-style PIL images.

    Train: RandomResizedCrop(size) + flip (several views add SupCon's colour augmentation,
    scale=(0.2, 1)); without ``augment``, the eval geometry. Eval: Resize(resize) +
    CenterCrop(size). Both end with ToTensor + Normalize(ImageNet stats). ``from_tensor``:
    the input is a uint8 C×H×W tensor (decoded on the GPU), scaled to [0, 1] instead of
    ToTensor, so the whole pipeline runs on the tensor's device.
    """
    center: list[_Step] = [T.Resize(resize), T.CenterCrop(size)]
    if not augment:
        aug = center
    elif views == 1:
        aug = [T.RandomResizedCrop(size), T.RandomHorizontalFlip()]
    else:
        aug = [
            T.RandomResizedCrop(size, scale=(0.2, 1.0)),
            T.RandomHorizontalFlip(),
            T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
            T.RandomGrayscale(p=0.2),
        ]
    to_tensor = T.ConvertImageDtype(torch.float32) if from_tensor else T.ToTensor()
    evaluation = T.Compose([*center, to_tensor, T.Normalize(*IMAGENET_STATS)])
    return _train_pipeline(aug, IMAGENET_STATS, views, to_tensor), evaluation
