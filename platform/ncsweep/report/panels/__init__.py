"""Panel renderers; importing a module registers its kinds in ``report.kinds.PANEL_KINDS``."""

from . import confirmation, curves, header, scatter, search, tables  # noqa: F401

__all__ = ["searched_params"]

from ._common import searched_params  # noqa: E402
