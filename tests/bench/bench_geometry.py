"""Benchmark: streaming NC statistics + all metrics vs a naive reference, same run, same data.

Usage: ``python tests/bench/bench_geometry.py [--out FILE] [--quick] [--threads T] [--repeat R]``
(default ``bench_results/geometry.json``; not collected by pytest).

Threads: both sides run with the same T (default 2): ``torch.set_num_threads(T)`` and, through
threadpoolctl, T BLAS threads for numpy (the naive side's LAPACK; ours limits its own
eigenvalue calls to 1 BLAS thread per matrix and spreads matrices over T Python threads).
Timings on shared cores are noisy: the R repeats run ours and the naive reference
interleaved (ours, naive, ours, naive, ...) on the same data; each phase reports its minimum
over the repeats, and ``speedup`` is min naive total / min ours total (the per-repeat ratios
are in the JSON).

The naive reference is written the way public research code does it: features in memory,
per class ``np.cov`` of the centred features and a full SVD of that covariance for the
effective rank; Σ_W from the per-class scatters; NC1 through ``np.linalg.pinv`` of the D×D
Σ_B; the nearest-class-centre rule by a loop over samples. Where it cannot finish in a
reasonable time (K=1000, D=2048: 1000 SVDs of 2048×2048) it runs on a stated subset
(classes for the spectra, samples for the NCC loop) and its time is extrapolated linearly.

Accuracy: max relative difference over the metrics both compute (erank_intra on the same
classes). Memory: peak RSS (``resource.getrusage``) after each phase; the streaming state's
size is reported exactly (``ClassStats.nbytes``).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ncsweep.geometry import ClassStats, NCCAgreement, collapse_metrics


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_data(n, d, k, seed=0):
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % k
    y = y[torch.randperm(n, generator=gen)]
    means = torch.randn(k, d, generator=gen)
    h = (means[y] + 0.5 * torch.randn(n, d, generator=gen)).float()
    w = (means + 0.3 * torch.randn(k, d, generator=gen)).float()
    return h, y, w


def erank_svd(cov):
    s = np.linalg.svd(cov, compute_uv=False)
    s = s[s > 1e-12 * s.max()]
    p = s / s.sum()
    return float(np.exp(-(p * np.log(p)).sum()))


def run_ours(h, y, w, batch, budget):
    k, d = w.shape
    t0 = time.perf_counter()
    stats = ClassStats(k, d, scatter_budget_bytes=budget)
    for i in range(0, len(y), batch):
        stats.update(h[i : i + batch], y[i : i + batch])
    stats.all_reduce()
    t_update = time.perf_counter() - t0
    agreement = NCCAgreement(stats)
    for i in range(0, len(y), batch):
        agreement.update(h[i : i + batch], y[i : i + batch], h[i : i + batch] @ w.T)
    t_agree = time.perf_counter() - t0 - t_update
    metrics = collapse_metrics(stats, w, agreement)
    total = time.perf_counter() - t0
    return (
        metrics,
        stats,
        {
            "update": t_update,
            "ncc_pass": t_agree,
            "metrics": total - t_update - t_agree,
            "total": total,
        },
    )


def run_naive(h, y, w, spectra_classes, ncc_samples):
    """Public-research-code style; returns metrics, times (extrapolated where subset)."""
    h = h.numpy().astype(np.float64)
    y = y.numpy()
    w = w.numpy().astype(np.float64)
    k, d = w.shape
    n = len(y)
    times = {}
    t0 = time.perf_counter()
    mu = np.stack([h[y == c].mean(0) for c in range(k)])
    mu_g = mu.mean(0)
    sigma_w = np.zeros((d, d))
    for c in range(k):
        hc = h[y == c]
        sigma_w += np.cov(hc.T, bias=True) * len(hc)
    sigma_w /= n
    sigma_b = (mu - mu_g).T @ (mu - mu_g) / k
    nc1 = float(np.trace(sigma_w @ np.linalg.pinv(sigma_b)) / k)
    times["nc1"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    u = h / np.linalg.norm(h, axis=1, keepdims=True)
    eranks = []
    for c in spectra_classes:
        uc = u[y == c]
        eranks.append(erank_svd(np.cov((uc - uc.mean(0)).T)))
    t_spec = time.perf_counter() - t1
    times["spectra"] = t_spec * k / len(spectra_classes)

    t2 = time.perf_counter()
    mismatch = 0
    idx = np.arange(min(ncc_samples, n))
    for i in idx:
        ncc = np.argmin(np.sum((mu - h[i]) ** 2, axis=1))
        mismatch += int(ncc != np.argmax(w @ h[i]))
    times["ncc_loop"] = (time.perf_counter() - t2) * n / len(idx)

    t3 = time.perf_counter()
    mu_u = np.stack([u[y == c].mean(0) for c in range(k)])
    erank_inter = erank_svd(np.cov(mu_u.T))
    w_hat = w / np.linalg.norm(w, axis=1, keepdims=True)
    erank_proto = erank_svd(np.cov(w_hat.T))
    mu_hat = mu_u / np.linalg.norm(mu_u, axis=1, keepdims=True)
    align_class = float(np.mean(np.sum((w_hat - mu_hat) ** 2, axis=1)))
    align_inst = float(np.mean(np.sum((w_hat[y] - u) ** 2, axis=1)))
    times["rest"] = time.perf_counter() - t3
    times["total"] = sum(times.values())
    metrics = {
        "nc1": nc1,
        "erank_intra": float(np.mean(eranks)),
        "erank_inter": erank_inter,
        "erank_proto": erank_proto,
        "align_proto_class": align_class,
        "align_proto_instance": align_inst,
    }
    if len(idx) == n:
        metrics["ncc_mismatch"] = mismatch / n
    return metrics, times


def exact_erank_intra_on(stats, classes):
    """Our per-class erank restricted to ``classes`` (for a like-for-like accuracy check)."""
    from ncsweep.geometry.metrics import _EPS, _scatter_spectrum, effective_rank_from_spectrum

    pos = [stats.scatter_classes.index(c) for c in classes]
    vals = []
    counts = stats.counts
    for p, c in zip(pos, classes, strict=True):
        s = stats.class_scatter_u(p, p + 1)
        rank = min(int(counts[c]) - 1, stats.dim)
        tol = stats.dim * _EPS * stats.sqnorm_u[c : c + 1]
        vals.append(float(effective_rank_from_spectrum(_scatter_spectrum(s, rank), tol)))
    return float(np.mean(vals))


def bench(n, d, k, batch, budget, spectra_subset, ncc_samples, repeat=1):
    h, y, w = make_data(n, d, k)
    rss0 = peak_rss_mb()
    runs_ours, runs_naive = [], []
    for _ in range(repeat):  # interleaved, so both sides see the same machine load
        ours, stats, t_ours = run_ours(h, y, w, batch, budget)
        rss_ours = peak_rss_mb()
        classes = (
            stats.scatter_classes[:spectra_subset] if spectra_subset else stats.scatter_classes
        )
        naive, t_naive = run_naive(h, y, w, classes, ncc_samples)
        rss_naive = peak_rss_mb()
        runs_ours.append(t_ours)
        runs_naive.append(t_naive)
    t_ours = {key: min(r[key] for r in runs_ours) for key in runs_ours[0]}
    t_naive = {key: min(r[key] for r in runs_naive) for key in runs_naive[0]}
    ours_cmp = dict(ours)
    ours_cmp["erank_intra"] = exact_erank_intra_on(stats, classes)
    rel = {
        name: abs(ours_cmp[name] - naive[name]) / max(abs(naive[name]), 1e-300) for name in naive
    }
    return {
        "N": n,
        "D": d,
        "K": k,
        "batch": batch,
        "threads": torch.get_num_threads(),
        "repeat": repeat,
        "scatter_budget_bytes": budget,
        "scatter_classes_kept": len(stats.scatter_classes),
        "naive_spectra_classes": len(classes),
        "naive_ncc_samples": min(ncc_samples, n),
        "naive_extrapolated": len(classes) < k or ncc_samples < n,
        "ours_s": t_ours,
        "naive_s": t_naive,
        "speedup": t_naive["total"] / t_ours["total"],
        "speedup_per_repeat": [
            b["total"] / a["total"] for a, b in zip(runs_ours, runs_naive, strict=True)
        ],
        "ours_runs_s": runs_ours,
        "naive_runs_s": runs_naive,
        "max_rel_diff": max(rel.values()),
        "rel_diff": rel,
        "state_mb": stats.nbytes / 2**20,
        "peak_rss_mb": {"data": rss0, "after_ours": rss_ours, "after_naive": rss_naive},
        "metrics": dict(ours),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench_results/geometry.json")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--threads", type=int, default=2, help="torch and BLAS threads, both sides")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved repeats per size")
    parser.add_argument("--only", type=int, default=None, help="run only this config (0 or 1)")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=args.threads, user_api="blas")
    if args.quick:
        configs = [
            dict(
                n=5000, d=128, k=20, batch=256, budget=2 * 2**30, spectra_subset=0, ncc_samples=5000
            )
        ]
    else:
        configs = [
            dict(
                n=50_000,
                d=512,
                k=100,
                batch=256,
                budget=2 * 2**30,
                spectra_subset=0,
                ncc_samples=50_000,
            ),
            # 33 GB of per-class scatters at full size: the budget keeps 64 classes; the naive
            # spectra run on 4 of them and the NCC loop on 2,000 samples, both extrapolated.
            dict(
                n=20_000,
                d=2048,
                k=1000,
                batch=256,
                budget=2 * 2**30,
                spectra_subset=4,
                ncc_samples=2000,
            ),
        ]
    if args.only is not None:
        configs = [configs[args.only]]
    results = []
    for cfg in configs:
        cfg["repeat"] = args.repeat
        print(f"== N={cfg['n']} D={cfg['d']} K={cfg['k']}", file=sys.stderr, flush=True)
        results.append(bench(**cfg))
    print(f"threads={args.threads} repeat={args.repeat} (min per phase over interleaved repeats)")
    header = f"{'N':>7} {'D':>5} {'K':>5} {'ours s':>8} {'naive s':>9} {'speedup':>8} {'max rel diff':>13} {'state MB':>9} {'peak RSS MB (ours/naive)':>25}"
    print(header)
    for r in results:
        star = "*" if r["naive_extrapolated"] else " "
        print(
            f"{r['N']:>7} {r['D']:>5} {r['K']:>5} {r['ours_s']['total']:>8.2f} {r['naive_s']['total']:>8.1f}{star} "
            f"{r['speedup']:>7.1f}x {r['max_rel_diff']:>13.2e} {r['state_mb']:>9.0f} "
            f"{r['peak_rss_mb']['after_ours']:>12.0f}/{r['peak_rss_mb']['after_naive']:<12.0f}"
        )
        print(f"        ours: { {k: round(v, 2) for k, v in r['ours_s'].items()} }")
        print(f"        naive: { {k: round(v, 2) for k, v in r['naive_s'].items()} }")
        print(f"        speedup per repeat: {[round(x, 1) for x in r['speedup_per_repeat']]}")
    if any(r["naive_extrapolated"] for r in results):
        print("* naive time extrapolated from a subset of classes (spectra) / samples (NCC loop)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
