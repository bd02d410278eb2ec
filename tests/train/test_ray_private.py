"""The one private Ray name ncsweep writes (runtime/_ray_private.py) still does what it did."""

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
