"""What a paper study trains: one cell per (family, seed, variant), each a full spec.

Variants (:func:`variants_for`):

- ``balanced``: the preset's data; suites ``probes``, ``corruption`` and ``transfer``;
- ``lt0.1``, ``lt0.01``: the same data long-tailed (``data.imbalance``, exponential profile,
  imbalance 0.1 and 0.01); suite ``longtail``;
- ``src04`` (digits presets only): ``digits_subset`` classes 0–4; suite ``transfer`` with the
  target ``digits_5to9`` (the encoder never saw digits 5–9).

Each family's spec is the preset spec, then the family's search-space base (``sweep``'s
``Preset.space_for(...).spec_dict``), then ``--set`` overrides, then the variant; no
hyper-parameter is sampled: a study measures each family at its defaults, or, with
``--from-sweep NAME``, at the spec of the family's confirmed winner in that sweep.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config import apply_overrides, deep_merge, parse_overrides, spec_from_dict
from ..plan.preflight import check_spec
from ..sweep import Preset

__all__ = ["Cell", "LONGTAIL_RATIOS", "plan_cells", "variants_for"]

LONGTAIL_RATIOS = (0.1, 0.01)


@dataclass
class Cell:
    family: str
    seed: int
    variant: str
    spec: dict[str, Any]

    @property
    def key(self) -> str:
        return f"{self.family}-s{self.seed}-{self.variant}"


def variants_for(preset_spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{variant: nested spec changes}`` for the preset's dataset."""
    data = preset_spec.get("data", {}).get("name", "digits")
    out: dict[str, dict[str, Any]] = {
        "balanced": {"eval": {"suites": ["probes", "corruption", "transfer"]}},
    }
    if data == "digits":
        out["balanced"]["eval"]["suite_options"] = {"transfer": {"targets": ["digits_corrupted"]}}
    else:  # transfer needs a root with downstream datasets: eval.suite_options.transfer.root
        out["balanced"]["eval"]["suites"] = ["probes", "corruption"]
    for ratio in LONGTAIL_RATIOS:
        out[f"lt{ratio:g}"] = {
            "data": {"imbalance": {"ratio": ratio, "profile": "exp"}},
            "eval": {"suites": ["longtail"]},
        }
    if data == "digits":
        out["src04"] = {
            "data": {"name": "digits_subset", "options": {"classes": [0, 1, 2, 3, 4]}},
            "eval": {
                "suites": ["transfer"],
                "suite_options": {"transfer": {"targets": ["digits_5to9"]}},
            },
        }
    return out


def plan_cells(
    preset: Preset,
    families: list[str],
    seeds: list[int],
    overrides: list[str],
    *,
    study: str,
    storage: str,
    variants: list[str] | None = None,
    bases: dict[str, dict[str, Any]] | None = None,
) -> list[Cell]:
    """Every cell's validated spec (SpecError names the family and variant).

    ``bases``: a family's base spec to use instead of its search space's defaults (a
    sweep's confirmed winner: ``from_sweep.confirmed_bases``)."""
    available = variants_for(preset.spec)
    chosen = variants or list(available)
    cells = []
    for family in families:
        if bases and family in bases:
            base = bases[family]
        else:
            base = preset.space_for(family).spec_dict(preset.spec, {})
        base = apply_overrides(base, parse_overrides(overrides))
        for variant in chosen:
            for seed in seeds:
                data = deep_merge(base, available[variant])
                cell = Cell(family, seed, variant, {})
                data = deep_merge(
                    data,
                    {
                        "run": {
                            "seed": seed,
                            "name": cell.key,
                            "experiment": study,
                            "storage_path": storage,
                        }
                    },
                )
                source = f"study {study}: family {family}, variant {variant}"
                spec = spec_from_dict(data, source)
                check_spec(spec, source)
                cell.spec = spec.model_dump(mode="json")
                cells.append(cell)
    return cells
