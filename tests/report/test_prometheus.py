"""Prometheus (Debian's package) finds a Ray head's metrics through the shipped scrape config."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from services import free_port

pytestmark = pytest.mark.ray  # a Ray head (and Prometheus)

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "dashboards" / "grafana" / "prometheus.yml"
DEFAULT_DISCOVERY = "/tmp/ray/prom_metrics_service_discovery.json"


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _wait(what: str, check, timeout: float, log: Path):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"{what} within {timeout:.0f} s; log:\n{log.read_text()[-3000:]}")


def test_shipped_scrape_config_finds_ray_metrics(tmp_path):
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        pytest.fail("prometheus is not installed: run tests/system_deps.sh (make test does)")
    temp_dir = Path(f"/tmp/ncsp{os.getpid()}")  # short: Ray's socket paths have a length limit
    home = tmp_path / "home"
    home.mkdir()
    env = dict(os.environ, HOME=str(home), RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")
    metrics_port, prom_port = free_port(), free_port()
    ray_bin = str(Path(sys.executable).parent / "ray")
    head_log = tmp_path / "head.log"
    head = subprocess.Popen(
        [
            ray_bin,
            "start",
            "--head",
            "--block",
            f"--temp-dir={temp_dir}",
            f"--port={free_port()}",
            "--node-ip-address=127.0.0.1",
            "--num-cpus=1",
            "--include-dashboard=true",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={free_port()}",
            f"--dashboard-agent-listen-port={free_port()}",
            f"--ray-client-server-port={free_port()}",
            f"--metrics-export-port={metrics_port}",
        ],
        env=env,
        stdout=open(head_log, "w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    prom = None
    try:
        discovery = temp_dir / "prom_metrics_service_discovery.json"
        _wait(
            "Ray head writes its service-discovery file",
            lambda: discovery.is_file() and json.loads(discovery.read_text() or "[]"),
            120,
            head_log,
        )

        config = yaml.safe_load(SHIPPED.read_text())
        ray_job = next(j for j in config["scrape_configs"] if j["job_name"] == "ray")
        assert ray_job["file_sd_configs"][0]["files"] == [DEFAULT_DISCOVERY]
        text = SHIPPED.read_text().replace(DEFAULT_DISCOVERY, str(discovery))
        config_file = tmp_path / "prometheus.yml"
        config_file.write_text(text)
        prom_log = tmp_path / "prometheus.log"
        prom = subprocess.Popen(
            [
                prometheus,
                f"--config.file={config_file}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            stdout=open(prom_log, "w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def query(expr: str) -> list:
            url = f"http://127.0.0.1:{prom_port}/api/v1/query?" + urllib.parse.urlencode(
                {"query": expr}
            )
            try:
                with urllib.request.urlopen(url, timeout=5) as answer:
                    return json.load(answer)["data"]["result"]
            except OSError:
                return []

        found = _wait(
            "Prometheus scrapes a Ray node metric",
            lambda: query('{job="ray", __name__=~"ray_node_cpu_count|ray_node_mem_total"}'),
            150,
            prom_log,
        )
        assert {r["metric"]["__name__"] for r in found} & {
            "ray_node_cpu_count",
            "ray_node_mem_total",
        }
        targets = query('up{job="ray"} == 1')
        assert targets, "no Ray target is up"
    finally:
        if prom is not None:
            _stop(prom)
        _stop(head)
        shutil.rmtree(temp_dir, ignore_errors=True)
