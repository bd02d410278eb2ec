"""The private Ray names ncsweep relies on (runtime/_ray_private.py, the token-auth logger in
runtime/local_ray.py) still do what they did."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # a fresh interpreter imports Ray and torch

_PROBE = """
import json, ray
from ray._private import ray_constants, services
before = ray_constants.ENABLE_RAY_CLUSTER
from ncsweep.runtime.local_ray import local_ray_options
local_ray_options()
print(json.dumps([before, ray_constants.ENABLE_RAY_CLUSTER, services.get_node_ip_address()]))
"""


def test_a_driver_that_imported_ray_first_still_resolves_the_node_ip_to_loopback():
    env = {k: v for k, v in os.environ.items() if k != "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    before, after, node_ip = json.loads(done.stdout.strip().splitlines()[-1])
    assert before is True  # Ray on Linux: multi-node mode unless told otherwise at import
    assert after is False
    assert node_ip == "127.0.0.1"


_START = """
import ray
from ncsweep.runtime.cluster import connect_kwargs
ray.init(**connect_kwargs(None))
ray.shutdown()
"""


@pytest.mark.ray
def test_a_local_instance_keeps_token_auth_without_printing_rays_notice(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_AUTH", "RAY_ADDRESS"))}
    env["HOME"] = str(tmp_path)  # Ray writes the instance's token under ~/.ray
    done = subprocess.run(
        [sys.executable, "-c", _START], env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Token authentication is enabled" not in done.stderr
    assert (tmp_path / ".ray" / "auth_token").read_text().strip()  # auth stayed on
