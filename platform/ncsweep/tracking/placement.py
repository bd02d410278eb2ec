"""Where a run's Ray Train workers ran: node tags for its MLflow run.

Rank 0 records ``ncsweep.node`` (node IP), ``ncsweep.node_id`` (Ray node id: unique even
when several nodes share an IP), ``ncsweep.hostname`` and the GPUs Ray assigned it; other
ranks add ``ncsweep.node.rank<r>`` so a multi-node run shows every node it used. A trial
restarted elsewhere overwrites them with its last placement.
"""

from __future__ import annotations

import socket

__all__ = ["TAG_NODE", "TAG_NODE_ID", "TAG_HOSTNAME", "TAG_GPUS", "TAG_RESOURCES", "node_tags"]

TAG_NODE = "ncsweep.node"
TAG_NODE_ID = "ncsweep.node_id"
TAG_HOSTNAME = "ncsweep.hostname"
TAG_GPUS = "ncsweep.gpus"
TAG_RESOURCES = "ncsweep.resources"


def node_tags(rank: int) -> dict[str, str]:
    """Tags naming the node this process runs on (inside a Ray worker)."""
    import ray  # here: the tags' names are read by commands that must not import Ray

    context = ray.get_runtime_context()
    ip = ray.util.get_node_ip_address()
    host = socket.gethostname()
    node_id = context.get_node_id()
    if rank > 0:
        return {f"{TAG_NODE}.rank{rank}": f"{ip} {host} {node_id}"}
    gpus = context.get_accelerator_ids().get("GPU", [])
    return {
        TAG_NODE: ip,
        TAG_NODE_ID: node_id,
        TAG_HOSTNAME: host,
        TAG_GPUS: ",".join(str(g) for g in gpus) or "none",
    }
