"""The core with ``data.augment_on=device``: raw uint8 batches from the loader, the pipeline
applied in ``train_step`` with the core's generator, whose state a checkpoint carries, so
a resumed run ends with the uninterrupted run's parameters; the run options validate."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ncsweep.config import SpecError, load_spec
from ncsweep.plan.preflight import check_spec
from ncsweep.train import TrainingCore
from ncsweep.train.acceleration import maybe_compile, memory_format_for
from ncsweep.train.distributed import unwrap

SCL = ["data.name=digits", "loss.name=scl", "run.batch_size=64", "data.augment_on=device"]


def _train(core: TrainingCore, steps: int) -> None:
    core.model.train()
    for x, y in core.batches():
        assert x.dtype == torch.uint8  # augmented on the device, not in the loader
        core.train_step(x, y)
        if core.step == steps:
            return


def _params(core: TrainingCore) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in unwrap(core.model).state_dict().items()}


def test_resumed_device_augmentation_continues_the_stream_exactly():
    spec = load_spec(None, SCL)
    straight = TrainingCore(spec)
    assert straight.augment is not None and straight.augment.views == 2
    _train(straight, 12)

    first = TrainingCore(spec)
    _train(first, 5)
    state = first.state_dict()
    assert state["augment_rng"].dtype == torch.uint8
    resumed = TrainingCore(spec)
    resumed.load_state_dict(state)
    _train(resumed, 12)
    expected = _params(straight)
    for key, value in _params(resumed).items():
        assert torch.equal(value, expected[key]), key

    # Without the generator's state the crops differ, and so do the parameters.
    state.pop("augment_rng")
    fresh = TrainingCore(spec)
    fresh.load_state_dict(state)
    _train(fresh, 12)
    assert any(not torch.equal(v, expected[k]) for k, v in _params(fresh).items())


def test_ranks_draw_different_augmentations_and_evaluation_is_fixed():
    spec = load_spec(None, SCL)
    a, b = TrainingCore(spec, rank=0, world_size=2), TrainingCore(spec, rank=1, world_size=2)
    x = a.bundle.train.batch(torch.arange(16))[0]
    assert not torch.equal(a.augment(x, a.generator), b.augment(x, b.generator))
    split = a.eval_loaders.val
    raw = next(iter(split))[0]
    assert raw.dtype == torch.uint8
    assert torch.equal(split.prepare(raw), split.prepare(raw))
    assert split.prepare(raw).dtype == torch.float32


@pytest.mark.parametrize(
    "override, key",
    [
        ("data.augment_on=gpu", "data.augment_on"),
        ("run.memory_format=nhwc", "run.memory_format"),
        ("run.compile=maybe", "run.compile"),
    ],
)
def test_bad_options_name_their_key(override, key):
    with pytest.raises(SpecError, match=key):
        load_spec(None, [override])


def test_device_augmentation_on_a_dataset_without_it_is_a_spec_error():
    spec = load_spec(None, ["data.name=synthetic", "data.augment_on=device"])
    with pytest.raises(SpecError, match="cannot augment on the device"):
        check_spec(spec, "cli")


def test_channels_last_only_for_convolutions_and_compile_unwraps():
    conv, mlp = nn.Sequential(nn.Conv2d(3, 4, 3)), nn.Sequential(nn.Linear(4, 4))
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert memory_format_for(conv, cpu, "auto") == torch.contiguous_format
    assert memory_format_for(conv, cuda, "auto") == torch.channels_last
    assert memory_format_for(conv, cpu, "channels_last") == torch.channels_last
    assert memory_format_for(conv, cuda, "contiguous") == torch.contiguous_format
    assert memory_format_for(mlp, cuda, "channels_last") == torch.contiguous_format
    assert unwrap(maybe_compile(mlp, True)) is mlp
    assert maybe_compile(mlp, False) is mlp


def test_evaluation_suites_encode_raw_splits_like_the_loader_ones():
    from ncsweep.data import create_dataset
    from ncsweep.evaluate.subject import live_subject

    spec = load_spec(None, SCL)
    core = TrainingCore(spec)
    subject = live_subject(unwrap(core.model), spec, core.bundle, core.device)
    z, y = subject.encode(core.bundle.val)
    ref_z, ref_y = subject.encode(create_dataset("digits", augment_on="loader").val)
    assert torch.equal(y, ref_y)
    torch.testing.assert_close(z, ref_z, atol=1e-4, rtol=1e-4)


def test_amp_off_survives_yaml_which_reads_a_bare_off_as_false(tmp_path):
    assert load_spec(None, ["run.amp=off"]).run.amp == "off"
    path = tmp_path / "spec.yaml"
    path.write_text("run:\n  amp: off\n")
    assert load_spec(path, []).run.amp == "off"
    with pytest.raises(SpecError, match="run.amp"):
        load_spec(None, ["run.amp=on"])  # true is no value of amp: the allowed ones are named
