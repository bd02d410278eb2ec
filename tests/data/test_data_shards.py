"""Tar shards (issue 18): written from an ImageFolder to a folder and to moto's S3 server,
streamed back across simulated ranks and real DataLoader worker processes."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader
from torchvision.transforms.functional import pil_to_tensor

from ncsweep.cli import main
from ncsweep.data import DatasetNotFoundError, create_dataset
from ncsweep.data.shards import ShardedImageDataset, read_index, write_shards

CLASSES = ("ant", "bee", "cat")


@pytest.fixture
def image_folder(tmp_path) -> Path:
    """3 classes × 8 train and 2 val random 32×32 JPEGs (distinct pixels: each identifies its
    file)."""
    root = tmp_path / "folder"
    rng = np.random.default_rng(0)
    for split, n in (("train", 8), ("val", 2)):
        for name in CLASSES:
            (root / split / name).mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / name / f"{i}.JPEG")
    return root


def _originals(root: Path, split: str) -> dict[bytes, tuple[str, int]]:
    """Decoded pixels (what PIL makes of the file's bytes) -> (file, label)."""
    out = {}
    for label, name in enumerate(CLASSES):
        for path in sorted((root / split / name).iterdir()):
            pixels = pil_to_tensor(Image.open(path).convert("RGB")).numpy().tobytes()
            out[pixels] = (str(path), label)
    assert len(out) == len(CLASSES) * len(list((root / split / CLASSES[0]).iterdir()))
    return out


def _stream(url: str, *, epoch: int, rank: int, world_size: int, workers: int) -> list:
    dataset = ShardedImageDataset(
        url,
        "train",
        transform=pil_to_tensor,
        buffer_size=4,
        seed=7,
        rank=rank,
        world_size=world_size,
    )
    dataset.set_epoch(epoch)
    loader = DataLoader(dataset, batch_size=None, num_workers=workers)
    return [(x.numpy().tobytes(), int(y)) for x, y in loader]


def _epoch(url: str, epoch: int) -> list[list]:
    """What each of 2 ranks with 2 DataLoader workers each streams in ``epoch``."""
    return [_stream(url, epoch=epoch, rank=r, world_size=2, workers=2) for r in range(2)]


def _assert_each_sample_once(per_rank: list[list], originals: dict) -> None:
    seen = [pixels for rank in per_rank for pixels, _ in rank]
    assert sorted(seen) == sorted(originals), "a sample is missing, duplicated or altered"
    for rank in per_rank:
        assert rank, "a rank got no shard"
        for pixels, label in rank:
            assert label == originals[pixels][1], originals[pixels][0]


def test_local_shards_stream_every_sample_once_per_epoch_in_a_seeded_order(image_folder, tmp_path):
    out = tmp_path / "shards"
    index = write_shards(image_folder, str(out), "train", shard_size=3, seed=0)
    assert index["samples"] == 24 and len(index["shards"]) == 8
    assert index["classes"] == list(CLASSES) and index["class_counts"] == [8, 8, 8]
    assert sorted(p.name for p in out.iterdir()) == [
        *(f"train-{i:06d}.tar" for i in range(8)),
        "train-index.json",
    ]
    originals = _originals(image_folder, "train")
    first, second = _epoch(str(out), 0), _epoch(str(out), 1)
    _assert_each_sample_once(first, originals)
    _assert_each_sample_once(second, originals)
    assert first != second, "epoch 1 streamed in epoch 0's order"
    assert _epoch(str(out), 0) == first, "the same seed and epoch gave another order"


def test_unshuffled_stream_keeps_the_written_order(image_folder, tmp_path):
    write_shards(image_folder, str(tmp_path / "s"), "val", shard_size=4, seed=3)
    dataset = ShardedImageDataset(str(tmp_path / "s"), "val", shuffle=False)
    labels = [y for _, y in dataset]
    again = [y for _, y in dataset]
    assert labels == again and sorted(labels) == [0, 0, 1, 1, 2, 2]


@pytest.fixture
def bucket(s3_server):
    import s3fs

    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_server}, skip_instance_cache=True)
    fs.mkdir("datasets")
    return fs


def test_s3_shards_stream_back_as_a_dataset(image_folder, bucket):
    url = "s3://datasets/imagenet-shards"
    for split in ("train", "val"):
        write_shards(image_folder, url, split, shard_size=5, seed=0)
    assert bucket.exists("datasets/imagenet-shards/train-000004.tar")
    assert json.loads(bucket.cat("datasets/imagenet-shards/val-index.json"))["samples"] == 6
    _assert_each_sample_once(_epoch(url, 3), _originals(image_folder, "train"))
    bundle = create_dataset(
        "imagenet_shards", root=url, augment=False, image_size=32, resize_size=32, decode="cpu"
    )
    assert (bundle.num_classes, bundle.class_counts) == (3, [8, 8, 8])
    x, _ = next(iter(bundle.train))
    assert x.shape == bundle.input_shape == (3, 32, 32) and x.dtype == torch.float32
    assert sorted(y for _, y in bundle.val) == [0, 0, 1, 1, 2, 2]
    assert len([y for _, y in bundle.train_eval]) == 24


def _files_under(*folders: Path) -> list[str]:
    return [str(p) for folder in folders for p in folder.rglob("*") if p.is_file()]


# Its DataLoader workers never delivered a batch inside an xdist worker (forked or spawned;
# alone or not: 600 s), while the same test passes in a plain pytest process: not yet explained.
@pytest.mark.serial
def test_streaming_from_s3_writes_nothing_to_local_disk(
    image_folder, bucket, tmp_path, monkeypatch
):
    """Fresh HOME, TMPDIR and cache: streaming leaves them empty; the copying ``imagenet``
    dataset, read from the same bucket with the same check, fills them (the check bites)."""
    home, temp, cache = (tmp_path / d for d in ("home", "tmp", "cache"))
    for folder in (home, temp, cache):
        folder.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.setattr(tempfile, "tempdir", None)
    for split in ("train", "val"):
        write_shards(image_folder, "s3://datasets/shards", split, shard_size=5, seed=0)
    bundle = create_dataset(
        "imagenet_shards", root="s3://datasets/shards", cache_dir=str(cache), decode="cpu"
    )
    streamed = [y for _, y in DataLoader(bundle.train, batch_size=None, num_workers=2)]
    streamed += [y for _, y in bundle.val]
    assert len(streamed) == 30
    assert _files_under(home, temp, cache) == []

    bucket.put(str(image_folder), "datasets/folder", recursive=True)
    create_dataset("imagenet", root="s3://datasets/folder", cache_dir=str(cache))
    assert len(_files_under(home, temp, cache)) == 30


def test_a_missing_index_says_where_it_looked_and_how_to_write_it(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        create_dataset("imagenet_shards", root=str(tmp_path / "nothing"))
    assert str(tmp_path / "nothing" / "train-index.json") in str(err.value)
    assert "ncsweep data shard" in str(err.value)
    with pytest.raises(DatasetNotFoundError, match="data.root"):
        create_dataset("imagenet_shards")


def test_a_streamed_dataset_refuses_a_long_tail(image_folder, tmp_path):
    with pytest.raises(ValueError, match="imbalance"):
        create_dataset("imagenet_shards", root=str(tmp_path), imbalance={"ratio": 0.1})


def test_cli_writes_both_splits(image_folder, tmp_path, capsys):
    out = tmp_path / "cli-shards"
    with pytest.raises(SystemExit) as exit_:
        main(
            ["data", "shard", "--root", str(image_folder), "--out", str(out), "--shard-size", "10"]
        )
    assert exit_.value.code == 0, capsys.readouterr()
    assert [s["samples"] for s in read_index(str(out), "train")["shards"]] == [10, 10, 4]
    assert read_index(str(out), "val")["samples"] == 6
    assert "train: 24 samples, 3 classes, 3 shard(s)" in capsys.readouterr().out


@pytest.mark.parametrize("where", ["missing", "no-val"])
def test_cli_bad_root_exits_2_naming_the_path(where, image_folder, tmp_path, capsys):
    root = tmp_path / "missing" if where == "missing" else image_folder
    if where == "no-val":
        for path in sorted((root / "val").rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        (root / "val").rmdir()
    with pytest.raises(SystemExit) as exit_:
        main(["data", "shard", "--root", str(root), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert str(root / ("train" if where == "missing" else "val")) in err
    assert "Traceback" not in err and not (tmp_path / "out").exists()
