"""Every registered model × every head: forward, backward, gradients everywhere, shapes."""

import pytest
import torch
import torch.nn.functional as F

from ncsweep.models import NCOutput, create_model, example_input_shape, list_heads, list_models

K = 5
B = 2  # the smallest batch BatchNorm trains on; keeps resnet50 quick


def _loss(out: NCOutput, labels: torch.Tensor) -> torch.Tensor:
    """A loss that uses every output, as the training losses do."""
    if out.prototypes is None:
        a = F.normalize(out.features, dim=1)
        return -(a @ a.T).mean()
    logits = out.features @ out.prototypes.T
    if out.bias is not None:
        logits = logits + out.bias
    return F.cross_entropy(logits, labels)


@pytest.mark.parametrize("head", list_heads())
@pytest.mark.parametrize("name", list_models())
def test_model_contract(name, head):
    torch.manual_seed(0)
    shape = example_input_shape(name)
    model = create_model(name, num_classes=K, input_shape=shape, head=head, proj_dim=16)
    x = torch.randn(B, *shape)
    labels = torch.arange(B) % K
    out = model(x)
    assert isinstance(out, NCOutput)
    d = model.feature_dim
    assert model.features(x).shape == (B, d)
    if head == "projection":
        assert out.features.shape == (B, 16)
        assert out.prototypes is None and out.bias is None and model.prototypes is None
    else:
        assert out.features.shape == (B, d)
        assert out.prototypes.shape == (K, d) and model.prototypes is model.head.weight
        assert (out.bias is None) == (head == "prototype")
        if out.bias is not None:
            assert out.bias.shape == (K,)
    loss = _loss(out, labels)
    loss.backward()
    assert torch.isfinite(loss)
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{pname} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{pname} has a non-finite gradient"


@pytest.mark.parametrize("name", list_models())
def test_eval_mode_works_on_a_single_sample(name):
    shape = example_input_shape(name)
    model = create_model(name, num_classes=K, input_shape=shape, head="prototype").eval()
    with torch.no_grad():
        assert model.features(torch.randn(1, *shape)).shape == (1, model.feature_dim)
