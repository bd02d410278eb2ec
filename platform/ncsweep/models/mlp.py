"""``mlp``: a fully connected backbone for small images such as digits' 1×8×8."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ncsweep.models._registry import register_model

__all__ = ["MLP", "build_mlp"]


_NORMS = ("batch", "none")


class MLP(nn.Sequential):
    """Flatten, then per hidden size h: Linear (no bias; BN follows), BatchNorm1d, ReLU.

    Shapes: x B×C×H×W -> z B×hidden[-1]. ``last_relu=False`` drops the final ReLU so that
    features can take either sign (nonnegative features cannot form angles above 90°).
    ``norm="none"`` uses Linear with bias and no BatchNorm: the forward pass of a sample
    then does not depend on the rest of its batch, so data-parallel training matches one
    process exactly (SyncBatchNorm runs on GPUs only).
    """

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int],
        *,
        last_relu: bool = True,
        norm: str = "batch",
    ) -> None:
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for i, h in enumerate(hidden):
            if norm == "batch":
                layers += [nn.Linear(width, h, bias=False), nn.BatchNorm1d(h)]
            else:
                layers.append(nn.Linear(width, h))
            if last_relu or i < len(hidden) - 1:
                layers.append(nn.ReLU(inplace=True))
            width = h
        super().__init__(*layers)


@register_model("mlp", example_input_shape=(1, 8, 8))
def build_mlp(
    *,
    input_shape: tuple[int, int, int],
    hidden: Sequence[int] = (256, 256),
    last_relu: bool = True,
    norm: str = "batch",
) -> tuple[nn.Module, int]:
    """MLP backbone; ``hidden`` lists the layer widths (feature_dim = the last one);
    ``norm`` is ``batch`` or ``none``."""
    if norm not in _NORMS:
        raise ValueError(f"mlp option norm must be one of {', '.join(_NORMS)}, got {norm!r}")
    hidden = list(hidden)
    if not hidden or any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden):
        raise ValueError(
            f"mlp option hidden must be a non-empty list of positive ints, got {hidden!r}"
        )
    c, h, w = input_shape
    return MLP(c * h * w, hidden, last_relu=last_relu, norm=norm), hidden[-1]
