"""The study table: collected from the child runs in MLflow, compared with CE, rendered.

Every number is a mean over seeds (± sample std where it says so) of one MLflow metric of
the study's child runs; comparisons use the CE run of the same seed and variant:

- accuracy: ``val/acc1`` of the balanced runs;
- NC: final ``nc_score/<m>`` (%) and ``nc_iters/<m>`` (first step at the threshold; "—"
  when no seed got there, "k/n" when only k of n did);
- speed: ``geometry.iterations_to_match`` on the ``nc/<m>`` histories: the fraction of CE's
  steps a family needs to be as collapsed as CE's final value (docs/paper.md, "under 7.5 %");
- probes: ``eval/probes/acc/{prototypes, probe, normprobe}``;
- long-tail: ``eval/longtail/acc/{overall, many, medium, few}`` at each imbalance and the
  gain over CE in points (``gain_points``);
- corruption: clean and mean error, mCE and relative mCE (CE = 100 by definition);
- transfer: probe accuracy per target and the mean relative gain over CE.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from typing import Any

from .. import metric_keys as keys
from ..evaluate import compare, get_suite
from ..evaluate.report import stored_results
from ..geometry import iterations_to_match
from ..geometry.metrics import METRIC_NAMES
from ..losses import families as registered_families
from ..runtime.evaluation_runs import TAG_SEED, TAG_STUDY, TAG_VARIANT
from ..status import RunState
from ..tracking import (
    TAG_FAMILY,
    TAG_KIND,
    MetricLogger,
    TrackingStore,
    open_store,
    set_tags,
    sweep_results,
)

__all__ = ["collect_study", "family_order", "render_markdown", "study_json"]


def family_order(runs: list[dict[str, Any]]) -> list[str]:
    """The families of ``runs`` in the loss registry's order (the paper's five, then any
    family registered later); a family this process has not registered comes last, by
    name, rather than being left out of the table."""
    present = {r["family"] for r in runs if r["family"] is not None}
    known = [f for f in registered_families() if f in present]
    return known + sorted(present - set(known))


def _mean(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def _std(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.stdev(values) if len(values) > 1 else None


def _declared(suite: str, key: str) -> tuple[str, ...]:
    """What the suite registry allows for the one placeholder of ``suite``'s key ``key``
    (``acc/<head>`` of ``probes``: ``prototypes``, ``probe``, ``normprobe``)."""
    found = next(k for k in get_suite(suite).keys if k.key == key)
    (placeholder,) = [part[1:-1] for part in key.split("/") if part.startswith("<")]
    return found.values[placeholder]


#: The columns of the probe, long-tail and corruption tables, as the suites declare them.
_HEADS = _declared("probes", "acc/<head>")
_LONGTAIL_SPLITS = _declared("longtail", "acc/<group>")
_LONGTAIL_GROUPS = _declared("longtail", "classes/<group>")
_CORRUPTION_SUMMARY = tuple(k.key for k in get_suite("corruption").keys if "<" not in k.key)


def _history(store: TrackingStore, run_id: str) -> list[tuple[int, dict[str, float]]]:
    by_step: dict[int, dict[str, float]] = defaultdict(dict)
    for name in METRIC_NAMES:
        for step, value in store.metric_history(run_id, keys.NC + name):
            by_step[step][name] = value
    return sorted(by_step.items())


def _compare_with_ce(uri: str, runs: list[dict]) -> None:
    """Each run's suites against the CE run of the same seed and variant; logged to the run."""
    ce = {(r["seed"], r["variant"]): r for r in runs if r["family"] == "ce"}
    for run in runs:
        base = ce.get((run["seed"], run["variant"]))
        if base is None:
            continue
        comparisons = {}
        for suite in run["suites"]:
            mine, theirs = (
                stored_results(run["metrics"], suite),
                stored_results(base["metrics"], suite),
            )
            if mine and theirs:
                comparisons[suite] = compare(suite, mine, theirs)
        flat = {
            f"eval/{s}/{k}": v
            for s, c in comparisons.items()
            for k, v in c.items()
            if v is not None
        }
        if flat:
            MetricLogger(uri, run["run_id"]).log(flat, step=0)
            set_tags(uri, run["run_id"], {"ncsweep.eval.baseline": base["run_id"]})
        run["metrics"].update(flat)


def collect_study(uri: str, experiment_id: str, study: str) -> dict[str, Any]:
    """All numbers of the study table (JSON-ready)."""
    store = open_store(uri)
    found = sweep_results(
        store.search_runs(experiment_id, {TAG_STUDY: study, TAG_KIND: "train"}, max_results=5000)
    )
    # one row per run; its columns hold different types (str, int, a list, the metrics)
    runs: list[dict[str, Any]] = [
        {
            "run_id": r.run_id,
            "status": r.status,
            "family": r.tags.get(TAG_FAMILY),
            "seed": int(r.tags.get(TAG_SEED, 0)),
            "variant": r.tags.get(TAG_VARIANT),
            "suites": sorted({k.split("/")[1] for k in r.metrics if k.startswith("eval/")}),
            "metrics": dict(r.metrics),
        }
        for r in found
    ]
    finished = [r for r in runs if r["status"] == RunState.FINISHED]
    _compare_with_ce(uri, finished)
    families = family_order(finished)
    cell = defaultdict(list)
    for r in finished:
        cell[(r["family"], r["variant"])].append(r)

    def values(family, variant, key):
        return [r["metrics"].get(key) for r in cell[(family, variant)]]

    data: dict[str, Any] = {
        "study": study,
        "runs": len(runs),
        "finished": len(finished),
        "seeds": sorted({r["seed"] for r in finished}),
        "families": families,
    }
    data["accuracy"] = {
        f: {
            "mean": _mean(values(f, "balanced", keys.VAL_ACC1)),
            "std": _std(values(f, "balanced", keys.VAL_ACC1)),
            "n": len(cell[(f, "balanced")]),
        }
        for f in families
    }
    nc: dict[str, dict[str, dict[str, float | None]]] = {}
    for f in families:
        nc[f] = {}
        for m in METRIC_NAMES:
            iters = values(f, "balanced", keys.NC_ITERS + m)
            nc[f][m] = {
                "score": _mean(values(f, "balanced", keys.NC_SCORE + m)),
                "steps": _mean(iters),
                "reached": sum(v is not None for v in iters),
                "n": len(iters),
            }
    data["nc"] = nc
    speed: dict[str, dict[str, Any]] = {}
    ce_runs = {r["seed"]: r for r in cell[("ce", "balanced")]}
    histories: dict[str, list] = {}
    for f in families:
        fractions: dict[str, list] = defaultdict(list)
        for r in cell[(f, "balanced")]:
            ref = ce_runs.get(r["seed"])
            if ref is None:
                continue
            for rid in (r["run_id"], ref["run_id"]):
                if rid not in histories:
                    histories[rid] = _history(store, rid)
            if not histories[ref["run_id"]] or histories[ref["run_id"]][-1][0] <= 0:
                continue
            for m, frac in iterations_to_match(
                histories[r["run_id"]], histories[ref["run_id"]]
            ).items():
                fractions[m].append(frac)
        speed[f] = {
            m: {"fraction": _mean(v), "matched": sum(x is not None for x in v), "n": len(v)}
            for m, v in fractions.items()
        }
    data["speed"] = speed
    data["probes"] = {
        f: {
            h: {
                "mean": _mean(values(f, "balanced", f"eval/probes/acc/{h}")),
                "std": _std(values(f, "balanced", f"eval/probes/acc/{h}")),
            }
            for h in _HEADS
        }
        for f in families
    }
    longtail = {}
    for variant in sorted({r["variant"] for r in finished if r["variant"].startswith("lt")}):
        longtail[variant] = {
            f: {
                **{
                    g: _mean(values(f, variant, f"eval/longtail/acc/{g}")) for g in _LONGTAIL_SPLITS
                },
                **{
                    f"classes_{g}": _mean(values(f, variant, f"eval/longtail/classes/{g}"))
                    for g in _LONGTAIL_GROUPS
                },
                "gain_points_overall": _mean(
                    values(f, variant, "eval/longtail/gain_points/overall")
                ),
                "gain_points_few": _mean(values(f, variant, "eval/longtail/gain_points/few")),
            }
            for f in families
        }
    data["longtail"] = longtail
    data["corruption"] = {
        f: {k: _mean(values(f, "balanced", f"eval/corruption/{k}")) for k in _CORRUPTION_SUMMARY}
        for f in families
    }
    transfer = {}
    for f in families:
        row: dict[str, Any] = {}
        gains = []
        for variant in ("balanced", "src04"):
            for r in cell[(f, variant)]:
                for key, v in r["metrics"].items():
                    if key.startswith("eval/transfer/acc/") and not key.endswith("/mean"):
                        row.setdefault(key.rsplit("/", 1)[1], []).append(v)
                    if key.startswith("eval/transfer/gain_relative/") and not key.endswith("/mean"):
                        gains.append(v)
        transfer[f] = {**{t: _mean(v) for t, v in row.items()}, "gain_relative_mean": _mean(gains)}
    data["transfer"] = transfer
    return data


def _p(v, digits: int = 1, scale: float = 100.0) -> str:
    return "—" if v is None else f"{v * scale:.{digits}f}"


def _section(title: str, columns: list[str]) -> list[str]:
    """A Markdown section heading and the head of its table."""
    return [
        "",
        f"## {title}",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]


def render_markdown(data: dict[str, Any]) -> str:
    fams = data["families"]
    out = [
        f"# Study {data['study']}",
        "",
        f"{data['finished']} of {data['runs']} runs finished; seeds {data['seeds']}. "
        "Means over seeds; accuracies in %.",
        *_section("Accuracy (val/acc1, balanced)", ["family", "top-1 (%)", "± std", "seeds"]),
    ]
    for f in fams:
        a = data["accuracy"][f]
        out.append(f"| {f} | {_p(a['mean'], 2)} | {_p(a['std'], 2)} | {a['n']} |")
    out += _section("NC: final score (%) and steps to the threshold", ["metric", *fams])
    for m in METRIC_NAMES:
        cells = []
        for f in fams:
            e = data["nc"][f][m]
            steps = "—" if e["steps"] is None else f"{e['steps']:.0f}"
            if e["steps"] is not None and e["reached"] < e["n"]:
                steps += f" ({e['reached']}/{e['n']})"
            cells.append(f"{_p(e['score'], 1, 1.0)} ({steps})")
        out.append(f"| {m} | " + " | ".join(cells) + " |")
    out += _section("Fraction of CE's steps to match CE's final NC value (%)", ["metric", *fams])
    for m in METRIC_NAMES:
        cells = []
        for f in fams:
            e = data["speed"].get(f, {}).get(m)
            if not e or e["fraction"] is None:
                cells.append("never")
            else:
                note = "" if e["matched"] == e["n"] else f" ({e['matched']}/{e['n']})"
                cells.append(f"{e['fraction'] * 100:.1f}{note}")
        out.append(f"| {m} | " + " | ".join(cells) + " |")
    out += _section(
        "Class-mean prototypes vs linear probes (frozen encoder, %)",
        ["family", "prototypes", "linear probe", "normalised probe"],
    )
    for f in fams:
        p = data["probes"][f]
        out.append(
            f"| {f} | "
            + " | ".join(
                f"{_p(p[h]['mean'])}" + ("" if p[h]["std"] is None else f" ± {_p(p[h]['std'])}")
                for h in _HEADS
            )
            + " |"
        )
    for variant, table in data["longtail"].items():
        out += _section(
            f"Long-tail, imbalance {variant[2:]} (balanced test set, %)",
            [
                "family",
                "overall",
                "many",
                "medium",
                "few",
                "gain vs CE (pts)",
                "few: gain vs CE (pts)",
            ],
        )
        for f in fams:
            e = table.get(f, {})
            cls = "/".join(f"{e.get(f'classes_{g}') or 0:.0f}" for g in _LONGTAIL_GROUPS)
            out.append(
                f"| {f} | {_p(e.get('overall'))} | {_p(e.get('many'))} | {_p(e.get('medium'))} | "
                f"{_p(e.get('few'))} | {_p(e.get('gain_points_overall'), 2, 1.0)} | "
                f"{_p(e.get('gain_points_few'), 2, 1.0)} |"
            )
        out.append(f"\nclasses many/medium/few: {cls}; an empty group shows —.")
    out += _section(
        "Corruption (15 corruptions × 5 severities)",
        ["family", "clean error (%)", "mean error (%)", "mCE (CE = 100)", "relative mCE"],
    )
    for f in fams:
        c = data["corruption"][f]
        out.append(
            f"| {f} | {_p(c['clean_error'])} | {_p(c['mean_error'])} | {_p(c['mce'], 1, 1.0)} | {_p(c['relative_mce'], 1, 1.0)} |"
        )
    targets = sorted({t for f in fams for t in data["transfer"][f] if t != "gain_relative_mean"})
    out += _section(
        "Transfer (linear probe on the frozen encoder, %)",
        ["family", *targets, "mean relative gain vs CE (%)"],
    )
    for f in fams:
        t = data["transfer"][f]
        out.append(
            f"| {f} | "
            + " | ".join(_p(t.get(x)) for x in targets)
            + f" | {_p(t.get('gain_relative_mean'), 2, 1.0)} |"
        )
    return "\n".join(out) + "\n"


def study_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=False)
