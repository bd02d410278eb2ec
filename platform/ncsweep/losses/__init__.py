"""The loss families of docs/paper.md, one class per file; this namespace is the catalogue.

Every loss is an ``nn.Module`` called as ``loss(features, labels, prototypes=None,
bias=None)`` that returns a scalar; ``create_loss(name, **options)`` builds one by its
registry name (``list_losses()``), and ``loss_info(name)`` describes it (options, head,
views, evaluation loss, probes): see ``_registry.py``. Every ``*_loss`` module of this
package is imported here, so a new family is one new module.

The paper's five are imported first and in the paper's order (CE, NormFace, NTCE, NONL,
SCL): the registration order, which the study table follows (``families()``); a module
found later registers after them. ``HEADS`` is the head registry's names (``models.heads``),
read when asked for so that the loss library does not import the models.
"""

import importlib
import pkgutil

from ._registry import (
    DEFAULT_PROBE_TEMPERATURE,
    LOSSES,
    LossInfo,
    Option,
    create_loss,
    evaluation_loss,
    families,
    list_losses,
    loss_info,
    register_loss,
    unregister_loss,
)

# Registration order = the paper's order (see above).
# isort: off
from .ce_loss import CELoss
from .normface_loss import NormFaceLoss
from .ntce_loss import NTCELoss
from .nonl_loss import NONLLoss
from .scl_loss import SCLLoss

# isort: on

for _module in pkgutil.iter_modules(__path__):
    if _module.name.endswith("_loss"):
        importlib.import_module(f"{__name__}.{_module.name}")


def __getattr__(name: str) -> tuple[str, ...]:
    if name == "HEADS":
        from ..models.heads import list_heads

        return tuple(list_heads())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_PROBE_TEMPERATURE",
    "HEADS",
    "LOSSES",
    "CELoss",
    "LossInfo",
    "NONLLoss",
    "NTCELoss",
    "NormFaceLoss",
    "Option",
    "SCLLoss",
    "create_loss",
    "evaluation_loss",
    "families",
    "list_losses",
    "loss_info",
    "register_loss",
    "unregister_loss",
]
