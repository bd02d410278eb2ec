"""Writers of tiny fixtures in each published layout (class-coloured images)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from ncsweep.data.corruption_ops import CORRUPTIONS, SEVERITIES

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


def write_flowers102(root: Path, per_split: int = 2) -> Path:
    from scipy.io import savemat

    base = root / "flowers-102"
    (base / "jpg").mkdir(parents=True)
    labels, ids = [], {"trnid": [], "valid": [], "tstid": []}
    for label in range(3):
        for split in ids:
            for j in range(per_split):
                labels.append(label + 1)
                image_id = len(labels)
                _image(label, j).save(base / "jpg" / f"image_{image_id:05d}.jpg")
                ids[split].append(image_id)
    savemat(base / "imagelabels.mat", {"labels": np.array([labels])})
    savemat(base / "setid.mat", {k: np.array([v]) for k, v in ids.items()})
    return root


def write_stanford_cars(root: Path, per_split: int = 2) -> Path:
    from scipy.io import savemat

    base = root / "stanford_cars"
    for folder in ("devkit", "cars_train", "cars_test"):
        (base / folder).mkdir(parents=True)
    names = np.array(
        ["AM General Hummer SUV 2000", "Acura RL Sedan 2012", "BMW M3 Coupe 2012"], dtype=object
    )
    savemat(base / "devkit" / "cars_meta.mat", {"class_names": names.reshape(1, -1)})
    dtype = [("fname", "O"), ("class", "O")]
    for split, mat in (
        ("cars_train", base / "devkit" / "cars_train_annos.mat"),
        ("cars_test", base / "cars_test_annos_withlabels.mat"),
    ):
        rows = []
        for label in range(3):
            for j in range(per_split):
                fname = f"{label}{j:04d}.jpg"
                _image(label, j).save(base / split / fname)
                rows.append((fname, label + 1))
        savemat(mat, {"annotations": np.array(rows, dtype=dtype).reshape(1, -1)})
    return root


def write_fgvc_aircraft(root: Path, per_split: int = 2) -> Path:
    data = root / "fgvc-aircraft-2013b" / "data"
    (data / "images").mkdir(parents=True)
    variants = ["707-320", "727-200", "A300B4"]
    (data / "variants.txt").write_text("\n".join(variants) + "\n")
    for split in ("trainval", "test"):
        lines = []
        for label, variant in enumerate(variants):
            for j in range(per_split):
                image_id = f"{split[:2]}{label}{j:04d}"
                _image(label, j).save(data / "images" / f"{image_id}.jpg")
                lines.append(f"{image_id} {variant}")
        (data / f"images_variant_{split}.txt").write_text("\n".join(lines) + "\n")
    return root


def write_caltech101(root: Path, per_class: int = 4) -> Path:
    base = root / "caltech101" / "101_ObjectCategories"
    for label, cls in enumerate(["accordion", "airplanes", "anchor"]):
        (base / cls).mkdir(parents=True)
        for j in range(per_class):
            _image(label, j).save(base / cls / f"image_{j + 1:04d}.jpg")
    (base / "BACKGROUND_Google").mkdir()
    _image(0, 99).save(base / "BACKGROUND_Google" / "image_0001.jpg")
    return root


def write_sun397(root: Path, per_class: int = 4) -> Path:
    base = root / "SUN397"
    names = ["/a/abbey", "/b/beach", "/c/canyon"]
    for label, name in enumerate(names):
        folder = base / name.lstrip("/")
        folder.mkdir(parents=True)
        for j in range(per_class):
            _image(label, j).save(folder / f"sun_{label}{j:04d}.jpg")
    (base / "ClassName.txt").write_text("\n".join(names) + "\n")
    return root


ALL_TRANSFER_WRITERS = {
    **TRANSFER_WRITERS,
    "flowers102": write_flowers102,
    "stanford_cars": write_stanford_cars,
    "fgvc_aircraft": write_fgvc_aircraft,
    "caltech101": write_caltech101,
    "sun397": write_sun397,
}
