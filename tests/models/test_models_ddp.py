"""NCModel under DistributedDataParallel (a 1-process gloo group): prototypes get gradients."""

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP

from ncsweep.models import create_model


@pytest.fixture
def gloo_group(tmp_path):
    dist.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1
    )
    try:
        yield
    finally:
        dist.destroy_process_group()


def _normface(out, labels):
    u = F.normalize(out.features, dim=1)
    w = F.normalize(out.prototypes, dim=1)
    return F.cross_entropy(u @ w.T / 0.1, labels)


def _ce(out, labels):
    return F.cross_entropy(out.features @ out.prototypes.T + out.bias, labels)


@pytest.mark.parametrize("find_unused", [False, True])
@pytest.mark.parametrize("head, loss_fn", [("prototype", _normface), ("linear", _ce)])
def test_ddp_gradients_reach_the_prototypes(gloo_group, head, loss_fn, find_unused):
    torch.manual_seed(0)
    model = create_model("mlp", num_classes=3, input_shape=(1, 4, 4), head=head, hidden=[16])
    reference = create_model("mlp", num_classes=3, input_shape=(1, 4, 4), head=head, hidden=[16])
    reference.load_state_dict(model.state_dict())
    ddp = DDP(model, find_unused_parameters=find_unused)
    x, labels = torch.randn(6, 1, 4, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    for _ in range(2):  # a missed gradient makes DDP fail on the second iteration
        model.zero_grad()
        loss_fn(ddp(x), labels).backward()
    reference.zero_grad()
    loss_fn(reference(x), labels).backward()
    for (name, p), q in zip(model.named_parameters(), reference.parameters(), strict=True):
        assert p.grad is not None, name
        torch.testing.assert_close(p.grad, q.grad, msg=name)
    assert model.head.weight.grad.norm() > 0


def test_ddp_projection_head_trains_every_parameter(gloo_group):
    model = create_model(
        "convnet", num_classes=3, input_shape=(1, 8, 8), head="projection", proj_dim=8
    )
    ddp = DDP(model)
    for _ in range(2):
        model.zero_grad()
        a = F.normalize(ddp(torch.randn(4, 1, 8, 8)).features, dim=1)
        (-(a @ a.T).mean()).backward()
    assert all(p.grad is not None for p in model.parameters())


def test_ddp_reports_an_output_the_loss_ignores(gloo_group):
    """The documented contract: every returned tensor must reach the loss (here the bias)."""
    model = create_model("mlp", num_classes=3, input_shape=(1, 4, 4), head="linear", hidden=[8])
    ddp = DDP(model)
    x, labels = torch.randn(6, 1, 4, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    with pytest.raises(RuntimeError, match="finished reduction"):
        for _ in range(2):
            _normface(ddp(x), labels).backward()
