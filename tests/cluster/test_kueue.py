"""Kueue queues for RayJobs (``cluster/kueue/``), checked without a Kubernetes cluster.

``queues.yaml`` validates against Kueue's published v1beta2 CRD schemas (vendored from
kubernetes-sigs/kueue, ``schemas/kueue/SOURCE.json``; tightened as the KubeRay ones are, so
a misspelt field fails). ``rayjob-queued.yaml`` is applied, as ``kubectl patch --type json``
would, to each RayJob of ``cluster/kuberay``; the result still matches KubeRay's RayJob CRD
and passes the checks Kueue's RayJob webhook makes (v0.19 ``rayjob_webhook.go`` and
``raycluster_webhook.go``): a queue name, its own Ray cluster, deleted after the job, no
autoscaling. Its pods fit the quota of the team whose LocalQueue it names.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import jsonschema
import pytest
from test_manifests import CLUSTER, KUBERAY, RAY_JOBS, crd_errors, load, load_all, strict

KUEUE = CLUSTER / "kueue"
SCHEMAS = Path(__file__).resolve().parent / "schemas" / "kueue"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
_UNITS = {"": 1, "m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def kueue_errors(doc: dict) -> list[str]:
    assert doc["apiVersion"] == "kueue.x-k8s.io/v1beta2", doc["apiVersion"]
    schema = json.loads((SCHEMAS / f"{doc['kind'].lower()}.v1beta2.json").read_text())
    validator = jsonschema.Draft7Validator(strict(schema))
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
        for e in validator.iter_errors(doc)
    ]


def json_patch(doc: dict, ops: list[dict]) -> dict:
    """RFC 6902 ``add`` and ``replace`` on objects and list indices (what the patch uses)."""
    doc = copy.deepcopy(doc)
    for op in ops:
        *parents, last = [
            p.replace("~1", "/").replace("~0", "~") for p in op["path"][1:].split("/")
        ]
        node = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        key = int(last) if isinstance(node, list) else last
        if op["op"] == "replace":
            assert key in node if isinstance(node, dict) else key < len(node), op["path"]
        else:
            assert op["op"] == "add", op
        node[key] = op["value"]
    return doc


def quantity(text) -> float:
    number, unit = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", str(text)).groups()
    return float(number) * _UNITS[unit]


def queued(name: str) -> dict:
    return json_patch(load(KUBERAY / name), load(KUEUE / "rayjob-queued.yaml"))


def pod_requests(job: dict) -> dict[str, float]:
    """What the RayJob's cluster asks for when admitted: the head and every worker replica."""
    spec = job["spec"]["rayClusterSpec"]
    groups = [(spec["headGroupSpec"], 1)] + [(g, g["replicas"]) for g in spec["workerGroupSpecs"]]
    total: dict[str, float] = {}
    for group, count in groups:
        for container in group["template"]["spec"]["containers"]:
            for resource, value in container["resources"]["requests"].items():
                total[resource] = total.get(resource, 0) + count * quantity(value)
    return total


def test_queues_validate_against_kueues_published_v1beta2_schemas():
    docs = load_all(KUEUE / "queues.yaml")
    assert {d["kind"] for d in docs} == {"ResourceFlavor", "ClusterQueue", "LocalQueue"}
    for doc in docs:
        errors = kueue_errors(doc)
        assert not errors, f"{doc['kind']} {doc['metadata']['name']}:\n" + "\n".join(errors)


def test_a_misspelt_queue_field_fails_the_schema():
    doc = next(d for d in load_all(KUEUE / "queues.yaml") if d["kind"] == "ClusterQueue")
    doc["spec"]["cohort"] = doc["spec"].pop("cohortName")  # the v1beta1 name
    assert any("cohort" in e and "Additional properties" in e for e in kueue_errors(doc))


def test_every_team_has_a_quota_a_local_queue_and_shares_the_cohort():
    docs = load_all(KUEUE / "queues.yaml")
    flavors = {d["metadata"]["name"] for d in docs if d["kind"] == "ResourceFlavor"}
    queues = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ClusterQueue"}
    local = [d for d in docs if d["kind"] == "LocalQueue"]
    assert len(queues) >= 2 and {d["spec"]["cohortName"] for d in queues.values()} == {"lab"}
    assert sorted(d["spec"]["clusterQueue"] for d in local) == sorted(queues)
    for doc in local:
        team = queues[doc["spec"]["clusterQueue"]]
        assert doc["metadata"]["name"] == "ncsweep"
        selector = team["spec"]["namespaceSelector"]["matchLabels"]
        assert selector == {"kubernetes.io/metadata.name": doc["metadata"]["namespace"]}
        for group in team["spec"]["resourceGroups"]:
            assert {f["name"] for f in group["flavors"]} <= flavors


@pytest.mark.parametrize("name", RAY_JOBS)
def test_a_queued_rayjob_matches_the_crd_passes_kueues_webhook_and_fits_its_teams_quota(name):
    job = queued(name)
    assert not crd_errors(job), crd_errors(job)
    spec = job["spec"]
    # Kueue's RayJob webhook (v0.19): a queue, its own cluster deleted after the job, no
    # in-tree autoscaling unless the job is elastic (it is not)
    assert job["metadata"]["labels"][QUEUE_LABEL] == "ncsweep"
    assert "clusterSelector" not in spec and spec["shutdownAfterJobFinishes"] is True
    assert spec["rayClusterSpec"]["enableInTreeAutoscaling"] is False
    assert "kueue.x-k8s.io/elastic-job" not in job["metadata"].get("annotations", {})
    for group in spec["rayClusterSpec"]["workerGroupSpecs"]:
        assert group["groupName"] != "head"
        assert group["minReplicas"] == group["replicas"] == group["maxReplicas"] >= 1
    # its pods fit every team's quota (one sweep cluster per team at a time)
    asked = pod_requests(job)
    assert asked.get("nvidia.com/gpu", 0) >= 1
    for team in (d for d in load_all(KUEUE / "queues.yaml") if d["kind"] == "ClusterQueue"):
        (group,) = team["spec"]["resourceGroups"]
        quota = {r["name"]: quantity(r["nominalQuota"]) for r in group["flavors"][0]["resources"]}
        assert set(asked) <= set(group["coveredResources"]), asked
        assert all(asked[r] <= quota[r] for r in asked), (team["metadata"]["name"], asked, quota)


def test_the_unqueued_rayjobs_stay_autoscaled_and_carry_no_queue_label():
    for name in RAY_JOBS:
        job = load(KUBERAY / name)
        assert QUEUE_LABEL not in job["metadata"].get("labels", {})
        assert job["spec"]["rayClusterSpec"]["enableInTreeAutoscaling"] is True


def test_vendored_kueue_schemas_name_their_source_commit_and_carry_the_apache_license():
    source = json.loads((SCHEMAS / "SOURCE.json").read_text())
    assert source["repository"].endswith("kubernetes-sigs/kueue")
    assert re.fullmatch(r"[0-9a-f]{40}", source["commit"])
    assert "Apache License" in (SCHEMAS / "LICENSE").read_text()
