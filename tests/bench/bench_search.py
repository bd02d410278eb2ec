"""Which search to use: each sampler x scheduler on the digits preset, over seeds.

Usage: ``python tests/bench/bench_search.py [--families ce,nonl] [--samplers tpe,random,...]
[--schedulers asha,none,...] [--pairs all|one-factor] [--seeds 5] [--trials 12] [--epochs 3]
[--out FILE.json]``.
Not collected by pytest (``make bench`` runs it). Every run is a real ``run_sweep`` (Ray Tune,
Optuna, MLflow on SQLite), one family at a time, seeds ``0 .. seeds-1``.

Measure, per family: the target is the best complete-trial ``val/acc1`` *any* run of this
benchmark found for that family, minus 0.5 points (0.005; the issue's target) or 1 point. A run's cost to the target is the
trial-steps (optimizer steps summed over its trials in completion order, a trial ASHA
stopped counting the steps it ran: ``bench_sweep._completion_curve``) at which its running
best complete trial first reached the target; a run that never reached it is censored at
its total trial-steps and counted in ``reached``. Reported per method: median and spread
(min–max) over seeds, and the ratio of medians to the first method (the default, tpe+asha)
measured in the same run). Beside it, each method against the first on what it found: its
best ``val/acc1`` minus the first's, paired by seed (per family) or by family and seed (every
family at once, the table that picks the defaults), with a bootstrap interval (95 % for all
comparisons together), P(better) and a verdict from ``ncsweep.uncertainty`` (what the
product's comparisons use).
A run that has written ``--out`` for every sweep asked for only prints the tables.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
from bench_sweep import _completion_curve, console, init_ray, quiet, settle, sqlite_uri
from rich.table import Table

from ncsweep.sweep import SweepConfig, run_sweep
from ncsweep.uncertainty import difference, probability_of_improvement, verdict

#: Targets below the best any run found, as points of val/acc1 -> fraction (1 point = 0.01).
TARGETS = {"0.5": 0.005, "1": 0.01}
#: Coverage of all comparisons against the first method together (see ``compare_to_first``).
JOINT_CONFIDENCE = 0.95


def run_one(
    family: str, sampler: str, scheduler: str, seed: int, trials: int, epochs: int, root: Path
) -> list[dict]:
    name = f"bs-{family}-{sampler}-{scheduler}-{seed}"
    config = SweepConfig(
        name=name,
        preset="digits",
        families=[family],
        trials=trials,
        seed=seed,
        sampler=sampler,
        scheduler=scheduler,
        storage=str(root / "ray"),
        tracking_uri=sqlite_uri(root),
        confirm_top=0,
        overrides=[f"run.epochs={epochs}"],
    )
    run_sweep(config, quiet, out_dir=root / "best" / name)
    settle(name)
    return _completion_curve(sqlite_uri(root), name)


def cost_to(curve: list[dict], target: float) -> tuple[int, bool]:
    """Trial-steps until the running best reached ``target`` (censored at the total)."""
    for t in curve:
        if t["running_best"] is not None and t["running_best"] >= target:
            return t["cum_steps"], True
    return (curve[-1]["cum_steps"] if curve else 0), False


def best_of(curve: list[dict]) -> float | None:
    """The run's best complete-trial ``val/acc1`` (None when no trial completed)."""
    return max((t["acc1"] for t in curve if t["complete"]), default=None)


def compare_to_first(
    pairs: list[tuple[float, float]], name: str, first: str, comparisons: int
) -> dict:
    """Paired difference of best ``val/acc1``: this method minus the first.

    ``pairs``: ``(this method's best, the first method's best)`` per seed, or per family and
    seed. Returns the difference of means with its bootstrap interval, P(this > first) and
    the verdict sentence of ``ncsweep.uncertainty`` (the product's comparisons use the same
    functions). Each of the ``comparisons`` made against the first gets the level
    ``1 - 0.05 / comparisons`` (Bonferroni), so that all of them hold together with 95 %:
    ten comparisons each at 95 % would call at least one of ten methods as good as the first
    better or worse in 40 % of benchmarks (1 - 0.95^10).
    """
    mine, theirs = np.array([a for a, _ in pairs]), np.array([b for _, b in pairs])
    level = 1 - (1 - JOINT_CONFIDENCE) / max(comparisons, 1)
    diff = difference(mine, theirs, paired=True, confidence=level)
    poi = probability_of_improvement(mine, theirs, paired=True, confidence=level)
    return {
        "pairs": len(pairs),
        "diff": diff.mean,
        "low": diff.low,
        "high": diff.high,
        "p_better": poi.mean,
        "verdict": verdict(name, first, "best val/acc1", diff, poi, unit="pts"),
    }


def _method(run: dict) -> tuple[str, str]:
    return run["sampler"], run["scheduler"]


def summarise(runs: list[dict]) -> list[dict]:
    """One row per family and method: cost to each target, best reached, and the comparison.

    The first method seen is the baseline of ``ratio_to_first`` and of the comparison.
    """
    rows = []
    for family in sorted({r["family"] for r in runs}):
        mine = [r for r in runs if r["family"] == family]
        best = max((b for r in mine if (b := best_of(r["curve"])) is not None), default=0.0)
        methods = list(dict.fromkeys(_method(r) for r in mine))
        by_seed = {(_method(r), r["seed"]): best_of(r["curve"]) for r in mine}
        base = None
        for method in methods:
            theirs = [r for r in mine if _method(r) == method]
            row: dict = {"family": family, "sampler": method[0], "scheduler": method[1]}
            row["best_any_run"] = best
            for points, within in TARGETS.items():
                costs = [cost_to(r["curve"], best - within) for r in theirs]
                steps = [c for c, _ in costs]
                suffix = "" if points == "0.5" else f"_{points}pt"
                row[f"target{suffix}"] = best - within
                row[f"median_steps{suffix}"] = statistics.median(steps)
                row[f"min_steps{suffix}"], row[f"max_steps{suffix}"] = min(steps), max(steps)
                row[f"reached{suffix}"] = sum(ok for _, ok in costs)
            row["runs"] = len(theirs)
            row["total_steps"] = statistics.median(r["curve"][-1]["cum_steps"] for r in theirs)
            base = row["median_steps"] if base is None else base
            row["ratio_to_first"] = row["median_steps"] / base if base else None
            finals = [b for r in theirs if (b := best_of(r["curve"])) is not None]
            row["median_final_best"] = statistics.median(finals) if finals else None
            if method != methods[0]:
                pairs = _pairs(by_seed, method, methods[0], {r["seed"] for r in theirs})
                row["vs_first"] = (
                    compare_to_first(
                        pairs, "+".join(method), "+".join(methods[0]), len(methods) - 1
                    )
                    if pairs
                    else None
                )
            rows.append(row)
    return rows


def _pairs(
    best: dict[tuple, float | None], method: tuple, first: tuple, keys: set
) -> list[tuple[float, float]]:
    """(method's best, first's best) for each key (a seed, or a family and seed) both ran."""
    found = [(best.get((method, k)), best.get((first, k))) for k in sorted(keys)]
    return [(a, b) for a, b in found if a is not None and b is not None]


def pooled(runs: list[dict]) -> list[dict]:
    """Every family at once: per method, targets reached and the paired comparison.

    Pairs are (family, seed); the target is each family's own (best any run of that family
    found, minus 0.5 or 1 point).
    """
    methods = list(dict.fromkeys(_method(r) for r in runs))
    best_per_family: dict[str, float] = {}
    for r in runs:
        b = best_of(r["curve"])
        if b is not None:
            best_per_family[r["family"]] = max(b, best_per_family.get(r["family"], b))
    by_key = {(_method(r), (r["family"], r["seed"])): best_of(r["curve"]) for r in runs}
    rows = []
    for method in methods:
        theirs = [r for r in runs if _method(r) == method]
        row: dict = {"sampler": method[0], "scheduler": method[1], "runs": len(theirs)}
        for points, within in TARGETS.items():
            row[f"reached_{points}pt"] = sum(
                cost_to(r["curve"], best_per_family.get(r["family"], 0.0) - within)[1]
                for r in theirs
            )
        if method != methods[0]:
            keys = {(r["family"], r["seed"]) for r in theirs}
            pairs = _pairs(by_key, method, methods[0], keys)
            row["vs_first"] = (
                compare_to_first(pairs, "+".join(method), "+".join(methods[0]), len(methods) - 1)
                if pairs
                else None
            )
        rows.append(row)
    return rows


def methods_of(samplers: list[str], schedulers: list[str], pairs: str) -> list[tuple[str, str]]:
    """The (sampler, scheduler) pairs to run, the first of each list first."""
    if pairs == "all":
        return [(s, h) for s in samplers for h in schedulers]
    first_sampler, first_scheduler = samplers[0], schedulers[0]
    return (
        [(first_sampler, first_scheduler)]
        + [(s, first_scheduler) for s in samplers[1:]]
        + [(first_sampler, h) for h in schedulers[1:]]
    )


def _shown(comparison: dict | None) -> tuple[str, str]:
    """The difference column ("+0.4 [-0.3, +1.1]" points) and the verdict's outcome."""
    if comparison is None:
        return "-", "-"
    points = [f"{100 * comparison[k]:+.1f}" for k in ("diff", "low", "high")]
    return f"{points[0]} [{points[1]}, {points[2]}]", comparison["verdict"].rsplit(": ", 1)[1]


FAMILY_COLUMNS = (
    "family",
    "sampler",
    "scheduler",
    "median trial-steps to -0.5",
    "min–max",
    "reached -0.5",
    "× first",
    "to -1 pt",
    "reached -1",
    "median best val/acc1",
    "best − first's, pts [95 % joint]",
    "verdict",
)
POOLED_COLUMNS = (
    "sampler",
    "scheduler",
    "reached -0.5",
    "reached -1",
    "best − first's, pts [95 % joint]",
    "P(better)",
    "verdict",
)


def family_cells(rows: list[dict]) -> list[tuple[str, ...]]:
    """``summarise`` rows as the text of ``FAMILY_COLUMNS``."""
    cells = []
    for r in rows:
        diff, outcome = _shown(r.get("vs_first"))
        cells.append(
            (
                r["family"],
                r["sampler"],
                r["scheduler"],
                f"{r['median_steps']:.0f}",
                f"{r['min_steps']}–{r['max_steps']}",
                f"{r['reached']}/{r['runs']}",
                "-" if r["ratio_to_first"] is None else f"{r['ratio_to_first']:.2f}",
                f"{r['median_steps_1pt']:.0f}",
                f"{r['reached_1pt']}/{r['runs']}",
                "-" if r["median_final_best"] is None else f"{r['median_final_best']:.4f}",
                diff,
                outcome,
            )
        )
    return cells


def pooled_cells(rows: list[dict]) -> list[tuple[str, ...]]:
    """``pooled`` rows as the text of ``POOLED_COLUMNS``."""
    cells = []
    for r in rows:
        diff, outcome = _shown(r.get("vs_first"))
        chance = "-" if r.get("vs_first") is None else f"{r['vs_first']['p_better']:.2f}"
        cells.append(
            (
                r["sampler"],
                r["scheduler"],
                f"{r['reached_0.5pt']}/{r['runs']}",
                f"{r['reached_1pt']}/{r['runs']}",
                diff,
                chance,
                outcome,
            )
        )
    return cells


def show(title: str, columns: tuple[str, ...], cells: list[tuple[str, ...]], markdown: bool):
    """Print a table: rich for a terminal, or Markdown (``--markdown``) for the README."""
    if markdown:
        print(f"\n{title}\n")
        for line in (columns, ("---",) * len(columns), *cells):
            print("| " + " | ".join(line) + " |")
        return
    out = Table(title=title)
    for column in columns:
        out.add_column(column)
    for line in cells:
        out.add_row(*line)
    console.print(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default="ce,normface,nonl,ntce,scl")
    parser.add_argument("--samplers", default="tpe,random,qmc,gp,cmaes,nsga2")
    parser.add_argument("--schedulers", default="asha,hyperband,bohb,pbt,pb2,none")
    parser.add_argument(
        "--pairs",
        choices=("all", "one-factor"),
        default="one-factor",
        help="all: every sampler x scheduler; one-factor: the first pair (the default), "
        "each other sampler with the first scheduler, each other scheduler with the first "
        "sampler (a run 1 + (S-1) + (H-1) pairs long instead of S x H)",
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument(
        "--out",
        default=None,
        help="JSON written after every sweep; run again with the same --out and settings "
        "to go on where it stopped (its sweeps are not run twice)",
    )
    parser.add_argument(
        "--markdown", action="store_true", help="print the tables as Markdown (the README's)"
    )
    args = parser.parse_args(argv)
    families = args.families.split(",")
    samplers, schedulers = args.samplers.split(","), args.schedulers.split(",")
    methods = methods_of(samplers, schedulers, args.pairs)  # the first: the ratios' baseline
    out = Path(args.out) if args.out else None
    runs = _earlier_runs(out, args.trials, args.epochs)
    done = {(r["family"], r["sampler"], r["scheduler"], r["seed"]) for r in runs}
    todo = [
        (family, seed, sampler, scheduler)
        for family in families
        for seed in range(args.seeds)
        for sampler, scheduler in methods
        if (family, sampler, scheduler, seed) not in done
    ]
    if todo:
        init_ray()
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        for family, seed, sampler, scheduler in todo:
            curve = run_one(family, sampler, scheduler, seed, args.trials, args.epochs, Path(tmp))
            runs.append(
                {
                    "family": family,
                    "sampler": sampler,
                    "scheduler": scheduler,
                    "seed": seed,
                    "curve": curve,
                }
            )
            console.print(
                f"{family} {sampler}+{scheduler} seed {seed}: "
                f"{len(curve)} trials, {curve[-1]['cum_steps'] if curve else 0} steps"
            )
            if out is not None:
                _save(out, args, runs)
    settings = (
        f"digits, {args.trials} trials, {args.epochs} epochs, seeds 0..{args.seeds - 1}, "
        f"target = best any run - 0.5 or 1 point"
    )
    title = f"Trial-steps to the target, per family ({settings})"
    show(title, FAMILY_COLUMNS, family_cells(summarise(runs)), args.markdown)
    title = "Every family: best val/acc1 against the first method, paired by family and seed"
    show(title, POOLED_COLUMNS, pooled_cells(pooled(runs)), args.markdown)
    return 0


def _earlier_runs(out: Path | None, trials: int, epochs: int) -> list[dict]:
    """The runs an earlier, interrupted benchmark wrote to ``out`` with these settings."""
    if out is None or not out.is_file():
        return []
    earlier = json.loads(out.read_text())
    theirs = {k: earlier["settings"][k] for k in ("trials", "epochs")}
    if theirs != {"trials": trials, "epochs": epochs}:
        raise SystemExit(f"{out} holds a run with {theirs}: pass another --out")
    console.print(f"{out}: going on after its {len(earlier['runs'])} sweeps")
    return earlier["runs"]


def _save(out: Path, args: argparse.Namespace, runs: list[dict]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    written = {
        "settings": vars(args),
        "rows": summarise(runs),
        "pooled": pooled(runs),
        "runs": runs,
    }
    out.with_suffix(".tmp").write_text(json.dumps(written, indent=2))
    out.with_suffix(".tmp").replace(out)  # whole, or the earlier file


if __name__ == "__main__":
    sys.exit(main())
