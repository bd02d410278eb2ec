"""Re-vendor the Kueue v1beta2 schemas: ``python vendor_kueue.py KUEUE_GIT_DIR [TAG]``.

Reads ``config/components/crd/bases/kueue.x-k8s.io_{resourceflavors,clusterqueues,
localqueues}.yaml`` at TAG with ``git show`` and writes the ``v1beta2`` ``openAPIV3Schema``
of each CRD, unchanged, as JSON beside this file, plus SOURCE.json naming the tag and commit.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
VERSION = "v1beta2"
CRDS = {
    "resourceflavor": "resourceflavors",
    "clusterqueue": "clusterqueues",
    "localqueue": "localqueues",
}


def _git(git_dir: str, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", git_dir, *args], check=True, capture_output=True, text=True
    ).stdout


def main(git_dir: str, tag: str = "v0.19.2") -> None:
    commit = _git(git_dir, "rev-parse", f"{tag}^{{commit}}").strip()
    files = []
    for kind, plural in CRDS.items():
        path = f"config/components/crd/bases/kueue.x-k8s.io_{plural}.yaml"
        crd = yaml.safe_load(_git(git_dir, "show", f"{commit}:{path}"))
        (version,) = [v for v in crd["spec"]["versions"] if v["name"] == VERSION]
        schema = version["schema"]["openAPIV3Schema"]
        (HERE / f"{kind}.{VERSION}.json").write_text(
            json.dumps(schema, separators=(",", ":")) + "\n"
        )
        files.append(path)
    (HERE / "LICENSE").write_text(_git(git_dir, "show", f"{commit}:LICENSE"))
    source = {
        "repository": "https://github.com/kubernetes-sigs/kueue",
        "tag": tag,
        "commit": commit,
        "files": files,
        "extracted": f"spec.versions[name={VERSION}].schema.openAPIV3Schema, unmodified",
        "license": "Apache-2.0 (LICENSE beside this file)",
    }
    (HERE / "SOURCE.json").write_text(json.dumps(source, indent=2) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
