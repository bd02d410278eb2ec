"""Steady-state steps/s of ``ncsweep train`` (one Ray Train worker) against a bare PyTorch loop.

Usage: ``python tests/bench/bench_train.py [--out FILE.json] [--steps N] [--configs ...]``.
Prints tables and writes JSON (default ``bench_results/train.json``). Target: once started,
``ncsweep train`` is at most 5 % slower than the bare loop on the same model, data and steps.

Per config (``digits``: the bundled 1×8×8 digits with the default ``mlp``, ≈4 ms a step;
``synthetic``: 3×32×32 Gaussian-mixture images with the same ``mlp``, ≈20 ms a step, where
a fixed per-step cost weighs five times less), in one process:

- ncsweep: ``run_training`` on one worker (1 CPU, so Ray sets ``OMP_NUM_THREADS=1``),
  MLflow in a SQLite file, evaluation only at step 0 and at the end
  (``eval.eval_every`` = the run's steps), ``train/loss`` logged every ``--log-every`` steps.
  Steady-state steps/s come from the MLflow timestamps of ``train/loss`` (taken by the loop
  right before each ``log_batch``) between the first logged step after ``--warmup`` of the
  run and the last step: the wall time of ``fit()`` never enters it.
- bare: the same model (``create_model``), data (``create_dataset``, shuffled, last partial
  batch dropped, same batch size), loss (``create_loss``) and SGD (lr scaled as the spec
  scales it), the same number of steps, ``torch.set_num_threads(1)`` (what the 1-CPU worker
  gets), timed with ``time.perf_counter`` at the same logged steps over the same window.
  Variants add the loop's ingredients one at a time (cumulative), so the last one is the
  loop's per-step work in this process without Ray; the rest of the gap is the Ray worker.
- bare rounds run before and after the ncsweep run (``--rounds``); the median is reported.

Also reported: a micro-benchmark of each ingredient alone (µs per step), the cost of one
NC evaluation (the loop's ``eval_time_s``) against one epoch at the steady rate, and where the
wall time of ``run_training`` goes (MLflow run start/end times, metric timestamps, checkpoint
file times, ``ray.init``, and the import time a fresh worker pays).
"""

from __future__ import annotations

import os

for _key, _value in {
    "RAY_USAGE_STATS_ENABLED": "0",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "AWS_EC2_METADATA_DISABLED": "true",
    "DO_NOT_TRACK": "1",
}.items():
    os.environ.setdefault(_key, _value)

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from contextlib import nullcontext  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import psutil  # noqa: E402
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from ncsweep._environment import QUIET_ENV  # noqa: E402
from ncsweep.config import ExperimentSpec, load_spec  # noqa: E402
from ncsweep.data import create_dataset  # noqa: E402
from ncsweep.losses import create_loss, loss_info  # noqa: E402
from ncsweep.models import create_model  # noqa: E402
from ncsweep.tracking import MetricLogger, ensure_experiment, start_run  # noqa: E402
from ncsweep.train.distributed import all_reduce_  # noqa: E402
from ncsweep.train.optimization import build_scheduler  # noqa: E402
from ncsweep.train.sampling import ResumableDistributedSampler  # noqa: E402

TARGET = 0.05  # ncsweep at most 5 % slower than the bare loop once started

CONFIGS: dict[str, dict] = {
    "digits": {
        "overrides": ["data.name=digits", "model.name=mlp"],
        "steps": 1000,
        "what": "digits 1×8×8, mlp 256-256, ce, batch 128",
    },
    "synthetic": {
        "overrides": [
            "data.name=synthetic",
            "model.name=mlp",
            "data.options={image_size: 32, channels: 3, samples_per_class: 200}",
        ],
        "steps": 250,
        "what": "synthetic 3×32×32 (2,000 train), mlp 256-256, ce, batch 128",
    },
}

# Cumulative: each variant adds one ingredient of the ncsweep loop to the previous one.
VARIANTS = [
    "bare",
    "+ cosine LambdaLR step",
    "+ ResumableDistributedSampler",
    "+ per-step window (isfinite, where, .to, autocast ctx)",
    "+ flush every log_every (2 all_reduce on gloo, .item)",
    "+ MLflow log_batch every log_every (SQLite)",
]


@dataclass
class Context:
    name: str
    spec: ExperimentSpec
    bundle: object
    steps: int
    log_every: int
    steps_per_epoch: int
    window_start: int
    logger: MetricLogger


def make_spec(config: str, steps: int, log_every: int, steps_per_epoch: int) -> ExperimentSpec:
    epochs = math.ceil(steps / steps_per_epoch) + 1
    return load_spec(
        None,
        [
            *CONFIGS[config]["overrides"],
            "loss.name=ce",
            "run.workers=1",
            f"run.epochs={epochs}",
            f"run.max_steps={steps}",
            f"run.log_every={log_every}",
            f"eval.eval_every={steps}",
            "run.experiment=bench_train",
        ],
    )


def build_bundle(spec: ExperimentSpec, views: int):
    d = spec.data
    return create_dataset(
        d.name,
        root=d.root,
        views=views,
        augment=d.augment,
        imbalance=d.imbalance.model_dump() if d.imbalance else None,
        seed=spec.run.seed,
        cache_dir=d.cache_dir,
        **d.options,
    )


# -- CPU accounting (a shared machine: wall time alone cannot tell load from overhead) ------


def machine_busy() -> float:
    """CPU seconds all cores have spent busy since boot (everything but idle and iowait)."""
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


class CpuSampler(threading.Thread):
    """Samples, every ``interval`` s, the CPU times of this Ray instance's processes (raylet,
    GCS, every worker below the raylet: Train controller and workers), per thread for the
    workers, their niceness, this driver and the whole machine."""

    def __init__(self, interval: float = 0.5):
        super().__init__(daemon=True)
        import ray._private.worker as ray_worker

        node = ray_worker._global_node
        self.roots = sorted(
            {
                info.process.pid
                for infos in node.all_processes.values()
                for info in infos
                if getattr(info, "process", None) is not None
            }
        )
        self.interval = interval
        self.samples: list[tuple[float, dict, float]] = []
        self._halt = threading.Event()

    def snapshot(self) -> tuple[float, dict, float]:
        procs: dict[int, dict] = {}
        seen = [psutil.Process()]
        for pid in self.roots:
            try:
                root = psutil.Process(pid)
                seen += [root, *root.children(recursive=True)]
            except psutil.Error:
                continue
        for proc in seen:
            try:
                with proc.oneshot():
                    t = proc.cpu_times()
                    procs[proc.pid] = {
                        "name": proc.name(),
                        "cpu": t.user + t.system,
                        "nice": proc.nice(),
                        "rss": proc.memory_info().rss,
                        "threads": {th.id: th.user_time + th.system_time for th in proc.threads()},
                    }
            except psutil.Error:
                continue
        return time.time(), procs, machine_busy()

    def run(self) -> None:
        while not self._halt.is_set():
            self.samples.append(self.snapshot())
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def first_seen(self, fragment: str) -> tuple[float, float] | None:
        """(time of the first sample holding a process whose title contains ``fragment``,
        that process's largest RSS in GiB): when an actor took over its worker process."""
        seen = [
            (t, p["rss"])
            for t, procs, _ in self.samples
            for p in procs.values()
            if fragment in p["name"]
        ]
        return (seen[0][0], max(r for _, r in seen) / 2**30) if seen else None

    def window(self, start: float, end: float, steps_per_s: float) -> dict | None:
        """CPU use between the first sample after ``start`` and the last before ``end``."""
        inside = [x for x in self.samples if start <= x[0] <= end]
        if len(inside) < 2:
            return None
        (t1, p1, b1), (t2, p2, b2) = inside[0], inside[-1]
        wall = t2 - t1
        per_name: dict[str, float] = {}
        ours = 0.0
        worker = None
        for pid, now in p2.items():
            before = p1.get(pid)
            if before is None:
                continue
            used = (now["cpu"] - before["cpu"]) / wall
            ours += used
            per_name[now["name"]] = per_name.get(now["name"], 0.0) + used
            if "RayTrainWorker" in now["name"]:
                threads = sorted(
                    (
                        (now["threads"][i] - before["threads"].get(i, 0.0)) / wall
                        for i in now["threads"]
                    ),
                    reverse=True,
                )
                worker = {
                    "pid": pid,
                    "nice": now["nice"],
                    "process_cores": used,
                    "train_thread_cores": threads[0] if threads else 0.0,
                    "other_threads_cores": sum(threads[1:]),
                    "busiest_other_threads": threads[1:4],
                }
        busy = (b2 - b1) / wall
        result = {
            "wall_s": wall,
            "machine_busy_cores": busy,
            "this_ray_and_driver_cores": ours,
            "outside_cores": busy - ours,
            "per_process_cores": per_name,
            "worker": worker,
        }
        if worker is not None:
            result["worker_thread_cpu_ms_per_step"] = (
                1000 * worker["train_thread_cores"] / steps_per_s
            )
            result["worker_process_cpu_ms_per_step"] = 1000 * worker["process_cores"] / steps_per_s
        return result


# -- the bare loop and its variants ---------------------------------------------------------


def bare_loop(ctx: Context, level: int) -> tuple[dict[int, float], dict[int, tuple]]:
    """Train ``ctx.steps`` steps; return ``{logged step: perf_counter()}`` (0: the start) and
    ``{window start/end step: (thread CPU s, machine busy CPU s)}``.

    ``level`` = index in VARIANTS: how many of the loop's ingredients to add.
    """
    spec, steps, log_every = ctx.spec, ctx.steps, ctx.log_every
    torch.manual_seed(spec.run.seed)
    loss_fn = create_loss(spec.loss.name, **spec.loss.kwargs())
    model = create_model(
        spec.model.name,
        num_classes=ctx.bundle.num_classes,
        input_shape=ctx.bundle.input_shape,
        head=loss_info(spec.loss.name).head,
        proj_dim=spec.model.proj_dim,
        **spec.model.options,
    )
    model.train()
    batch = spec.run.batch_size
    o = spec.optim
    optimizer = torch.optim.SGD(
        list(model.parameters()),
        lr=o.scaled_lr(batch),
        momentum=o.momentum,
        nesterov=o.nesterov and o.momentum > 0,
        weight_decay=o.weight_decay,
    )
    scheduler = (
        build_scheduler(optimizer, spec.schedule, steps, ctx.steps_per_epoch)
        if level >= 1
        else None
    )
    train = ctx.bundle.train
    if level >= 2:
        sampler = ResumableDistributedSampler(train, 1, 0, spec.run.seed)
        loader = DataLoader(train, batch_size=batch, sampler=sampler, drop_last=True)
    else:
        sampler = None
        loader = DataLoader(
            train,
            batch_size=batch,
            shuffle=True,
            drop_last=True,
            generator=torch.Generator().manual_seed(spec.run.seed),
        )
    device = torch.device("cpu")
    autocast = nullcontext
    window = torch.zeros(3, dtype=torch.float64)
    window[2] = float("inf")
    step = 0
    marks = {0: time.perf_counter()}
    cpu: dict[int, tuple] = {}
    while step < steps:
        if sampler is not None:
            epoch, offset = divmod(step, ctx.steps_per_epoch)
            sampler.start_at(epoch, offset * batch)
        for x, y in loader:
            if level >= 3:
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                with autocast():
                    feats, prototypes, bias = model(x)
                    loss = loss_fn(feats.float(), y, prototypes, bias)
            else:
                feats, prototypes, bias = model(x)
                loss = loss_fn(feats, y, prototypes, bias)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            step += 1
            if level >= 3:  # the loop's per-step bookkeeping, verbatim
                finite = torch.isfinite(loss.detach())
                window[0] += torch.where(finite, loss.detach().double(), 0.0)
                window[1] += 1
                window[2] = torch.where(
                    finite,
                    window[2],
                    torch.minimum(
                        window[2], torch.tensor(float(step), dtype=torch.float64, device=device)
                    ),
                )
            if step % log_every == 0 or step == steps:
                metrics = None
                if level >= 4:  # _flush_train_metrics + _with_meta
                    totals, bad = window[:2].clone(), window[2:].clone()
                    all_reduce_(totals)
                    all_reduce_(bad, "min")
                    window[0], window[1], window[2] = 0.0, 0.0, float("inf")
                    if torch.isfinite(bad).item():
                        raise RuntimeError(f"non-finite loss at step {int(bad.item())}")
                    metrics = {
                        "train/loss": (totals[0] / totals[1].clamp_min(1)).item(),
                        "train/negative_set_size": float(loss_fn.negative_set_size),
                        "step": step,
                        "total_steps": steps,
                        "epoch": step / ctx.steps_per_epoch,
                        "lr": optimizer.param_groups[0]["lr"],
                    }
                marks[step] = time.perf_counter()  # where MetricLogger.log takes its timestamp
                if step in (ctx.window_start, steps):
                    cpu[step] = (time.thread_time(), machine_busy())
                if level >= 5 and metrics is not None:
                    ctx.logger.log(metrics, step=step)
            if step >= steps:
                break
    return marks, cpu


def window_rate(marks: dict[int, float], start: int, end: int) -> float:
    """Steps/s between two logged steps (times in seconds)."""
    return (end - start) / (marks[end] - marks[start])


# -- micro-benchmarks of each ingredient alone -----------------------------------------------


def _per_call(fn, n: int) -> float:
    """Median over 5 rounds of the mean seconds per call of ``fn`` over ``n`` calls."""
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        rounds.append((time.perf_counter() - start) / n)
    return statistics.median(rounds)


def micro(ctx: Context) -> list[dict]:
    """Seconds per call of each ingredient; per step = per call × calls per step."""
    spec, batch, spe, every = ctx.spec, ctx.spec.run.batch_size, ctx.steps_per_epoch, ctx.log_every
    rows = []
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=0.1)
    optimizer.step()  # (LambdaLR warns when it steps before the optimizer)
    scheduler = build_scheduler(optimizer, spec.schedule, 10**9, spe)
    rows.append(("LambdaLR.step (cosine)", _per_call(scheduler.step, 2000), 1.0))

    train = ctx.bundle.train
    shuffled = DataLoader(train, batch_size=batch, shuffle=True, drop_last=True)
    sampler = ResumableDistributedSampler(train, 1, 0, spec.run.seed)
    distributed = DataLoader(train, batch_size=batch, sampler=sampler, drop_last=True)
    epoch_counter = iter(range(10**9))

    def dist_epoch_start():
        sampler.start_at(next(epoch_counter), 0)
        iter(distributed)._next_index()  # the permutation is built on the first batch

    rows.append(
        (
            "epoch start: shuffled DataLoader (bare)",
            _per_call(lambda: iter(shuffled)._next_index(), 200),
            1 / spe,
        )
    )
    rows.append(
        ("epoch start: ResumableDistributedSampler", _per_call(dist_epoch_start, 200), 1 / spe)
    )

    window = torch.zeros(3, dtype=torch.float64)
    window[2] = float("inf")
    loss = torch.tensor(1.5, requires_grad=True) * 1.0
    device = torch.device("cpu")
    x, y = train.batch(list(range(batch)))
    counter = iter(range(1, 10**9))

    def bookkeeping():
        x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with nullcontext():
            pass
        step = next(counter)
        finite = torch.isfinite(loss.detach())
        window[0] += torch.where(finite, loss.detach().double(), 0.0)
        window[1] += 1
        window[2] = torch.where(
            finite,
            window[2],
            torch.minimum(window[2], torch.tensor(float(step), dtype=torch.float64, device=device)),
        )

    rows.append(("per-step window + .to + autocast ctx", _per_call(bookkeeping, 2000), 1.0))

    def flush():
        totals, bad = window[:2].clone(), window[2:].clone()
        all_reduce_(totals)
        all_reduce_(bad, "min")
        window[0], window[1], window[2] = 0.0, 0.0, float("inf")
        torch.isfinite(bad).item()
        (totals[0] / totals[1].clamp_min(1)).item()

    rows.append(("flush: 2 all_reduce (gloo, world 1) + .item", _per_call(flush, 500), 1 / every))
    metrics = {
        "train/loss": 1.0,
        "train/negative_set_size": 10.0,
        "step": 1,
        "total_steps": 2,
        "epoch": 0.1,
        "lr": 0.1,
    }
    steps = iter(range(10**9))  # a new step each call, as in the loop (a repeated
    # (key, step, timestamp, value) makes the SQLite store retry row by row)
    rows.append(
        (
            "MLflow log_batch, 6 metrics (SQLite)",
            _per_call(lambda: ctx.logger.log(metrics, step=next(steps)), 40),
            1 / every,
        )
    )
    return [
        {
            "ingredient": name,
            "us_per_call": 1e6 * s,
            "calls_per_step": c,
            "us_per_step": 1e6 * s * c,
        }
        for name, s, c in rows
    ]


# -- the ncsweep side ----------------------------------------------------------------------


def ncsweep_run(ctx: Context, uri: str, storage: str) -> dict:
    from mlflow import MlflowClient

    from ncsweep.train import run_training

    run_name = f"bench-{ctx.name}-{uuid.uuid4().hex[:8]}"
    sampler = CpuSampler()
    sampler.start()
    t_call = time.time()
    try:
        outcome = run_training(ctx.spec, run_name=run_name, tracking_uri=uri, storage_path=storage)
    finally:
        t_return = time.time()
        sampler.stop()
    if not outcome.ok:
        raise RuntimeError(f"ncsweep run failed: {outcome.failure_reason}")
    client = MlflowClient(uri)
    info = client.get_run(outcome.run_id).info
    loss = {
        m.step: m.timestamp / 1000 for m in client.get_metric_history(outcome.run_id, "train/loss")
    }
    evals = {
        m.step: (m.value, m.timestamp / 1000)
        for m in client.get_metric_history(outcome.run_id, "eval_time_s")
    }
    n, a = ctx.steps, ctx.window_start
    eval0_s, eval0_ts = evals[0]
    evaln_s, evaln_ts = evals[n]
    checkpoint_mtime = None
    if outcome.checkpoint and Path(outcome.checkpoint).exists():
        files = [p for p in Path(outcome.checkpoint).rglob("*") if p.is_file()]
        checkpoint_mtime = max(p.stat().st_mtime for p in files) if files else None
    start, end = info.start_time / 1000, info.end_time / 1000
    loop_ready = eval0_ts - eval0_s
    controller = sampler.first_seen("TrainController")
    worker = sampler.first_seen("RayTrainWorker")
    phases = [("driver: MLflow experiment + create_run", start - t_call)]
    if controller and worker and start <= controller[0] <= worker[0] <= loop_ready:
        phases += [
            (
                "driver: params/spec to MLflow, TorchTrainer, until the TrainController actor "
                "is seen (±0.5 s)",
                controller[0] - start,
            ),
            (
                "TrainController until the RayTrainWorker actor is seen (controller imports, "
                "placement group, worker actor start)",
                worker[0] - controller[0],
            ),
            (
                "RayTrainWorker until the loop is ready (imports torch + ncsweep, process group, "
                "dataset, model)",
                loop_ready - worker[0],
            ),
        ]
    else:
        phases.append(
            (
                "driver run start -> loop ready: params/spec to MLflow, TorchTrainer, "
                "controller + worker actors, worker imports, process group, dataset, "
                "model",
                loop_ready - start,
            )
        )
    phases += [
        ("step-0 evaluation (eval_time_s)", eval0_s),
        (f"training: {n} steps (step-0 log -> train/loss at step {n})", loss[n] - eval0_ts),
        ("final evaluation + its log", evaln_ts - loss[n]),
    ]
    if checkpoint_mtime is not None:
        phases += [
            ("final checkpoint saved + persisted to storage", checkpoint_mtime - evaln_ts),
            (
                "report, worker + controller shutdown, fit() return, driver tags/finish_run",
                end - checkpoint_mtime,
            ),
        ]
    else:
        phases.append(
            ("checkpoint, shutdown, fit() return, driver tags/finish_run", end - evaln_ts)
        )
    phases.append(("driver: return", t_return - end))
    rate = (n - a) / (loss[n] - loss[a])
    return {
        "cpu": sampler.window(loss[a], loss[n], rate),
        "actors_first_seen": {"TrainController": controller, "RayTrainWorker": worker},
        "run_id": outcome.run_id,
        "run_name": run_name,
        "wall_s": t_return - t_call,
        "steady_steps_per_s": rate,
        "window": [a, n],
        "interval_rates": _interval_rates(loss, a, n),
        "eval_time_s": {"step_0": eval0_s, f"step_{n}": evaln_s},
        "training_span_s": loss[n] - eval0_ts,
        "non_training_s": (t_return - t_call) - (loss[n] - eval0_ts),
        "phases": [{"phase": p, "s": s} for p, s in phases],
        "timestamps": {
            "call": t_call,
            "mlflow_run_start": start,
            "loop_ready": loop_ready,
            "eval0_logged": eval0_ts,
            "last_train_loss": loss[n],
            "final_eval_logged": evaln_ts,
            "checkpoint_mtime": checkpoint_mtime,
            "mlflow_run_end": end,
            "return": t_return,
        },
    }


def _interval_rates(stamps: dict[int, float], start: int, end: int, parts: int = 4) -> list[float]:
    """Steps/s over ``parts`` consecutive sub-windows (to see drift or a load spike)."""
    steps = sorted(s for s in stamps if start <= s <= end)
    cut = [steps[round(i * (len(steps) - 1) / parts)] for i in range(parts + 1)]
    return [
        (b - a) / (stamps[b] - stamps[a])
        for a, b in zip(cut, cut[1:], strict=False)
        if stamps[b] > stamps[a]
    ]


# -- environment probes --------------------------------------------------------------------


def worker_threads() -> dict:
    """What a 1-CPU Ray worker process gets: torch threads and OMP_NUM_THREADS."""
    import ray

    @ray.remote(num_cpus=1)
    def probe():
        import torch as t

        return {
            "torch_threads": t.get_num_threads(),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        }

    return ray.get(probe.remote())


def import_time() -> float:
    """Seconds for a fresh interpreter to import what a Train worker imports (torch, ray.train,
    mlflow, ncsweep's loop); the second of two runs (warm page cache)."""
    times = []
    for _ in range(2):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", "import ncsweep.train.loop"],
            check=True,
            env={**os.environ, **QUIET_ENV},
        )
        times.append(time.perf_counter() - start)
    return times[-1]


def load() -> list[float]:
    return list(os.getloadavg())


# -- output --------------------------------------------------------------------------------


def show(results: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=150)
    table = Table(
        title="Steady-state training speed: ncsweep train (1 Ray worker) vs bare "
        "PyTorch loop, 1 torch thread, CPU. Wall: steps/s; CPU: ms of the "
        "training thread's CPU time per step"
    )
    for col in (
        "config",
        "steps (window)",
        "bare steps/s",
        "ncsweep steps/s",
        "wall ratio",
        "wall slower",
        "≤ 5 %",
        "bare CPU ms/step",
        "ncsweep CPU ms/step",
        "CPU slower",
        "CPU ≤ 5 %",
        "train thread cores bare/ncsweep",
    ):
        table.add_column(col, justify="left" if col == "config" else "right")
    for name, r in results["configs"].items():
        bare, nc = r["bare_steps_per_s"], r["ncsweep"]["steady_steps_per_s"]
        bc, nc_c = r["bare_thread_cpu_ms_per_step"], r["ncsweep_thread_cpu_ms_per_step"]
        table.add_row(
            name,
            f"{r['steps']} ({r['window'][0]}–{r['window'][1]})",
            f"{bare:.1f}",
            f"{nc:.1f}",
            f"{nc / bare:.3f}",
            f"{100 * (1 - nc / bare):.1f} %",
            "yes" if r["target_met"] else "NO",
            f"{bc:.3f}",
            "n/a" if nc_c is None else f"{nc_c:.3f}",
            "n/a" if nc_c is None else f"{100 * (nc_c / bc - 1):+.1f} %",
            "n/a" if nc_c is None else ("yes" if nc_c <= (1 + TARGET) * bc else "NO"),
            f"{r['variants'][0]['thread_cores']:.2f} / "
            + (
                "n/a"
                if not r["ncsweep"]["cpu"]
                else f"{(r['ncsweep']['cpu']['worker'] or {}).get('train_thread_cores', 0):.2f}"
            ),
        )
    console.print(table)

    for name, r in results["configs"].items():
        cpu = r["ncsweep"]["cpu"]
        if not cpu:
            continue
        c = Table(
            title=f"{name}: who used the CPUs (cores busy, averaged over the window) — "
            f"bare loop (median variant 'bare') vs ncsweep's steady window"
        )
        c.add_column("")
        c.add_column("bare (driver, nice 0)", justify="right")
        c.add_column("ncsweep", justify="right")
        v0, w = r["variants"][0], cpu["worker"] or {}
        c.add_row(
            "training thread",
            f"{v0['thread_cores']:.2f}",
            f"{w.get('train_thread_cores', float('nan')):.2f} (worker nice {w.get('nice')})",
        )
        c.add_row("worker's other threads", "", f"{w.get('other_threads_cores', float('nan')):.2f}")
        for proc, used in sorted(cpu["per_process_cores"].items(), key=lambda x: -x[1])[:6]:
            if "RayTrainWorker" not in proc:
                c.add_row(f"  {proc}", "", f"{used:.2f}")
        c.add_row(
            "whole machine busy",
            f"{v0['machine_busy_cores']:.2f}",
            f"{cpu['machine_busy_cores']:.2f}",
        )
        c.add_row(
            "outside this benchmark (other users)",
            f"{v0['machine_busy_cores'] - v0['thread_cores']:.2f} (incl. Ray idle)",
            f"{cpu['outside_cores']:.2f}",
        )
        console.print(c)

    for name, r in results["configs"].items():
        t = Table(
            title=f"{name}: the loop's ingredients added one by one to the bare loop "
            f"(median of {len(r['variants'][0]['rounds'])} rounds)"
        )
        for col in (
            "variant",
            "steps/s",
            "wall ms/step",
            "Δ wall",
            "vs bare",
            "CPU ms/step",
            "Δ CPU",
            "CPU vs bare",
        ):
            t.add_column(col, justify="left" if col == "variant" else "right")
        bare_ms = 1000 / r["variants"][0]["steps_per_s"]
        bare_cpu = r["variants"][0]["thread_cpu_ms_per_step"]
        prev, prev_cpu = None, None
        for v in r["variants"]:
            ms, cpu_ms = 1000 / v["steps_per_s"], v["thread_cpu_ms_per_step"]
            t.add_row(
                v["variant"],
                f"{v['steps_per_s']:.1f}",
                f"{ms:.3f}",
                "" if prev is None else f"{ms - prev:+.3f}",
                f"{100 * (ms / bare_ms - 1):+.1f} %",
                f"{cpu_ms:.3f}",
                "" if prev_cpu is None else f"{cpu_ms - prev_cpu:+.3f}",
                f"{100 * (cpu_ms / bare_cpu - 1):+.1f} %",
            )
            prev, prev_cpu = ms, cpu_ms
        nc_ms = 1000 / r["ncsweep"]["steady_steps_per_s"]
        nc_cpu = r["ncsweep_thread_cpu_ms_per_step"]
        t.add_row(
            "ncsweep train in a Ray Train worker",
            f"{1000 / nc_ms:.1f}",
            f"{nc_ms:.3f}",
            f"{nc_ms - prev:+.3f}",
            f"{100 * (nc_ms / bare_ms - 1):+.1f} %",
            "n/a" if nc_cpu is None else f"{nc_cpu:.3f}",
            "n/a" if nc_cpu is None else f"{nc_cpu - prev_cpu:+.3f}",
            "n/a" if nc_cpu is None else f"{100 * (nc_cpu / bare_cpu - 1):+.1f} %",
        )
        console.print(t)

        m = Table(
            title=f"{name}: each ingredient alone (micro-benchmark), against the bare "
            f"step of {bare_ms:.2f} ms"
        )
        for col in ("ingredient", "wall µs/call", "calls/step", "µs/step", "% of bare step"):
            m.add_column(col, justify="left" if col == "ingredient" else "right")
        for row in r["micro"]:
            m.add_row(
                row["ingredient"],
                f"{row['us_per_call']:.1f}",
                f"{row['calls_per_step']:.3g}",
                f"{row['us_per_step']:.1f}",
                f"{row['us_per_step'] / (10 * bare_ms):.2f} %",
            )
        console.print(m)

        nc = r["ncsweep"]
        p = Table(
            title=f"{name}: where the {nc['wall_s']:.1f} s of run_training go "
            f"(ray.init {results['ray_init_s']:.1f} s before, not included)"
        )
        p.add_column("phase")
        p.add_column("s", justify="right")
        p.add_column("%", justify="right")
        for row in nc["phases"]:
            p.add_row(row["phase"], f"{row['s']:.2f}", f"{100 * row['s'] / nc['wall_s']:.1f}")
        console.print(p)
        seen = nc.get("actors_first_seen") or {}
        rss = ", ".join(f"{k} {v[1]:.2f} GiB" for k, v in seen.items() if v)
        if rss:
            console.print(f"  {name}: peak RSS (sampled) {rss}")
        e = r["eval"]
        console.print(
            f"  {name}: start-up + shutdown (wall − training span) {nc['non_training_s']:.1f} s; "
            f"one epoch = {e['steps_per_epoch']} steps = {1000 * e['epoch_s']:.0f} ms at the "
            f"steady rate; one NC evaluation = {1000 * e['eval_s']['step_0']:.0f} ms at step 0 "
            f"({e['eval_over_epoch']['step_0']:.1f} epochs), "
            f"{1000 * e['eval_s']['final']:.0f} ms at the end "
            f"({e['eval_over_epoch']['final']:.1f} epochs); ncsweep sub-window rates "
            + ", ".join(f"{x:.0f}" for x in nc["interval_rates"])
            + " steps/s"
        )
    console.print(
        f"ray.init {results['ray_init_s']:.1f} s; a fresh worker's imports "
        f"{results['worker_import_s']:.1f} s; 1-CPU Ray worker: "
        f"{results['ray_worker_threads']}; load average before/after "
        f"{results['load_before']} / {results['load_after']}"
    )


# -- main ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_config(name: str, args, uri: str, tmp: Path) -> dict:
    steps = args.steps or CONFIGS[name]["steps"]
    probe = make_spec(name, steps, args.log_every, 1)
    loss_views = create_loss(probe.loss.name, **probe.loss.kwargs()).views
    bundle = build_bundle(probe, loss_views)
    spe = max(1, len(bundle.train) // probe.run.batch_size)
    spec = make_spec(name, steps, args.log_every, spe)
    start = max(args.log_every, round(args.warmup * steps / args.log_every) * args.log_every)
    experiment = ensure_experiment(uri, spec.run.experiment)
    bare_run = start_run(uri, experiment, f"bench-bare-{name}", {"ncsweep.kind": "bench"})
    ctx = Context(
        name, spec, bundle, steps, args.log_every, spe, start, MetricLogger(uri, bare_run)
    )
    print(f"== {name}: {CONFIGS[name]['what']}, {steps} steps, {spe} steps/epoch", flush=True)

    for level in range(len(VARIANTS)):  # warm-up: allocator, first DataLoader, MLflow session
        ctx.steps = 2 * args.log_every
        bare_loop(ctx, level)
    ctx.steps = steps

    runs: list[list[dict]] = [[] for _ in VARIANTS]
    before = (args.rounds + 1) // 2

    def bare_round(order):
        for level in order:
            marks, cpu = bare_loop(ctx, level)
            wall = marks[steps] - marks[start]
            (c1, b1), (c2, b2) = cpu[start], cpu[steps]
            runs[level].append(
                {
                    "steps_per_s": (steps - start) / wall,
                    "thread_cpu_ms_per_step": 1000 * (c2 - c1) / (steps - start),
                    "thread_cores": (c2 - c1) / wall,
                    "machine_busy_cores": (b2 - b1) / wall,
                }
            )
            r = runs[level][-1]
            print(
                f"   {VARIANTS[level]}: {r['steps_per_s']:.1f} steps/s, "
                f"{r['thread_cpu_ms_per_step']:.2f} CPU ms/step, machine busy "
                f"{r['machine_busy_cores']:.2f} cores",
                flush=True,
            )

    levels = list(range(len(VARIANTS)))
    for i in range(before):
        bare_round(levels if i % 2 == 0 else levels[::-1])
    print("   ncsweep run_training ...", flush=True)
    nc = ncsweep_run(ctx, uri, str(tmp / "ray_storage"))
    print(
        f"   ncsweep: {nc['steady_steps_per_s']:.1f} steps/s, wall {nc['wall_s']:.1f} s", flush=True
    )
    for i in range(before, args.rounds):
        bare_round(levels[::-1] if i % 2 else levels)
    micro_rows = micro(ctx)

    def med(level: int, key: str) -> float:
        return statistics.median(r[key] for r in runs[level])

    variants = [
        {
            "variant": v,
            "steps_per_s": med(i, "steps_per_s"),
            "thread_cpu_ms_per_step": med(i, "thread_cpu_ms_per_step"),
            "thread_cores": med(i, "thread_cores"),
            "machine_busy_cores": med(i, "machine_busy_cores"),
            "rounds": runs[i],
        }
        for i, v in enumerate(VARIANTS)
    ]
    bare = variants[0]["steps_per_s"]
    cpu = nc["cpu"] or {}
    nc_cpu_ms = cpu.get("worker_thread_cpu_ms_per_step")
    epoch_s = spe / nc["steady_steps_per_s"]
    eval_s = {"step_0": nc["eval_time_s"]["step_0"], "final": nc["eval_time_s"][f"step_{steps}"]}
    return {
        "what": CONFIGS[name]["what"],
        "steps": steps,
        "window": [start, steps],
        "log_every": args.log_every,
        "bare_steps_per_s": bare,
        "ratio": nc["steady_steps_per_s"] / bare,
        "target_met": nc["steady_steps_per_s"] >= (1 - TARGET) * bare,
        "bare_thread_cpu_ms_per_step": variants[0]["thread_cpu_ms_per_step"],
        "ncsweep_thread_cpu_ms_per_step": nc_cpu_ms,
        "cpu_ratio": (variants[0]["thread_cpu_ms_per_step"] / nc_cpu_ms) if nc_cpu_ms else None,
        "variants": variants,
        "micro": micro_rows,
        "ncsweep": nc,
        "eval": {
            "steps_per_epoch": spe,
            "epoch_s": epoch_s,
            "eval_s": eval_s,
            "eval_over_epoch": {k: v / epoch_s for k, v in eval_s.items()},
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench_results/train.json"))
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="steps per run (default: 1000 digits, 250 synthetic)",
    )
    parser.add_argument(
        "--configs", nargs="+", choices=sorted(CONFIGS), default=["digits", "synthetic"]
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="bare rounds, split before/after the ncsweep run (median)",
    )
    parser.add_argument("--log-every", type=int, default=10, help="run.log_every (default 10)")
    parser.add_argument(
        "--warmup",
        type=float,
        default=0.2,
        help="fraction of the run before the steady-state window starts",
    )
    parser.add_argument(
        "--worker-niceness",
        type=int,
        default=None,
        help="RAY_worker_niceness for this Ray instance (Ray's default: 15; "
        "0 puts the worker level with the bare loop on a shared machine)",
    )
    args = parser.parse_args()
    if args.steps is not None and args.steps % args.log_every:
        parser.error("--steps must be a multiple of --log-every")

    import ray

    torch.set_num_threads(1)  # what a 1-CPU Ray worker gets (Ray sets OMP_NUM_THREADS=1)
    results: dict = {"load_before": [round(x, 2) for x in load()]}
    with tempfile.TemporaryDirectory(prefix="bench_train_") as tmp_name:
        tmp = Path(tmp_name)
        uri = f"sqlite:///{tmp}/mlflow.db"
        dist.init_process_group(
            "gloo", init_method=f"tcp://127.0.0.1:{free_port()}", rank=0, world_size=1
        )  # the worker has one too: real all_reduce
        if args.worker_niceness is not None:
            os.environ["RAY_worker_niceness"] = str(args.worker_niceness)
        start = time.perf_counter()
        ray.init(
            num_cpus=2,
            include_dashboard=True,
            dashboard_host="127.0.0.1",
            log_to_driver=True,
            runtime_env={"env_vars": dict(QUIET_ENV)},
        )
        results["ray_init_s"] = time.perf_counter() - start
        try:
            results["configs"] = {name: bench_config(name, args, uri, tmp) for name in args.configs}
            results["ray_worker_threads"] = worker_threads()
        finally:
            ray.shutdown()
            dist.destroy_process_group()
    results["worker_import_s"] = import_time()
    results["load_after"] = [round(x, 2) for x in load()]
    results["meta"] = {
        "torch": torch.__version__,
        "ray": ray.__version__,
        "torch_threads_bare": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "device": "cpu",
        "tracking": "sqlite",
        "target": TARGET,
        "rounds": args.rounds,
        "warmup_fraction": args.warmup,
        "worker_niceness": args.worker_niceness or "Ray default (15)",
        "driver_niceness": os.nice(0),
    }
    show(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
