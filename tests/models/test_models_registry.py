import pytest
import torch
from torch import nn

from ncsweep.models import create_model, list_heads, list_models, model_options


def test_list_models_and_heads_name_the_builtins():
    assert list_models() == ["convnet", "mlp", "resnet18_cifar", "resnet50"]
    assert list_heads() == ["linear", "projection", "prototype"]


def test_unknown_model_lists_allowed():
    with pytest.raises(
        ValueError, match="unknown model 'vgg'.*convnet, mlp, resnet18_cifar, resnet50"
    ):
        create_model("vgg", num_classes=10, input_shape=(1, 8, 8), head="linear")


def test_unknown_head_lists_allowed():
    with pytest.raises(ValueError, match="unknown head 'cosine'.*linear, projection, prototype"):
        create_model("mlp", num_classes=10, input_shape=(1, 8, 8), head="cosine")


def test_unknown_option_lists_allowed():
    with pytest.raises(
        ValueError, match="unknown key 'depth'; model 'mlp' takes: hidden.*last_relu"
    ):
        create_model("mlp", num_classes=10, input_shape=(1, 8, 8), head="linear", depth=3)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_classes": 0}, "num_classes"),
        ({"input_shape": (8, 8)}, "input_shape"),
        ({"proj_dim": -1}, "proj_dim"),
        ({"hidden": []}, "hidden"),
    ],
)
def test_bad_arguments_are_value_errors(kwargs, match):
    args = {"num_classes": 10, "input_shape": (1, 8, 8), "head": "linear", **kwargs}
    with pytest.raises(ValueError, match=match):
        create_model("mlp", **args)


def test_mlp_hidden_sizes_set_the_feature_dim():
    model = create_model(
        "mlp", num_classes=3, input_shape=(1, 8, 8), head="prototype", hidden=[32, 16]
    )
    assert model.feature_dim == 16 and model.prototypes.shape == (3, 16)
    assert model_options("mlp") == {"hidden": (256, 256), "last_relu": True, "norm": "batch"}


def test_mlp_without_norm_has_no_batchnorm_and_a_sample_ignores_its_batch():
    torch.manual_seed(0)
    model = create_model("mlp", num_classes=3, input_shape=(1, 8, 8), head="prototype", norm="none")
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in model.modules())
    x = torch.randn(8, 1, 8, 8)
    assert torch.allclose(model.features(x)[:2], model.features(x[:2]), atol=1e-6)
    with pytest.raises(ValueError, match="norm must be one of batch, none"):
        create_model("mlp", num_classes=3, input_shape=(1, 8, 8), head="prototype", norm="layer")


@pytest.mark.parametrize("name", ["mlp", "convnet"])
def test_last_relu_false_lets_features_go_negative(name):
    torch.manual_seed(0)
    x = torch.randn(8, 1, 8, 8)
    on = create_model(name, num_classes=3, input_shape=(1, 8, 8), head="prototype")
    off = create_model(
        name, num_classes=3, input_shape=(1, 8, 8), head="prototype", last_relu=False
    )
    assert (on.features(x) >= 0).all() and (off.features(x) < 0).any()


def test_resnet18_cifar_has_the_cifar_stem():
    model = create_model("resnet18_cifar", num_classes=10, input_shape=(3, 32, 32), head="linear")
    assert model.feature_dim == 512
    assert model.backbone.conv1.kernel_size == (3, 3) and model.backbone.conv1.stride == (1, 1)
    assert isinstance(model.backbone.maxpool, nn.Identity) and isinstance(
        model.backbone.fc, nn.Identity
    )
    assert model.head.weight.shape == (10, 512) and model.head.bias.shape == (10,)


def test_resnet50_is_torchvisions_without_fc():
    from torchvision.models import resnet50

    model = create_model("resnet50", num_classes=100, input_shape=(3, 224, 224), head="prototype")
    reference = resnet50(weights=None)
    assert model.feature_dim == 2048 and isinstance(model.backbone.fc, nn.Identity)
    ours = sum(p.numel() for p in model.backbone.parameters())
    theirs = sum(p.numel() for n, p in reference.named_parameters() if not n.startswith("fc."))
    assert ours == theirs


def test_projection_head_is_supcons_mlp():
    model = create_model(
        "mlp", num_classes=10, input_shape=(1, 8, 8), head="projection", proj_dim=32
    )
    layers = list(model.head)
    assert [type(m) for m in layers] == [nn.Linear, nn.ReLU, nn.Linear]
    assert layers[0].weight.shape == (256, 256) and layers[2].weight.shape == (32, 256)
    z = torch.randn(4, 256)
    assert torch.equal(model.embed(z), model.head(z))


def test_embed_is_identity_for_classifier_heads():
    model = create_model("mlp", num_classes=10, input_shape=(1, 8, 8), head="linear")
    z = torch.randn(4, 256)
    assert model.embed(z) is z


def test_sync_bn_converts_every_batchnorm():
    model = create_model(
        "convnet", num_classes=10, input_shape=(1, 8, 8), head="linear", sync_bn=True
    )
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert norms and all(isinstance(m, nn.SyncBatchNorm) for m in norms)
    model.eval()
    assert model(torch.randn(2, 1, 8, 8)).features.shape == (2, 128)
