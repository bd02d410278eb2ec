"""ImageNet-style data as tar shards, streamed through fsspec from a folder or ``s3://``.

A shard ``<split>-000000.tar`` is a plain tar of ``<key>.jpg`` (the original image bytes;
``.png`` for PNG files) and ``<key>.cls`` (the label as decimal text) pairs, in the order
webdataset reads them; ``<split>-index.json`` lists the shards with their sample counts, the
class names (label order) and the per-class counts. :func:`write_shards` writes them from the
ImageFolder layout ``imagenet.py`` reads, samples shuffled across shards with a seed.

:class:`ShardedImageDataset` reads each shard as one forward stream (``tarfile`` in ``r|``
mode over an fsspec file with a bounded read-ahead buffer): nothing lands on local disk, and a
node reads only the shards its ranks and DataLoader workers are given.
"""

from __future__ import annotations

import copy
import io
import json
import random
import tarfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import torch
from torch.utils.data import IterableDataset, get_worker_info

from ncsweep.data.bundle import DatasetNotFoundError
from ncsweep.data.imagenet import select_classes
from ncsweep.data.remote import filesystem

__all__ = [
    "DECODERS",
    "ShardedImageDataset",
    "decode_image",
    "index_name",
    "read_index",
    "resolve_decode",
    "shard_name",
    "write_shards",
]

FORMAT = "ncsweep-shards/1"
_IMAGE_EXT = {".jpg": "jpg", ".jpeg": "jpg", ".png": "png"}
_READ_BLOCK = 8 * 2**20
"""Bytes fetched per request while streaming a shard (held in memory, never on disk)."""
DECODERS = ("auto", "cpu", "cuda")
HOW = "write them with `ncsweep data shard --root IMAGEFOLDER --out {url}`"


def shard_name(split: str, number: int) -> str:
    """``train-000000.tar``."""
    return f"{split}-{number:06d}.tar"


def index_name(split: str) -> str:
    """``train-index.json``."""
    return f"{split}-index.json"


def _scan(root: Path, split: str, classes: list[str]) -> list[tuple[Path, int]]:
    """``(image path, label)`` of every image of ``root/split`` in the given classes."""
    samples = []
    for label, name in enumerate(classes):
        folder = root / split / name
        if not folder.is_dir():
            raise DatasetNotFoundError(
                f"shards: {folder} is not a directory; every class of {root / 'train'} needs "
                f"a folder in {root / split} (ImageFolder layout)"
            )
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_EXT)
        samples += [(p, label) for p in files]
    return samples


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o444, 0  # reproducible bytes
    tar.addfile(info, io.BytesIO(data))


def write_shards(
    image_folder_root: str | Path,
    out_url: str,
    split: str = "train",
    shard_size: int = 1000,
    seed: int = 0,
    *,
    classes: list[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Write ``root/<split>`` as tar shards plus ``<split>-index.json`` under ``out_url``.

    Args:
        image_folder_root: the ImageFolder root (``train/<class>/*.JPEG``, ``val/...``).
        out_url: a local folder or ``s3://bucket/prefix`` (written through fsspec).
        split: the sub-folder to write.
        shard_size: samples per shard (the last shard holds the rest).
        seed: shuffles the samples across shards, so each shard mixes the classes.
        classes: class folder names in label order (default: the sorted folders of
            ``root/train``, as the ``imagenet`` dataset labels them).
        progress: called as ``progress(samples_done, samples_total)`` after each sample.

    Returns:
        The index (also written as JSON).
    """
    root = Path(image_folder_root).expanduser()
    if not (root / "train").is_dir():
        raise DatasetNotFoundError(
            f"shards: {root / 'train'} is not a directory; --root must hold the ImageFolder "
            "layout train/<class>/*.JPEG and val/<class>/*.JPEG"
        )
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
        raise ValueError(f"shards: shard_size must be an integer >= 1, got {shard_size!r}")
    classes = list(classes) if classes is not None else select_classes(root, None, None)
    samples = _scan(root, split, classes)
    if not samples:
        raise DatasetNotFoundError(f"shards: no .jpg/.jpeg/.png images under {root / split}")
    random.Random(seed).shuffle(samples)
    fs, base = filesystem(out_url)
    fs.makedirs(base, exist_ok=True)
    shards = []
    for number, start in enumerate(range(0, len(samples), shard_size)):
        chunk = samples[start : start + shard_size]
        name = shard_name(split, number)
        with (
            fs.open(f"{base}/{name}", "wb") as stream,
            tarfile.open(fileobj=stream, mode="w|") as tar,
        ):
            for i, (path, label) in enumerate(chunk, start):
                key = f"{split}{i:09d}"
                _add(tar, f"{key}.{_IMAGE_EXT[path.suffix.lower()]}", path.read_bytes())
                _add(tar, f"{key}.cls", str(label).encode())
                if progress is not None:
                    progress(i + 1, len(samples))
        shards.append({"name": name, "samples": len(chunk)})
    counts = torch.bincount(torch.tensor([y for _, y in samples]), minlength=len(classes))
    index = {
        "format": FORMAT,
        "split": split,
        "classes": classes,
        "class_counts": counts.tolist(),
        "samples": len(samples),
        "shards": shards,
    }
    with fs.open(f"{base}/{index_name(split)}", "w") as f:
        json.dump(index, f, indent=1)
    return index


def read_index(url: str, split: str) -> dict:
    """The index of ``split`` under ``url``; :class:`DatasetNotFoundError` names where it looked."""
    fs, base = filesystem(url)
    where = f"{str(url).rstrip('/')}/{index_name(split)}"
    try:
        with fs.open(f"{base}/{index_name(split)}", "r") as f:
            index = json.load(f)
    except FileNotFoundError:
        raise DatasetNotFoundError(
            f"shards: looked for the index {where} and found none; " + HOW.format(url=url)
        ) from None
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise DatasetNotFoundError(
            f"shards: {where} is not a {FORMAT} index; " + HOW.format(url=url)
        )
    return index


def resolve_decode(decode: str) -> str:
    """``"cpu"`` or ``"cuda"``: ``"auto"`` is the GPU where CUDA is present."""
    if decode not in DECODERS:
        raise ValueError(f"decode must be one of {', '.join(DECODERS)}, got {decode!r}")
    if decode == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return decode


def decode_image(data: bytes, ext: str, device: str):
    """A PIL RGB image (``cpu``), or a uint8 3×H×W tensor on the GPU (``cuda``: nvJPEG).

    The ``cuda`` path needs a CUDA context, so it runs in the main process (DataLoader
    ``num_workers=0``) or in spawned workers, not in forked ones.
    """
    if device == "cpu":
        from PIL import Image

        return Image.open(io.BytesIO(data)).convert("RGB")
    from torchvision.io import ImageReadMode, decode_jpeg
    from torchvision.io import decode_image as tv_decode

    raw = torch.frombuffer(bytearray(data), dtype=torch.uint8)
    if ext == "jpg":
        return decode_jpeg(raw, mode=ImageReadMode.RGB, device=device)
    return tv_decode(raw, mode=ImageReadMode.RGB).to(device)


def _tar_samples(stream) -> Iterator[dict[str, bytes]]:
    """Group consecutive tar members by key (webdataset: the name up to the first dot)."""
    key: tuple[str, str] | None = None
    sample: dict[str, bytes] = {}
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            data = tar.extractfile(member) if member.isfile() else None
            if data is None:
                continue
            folder, _, base = member.name.rpartition("/")
            stem, _, ext = base.partition(".")
            if (folder, stem) != key and sample:
                yield sample
                sample = {}
            key = (folder, stem)
            sample[ext] = data.read()
    if sample:
        yield sample


def _buffered_shuffle(items: Iterable, size: int, rng: random.Random) -> Iterator:
    """Yield ``items`` in a random order drawn from a buffer of at most ``size`` of them."""
    buffer: list = []
    for item in items:
        if len(buffer) < size:
            buffer.append(item)
            continue
        slot = rng.randrange(size)
        yield buffer[slot]
        buffer[slot] = item
    rng.shuffle(buffer)
    yield from buffer


class ShardedImageDataset(IterableDataset):
    """``(x, label)`` streamed from the shards of one split, each shard read once per epoch.

    The shards are split across distributed ranks (``torch.distributed`` when initialised,
    as under Ray Train, or ``rank``/``world_size``) and then across DataLoader workers: the
    reader ``r`` of ``R = world_size × num_workers`` takes the shards ``r, r + R, ...`` of
    the epoch's shard order. With ``shuffle``, that order and a bounded sample buffer per
    reader are reshuffled each epoch (:meth:`set_epoch`), reproducibly from ``seed``. Ranks
    receive whole shards, so their sample counts differ by up to one shard's size.

    Args:
        url: the shard folder (local or ``s3://``).
        split: ``train``, ``val``, ...
        transform: applied to each decoded image.
        shuffle: reshuffle shards and samples each epoch; ``False``: the written order.
        buffer_size: samples held for shuffling, per reader (bytes, decoded on the way out).
        seed: the base of the per-epoch shuffles.
        decode: ``cpu`` (PIL), ``cuda`` (nvJPEG) or ``auto``.
        rank, world_size: override the distributed rank and size (tests, custom launchers).
        index: the already-read index of ``split``.
    """

    def __init__(
        self,
        url: str,
        split: str,
        *,
        transform: Callable | None = None,
        shuffle: bool = True,
        buffer_size: int = 1000,
        seed: int = 0,
        decode: str = "cpu",
        rank: int | None = None,
        world_size: int | None = None,
        index: dict | None = None,
    ) -> None:
        if isinstance(buffer_size, bool) or not isinstance(buffer_size, int) or buffer_size < 1:
            raise ValueError(f"buffer_size must be an integer >= 1, got {buffer_size!r}")
        self.url, self.split = str(url), split
        self.index = index if index is not None else read_index(url, split)
        self.classes: list[str] = list(self.index["classes"])
        self.transform, self.shuffle, self.buffer_size = transform, shuffle, buffer_size
        self.seed, self.epoch = seed, 0
        self.device = resolve_decode(decode)
        self.rank, self.world_size = rank, world_size

    @property
    def num_samples(self) -> int:
        """Samples in the split (all ranks together)."""
        return int(self.index["samples"])

    def set_epoch(self, epoch: int) -> None:
        """The next iteration uses the shuffles of ``epoch`` (call before each epoch)."""
        self.epoch = epoch

    def _reader(self) -> tuple[int, int]:
        """``(this reader's number, readers in all)`` across ranks and workers."""
        rank, world = self.rank, self.world_size
        if rank is None or world is None:
            dist = torch.distributed
            ready = dist.is_available() and dist.is_initialized()
            rank, world = (dist.get_rank(), dist.get_world_size()) if ready else (0, 1)
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        return rank * workers + worker, world * workers

    def _epoch_order(self, epoch: int) -> list[str]:
        names = [s["name"] for s in self.index["shards"]]
        if self.shuffle:
            random.Random(self.seed * 1_000_003 + epoch).shuffle(names)
        return names

    def shards(self) -> list[str]:
        """The shard names this reader streams in this epoch, in order."""
        reader, readers = self._reader()
        return self._epoch_order(self.epoch)[reader::readers]

    def reader_samples(self, epoch: int, readers: int) -> list[int]:
        """Samples each of ``readers`` readers (ranks × DataLoader workers, numbered
        ``rank × workers + worker``) streams in ``epoch``; from the index, nothing read."""
        sizes = {s["name"]: int(s["samples"]) for s in self.index["shards"]}
        counts = [0] * readers
        for position, name in enumerate(self._epoch_order(epoch)):
            counts[position % readers] += sizes[name]
        return counts

    def for_rank(self, rank: int, world_size: int) -> ShardedImageDataset:
        """This split as rank ``rank`` of ``world_size`` streams it (a shallow copy)."""
        view = copy.copy(self)
        view.rank, view.world_size = rank, world_size
        return view

    def _stream(self, names: list[str]) -> Iterator[dict[str, bytes]]:
        fs, base = filesystem(self.url)  # opened here: one client per worker process
        for name in names:
            with fs.open(
                f"{base}/{name}", "rb", block_size=_READ_BLOCK, cache_type="readahead"
            ) as stream:
                yield from _tar_samples(stream)

    def __iter__(self) -> Iterator[tuple[object, int]]:
        names = self.shards()
        samples = self._stream(names)
        if self.shuffle:
            reader, _ = self._reader()
            rng = random.Random((self.seed * 1_000_003 + self.epoch) * 65_537 + reader)
            samples = _buffered_shuffle(samples, self.buffer_size, rng)
        for sample in samples:
            ext = next(e for e in ("jpg", "png") if e in sample)
            image = decode_image(sample[ext], ext, self.device)
            x = self.transform(image) if self.transform is not None else image
            yield x, int(sample["cls"])
