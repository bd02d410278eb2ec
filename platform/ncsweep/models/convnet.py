"""``convnet``: a small convolutional backbone for tiny images such as digits' 1×8×8."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ncsweep.models._registry import register_model

__all__ = ["ConvNet", "build_convnet"]


class ConvNet(nn.Sequential):
    """Blocks of 3×3 conv (padding 1, no bias), BatchNorm2d, ReLU; global average pool.

    A 2×2 max-pool follows every block except the first and the last while the feature map
    is at least 4×4 (on 8×8 with three blocks: 8×8, 8×8 -> 4×4, 4×4).
    Shapes: x B×C×H×W -> z B×widths[-1]. ``last_relu=False`` drops the final ReLU.
    """

    def __init__(
        self, in_channels: int, size: int, widths: Sequence[int], *, last_relu: bool = True
    ) -> None:
        layers: list[nn.Module] = []
        channels = in_channels
        for i, width in enumerate(widths):
            last = i == len(widths) - 1
            layers += [nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width)]
            if last_relu or not last:
                layers.append(nn.ReLU(inplace=True))
            if 0 < i and not last and size >= 4:
                layers.append(nn.MaxPool2d(2))
                size //= 2
            channels = width
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        super().__init__(*layers)


@register_model("convnet", example_input_shape=(1, 8, 8))
def build_convnet(
    *,
    input_shape: tuple[int, int, int],
    widths: Sequence[int] = (32, 64, 128),
    last_relu: bool = True,
) -> tuple[nn.Module, int]:
    """ConvNet backbone; ``widths`` are the channels per block (feature_dim = the last)."""
    widths = list(widths)
    if not widths or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths):
        raise ValueError(
            f"convnet option widths must be a non-empty list of positive ints, got {widths!r}"
        )
    c, h, w = input_shape
    return ConvNet(c, min(h, w), widths, last_relu=last_relu), widths[-1]
