"""Who runs a sweep: the name its MLflow runs and its lease record (tag ``ncsweep.user``).

On a tracking server with MLflow's authentication (``cluster/mlflow/serve.sh``) the user is
the one MLflow authenticates: ``MLFLOW_TRACKING_USERNAME``, or the user name in the tracking
URI (``http://alice:…@host``). Without either it is the operating-system account. Only the
name is read; the password never leaves MLflow's own client.
"""

from __future__ import annotations

import getpass
import os
from urllib.parse import urlsplit

__all__ = ["TAG_USER", "tracking_user"]

TAG_USER = "ncsweep.user"


def tracking_user(uri: str | None = None) -> str:
    """The user MLflow authenticates for ``uri``, else the OS account, else ``unknown``."""
    name = os.environ.get("MLFLOW_TRACKING_USERNAME")
    if name:
        return name
    if uri and "://" in uri:
        name = urlsplit(uri).username
        if name:
            return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers) and no USER variable
        return "unknown"
