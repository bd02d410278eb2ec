"""Fail fast on a tracking server that is not there, before anything starts.

MLflow retries a refused connection for about 4 minutes per call (``runs.py``), which is
right for a server that restarts mid-sweep and wrong for a mistyped port: the command
would sit silent for minutes, then end in MLflow's traceback. So commands that start work
first open one TCP connection to an ``http(s)://`` tracking URI's host and port.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from ..config import SpecError
from ..redact import redact_text

__all__ = ["require_reachable"]

CONNECT_TIMEOUT_S = 5.0


def require_reachable(uri: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """SpecError (exit 2) when ``uri`` is http(s) and its host takes no TCP connection
    within ``timeout`` seconds; database URIs (sqlite, postgresql, ...) pass unchecked."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https"):
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise SpecError(
            f"tracking URI {redact_text(uri)}: no MLflow server answers at "
            f"{parts.hostname}:{port} ({reason}). Start it, or point --tracking-uri "
            "(or NCSWEEP_TRACKING_URI) at one that runs; nothing was started."
        ) from None
