"""The loss families of PAPER.md, one class per file; this namespace is the catalogue.

Every loss is an ``nn.Module`` called as ``loss(features, labels, prototypes=None,
bias=None)`` that returns a scalar; ``create_loss(name, **options)`` builds one by its
registry name (``list_losses()``).
"""

from ._registry import create_loss, list_losses, register_loss
from .ce_loss import CELoss
from .nonl_loss import NONLLoss
from .normface_loss import NormFaceLoss
from .ntce_loss import NTCELoss
from .scl_loss import SCLLoss

__all__ = [
    "CELoss",
    "NONLLoss",
    "NTCELoss",
    "NormFaceLoss",
    "SCLLoss",
    "create_loss",
    "list_losses",
    "register_loss",
]
