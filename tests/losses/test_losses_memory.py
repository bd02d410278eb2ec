"""CrossBatchMemory: exact order at wrap-around, detached entries, state_dict round trip."""

from __future__ import annotations

import pytest
import torch
from reference_losses import call, make_inputs

from ncsweep.losses import create_loss
from ncsweep.losses._memory import CrossBatchMemory


@pytest.mark.parametrize("size", [15, 16, 17])
def test_ring_buffer_keeps_the_last_entries_oldest_first_at_wrap_around(size):
    memory, batch, seen = CrossBatchMemory(size), 8, []
    for step in range(5):
        rows = torch.arange(step * batch, (step + 1) * batch)
        memory.enqueue(rows[:, None].double().expand(-1, 3), rows + 1000)
        seen.extend(rows.tolist())
        features, labels = memory.get()
        expected = seen[-size:]
        assert len(memory) == len(expected)
        assert features[:, 0].long().tolist() == expected
        assert torch.equal(features[:, 0], features[:, 2])
        assert labels.tolist() == [v + 1000 for v in expected]
        # slot layout: row r of the stream lives in slot r mod size
        assert all(int(memory.features[r % size, 0]) == r for r in expected)
        assert int(memory.ptr) == len(seen) % size and int(memory.filled) == len(expected)


def test_batch_longer_than_memory_keeps_its_last_rows():
    memory = CrossBatchMemory(3)
    memory.enqueue(torch.arange(5.0)[:, None], torch.arange(5))
    assert memory.get()[1].tolist() == [2, 3, 4]


def test_memory_entries_are_detached():
    memory = CrossBatchMemory(4)
    memory.enqueue(torch.randn(2, 3, requires_grad=True), torch.tensor([0, 1]))
    assert not memory.get()[0].requires_grad


def test_memory_size_must_be_positive():
    with pytest.raises(ValueError, match="memory size must be > 0"):
        CrossBatchMemory(0)


@pytest.mark.parametrize("name", ["ntce", "nonl", "scl"])
def test_state_dict_round_trip_into_a_freshly_constructed_loss(name):
    trained = create_loss(name, memory=20)
    for seed in range(3):
        call(trained, *make_inputs(trained, seed=seed))
    state = trained.state_dict()
    assert state["negatives.memory.features"].shape == (20, 6)

    fresh = create_loss(name, memory=20)
    fresh.load_state_dict(state)
    assert len(fresh.negatives.memory) == len(trained.negatives.memory) == 20
    for got, want in zip(fresh.negatives.memory.get(), trained.negatives.memory.get(), strict=True):
        assert torch.equal(got, want)
    inputs = make_inputs(trained, seed=9)
    assert float(call(fresh, *inputs)) == float(call(trained, *inputs))
    for got, want in zip(fresh.negatives.memory.get(), trained.negatives.memory.get(), strict=True):
        assert torch.equal(got, want)


def test_state_dict_with_a_different_capacity_is_refused():
    trained = create_loss("ntce", memory=20)
    call(trained, *make_inputs(trained))
    with pytest.raises(RuntimeError, match="size mismatch"):
        create_loss("ntce", memory=10).load_state_dict(trained.state_dict())
