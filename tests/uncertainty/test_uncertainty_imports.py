"""The statistics layer loads numpy and scipy only: a report can import it cheaply."""

from __future__ import annotations

import subprocess
import sys


def test_uncertainty_imports_no_torch_ray_or_mlflow():
    code = (
        "import sys, ncsweep.uncertainty; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'ray', 'mlflow'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
