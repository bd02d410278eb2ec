"""The top-level API: ``import ncsweep`` is cheap, and every name it promises resolves.

Each check runs in a fresh interpreter, because this test session has long since imported
torch, Ray and MLflow through other tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import ncsweep

PLATFORM = Path(__file__).resolve().parents[1] / "platform"
HEAVY = ("torch", "ray", "mlflow")


def _run(code: str) -> dict:
    """Run ``code`` in a new interpreter that imports this checkout's package; its last
    stdout line is JSON."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(PLATFORM), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_ncsweep_loads_neither_torch_ray_nor_mlflow():
    out = _run(
        "import json, sys, ncsweep\n"
        f"print(json.dumps({{'file': ncsweep.__file__, 'loaded': [m for m in {HEAVY!r} "
        "if any(k == m or k.startswith(m + '.') for k in sys.modules)]}))"
    )
    assert out["file"] == str(PLATFORM / "ncsweep" / "__init__.py")
    assert out["loaded"] == []


def test_every_public_name_resolves_to_its_module_attribute():
    out = _run(
        "import importlib, json, ncsweep\n"
        "missing = {}\n"
        "for name in ncsweep.__all__:\n"
        "    try:\n"
        "        value = getattr(ncsweep, name)\n"
        "    except Exception as error:\n"
        "        missing[name] = f'{type(error).__name__}: {error}'\n"
        "        continue\n"
        "    if name in ncsweep._PUBLIC:\n"
        "        module, attribute = ncsweep._PUBLIC[name].split(':')\n"
        "        if value is not getattr(importlib.import_module(module), attribute):\n"
        "            missing[name] = 'not the object its module defines'\n"
        "print(json.dumps(missing))"
    )
    assert out == {}


def test_the_public_names_are_the_mapping_plus_the_version_and_dir_lists_them():
    assert ncsweep.__all__ == ["__version__", *ncsweep._PUBLIC]
    assert len(set(ncsweep.__all__)) == len(ncsweep.__all__)
    assert set(ncsweep.__all__) <= set(dir(ncsweep))
    assert ncsweep.__version__ == "0.1.0"


def test_an_unknown_name_is_an_attribute_error_and_subpackages_still_import():
    assert not hasattr(ncsweep, "no_such_name")
    from ncsweep import losses

    assert losses.list_losses() == ncsweep.list_losses()
