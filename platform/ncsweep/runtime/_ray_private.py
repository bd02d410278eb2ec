"""The one use of a private Ray name in ncsweep, with the versions it was checked on.

Ray reads ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` once, into
``ray._private.ray_constants.ENABLE_RAY_CLUSTER``, when it is imported. A program that
imported Ray before ncsweep set the variable would resolve the local node IP to the primary
address, and a local instance would listen on every interface (see ``local_ray.py``). No
public API changes that decision after import, so :func:`single_node_mode_after_import`
writes the constant. tests/train/test_ray_private.py pins what it relies on (the node IP a
driver resolves), tests/cli/test_cli_local_ray.py the sockets of a whole instance.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

__all__ = ["CHECKED_RAY", "single_node_mode_after_import"]

CHECKED_RAY = ("2.60",)
"""``major.minor`` versions of Ray whose private constant this module was tested against."""


def single_node_mode_after_import() -> None:
    """Ray's single-node mode (loopback node IP) even if Ray was imported before the switch.

    Nothing to do when Ray is not imported yet: it then reads the environment itself.
    """
    constants: Any = sys.modules.get("ray._private.ray_constants")  # a module, set below
    if constants is None:
        return
    import ray

    if ".".join(ray.__version__.split(".")[:2]) not in CHECKED_RAY:
        warnings.warn(
            f"ncsweep was checked with Ray {', '.join(CHECKED_RAY)}, not {ray.__version__}: "
            f"import ncsweep's CLI before Ray, or set RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 "
            f"before importing Ray, to keep a local instance on 127.0.0.1",
            RuntimeWarning,
            stacklevel=3,
        )
    if not hasattr(constants, "ENABLE_RAY_CLUSTER"):
        raise RuntimeError(
            f"Ray {ray.__version__} has no ray._private.ray_constants.ENABLE_RAY_CLUSTER: "
            f"set RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 before importing Ray"
        )
    constants.ENABLE_RAY_CLUSTER = False
