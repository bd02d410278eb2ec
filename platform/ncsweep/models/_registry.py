"""The model registry: ``@register_model`` fills it, ``create_model`` is the one factory.

A backbone builder is ``build(*, input_shape, **options) -> (backbone, feature_dim)``; its
keyword-only parameters after ``input_shape`` are its options (with defaults: the entry's
options model in :data:`MODELS`), checked by ``create_model`` so a typo fails with the
allowed list. ``example_input_shape`` is what the
contract test feeds it, so a newly registered model is tested without writing a test.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from torch import nn

from ncsweep.models.heads import HEAD_REGISTRY, create_head
from ncsweep.models.ncmodel import NCModel
from ncsweep.registry import Registry, options_from_signature

__all__ = [
    "MODELS",
    "create_model",
    "example_input_shape",
    "list_models",
    "model_options",
    "register_model",
]


@dataclass(frozen=True)
class _Entry:
    build: Callable[..., tuple[nn.Module, int]]
    example_input_shape: tuple[int, int, int]


MODELS: Registry[_Entry] = Registry("model")

_Builder = TypeVar("_Builder", bound=Callable[..., tuple[nn.Module, int]])


def register_model(
    name: str, *, example_input_shape: tuple[int, int, int]
) -> Callable[[_Builder], _Builder]:
    """Register a backbone builder under ``name``.

    Args:
        name: the registry name (``create_model(name)``).
        example_input_shape: a small C×H×W the model handles (used by the contract test).
    """

    def decorator(build: _Builder) -> _Builder:
        if "input_shape" not in inspect.signature(build).parameters:
            raise TypeError(f"model builder {build.__name__} lacks parameter input_shape")
        channels, height, width = example_input_shape
        MODELS.register(
            name,
            _Entry(build, (channels, height, width)),
            options=options_from_signature(build, name, skip=("input_shape",)),
            description=(build.__doc__ or "").strip().split("\n")[0],
        )
        return build

    return decorator


def list_models() -> list[str]:
    """Registered model names, sorted."""
    return MODELS.names()


def model_options(name: str) -> dict[str, Any]:
    """The options ``name`` accepts, with their defaults."""
    return MODELS.defaults(name)


def example_input_shape(name: str) -> tuple[int, int, int]:
    """A small C×H×W input that model ``name`` accepts."""
    return MODELS.get(name).example_input_shape


def _positive_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{key} must be a positive integer, got {value!r}")
    return value


def create_model(
    name: str,
    *,
    num_classes: int,
    input_shape: Sequence[int],
    head: str,
    sync_bn: bool = False,
    proj_dim: int = 128,
    **options: Any,
) -> NCModel:
    """Build backbone ``name`` with ``head`` on top.

    Args:
        name: one of ``list_models()``.
        num_classes: K (prototype rows).
        input_shape: C×H×W of one input image.
        head: ``"linear"`` (CE), ``"prototype"`` (normalised losses), ``"projection"`` (SCL).
        sync_bn: convert BatchNorm to ``SyncBatchNorm`` (GPU only once a process group is
            initialised: PyTorch's SyncBatchNorm rejects CPU tensors in training).
        proj_dim: output size of the projection head.
        **options: backbone-specific; ``model_options(name)`` lists them.

    Raises:
        ValueError: unknown model, head or option, or a bad shape (allowed values named).

    Example:
        >>> model = create_model("mlp", num_classes=10, input_shape=(1, 8, 8), head="prototype")
        >>> out = model(torch.randn(4, 1, 8, 8))   # out.features 4×256, out.prototypes 10×256
    """
    entry = MODELS.get(name)
    HEAD_REGISTRY.get(head)
    options = MODELS.validate_options(name, options).given()
    _positive_int("num_classes", num_classes)
    _positive_int("proj_dim", proj_dim)
    shape = tuple(input_shape)
    if len(shape) != 3:
        raise ValueError(f"input_shape must be (C, H, W), got {input_shape!r}")
    for v in shape:
        _positive_int("input_shape entries", v)
    backbone, feature_dim = entry.build(input_shape=shape, **options)
    model = NCModel(
        backbone,
        feature_dim,
        create_head(head, feature_dim=feature_dim, num_classes=num_classes, proj_dim=proj_dim),
        head_name=head,
        num_classes=num_classes,
    )
    if sync_bn:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return model
