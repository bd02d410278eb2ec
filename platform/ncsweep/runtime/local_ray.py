"""Options for the local Ray instance ncsweep starts: every port on loopback, no secrets logged.

``ray.init()`` without an address starts a single-node cluster whose processes (GCS, raylet
with its object manager, dashboard, dashboard agent with the metrics export port, runtime
env agent, core workers) bind to the node IP. On Linux Ray picks the machine's primary
address as the node IP even for a laptop-style instance, and its gRPC servers listen on
every interface (the IPv4/IPv6 wildcard): anyone on the network could reach the GCS and
run code. Ray's own
single-node mode (the default on macOS and Windows) makes the node IP ``127.0.0.1`` and
every server then binds to loopback; ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` turns that mode
on for Linux. Passing ``_node_ip_address="127.0.0.1"`` is not enough: ``ray.init`` rewrites a
loopback address to the primary one unless that mode is on.

Ray Tune copies ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN`` into
each trainable's ``runtime_env``, and the runtime env agent logs every runtime env at INFO
into the session's ``runtime_env_agent.log``; ``RAY_LOGGER_LEVEL=warning`` keeps Ray's
Python components (that agent, the dashboard and its agent) at WARNING.

What this cannot change: in a run with two or more workers, rank 0 hosts torch's TCPStore
(the process group's rendezvous, on ``MASTER_PORT``), and torch binds its server to every
interface whatever ``MASTER_ADDR`` says (neither the libuv nor the legacy backend takes a
bind address). It lives as long as the run; block the port range at the host firewall if
that matters. The gloo connections themselves are on loopback.

Ray 2.60 turns token authentication on for a new local instance when ``RAY_AUTH_MODE`` is
unset (``ray.init`` writes ``~/.ray/auth_token`` and the instance's servers ask for it) and
says so in a WARNING on the driver's stderr, the first line a user of ``make sweep`` would
read. The instance keeps that default; only that one notice is dropped
(:class:`_QuietAuthDefault`). ``RAY_AUTH_MODE=disabled`` (the user's choice) still opts out,
and Ray's warning that an instance runs *without* a token still shows.

Connecting to an existing cluster (``RAY_ADDRESS``) changes none of this: its operator
decides what it binds to (``ray start --node-ip-address``, ``--dashboard-host``).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from ._ray_private import single_node_mode_after_import

__all__ = ["LOCAL_RAY_ENV", "local_ray_options"]

LOCAL_RAY_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_LOGGER_LEVEL": "warning",
}
"""Environment of the processes of a local instance (they inherit the driver's)."""


#: Ray's logger of its token-authentication setup (``ray._private.authentication``).
_AUTH_LOGGER = "ray._private.authentication.authentication_token_setup"


class _QuietAuthDefault(logging.Filter):
    """Drops Ray's notice that a new local instance uses token auth by default (its secure
    default, which ncsweep keeps); every other record of that logger passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Token authentication is enabled")


def _quiet_auth_default() -> None:
    logger = logging.getLogger(_AUTH_LOGGER)
    if not any(isinstance(f, _QuietAuthDefault) for f in logger.filters):
        logger.addFilter(_QuietAuthDefault())


def local_ray_options() -> dict[str, Any]:
    """``ray.init`` keyword arguments for a local instance, after setting :data:`LOCAL_RAY_ENV`.

    A value the user already set wins. Call it just before ``ray.init`` in the driver.
    """
    for key, value in LOCAL_RAY_ENV.items():
        os.environ.setdefault(key, value)
    if os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] == "0":
        single_node_mode_after_import()  # a driver that imported Ray before this call
    _quiet_auth_default()
    return {
        # The dashboard serves Ray's state API: without it Ray Train's placement-group
        # cleaner cannot see a dead controller, and a trial stopped early keeps its CPUs.
        "include_dashboard": True,
        "dashboard_host": "127.0.0.1",
        "_node_ip_address": "127.0.0.1",
    }
