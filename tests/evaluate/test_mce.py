"""mCE arithmetic (Hendrycks & Dietterich): normalised by the baseline's errors, the
baseline's own mCE exactly 100, relative mCE against each run's clean error."""

from __future__ import annotations

import pytest
import torch

from ncsweep.config import load_spec
from ncsweep.data.corruption_ops import plan_for
from ncsweep.evaluate import compare, run_suites, subject_from_state


def _metrics(errors: dict[str, list[float]], clean: float) -> dict[str, float]:
    out = {"clean_error": clean}
    for c, values in errors.items():
        out.update({f"error/{c}/{s + 1}": v for s, v in enumerate(values)})
    return out


def test_mce_and_relative_mce_by_hand():
    run = _metrics({"fog": [0.2, 0.3], "snow": [0.1, 0.1]}, clean=0.05)
    base = _metrics({"fog": [0.4, 0.6], "snow": [0.1, 0.3]}, clean=0.1)
    out = compare("corruption", run, base)
    assert out["ce/fog"] == pytest.approx(50.0) and out["ce/snow"] == pytest.approx(50.0)
    assert out["mce"] == pytest.approx(50.0)
    # relative: fog (0.15 + 0.25) / (0.3 + 0.5) = 0.5; snow (0.05 + 0.05) / (0 + 0.2) = 0.5
    assert out["relative_mce"] == pytest.approx(50.0)


def test_a_generated_set_gives_the_baseline_an_mce_of_exactly_100(tmp_path):
    spec = load_spec(None, ["loss.name=ce"])
    torch.manual_seed(0)
    subject = subject_from_state(spec, None)
    options = {
        "corruption": {
            "corruptions": ["gaussian_noise", "contrast", "pixelate"],
            "limit": 60,
            "cache_dir": str(tmp_path),
        }
    }
    result = run_suites(subject, ["corruption"], options)["corruption"]
    assert set(result.metrics) >= {"clean_error", "mean_error", "error/contrast/5"}
    # digits are 8 px: CIFAR-10-C's table, upsampled to its side (data.corruptions.plan_for)
    table, k = plan_for(8, 8)
    assert table.name == "cifar" and k * 8 == table.size
    assert (
        result.rows[-1]["corruption"] == f"clean (generated, cifar parameters at {table.size} px)"
    )
    own = compare("corruption", result.metrics, result.metrics)
    assert own["mce"] == 100.0 and own["relative_mce"] in (100.0, None)
    # generated sets are cached: a second suite run reads the same images, same numbers
    again = run_suites(subject, ["corruption"], options)["corruption"]
    assert again.metrics == result.metrics
