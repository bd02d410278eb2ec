"""The loss families of PAPER.md, one class per file; this namespace is the catalogue.

Every loss is an ``nn.Module`` called as ``loss(features, labels, prototypes=None,
bias=None)`` that returns a scalar; ``create_loss(name, **options)`` builds one by its
registry name (``list_losses()``), and ``loss_info(name)`` describes it (options, head,
views, evaluation loss, probes): see ``_registry.py``. Every ``*_loss`` module of this
package is imported here, so a new family is one new module.
"""

import importlib
import pkgutil

from ._registry import (
    DEFAULT_PROBE_TEMPERATURE,
    HEADS,
    LossInfo,
    Option,
    create_loss,
    evaluation_loss,
    list_losses,
    loss_info,
    register_loss,
    unregister_loss,
)
from .ce_loss import CELoss
from .nonl_loss import NONLLoss
from .normface_loss import NormFaceLoss
from .ntce_loss import NTCELoss
from .scl_loss import SCLLoss

for _module in pkgutil.iter_modules(__path__):
    if _module.name.endswith("_loss"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "DEFAULT_PROBE_TEMPERATURE",
    "HEADS",
    "CELoss",
    "LossInfo",
    "NONLLoss",
    "NTCELoss",
    "NormFaceLoss",
    "Option",
    "SCLLoss",
    "create_loss",
    "evaluation_loss",
    "list_losses",
    "loss_info",
    "register_loss",
    "unregister_loss",
]
