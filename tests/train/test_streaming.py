"""The training core on a streamed dataset (``imagenet_shards``): equal steps on every rank,
a mid-epoch restart that continues in the uninterrupted order, and whole runs (CE, and
SCL with its projection head and exact class-mean prototypes) that train and evaluate."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ncsweep.config import load_spec
from ncsweep.data.shards import write_shards
from ncsweep.train import TrainingCore, fit
from ncsweep.train.core import STATUS_DONE
from ncsweep.train.streaming import StreamedEvalSplit


@pytest.fixture
def shards(tmp_path) -> str:
    """4 classes, 9 train images each in shards of 5 (the last shard holds 1), 3 val each."""
    rng = np.random.default_rng(0)
    for split, n in (("train", 9), ("val", 3)):
        for c in range(4):
            folder = tmp_path / "imagenet" / split / f"n{c:03d}"
            folder.mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 256, size=(20, 24, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"img{i}.JPEG")
    out = str(tmp_path / "shards")
    for split in ("train", "val"):
        write_shards(tmp_path / "imagenet", out, split, shard_size=5)
    return out


def _spec(root: str, *extra: str):
    return load_spec(
        None,
        [
            "data.name=imagenet_shards",
            f"data.root={root}",
            "data.options.image_size=16",
            "data.options.resize_size=18",
            "data.options.decode=cpu",
            "model.name=mlp",
            "run.batch_size=4",
            "run.epochs=3",
            "eval.val_nc=false",
            *extra,
        ],
    )


def _labels(core: TrainingCore, steps: int) -> list[list[int]]:
    """The labels of the next ``steps`` training batches, as the loop would take them."""
    seen = []
    for _x, y in core.batches():
        seen.append(y.tolist())
        core.step += 1
        if len(seen) == steps:
            break
    return seen


def test_every_rank_takes_the_same_steps_from_its_own_shards(shards):
    spec = _spec(shards, "run.batch_size=4")
    ranks = [TrainingCore(spec, rank=r, world_size=2) for r in range(2)]
    # 36 samples in 8 shards (7 of 5, one of 1): a rank holds 15 to 21 samples in an
    # epoch, in batches of 2; every rank takes the fewest any rank has in any epoch
    counts = [
        ranks[0].train_loader.dataset.reader_samples(epoch, 2) for epoch in range(spec.run.epochs)
    ]
    assert ranks[0].steps_per_epoch == ranks[1].steps_per_epoch
    assert ranks[0].steps_per_epoch == min(c // 2 for epoch in counts for c in epoch)
    steps = ranks[0].steps_per_epoch * spec.run.epochs
    assert [len(_labels(core, steps)) for core in ranks] == [steps, steps]


def test_a_restart_mid_epoch_continues_in_the_uninterrupted_order(shards):
    spec = _spec(shards)
    whole = TrainingCore(spec)
    order = _labels(whole, whole.total_steps)
    restarted = TrainingCore(spec)
    start = restarted.step = whole.steps_per_epoch + 2  # part-way through the second epoch
    assert _labels(restarted, whole.total_steps) == order[start:]


def test_a_streamed_eval_split_holds_its_limit_and_its_share(shards):
    spec = _spec(shards, "eval.nc_samples=10")
    cores = [TrainingCore(spec, rank=r, world_size=2) for r in range(2)]
    subsets = [core.eval_loaders.train for core in cores]
    assert all(isinstance(s, StreamedEvalSplit) for s in subsets)
    assert [sum(len(y) for _, y in s) for s in subsets] == [5, 5]  # ceil(10 / 2) each
    full = [sum(len(y) for _, y in core.eval_loaders.train_full) for core in cores]
    assert sum(full) == 36 and full == [len(core.eval_loaders.train_full) for core in cores]


@pytest.mark.parametrize("loss", ["ce", "scl"])
def test_a_run_on_shards_trains_and_evaluates(shards, loss):
    spec = _spec(shards, f"loss.name={loss}")
    core = TrainingCore(spec)
    result = fit(core)
    assert result.status == STATUS_DONE
    assert core.step == core.total_steps == core.steps_per_epoch * spec.run.epochs
    metrics = result.metrics
    assert 0.0 <= metrics["val/acc1"] <= 1.0
    assert torch.isfinite(torch.tensor(metrics["nc/nc1"]))
