"""Forward+backward time of each loss relative to ``ce``, float32 on CPU, one process.

Usage: ``python tests/bench/bench_losses.py [--out FILE.json] [--repeats N]``. Prints a
table and writes JSON (default ``bench_results/losses.json``). Target: ntce and nonl
within 1.5× ce. Timings are medians over ``--repeats`` round-robin rounds after
warm-up runs; the ratio is the median of the per-round ratios to ce.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from ncsweep.losses import create_loss

SHAPES = [(512, 512, 100), (256, 2048, 1000)]
CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}
CONFIGS = [
    ("ce", {}),
    ("normface", {}),
    ("ntce", {}),
    ("nonl", {"anchor": "prototype"}),
    ("nonl", {"anchor": "instance"}),
    ("nonl", {"anchor": "bidirectional"}),
    ("scl", {}),
]


def setup(name: str, options: dict, b: int, d: int, k: int, clock=time.perf_counter):
    """A closure running one forward+backward of the loss on fixed random inputs."""
    loss = create_loss(name, **options)
    g = torch.Generator().manual_seed(0)
    shape = (b, loss.views, d) if loss.views > 1 else (b, d)
    features = torch.randn(*shape, generator=g, requires_grad=True)
    labels = torch.randint(k, (b,), generator=g)
    prototypes = torch.randn(k, d, generator=g, requires_grad=True)
    args = (prototypes,) if loss.uses_prototypes else ()

    def step() -> float:
        features.grad = prototypes.grad = None
        start = clock()
        loss(features, labels, *args).backward()
        return clock() - start

    return step


def run(warmup: int, repeats: int, clock=time.perf_counter) -> list[dict]:
    """Round-robin over the losses, so load from other processes hits all of them alike;
    the ratio to ce is the median of per-round ratios."""
    rows = []
    for b, d, k in SHAPES:
        steps = [setup(name, options, b, d, k, clock) for name, options in CONFIGS]
        for step in steps:
            for _ in range(warmup):
                step()
        rounds = [[step() for step in steps] for _ in range(repeats)]
        for i, (name, options) in enumerate(CONFIGS):
            label = name + "".join(f" {key}={value}" for key, value in options.items())
            rows.append(
                {
                    "loss": label,
                    "B": b,
                    "D": d,
                    "K": k,
                    "views": 2 if name == "scl" else 1,
                    "ms": 1000 * statistics.median(r[i] for r in rounds),
                    "relative_to_ce": statistics.median(r[i] / r[0] for r in rounds),
                }
            )
    return rows


def show(rows: list[dict]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        for row in rows:
            print(
                f"{row['loss']:28s} B={row['B']:4d} D={row['D']:5d} K={row['K']:5d} V={row['views']} "
                f"{row['ms']:9.2f} ms  {row['relative_to_ce']:5.2f}x ce"
            )
        return
    table = Table(title=f"loss forward+backward, float32 CPU, {torch.get_num_threads()} thread(s)")
    for column in ("loss", "B", "D", "K", "V", "ms", "× ce"):
        table.add_column(column, justify="left" if column == "loss" else "right")
    for row in rows:
        table.add_row(
            row["loss"],
            str(row["B"]),
            str(row["D"]),
            str(row["K"]),
            str(row["views"]),
            f"{row['ms']:.2f}",
            f"{row['relative_to_ce']:.2f}",
        )
    Console().print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench_results/losses.json"))
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: stable on a shared machine)",
    )
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="cpu",
        help="cpu: this process's CPU time, robust to other load; wall: elapsed",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = run(args.warmup, args.repeats, CLOCKS[args.clock])
    show(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "clock": args.clock,
        "dtype": "float32",
        "device": "cpu",
        "warmup": args.warmup,
        "repeats": args.repeats,
    }
    args.out.write_text(json.dumps({"meta": meta, "results": rows}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
