"""ResNets from torchvision's definitions, with the classifier removed (no weights loaded).

- ``resnet18_cifar``: BasicBlock [2, 2, 2, 2], a 3×3 stride-1 stem and no max-pool (the
  usual CIFAR variant, as in SupContrast and the paper's code); feature_dim 512.
- ``resnet50``: ``torchvision.models.resnet50(weights=None)``; feature_dim 2048.

The stem takes ``input_shape[0]`` channels; ``fc`` is an identity, so the backbone returns
the pooled B×D feature.
"""

from __future__ import annotations

from torch import nn
from torchvision.models import resnet50
from torchvision.models.resnet import BasicBlock, ResNet

from ncsweep.models._registry import register_model

__all__ = ["build_resnet18_cifar", "build_resnet50"]


@register_model("resnet18_cifar", example_input_shape=(3, 16, 16))
def build_resnet18_cifar(
    *, input_shape: tuple[int, int, int], zero_init_residual: bool = False
) -> tuple[nn.Module, int]:
    """ResNet-18 for 32×32 inputs: x B×C×H×W -> z B×512."""
    net = ResNet(BasicBlock, [2, 2, 2, 2], zero_init_residual=zero_init_residual)
    net.conv1 = nn.Conv2d(input_shape[0], 64, kernel_size=3, stride=1, padding=1, bias=False)
    nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
    net.maxpool = nn.Identity()
    net.fc = nn.Identity()
    return net, 512


@register_model("resnet50", example_input_shape=(3, 32, 32))
def build_resnet50(
    *, input_shape: tuple[int, int, int], zero_init_residual: bool = False
) -> tuple[nn.Module, int]:
    """ResNet-50 (ImageNet layout, 7×7 stem + max-pool): x B×C×H×W -> z B×2048."""
    net = resnet50(weights=None, zero_init_residual=zero_init_residual)
    if input_shape[0] != 3:
        net.conv1 = nn.Conv2d(input_shape[0], 64, kernel_size=7, stride=2, padding=3, bias=False)
        nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
    net.fc = nn.Identity()
    return net, 2048
