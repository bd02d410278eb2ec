"""Shared fixtures: the real services the tests run against, all on 127.0.0.1.

- ``s3_endpoint`` (session): moto's S3 API server; AWS_* variables point every S3 client of
  this process and of the Ray processes started after it (s3fs, Ray storage, MLflow) at it.
- ``s3_server`` (function): the same server, emptied before and after the test.
- ``ray_session`` (session): a local Ray instance with 2 CPUs (dashboard on 127.0.0.1).
- ``mlflow_server`` (session): ``mlflow server`` with a SQLite store and proxied artifacts.
- ``mlflow_auth_server`` (session): ``cluster/mlflow/serve.sh`` with MLflow's users (basic
  auth, no access to others' experiments without a grant), SQLite stores, S3 artifacts.

Test tiers: a test that uses a fixture of :data:`STARTS` (itself or through other fixtures,
these and the sub-conftests') gets that fixture's markers at collection, so ``-m "not ray"``
deselects it before anything starts. A test that starts such a thing itself (a ``ncsweep``
subprocess that starts a local Ray, a server started in its body) carries the marker in its
module's ``pytestmark``; a test that asks for such a fixture at run time without its marker
fails. ``slow`` (set in the test files) marks tests that start none of these but spend
seconds of CPU in fresh interpreters. ``make test-fast`` runs the tests with none of them.
"""

from __future__ import annotations

import os
import pickle
import secrets
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from ncsweep._environment import QUIET_ENV
from services import free_port, start_mlflow_server, stop, wait_until_answering

os.environ.update(QUIET_ENV)

# fixture -> the markers of what it starts (pyproject.toml declares each marker)
STARTS = {
    "s3_endpoint": ("s3",),
    "ray_session": ("ray",),
    "mlflow_server": ("mlflow",),
    "mlflow_auth_server": ("mlflow",),
    "chromium": ("browser",),
    "pg_uri": ("cluster",),
    "mlflow_pg": ("cluster", "mlflow"),
    "two_node_cluster": ("cluster", "ray"),
}


#: Folders whose tests share package- or session-scoped services of their own (the
#: two-node cluster; the report's tiny sweep and UI server): one xdist worker runs each.
SHARED_SERVICES = ("cluster", "report")


def _xdist_group(item: pytest.Item) -> str:
    """``make test`` runs on two xdist workers with ``--dist loadgroup``: a file's tests stay
    on one worker (its module fixtures start once), and so do the folders above."""
    folder = item.path.parent.name
    return folder if folder in SHARED_SERVICES else str(item.path)


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects
def pytest_collection_modifyitems(items):
    # fixturenames is the closure: fixtures used through other fixtures are in it
    for item in items:
        for name in sorted({m for f in item.fixturenames for m in STARTS.get(f, ())}):
            item.add_marker(name)
        item.add_marker(pytest.mark.xdist_group(_xdist_group(item)))


class _UnmarkedStartGuard:
    """A fixture of STARTS requested at run time (``request.getfixturevalue``) is invisible at
    collection, so ``-m`` cannot deselect its test: the test that sets it up without the
    markers fails, naming them. In ``make test-fast`` no marked test runs, so every such start
    fails. It fails once the fixture is set up (pytest caches a fixture's value or error in
    its own setup hook; failing before it would leave the fixture half set up).

    A plugin, not conftest hooks: setting up a session-scoped fixture calls the hooks of the
    session's folder, the repository root, which do not include this conftest's."""

    def __init__(self):
        self.running: pytest.Item | None = None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item):
        self.running = item
        try:
            return (yield)
        finally:
            self.running = None

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef):
        value = yield
        item = self.running
        if item is not None and fixturedef.argname in STARTS:
            missing = set(STARTS[fixturedef.argname]) - {m.name for m in item.iter_markers()}
            if missing:
                pytest.fail(
                    f"{item.nodeid} starts {fixturedef.argname} without the marker "
                    f"{', '.join(sorted(missing))}: add it to the module's pytestmark "
                    "(or to a pytest.param's marks)",
                    pytrace=False,
                )
        return value


def pytest_configure(config):
    config.pluginmanager.register(_UnmarkedStartGuard(), "ncsweep-unmarked-start-guard")


@pytest.fixture(scope="session", autouse=True)
def _torch_single_threaded():
    """torch at one intra-op thread in this process: on a shared 2-core machine its OpenMP
    threads spin against other processes and make small forward/backward passes several times
    slower (tests/train/test_core.py at a load of ~10: 27 s CPU and 73 s wall with 2 threads,
    8 s and 16 s with one). Subprocesses and Ray workers keep their own settings."""
    torch = sys.modules.get("torch")  # collection imported it if any test module uses it
    if torch is None:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _reset_moto(endpoint: str) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass


@pytest.fixture(scope="session")
def s3_endpoint():
    """moto's S3 server for the whole session; sets the AWS environment process-wide so that
    Ray workers started later inherit it."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    saved = {
        k: os.environ.get(k)
        for k in (
            "AWS_ENDPOINT_URL",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_DEFAULT_REGION",
        )
    }
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing-secret-value",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    for key in ("AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(key, None)
    try:
        yield endpoint
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def s3_server(s3_endpoint):
    """The S3 server, empty at the start of the test (moto keeps process-global state)."""
    _reset_moto(s3_endpoint)
    try:
        yield s3_endpoint
    finally:
        _reset_moto(s3_endpoint)


@pytest.fixture(scope="session")
def ray_session(s3_endpoint):
    """A local Ray instance (2 CPUs) in its own temp dir, stopped at the end."""
    import ray

    from ncsweep.runtime.trainer import RAY_RUN_ENV

    temp_dir = tempfile.mkdtemp(prefix="ncsr", dir="/tmp")
    # The dashboard serves the state API Ray Train's placement-group cleaner relies on.
    ray.init(
        num_cpus=2,
        include_dashboard=True,
        dashboard_host="127.0.0.1",
        _temp_dir=temp_dir,
        runtime_env={"env_vars": {**RAY_RUN_ENV, **QUIET_ENV}},
        log_to_driver=True,
    )
    try:
        yield ray
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """``mlflow server`` on 127.0.0.1 (SQLite store, proxied artifacts); yields its URI."""
    process, uri = start_mlflow_server(tmp_path_factory.mktemp("mlflow"))
    try:
        yield uri
    finally:
        stop(process)


@dataclass(frozen=True)
class AuthServer:
    """A tracking server with users: its URI and the admin's credentials."""

    uri: str
    admin: str
    admin_password: str
    log: Path


@pytest.fixture(scope="session")
def mlflow_auth_server(s3_endpoint, tmp_path_factory):
    """``cluster/mlflow/serve.sh`` with ``MLFLOW_AUTH=basic`` on 127.0.0.1: runs and users in
    SQLite files under a temp dir, artifacts in a bucket of the session's S3 server, a random
    admin password given only through the environment; yields an :class:`AuthServer`."""
    import s3fs

    root = tmp_path_factory.mktemp("mlflow-auth")
    bucket = f"nc-auth-{secrets.token_hex(4)}"
    s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_endpoint}, skip_instance_cache=True).mkdir(
        bucket
    )
    port, password = free_port(), f"adm-{secrets.token_hex(8)}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING_")}
    env.update(
        MLFLOW_BACKEND_STORE_URI=f"sqlite:///{root}/mlflow.db",
        MLFLOW_ARTIFACTS_DESTINATION=f"s3://{bucket}/mlflow",
        MLFLOW_AUTH_DATABASE_URI=f"sqlite:///{root}/auth.db",
        MLFLOW_AUTH_ADMIN_USERNAME="admin",
        MLFLOW_AUTH_ADMIN_PASSWORD=password,
        MLFLOW_AUTH_CONFIG_DIR=str(root),
        MLFLOW_AUTH_CACHE_TTL_S="60",  # one password hash per user, not one per request
        MLFLOW_PORT=str(port),
        MLFLOW_WORKERS="1",
        MLFLOW=str(Path(sys.executable).parent / "mlflow"),
    )
    log = root / "server.log"
    process = subprocess.Popen(
        [Path(__file__).resolve().parents[1] / "cluster" / "mlflow" / "serve.sh"],
        env=env,
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(process, f"{uri}/health", log, 180)
        yield AuthServer(uri, "admin", password, log)
    finally:
        stop(process)


def write_fake_cifar(
    root: Path, name: str, train_per_class: int = 4, test_per_class: int = 2
) -> Path:
    """Write a tiny CIFAR in torchvision's pickle layout under root; returns root.

    cifar10: 5 train batches (train_per_class images of each class spread over them) and
    test_batch; cifar100: train and test with fine/coarse labels. Pixels are seeded noise.
    """
    rng = np.random.default_rng(0 if name == "cifar10" else 1)
    k = 10 if name == "cifar10" else 100

    def batch(labels: list[int]) -> dict:
        data = rng.integers(0, 256, size=(len(labels), 3072), dtype=np.uint8)
        entry = {
            "batch_label": "fake",
            "data": data,
            "filenames": [f"{i}.png" for i in range(len(labels))],
        }
        if name == "cifar10":
            entry["labels"] = labels
        else:
            entry["fine_labels"] = labels
            entry["coarse_labels"] = [c // 5 for c in labels]
        return entry

    train = [c for _ in range(train_per_class) for c in range(k)]
    test = [c for _ in range(test_per_class) for c in range(k)]
    if name == "cifar10":
        folder = root / "cifar-10-batches-py"
        folder.mkdir(parents=True)
        files = {f"data_batch_{i + 1}": batch(train[i::5]) for i in range(5)}
        files["test_batch"] = batch(test)
        files["batches.meta"] = {"label_names": [f"class{c}" for c in range(k)]}
    else:
        folder = root / "cifar-100-python"
        folder.mkdir(parents=True)
        files = {"train": batch(train), "test": batch(test)}
        files["meta"] = {"fine_label_names": [f"class{c}" for c in range(k)]}
    for fname, entry in files.items():
        with open(folder / fname, "wb") as fh:
            pickle.dump(entry, fh)
    return root


@pytest.fixture
def fake_cifar_writer():
    """``write_fake_cifar(root, name, train_per_class=4, test_per_class=2) -> root``."""
    return write_fake_cifar
