"""Model registry: ``create_model(name, num_classes=, input_shape=, head=) -> NCModel``.

Importing this package registers the built-in backbones ``mlp``, ``convnet`` (digits-sized
inputs), ``resnet18_cifar`` (32×32) and ``resnet50``, and the heads ``linear``,
``prototype`` and ``projection``. ``NCModel.forward`` returns
``NCOutput(features, prototypes, bias)``; see ``NCModel`` for why (DDP).

Example:
    >>> from ncsweep.models import create_model
    >>> model = create_model("convnet", num_classes=10, input_shape=(1, 8, 8), head="prototype")
"""

from ncsweep.models import convnet, mlp, resnet  # noqa: F401  (registration)
from ncsweep.models._registry import (
    MODELS,
    create_model,
    example_input_shape,
    list_models,
    model_options,
    register_model,
)
from ncsweep.models.heads import HEAD_REGISTRY, create_head, list_heads, register_head
from ncsweep.models.ncmodel import NCModel, NCOutput

__all__ = [
    "HEAD_REGISTRY",
    "MODELS",
    "NCModel",
    "NCOutput",
    "create_head",
    "create_model",
    "example_input_shape",
    "list_heads",
    "list_models",
    "model_options",
    "register_head",
    "register_model",
]
