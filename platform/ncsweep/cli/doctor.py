"""`ncsweep doctor`: is this installation, and the cluster it will use, ready for a sweep?

Local facts always: package versions (``importlib.metadata``, nothing imported) and the
shipped search spaces; with ``--devices`` also CUDA and the model and dataset registries,
which import torch (seconds, so not by default). With ``--address`` (or ``RAY_ADDRESS``),
``--storage`` and ``--tracking-uri`` it also checks what a sweep job relies on: Ray is
reachable, every node runs the driver's Python, Ray, torch and ncsweep, the GPUs each node
offers, the storage takes a write and every node reads it back, and the MLflow server
answers and stores an artifact. Exit 1 when any check fails. URIs are shown without
credentials.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import typer

from .._environment import redact
from ._app import AddressOption, SharedStorageOption, app, console
from ._help import examples

_VERSIONS = ("python", "ray", "torch", "ncsweep")


@dataclass
class Check:
    name: str
    target: str
    status: str  # OK, FAIL, SKIP, INFO
    detail: str = ""


@app.command(
    epilog=examples(
        "ncsweep doctor",
        "ncsweep doctor --devices",
        "ncsweep doctor --address HEAD:6379 --storage s3://bucket/sweeps "
        "--tracking-uri http://mlflow:5000",
    )
)
def doctor(
    address: AddressOption = None,
    storage: Annotated[
        str | None,
        typer.Option(help="Sweep storage to probe (s3://bucket/prefix or a shared path)."),
    ] = None,
    shared_storage: SharedStorageOption = False,
    tracking_uri: Annotated[
        str | None, typer.Option(help="MLflow tracking URI to probe (default: not checked).")
    ] = None,
    devices: Annotated[
        bool,
        typer.Option(
            "--devices",
            help="Also check CUDA devices and list the registered models and datasets "
            "(imports torch: seconds).",
        ),
    ] = False,
) -> None:
    """Check the installation and, given them, the Ray cluster, storage and MLflow server."""
    import os

    checks = _local_checks(devices)
    address = address or os.environ.get("RAY_ADDRESS")
    checks += _cluster_checks(address, storage, shared_storage)
    if tracking_uri:
        from ..tracking.probe import probe_tracking

        for name, ok, detail in probe_tracking(tracking_uri):
            checks.append(Check(name, tracking_uri, "OK" if ok else "FAIL", detail))
    else:
        checks.append(Check("MLflow", "-", "SKIP", "pass --tracking-uri to check a server"))
    _print(checks)
    failed = [c for c in checks if c.status == "FAIL"]
    if failed:
        console.print(f"[red]{len(failed)} check(s) failed[/]")
        raise typer.Exit(1)
    console.print("[green]all checks passed[/]")


def _local_checks(devices: bool) -> list[Check]:
    from ..plan.spaces import search_spaces_dir
    from ..tracking.provenance import package_versions

    checks = [Check(pkg, "driver", "INFO", v) for pkg, v in package_versions().items()]
    root = search_spaces_dir()
    # the files, not the loss registry: listing the registry imports torch
    spaces = sorted(p.stem for p in root.glob("*.yaml"))
    checks.append(Check("search spaces", str(root), "INFO", ", ".join(spaces) or "none"))
    if not devices:
        checks.append(
            Check("CUDA", "driver", "SKIP", "pass --devices to check devices and registries")
        )
        return checks
    import torch

    from ..data import list_datasets
    from ..losses import list_losses
    from ..models import list_models

    checks.append(
        Check(
            "CUDA",
            "driver",
            "INFO",
            f"{torch.cuda.is_available()} ({torch.cuda.device_count()} devices)",
        )
    )
    checks.append(Check("losses", "driver", "INFO", ", ".join(list_losses())))
    checks.append(Check("datasets", "driver", "INFO", ", ".join(list_datasets())))
    checks.append(Check("models", "driver", "INFO", ", ".join(list_models())))
    return checks


def _cluster_checks(address: str | None, storage: str | None, shared: bool) -> list[Check]:
    if not address:
        checks = [
            Check("Ray", "-", "SKIP", "pass --address (or set RAY_ADDRESS) to check a cluster")
        ]
        if storage:
            checks += _storage_checks(storage, shared, [], cluster=False)
        return checks
    import ray

    from ..runtime.cluster import alive_nodes
    from ..runtime.trainer import ensure_ray

    try:
        ensure_ray(address)
        nodes = alive_nodes()
    except Exception as err:
        return [Check("Ray reachable", address, "FAIL", _short(err))]
    checks = [Check("Ray reachable", address, "OK", f"Ray {ray.__version__}, {len(nodes)} nodes")]
    checks += _storage_checks(storage, shared, nodes, cluster=True)
    return checks


def _storage_checks(storage: str | None, shared: bool, nodes: list, cluster: bool) -> list[Check]:
    from ..config import SpecError
    from ..runtime.cluster import StorageProbe, probe_nodes, require_shared_storage

    checks: list[Check] = []
    if storage is None:
        checks.append(Check("storage", "-", "SKIP", "pass --storage to check sweep storage"))
        if cluster:
            checks += _node_checks(*probe_nodes())
        return checks
    try:
        if cluster:
            require_shared_storage(storage, shared)
    except SpecError as err:
        checks.append(Check("storage shared", storage, "FAIL", str(err)))
        return checks + (_node_checks(*probe_nodes()) if cluster else [])
    try:
        with StorageProbe(storage) as probe:
            checks.append(Check("storage writable", storage, "OK", "written, read back, deleted"))
            if cluster:
                checks += _node_checks(*probe_nodes(probe.url, probe.text), storage=storage)
    except Exception as err:
        checks.append(Check("storage writable", storage, "FAIL", _short(err)))
        if cluster:
            checks += _node_checks(*probe_nodes())
    return checks


def _node_checks(driver: dict, nodes: list[dict], storage: str | None = None) -> list[Check]:
    checks = []
    for node in nodes:
        where = f"node {node['ip']} {node['node_id'][:8]}"
        if "error" in node:
            checks.append(Check("node task", where, "FAIL", node["error"]))
            continue
        differ = [f"{k} {node[k]} (driver {driver[k]})" for k in _VERSIONS if node[k] != driver[k]]
        same = ", ".join(f"{k} {node[k]}" for k in _VERSIONS)
        checks.append(
            Check("versions", where, "FAIL" if differ else "OK", "; ".join(differ) or same)
        )
        checks.append(
            Check(
                "GPUs",
                where,
                "INFO",
                f"Ray resource GPU={node['gpus']:g}, CUDA devices seen by a task: "
                f"{node['cuda_devices']}",
            )
        )
        if storage is not None:
            ok = node["storage"] == "ok"
            checks.append(
                Check("storage readable", where, "OK" if ok else "FAIL", node["storage"] or "")
            )
    return checks


def _print(checks: list[Check]) -> None:
    from rich.markup import escape
    from rich.table import Table

    colour = {"OK": "green", "FAIL": "red", "SKIP": "yellow", "INFO": "dim"}
    table = Table(title="ncsweep doctor")
    for column in ("check", "target", "status", "detail"):
        table.add_column(column, overflow="fold")
    for c in checks:
        table.add_row(
            c.name,
            escape(str(redact(c.target))),
            f"[{colour[c.status]}]{c.status}[/]",
            escape(str(redact(c.detail))),
        )
    console.print(table)


def _short(err: BaseException) -> str:
    lines = [line for line in str(err).strip().splitlines() if line.strip()]
    return f"{type(err).__name__}: {(lines[-1] if lines else '')[:300]}"
