"""Which search to use: each sampler x scheduler on the digits preset, over seeds.

Usage: ``python tests/bench/bench_search.py [--families ce,nonl] [--samplers tpe,random,...]
[--schedulers asha,none,...] [--pairs all|one-factor] [--seeds 5] [--trials 12] [--epochs 3]
[--out FILE.json]``.
Not collected by pytest (``make bench`` runs it). Every run is a real ``run_sweep`` (Ray Tune,
Optuna, MLflow on SQLite), one family at a time, seeds ``0 .. seeds-1``.

Measure, per family: the target is the best complete-trial ``val/acc1`` *any* run of this
benchmark found for that family, minus 0.5 points (0.005). A run's cost to the target is the
trial-steps (optimizer steps summed over its trials in completion order, a trial ASHA
stopped counting the steps it ran: ``bench_sweep._completion_curve``) at which its running
best complete trial first reached the target; a run that never reached it is censored at
its total trial-steps and counted in ``reached``. Reported per method: median and spread
(min–max) over seeds, and the ratio of medians to the first method (the default, tpe+asha)
measured in the same run).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from bench_sweep import _completion_curve, console, init_ray, quiet, settle, sqlite_uri
from rich.table import Table

from ncsweep.sweep import SweepConfig, run_sweep

WITHIN = 0.005  # 0.5 points of val/acc1


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


def summarise(runs: list[dict]) -> list[dict]:
    rows = []
    for family in sorted({r["family"] for r in runs}):
        mine = [r for r in runs if r["family"] == family]
        best = max((t["acc1"] for r in mine for t in r["curve"] if t["complete"]), default=0.0)
        target = best - WITHIN
        methods = list(dict.fromkeys((r["sampler"], r["scheduler"]) for r in mine))
        base = None
        for sampler, scheduler in methods:
            costs = [
                cost_to(r["curve"], target)
                for r in mine
                if (r["sampler"], r["scheduler"]) == (sampler, scheduler)
            ]
            steps = [c for c, _ in costs]
            median = statistics.median(steps)
            base = median if base is None else base
            finals = [
                max((t["acc1"] for t in r["curve"] if t["complete"]), default=None)
                for r in mine
                if (r["sampler"], r["scheduler"]) == (sampler, scheduler)
            ]
            rows.append(
                {
                    "family": family,
                    "sampler": sampler,
                    "scheduler": scheduler,
                    "best_any_run": best,
                    "target": target,
                    "median_steps": median,
                    "min_steps": min(steps),
                    "max_steps": max(steps),
                    "reached": sum(ok for _, ok in costs),
                    "runs": len(costs),
                    "ratio_to_first": median / base if base else None,
                    "median_final_best": statistics.median(f for f in finals if f is not None)
                    if any(f is not None for f in finals)
                    else None,
                }
            )
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


def table(rows: list[dict], title: str) -> Table:
    out = Table(title=title)
    for column in (
        "family",
        "sampler",
        "scheduler",
        "median trial-steps",
        "min–max",
        "reached",
        "x first",
        "median best acc1",
    ):
        out.add_column(column)
    for r in rows:
        out.add_row(
            r["family"],
            r["sampler"],
            r["scheduler"],
            f"{r['median_steps']:.0f}",
            f"{r['min_steps']}–{r['max_steps']}",
            f"{r['reached']}/{r['runs']}",
            "-" if r["ratio_to_first"] is None else f"{r['ratio_to_first']:.2f}",
            "-" if r["median_final_best"] is None else f"{r['median_final_best']:.4f}",
        )
    return out


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
    args = parser.parse_args(argv)
    families = args.families.split(",")
    samplers, schedulers = args.samplers.split(","), args.schedulers.split(",")
    methods = methods_of(samplers, schedulers, args.pairs)  # the first: the ratios' baseline
    out = Path(args.out) if args.out else None
    runs = _earlier_runs(out, args.trials, args.epochs)
    done = {(r["family"], r["sampler"], r["scheduler"], r["seed"]) for r in runs}
    init_ray()
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        for family in families:
            for seed in range(args.seeds):
                for sampler, scheduler in methods:
                    if (family, sampler, scheduler, seed) in done:
                        continue
                    curve = run_one(
                        family, sampler, scheduler, seed, args.trials, args.epochs, Path(tmp)
                    )
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
        f"target = best any run - 0.5 points"
    )
    console.print(
        table(summarise(runs), f"Trial-steps to within 0.5 points of the best ({settings})")
    )
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
    written = {"settings": vars(args), "rows": summarise(runs), "runs": runs}
    out.with_suffix(".tmp").write_text(json.dumps(written, indent=2))
    out.with_suffix(".tmp").replace(out)  # whole, or the earlier file


if __name__ == "__main__":
    sys.exit(main())
