"""Writers of tiny fixtures in each published layout (class-coloured images)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from ncsweep.data.corruptions import CORRUPTIONS, SEVERITIES

COLOURS = [(220, 30, 30), (30, 200, 40), (40, 60, 220)]


def _image(label: int, index: int, size: int = 12) -> Image.Image:
    rng = np.random.default_rng(100 * label + index)
    base = np.array(COLOURS[label], dtype=float)
    pixels = np.clip(base + rng.normal(scale=12, size=(size, size, 3)), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels)


def write_cifar_c(root: Path, per_severity: int = 6) -> Path:
    """``<corruption>.npy`` (5·n)×32×32×3 uint8 and ``labels.npy`` (CIFAR-10-C layout)."""
    root.mkdir(parents=True, exist_ok=True)
    labels = np.tile(np.arange(per_severity) % 3, len(SEVERITIES))
    for i, name in enumerate(CORRUPTIONS):
        rng = np.random.default_rng(i)
        data = rng.integers(0, 256, size=(len(labels), 32, 32, 3), dtype=np.uint8)
        data[:, 0, 0, 0] = np.arange(len(labels))  # row index, to check severity slicing
        np.save(root / f"{name}.npy", data)
    np.save(root / "labels.npy", labels)
    return root


def write_imagenet_c(root: Path, wnids: list[str], per_class: int = 1) -> Path:
    """``<corruption>/<severity>/<wnid>/*.JPEG`` (ImageNet-C layout)."""
    for name in CORRUPTIONS:
        for s in SEVERITIES:
            for label, wnid in enumerate(wnids):
                folder = root / name / str(s) / wnid
                folder.mkdir(parents=True, exist_ok=True)
                for i in range(per_class):
                    _image(label, i, 20).save(folder / f"ILSVRC2012_val_{label}{i:04d}.JPEG")
    return root


def write_dtd(root: Path, per_split: int = 3) -> Path:
    classes = ["banded", "dotted", "striped"]
    images, labels = root / "dtd" / "dtd" / "images", root / "dtd" / "dtd" / "labels"
    labels.mkdir(parents=True)
    lines: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for label, cls in enumerate(classes):
        (images / cls).mkdir(parents=True)
        for j, split in enumerate(s for s in lines for _ in range(per_split)):
            name = f"{cls}_{j:04d}.jpg"
            _image(label, j).save(images / cls / name)
            lines[split].append(f"{cls}/{name}")
    for split, entries in lines.items():
        (labels / f"{split}1.txt").write_text("\n".join(entries) + "\n")
    return root


def write_oxford_pets(root: Path, per_split: int = 4) -> Path:
    breeds = ["Abyssinian", "beagle", "Bengal"]
    base = root / "oxford-iiit-pet"
    (base / "images").mkdir(parents=True)
    (base / "annotations").mkdir()
    lines: dict[str, list[str]] = {"trainval": [], "test": []}
    for label, breed in enumerate(breeds):
        for j, split in enumerate(s for s in lines for _ in range(per_split)):
            image_id = f"{breed}_{j + 1}"
            _image(label, j).save(base / "images" / f"{image_id}.jpg")
            species = 1 if breed[0].isupper() else 2
            lines[split].append(f"{image_id} {label + 1} {species} 1")
    for split, entries in lines.items():
        (base / "annotations" / f"{split}.txt").write_text("\n".join(entries) + "\n")
    return root


def write_food101(root: Path, per_split: int = 4) -> Path:
    classes = ["apple_pie", "bibimbap", "churros"]
    base = root / "food-101"
    (base / "meta").mkdir(parents=True)
    meta: dict[str, dict[str, list[str]]] = {"train": {}, "test": {}}
    for label, cls in enumerate(classes):
        (base / "images" / cls).mkdir(parents=True)
        for j, split in enumerate(s for s in meta for _ in range(per_split)):
            _image(label, j).save(base / "images" / cls / f"{1000 + j}.jpg")
            meta[split].setdefault(cls, []).append(f"{cls}/{1000 + j}")
    for split, entries in meta.items():
        (base / "meta" / f"{split}.json").write_text(json.dumps(entries))
    (base / "meta" / "classes.txt").write_text("\n".join(classes) + "\n")
    return root


TRANSFER_WRITERS = {"dtd": write_dtd, "oxford_pets": write_oxford_pets, "food101": write_food101}
