"""GPU checks, for a machine with NVIDIA GPUs (not part of ``make test``: CI has none).

Run from the repository root with the project's virtualenv::

    .venv/bin/python tests/gpu/gpu_check.py [--out gpu_check.json] [--quick]

Prints one table and writes JSON with the numbers:

1. **NCCL DDP**: ``ncsweep train`` of NONL with ``min(2, GPUs)`` Ray Train workers, one GPU
   each (the NCCL backend and the negative set gathered across GPUs), on synthetic
   3×32×32 images; the run must finish and log accuracy and NC metrics.
2. **bf16 autocast**: the training core in-process on ``cuda:0`` with ``run.amp=bf16`` and
   with ``run.amp=off``: both finite, and the step-throughput ratio.
3. **Throughput and NC-evaluation cost**: images/s of ResNet-18 (CIFAR stem) training at
   batch 256, and one full NC evaluation expressed in epochs of that training.
4. **Sweep on GPUs**: ``ncsweep sweep`` of two families × two trials on synthetic images
   with ``--gpus-per-trial 1``; every trial must finish.

Exit code 0 when every check passed, 1 when one failed, 2 when there is no GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SYNTHETIC = [
    "data.name=synthetic",
    "data.options={image_size: 32, channels: 3, samples_per_class: 500, num_classes: 10}",
]


def _ncsweep(args: list[str], workdir: Path, timeout: int) -> tuple[int, str, float]:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "ncsweep.cli", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{workdir}/mlflow.db"},
    )
    return proc.returncode, proc.stdout + proc.stderr, time.perf_counter() - start


def check_nccl_ddp(workdir: Path, gpus: int, epochs: int) -> dict:
    workers = min(2, gpus)
    rc, out, wall = _ncsweep(
        [
            "train",
            "--loss",
            "nonl",
            "--model",
            "convnet",
            "--workers",
            str(workers),
            "--gpus-per-worker",
            "1",
            "--name",
            "gpu-nccl",
            *[f"--set={s}" for s in SYNTHETIC],
            f"--set=run.epochs={epochs}",
        ],
        workdir,
        timeout=900,
    )
    import mlflow

    runs = mlflow.search_runs(
        experiment_names=["ncsweep"],
        filter_string="attributes.run_name = 'gpu-nccl'",
        tracking_uri=f"sqlite:///{workdir}/mlflow.db",
    )
    metrics = runs.iloc[0].to_dict() if len(runs) else {}
    ok = rc == 0 and metrics.get("metrics.val/acc1") is not None
    return {
        "ok": ok,
        "workers": workers,
        "wall_s": round(wall, 1),
        "val_acc1": metrics.get("metrics.val/acc1"),
        "nc1": metrics.get("metrics.nc/nc1"),
        "log_tail": "" if ok else out[-3000:],
    }


def _core(amp: str, model: str, batch: int, epochs: int):
    from ncsweep.config import load_spec
    from ncsweep.train import TrainingCore

    spec = load_spec(
        None,
        [
            "loss.name=ntce",
            f"model.name={model}",
            *SYNTHETIC,
            f"run.batch_size={batch}",
            f"run.epochs={epochs}",
            f"run.amp={amp}",
            "eval.val_nc=true",
        ],
    )
    return TrainingCore(spec, device="cuda:0")


def _train_epoch(core) -> tuple[float, float]:
    """(seconds, last loss) of one epoch of training steps."""
    import torch

    core.model.train()
    torch.cuda.synchronize()
    start = time.perf_counter()
    loss = None
    for n, (x, y) in enumerate(core.batches()):
        loss = core.train_step(x, y)
        if n + 1 == core.steps_per_epoch:
            break
    torch.cuda.synchronize()
    return time.perf_counter() - start, float(loss)


def check_bf16_and_throughput(batch: int) -> dict:
    import torch

    results = {}
    for amp in ("off", "bf16"):
        core = _core(amp, "resnet18_cifar", batch, epochs=3)
        _train_epoch(core)  # warm-up: cuDNN autotuning, allocator
        seconds, loss = _train_epoch(core)
        images = core.steps_per_epoch * batch
        torch.cuda.synchronize()
        start = time.perf_counter()
        core.evaluate()
        torch.cuda.synchronize()
        eval_s = time.perf_counter() - start
        results[amp] = {
            "finite": bool(torch.isfinite(torch.tensor(loss))),
            "images_per_s": round(images / seconds, 1),
            "epoch_s": round(seconds, 3),
            "nc_eval_s": round(eval_s, 3),
            "nc_eval_epochs": round(eval_s / seconds, 2),
        }
        del core
        torch.cuda.empty_cache()
    results["ok"] = results["off"]["finite"] and results["bf16"]["finite"]
    results["bf16_speedup"] = round(
        results["bf16"]["images_per_s"] / results["off"]["images_per_s"], 2
    )
    return results


def check_gpu_sweep(workdir: Path, epochs: int) -> dict:
    rc, out, wall = _ncsweep(
        [
            "sweep",
            "--preset",
            "digits",
            "--families",
            "ce,nonl",
            "--trials",
            "2",
            "--gpus-per-trial",
            "1",
            "--name",
            "gpu-sweep",
            "--storage",
            str(workdir / "ray_results"),
            "--out",
            str(workdir / "best"),
            *[f"--set={s}" for s in SYNTHETIC],
            "--set=model.name=convnet",
            f"--set=run.epochs={epochs}",
        ],
        workdir,
        timeout=1200,
    )
    exported = sorted(p.name for p in (workdir / "best").glob("*.yaml"))
    ok = rc == 0 and {"ce.yaml", "nonl.yaml"} <= set(exported)
    return {
        "ok": ok,
        "wall_s": round(wall, 1),
        "exported": exported,
        "log_tail": "" if ok else out[-3000:],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("gpu_check.json"))
    parser.add_argument("--quick", action="store_true", help="fewer epochs (smoke test)")
    args = parser.parse_args()

    import torch

    if not torch.cuda.is_available():
        print("no CUDA device: these checks need a machine with NVIDIA GPUs")
        return 2
    epochs = 2 if args.quick else 5
    gpus = torch.cuda.device_count()
    report: dict = {
        "devices": [torch.cuda.get_device_name(i) for i in range(gpus)],
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "nccl": torch.distributed.is_nccl_available(),
    }
    with tempfile.TemporaryDirectory(prefix="ncsweep-gpu-") as tmp:
        workdir = Path(tmp)
        for name, check in (
            ("nccl_ddp", lambda: check_nccl_ddp(workdir, gpus, epochs)),
            ("bf16_throughput", lambda: check_bf16_and_throughput(256)),
            ("gpu_sweep", lambda: check_gpu_sweep(workdir, epochs)),
        ):
            start = time.perf_counter()
            try:
                report[name] = check()
            except Exception as err:  # noqa: BLE001 - a failed check is reported, not raised
                report[name] = {"ok": False, "error": repr(err)}
            report[name]["check_s"] = round(time.perf_counter() - start, 1)
            print(f"{name}: {json.dumps(report[name], default=str)}", flush=True)
    args.out.write_text(json.dumps(report, indent=2, default=str))
    failed = [k for k, v in report.items() if isinstance(v, dict) and not v.get("ok")]
    print(f"written {args.out}; " + (f"FAILED: {', '.join(failed)}" if failed else "all passed"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "platform"))
    sys.exit(main())
