"""What ``ncsweep doctor`` asks every node. Imports only the standard library at the top:
the function is shipped by value, so a node without ncsweep still answers (``absent``)."""

from __future__ import annotations

import importlib
import platform
import socket


def node_report(probe_url: str | None, expected: str | None) -> dict:
    """Versions and devices of this node; reads the storage probe object if given.

    Returns ``{"python", "ray", "torch", "ncsweep": version or "absent", "cuda_devices": int,
    "hostname", "storage": "ok" | error text | None}``.
    """
    report: dict = {"python": platform.python_version(), "hostname": socket.gethostname()}
    for name in ("ray", "torch", "ncsweep"):
        try:
            report[name] = importlib.import_module(name).__version__
        except Exception:  # any import failure means: not usable here
            report[name] = "absent"
    try:
        import torch

        report["cuda_devices"] = torch.cuda.device_count()
    except Exception:
        report["cuda_devices"] = 0
    report["storage"] = None
    if probe_url:
        try:
            import fsspec

            with fsspec.open(probe_url, "r") as handle:
                text = handle.read()
            report["storage"] = "ok" if text == expected else "read a different object"
        except Exception as err:  # reported per node
            report["storage"] = f"{type(err).__name__}: {err}"
    return report
