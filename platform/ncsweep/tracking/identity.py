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

__all__ = ["TAG_USER", "refusal", "tracking_user"]

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


#: MLflow's answers when the server's authentication turns a request away, and what they mean
_REFUSED = {
    "PERMISSION_DENIED": "no permission",
    "error code 403": "no permission",
    "UNAUTHENTICATED": "not authenticated",
    "error code 401": "not authenticated",
}


def refusal(error: BaseException) -> str | None:
    """What to tell a person whom the tracking server's authentication turned away (an
    MLflow error with ``PERMISSION_DENIED``/``UNAUTHENTICATED``, or HTTP 403/401), else
    None. Names the user, never a password."""
    if not type(error).__module__.startswith("mlflow"):
        return None
    code, text = str(getattr(error, "error_code", "")), str(error)
    why = next((w for key, w in _REFUSED.items() if key == code or key in text), None)
    if why is None:
        return None
    return (
        f"the MLflow tracking server turned user {tracking_user()!r} away ({why}). "
        "A sweep's experiment belongs to whoever created it: ask them or the server's admin "
        "to grant you READ (or EDIT) on it; to sign in as someone else, set "
        "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (cluster/README.md, section D)"
    )
