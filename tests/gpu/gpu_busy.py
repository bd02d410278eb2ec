"""GPU busy fraction and images/s of ResNet-18 CIFAR-10 training, CE and SCL (issue 18's goal:
at least 90 % busy), through the training core exactly as a trial runs it: uint8 images held
on the GPU, augmented there in whole batches (``data.augment_on=device``), bf16 autocast and
channels_last (the CUDA defaults). Not part of ``make test``. From the repository root::

    .venv/bin/python tests/gpu/gpu_busy.py [--steps 100] [--batch 256] [--device cuda]

The dataset is CIFAR-10's full size (50,000 train images) of seeded noise, written in
torchvision's layout to a temporary folder: throughput does not depend on the pixels.

Busy fraction, two ways:

- **compute share**: seconds of the same number of steps on one fixed, already augmented
  batch (model, loss and optimizer only) over seconds of the real steps (sampler, device
  augmentation, model). 1 − share is the part of a step the input pipeline adds.
- **NVML**: ``torch.cuda.utilization()`` (the share of time a kernel was running), sampled
  every 20 ms during the real steps, where nvidia-ml-py is installed.

``--device cpu`` runs the same code on the CPU with a smaller dataset (a check of the
script, not a measurement). Exit code 0 when the goal is met on CUDA, 1 when not, 2
without a GPU and no ``--device cpu``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import write_fake_cifar  # noqa: E402
from ncsweep.config import load_spec  # noqa: E402
from ncsweep.train import TrainingCore  # noqa: E402

GOAL = 0.90


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


class _Utilisation:
    """Mean NVML GPU utilisation while the ``with`` block runs (None without nvidia-ml-py)."""

    def __init__(self, device: str) -> None:
        self.samples: list[float] = []
        self.device, self._stop = device, threading.Event()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.samples.append(torch.cuda.utilization(torch.device(self.device)) / 100)

    def __enter__(self):
        self._thread = None
        if self.device.startswith("cuda"):
            try:
                torch.cuda.utilization(torch.device(self.device))
            except Exception:  # noqa: BLE001 (no pynvml: the compute share is the measure)
                return self
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    @property
    def mean(self) -> float | None:
        return sum(self.samples) / len(self.samples) if self.samples else None


def _timed_steps(core: TrainingCore, steps: int, batches) -> float:
    _sync(core.device.type)
    start = time.perf_counter()
    for n, (x, y) in enumerate(batches):
        core.train_step(x, y)
        if n + 1 == steps:
            break
    _sync(core.device.type)
    return time.perf_counter() - start


def measure(loss: str, root: Path, device: str, steps: int, batch: int) -> dict:
    spec = load_spec(
        None,
        [
            f"loss.name={loss}",
            "model.name=resnet18_cifar",
            "data.name=cifar10",
            f"data.root={root}",
            "data.augment_on=device",
            f"run.batch_size={batch}",
            "run.epochs=50",
        ],
    )
    core = TrainingCore(spec, device=device)
    _timed_steps(core, 10, core.batches())  # warm-up: cuDNN autotuning, allocator
    with _Utilisation(device) as nvml:
        real = _timed_steps(core, steps, core.batches())
    # the same steps with the input pipeline taken out: one batch, augmented once
    x, y = next(iter(core.batches()))
    x = core.augment(x.to(core.device), core.generator)
    pipeline, core.augment = core.augment, None
    compute = _timed_steps(core, steps, iter(lambda: (x, y), None))
    core.augment = pipeline
    return {
        "loss": loss,
        "images_per_s": steps * batch / real,
        "views_per_s": steps * batch * core.loss.views / real,
        "compute_share": compute / real,
        "nvml": nvml.mean,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no GPU (use --device cpu to check the script)")
        return 2
    per_class = 5000 if args.device.startswith("cuda") else 60
    with tempfile.TemporaryDirectory() as tmp:
        root = write_fake_cifar(Path(tmp), "cifar10", per_class, per_class // 5)
        rows = [measure(loss, root, args.device, args.steps, args.batch) for loss in ("ce", "scl")]
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    print(f"ResNet-18 CIFAR-10 on {name}, batch {args.batch}, {args.steps} steps")
    print(f"{'loss':<6}{'images/s':>10}{'views/s':>10}{'compute share':>15}{'NVML busy':>11}")
    for r in rows:
        nvml = "n/a" if r["nvml"] is None else f"{r['nvml']:.0%}"
        print(
            f"{r['loss']:<6}{r['images_per_s']:>10,.0f}{r['views_per_s']:>10,.0f}"
            f"{r['compute_share']:>15.0%}{nvml:>11}"
        )
    return 0 if all(r["compute_share"] >= GOAL for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
