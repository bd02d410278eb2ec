"""Re-vendor the KubeRay v1 schemas: ``python vendor_kuberay.py KUBERAY_GIT_DIR [TAG]``.

Reads ``ray-operator/config/crd/bases/ray.io_{rayclusters,rayjobs}.yaml`` at TAG with
``git show`` and writes the ``v1`` ``openAPIV3Schema`` of each CRD, unchanged, as JSON
beside this file, plus SOURCE.json naming the tag and commit they came from.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
CRDS = {"raycluster": "rayclusters", "rayjob": "rayjobs"}


def _git(git_dir: str, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", git_dir, *args], check=True, capture_output=True, text=True
    ).stdout


def main(git_dir: str, tag: str = "v1.7.0") -> None:
    commit = _git(git_dir, "rev-parse", f"{tag}^{{commit}}").strip()
    for kind, plural in CRDS.items():
        path = f"ray-operator/config/crd/bases/ray.io_{plural}.yaml"
        crd = yaml.safe_load(_git(git_dir, "show", f"{commit}:{path}"))
        (v1,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
        schema = v1["schema"]["openAPIV3Schema"]
        (HERE / f"{kind}.v1.json").write_text(json.dumps(schema, separators=(",", ":")) + "\n")
    source = {
        "repository": "https://github.com/ray-project/kuberay",
        "tag": tag,
        "commit": commit,
        "files": [f"ray-operator/config/crd/bases/ray.io_{p}.yaml" for p in CRDS.values()],
        "extracted": "spec.versions[name=v1].schema.openAPIV3Schema, unmodified",
        "license": "Apache-2.0 (LICENSE beside this file)",
    }
    (HERE / "SOURCE.json").write_text(json.dumps(source, indent=2) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
