"""The per-worker training loop that Ray Train runs on every worker.

One call trains one model for one spec: data-parallel (DDP, gloo on CPU, NCCL on GPU), the
negative set of ``ntce``/``nonl``/``scl`` gathered across workers by the loss itself, NC
measured every ``eval_every`` steps with streaming statistics, checkpoints reported to Ray
Train (which restarts a failed worker group from the last one), metrics logged to MLflow by
rank 0 against the optimizer step.

A non-finite loss ends the run cleanly: every worker reports ``status = failed`` with the
reason ("non-finite loss at step N") and returns; the driver marks the run failed.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from typing import Any

import ray.train
import ray.train.torch
import torch
from torch.utils.data import DataLoader

from ..config import ExperimentSpec
from ..data import create_dataset
from ..geometry import NCProgress, nc_scores
from ..losses import create_loss, loss_info
from ..models import create_model
from ..tracking import TAG_FAILURE, MetricLogger, log_params, log_text, set_tags
from .checkpoint import load_state, save_state
from .distributed import all_reduce_, unwrap
from .evaluation import FeatureView, autocast_for, evaluate, make_eval_loaders, split_nc
from .optimization import build_optimizer, build_scheduler
from .probes import train_probes
from .sampling import ResumableDistributedSampler

__all__ = ["train_loop_per_worker", "STATUS_FAILED", "STATUS_DONE"]

STATUS_FAILED = "failed"
STATUS_DONE = "done"

_log = logging.getLogger("ncsweep.train")


class _LossWindow:
    """Loss sum, step count and first non-finite step since the last flush, on the device,
    so a training step never waits for the host; reduced across workers at each flush."""

    def __init__(self, device: torch.device, step: int):
        self.state = torch.tensor([0.0, 0.0, float("inf")], dtype=torch.float64, device=device)
        self.step = torch.tensor(float(step), dtype=torch.float64, device=device)

    def add(self, loss: torch.Tensor) -> None:
        loss = loss.detach().double()
        finite = torch.isfinite(loss)
        self.step += 1
        self.state[0] += torch.where(finite, loss, 0.0)
        self.state[1] += 1
        self.state[2] = torch.where(finite, self.state[2], torch.minimum(self.state[2], self.step))

    def reduce(self) -> tuple[float, int | None]:
        """(mean loss over all workers, first non-finite step or None); then reset."""
        totals, bad = self.state[:2].clone(), self.state[2:].clone()
        all_reduce_(totals)
        all_reduce_(bad, "min")
        self.state.copy_(torch.tensor([0.0, 0.0, float("inf")], dtype=torch.float64))
        bad_step = int(bad.item()) if torch.isfinite(bad).item() else None
        return (totals[0] / totals[1].clamp_min(1)).item(), bad_step


class _Run:
    """Everything one worker holds for one run (built once, restored from a checkpoint)."""

    def __init__(self, spec: ExperimentSpec, tracking: dict[str, str] | None):
        ctx = ray.train.get_context()
        self.spec = spec
        self.rank, self.world = ctx.get_world_rank(), ctx.get_world_size()
        self.device = ray.train.torch.get_device()
        self.autocast = autocast_for(self.device, spec.run.amp)
        torch.manual_seed(spec.run.seed)

        self.loss = create_loss(spec.loss.name, **spec.loss.kwargs()).to(self.device)
        data = spec.data
        self.bundle = create_dataset(
            data.name,
            root=data.root,
            views=self.loss.views,
            augment=data.augment,
            imbalance=data.imbalance.model_dump() if data.imbalance else None,
            seed=spec.run.seed,
            cache_dir=data.cache_dir,
            **data.options,
        )
        model = create_model(
            spec.model.name,
            num_classes=self.bundle.num_classes,
            input_shape=self.bundle.input_shape,
            head=loss_info(spec.loss.name).head,
            sync_bn=spec.model.sync_bn,
            proj_dim=spec.model.proj_dim,
            **spec.model.options,
        )
        self.model = ray.train.torch.prepare_model(model)

        batch = spec.run.batch_size
        self.sampler = ResumableDistributedSampler(
            self.bundle.train, self.world, self.rank, spec.run.seed
        )
        self.train_loader = DataLoader(
            self.bundle.train,
            batch_size=batch // self.world,
            sampler=self.sampler,
            drop_last=True,
            num_workers=data.loader_workers,
            pin_memory=self.device.type == "cuda",
        )
        self.steps_per_epoch = max(1, len(self.train_loader))
        self.total_steps = spec.run.epochs * self.steps_per_epoch
        if spec.run.max_steps:
            self.total_steps = min(self.total_steps, spec.run.max_steps)
        self.eval_every = spec.eval.eval_every or self.steps_per_epoch
        self.checkpoint_every = spec.run.checkpoint_every or self.eval_every

        self.optimizer = build_optimizer(self.model.parameters(), spec.optim, batch)
        self.scheduler = build_scheduler(
            self.optimizer, spec.schedule, self.total_steps, self.steps_per_epoch
        )
        inner = unwrap(self.model)
        self.view = FeatureView(
            inner, normalized=self.loss.normalized, projection=spec.loss.name == "scl"
        )
        self.eval_loss = _eval_loss(spec)
        self.eval_loaders = make_eval_loaders(
            self.bundle,
            max(256, batch // self.world),
            spec.eval.nc_samples,
            spec.run.seed,
            data.loader_workers,
        )
        self.progress = NCProgress(threshold=spec.eval.nc_threshold)
        self.history: list[tuple[int, dict[str, float]]] = []
        self.initial: dict[str, float] | None = None
        self.step = 0
        self.last_metrics: dict[str, Any] = {}
        self.tracking = tracking
        self.logger = (
            MetricLogger(tracking["uri"], tracking["run_id"])
            if tracking and self.rank == 0
            else None
        )

    # -- checkpoints -------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "model": unwrap(self.model).state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "loss": self.loss.state_dict(),
            "rng": torch.get_rng_state(),
            "nc_iters": dict(self.progress.iters),
            "history": [[s, m] for s, m in self.history],
            "initial": self.initial or {},
            "last_metrics": {
                k: v for k, v in self.last_metrics.items() if isinstance(v, int | float | str)
            },
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.step = int(state["step"])
        unwrap(self.model).load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.loss.load_state_dict(state["loss"])
        torch.set_rng_state(state["rng"])
        self.history = [(int(s), dict(m)) for s, m in state["history"]]
        self.initial = dict(state["initial"]) or None
        self.last_metrics = dict(state.get("last_metrics", {}))
        for step, raw in self.history:  # replaying the history rebuilds NCProgress exactly
            self.progress.update(step, split_nc(raw, "nc_score/"))

    # -- reporting ---------------------------------------------------------------------

    def log(self, metrics: dict[str, float], flush: bool | None = True) -> None:
        """Log to MLflow from rank 0; ``flush=None`` writes when the buffer is old enough."""
        if self.logger is not None:
            self.logger.log(metrics, step=self.step, flush=flush)

    def report(self, metrics: dict[str, Any], checkpoint: bool) -> None:
        if not checkpoint:
            ray.train.report(metrics)
            return
        with tempfile.TemporaryDirectory() as tmp:
            ckpt = None
            if self.rank == 0:
                save_state(tmp, self.state())
                ckpt = ray.train.Checkpoint.from_directory(tmp)
            ray.train.report(metrics, checkpoint=ckpt)

    def evaluate(self, final: bool = False) -> dict[str, float]:
        start = time.perf_counter()
        metrics = evaluate(
            self.model,
            self.view,
            self.eval_loaders,
            self.eval_loss,
            self.bundle.num_classes,
            self.device,
            self.autocast,
            initial=self.initial,
            val_nc=self.spec.eval.val_nc,
            exact_prototypes=final,
        )
        if self.initial is None:  # step 0: the run's own initial geometry is the reference
            self.initial = split_nc(metrics)
            scores = nc_scores(self.initial, self.bundle.num_classes, initial=self.initial)
            metrics.update({f"nc_score/{k}": v for k, v in scores.items()})
        self.history.append(
            (self.step, {k: v for k, v in metrics.items() if k.startswith(("nc/", "nc_score/"))})
        )
        self.progress.update(self.step, split_nc(metrics, "nc_score/"))
        metrics.update({f"nc_iters/{k}": v for k, v in self.progress.iters.items()})
        metrics["eval_time_s"] = time.perf_counter() - start
        if final and self.spec.loss.name == "scl":
            metrics["val/acc1_prototypes"] = metrics["val/acc1"]
            e = self.spec.eval
            metrics.update(
                train_probes(
                    unwrap(self.model),
                    self.eval_loaders,
                    self.bundle.num_classes,
                    self.spec.loss.temperature,
                    e.probe_epochs,
                    e.probe_lr,
                    e.probe_batch,
                    self.spec.run.seed,
                    self.device,
                    self.autocast,
                )
            )
        return metrics

    # -- the loop ----------------------------------------------------------------------

    def run(self) -> None:
        if self.step >= self.total_steps and self.last_metrics:
            # Restored from the final checkpoint (a sweep resumed after this run finished):
            # report its result again instead of training twice.
            ray.train.report(dict(self.last_metrics))
            return
        if self.step == 0:
            self._log_data_profile()
            metrics = self._with_meta(self.evaluate())
            self.log(metrics)
            self._print(metrics)
        window = _LossWindow(self.device, self.step)
        self.model.train()
        while self.step < self.total_steps:
            epoch, offset = divmod(self.step, self.steps_per_epoch)
            self.sampler.start_at(epoch, offset * self.train_loader.batch_size)
            for x, y in self.train_loader:
                window.add(self._train_step(x, y))
                self.step += 1
                end = self.step >= self.total_steps
                if (
                    self.step % self.spec.run.log_every == 0
                    or end
                    or self.step % self.eval_every == 0
                ):
                    failure = self._flush_train_metrics(window)
                    if failure:
                        self._fail(failure)
                        return
                if self.step % self.eval_every == 0 or end:
                    metrics = self._with_meta(self.evaluate(final=end))
                    metrics["status"] = STATUS_DONE if end else "running"
                    self.last_metrics = metrics
                    self.log(metrics)
                    self._print(metrics)
                    self.report(metrics, checkpoint=True)
                elif self.step % self.checkpoint_every == 0:
                    self.report(self._with_meta({}), checkpoint=True)
                if end:
                    return
            if len(self.train_loader) == 0:
                raise ValueError("the training set is smaller than one batch per worker")

    def _fail(self, reason: str) -> None:
        """End the run without a retry: a deterministic failure would only repeat. The reason
        goes to MLflow (where the driver and the user read it) and to Ray (Tune sees it)."""
        if self.logger is not None:
            self.logger.flush()
            set_tags(self.tracking["uri"], self.tracking["run_id"], {TAG_FAILURE: reason})
        ray.train.report({"status": STATUS_FAILED, "failure_reason": reason, "step": self.step})

    def _log_data_profile(self) -> None:
        """Training-set size and per-class counts (a long-tailed set shows its profile)."""
        if self.logger is not None:
            uri, run_id = self.tracking["uri"], self.tracking["run_id"]
            counts = json.dumps(list(self.bundle.class_counts))
            log_params(
                uri,
                run_id,
                {"data.train_size": len(self.bundle.train), "data.class_counts": counts},
            )
            log_text(uri, run_id, counts, "class_counts.json")  # params truncate at 6,000 chars

    def _train_step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
        views = self.loss.views
        if views > 1:  # x: B×V×C×H×W -> one forward over B·V images
            b = x.shape[0]
            x = x.flatten(0, 1)
        with self.autocast():
            feats, prototypes, bias = self.model(x)
            if views > 1:
                feats = feats.view(b, views, -1)
            loss = self.loss(feats.float(), y, prototypes, bias)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        return loss

    def _flush_train_metrics(self, window: _LossWindow) -> str | None:
        """Log the window's mean loss; return a failure reason if any worker went non-finite."""
        mean_loss, bad_step = window.reduce()
        if bad_step is not None:
            return f"non-finite loss at step {bad_step}"
        # Buffered: a synchronous MLflow write every few steps halves a small model's speed.
        self.log(
            self._with_meta(
                {
                    "train/loss": mean_loss,
                    "train/negative_set_size": float(self.loss.negative_set_size),
                }
            ),
            flush=None,
        )
        return None

    def _with_meta(self, metrics: dict[str, Any]) -> dict[str, Any]:
        metrics.update(
            {
                "step": self.step,
                "total_steps": self.total_steps,
                "epoch": self.step / self.steps_per_epoch,
                "lr": self.optimizer.param_groups[0]["lr"],
            }
        )
        return metrics

    def _print(self, m: dict[str, Any]) -> None:
        if self.rank != 0:
            return
        scores = [v for k, v in m.items() if k.startswith("nc_score/")]
        mean = sum(scores) / len(scores) if scores else float("nan")
        _log.info(
            "step %d/%d epoch %.1f val/acc1 %.4f val/loss %.4f mean NC score %.1f%%",
            self.step,
            self.total_steps,
            m["epoch"],
            m.get("val/acc1", float("nan")),
            m.get("val/loss", float("nan")),
            mean,
        )


def _eval_loss(spec: ExperimentSpec) -> torch.nn.Module:
    """The family's loss on validation batches: per rank (no gather: val shards differ in
    length, a collective per batch would hang), no memory (evaluation must not enqueue).
    SCL has one view on validation: NormFace against its class-mean prototypes."""
    if spec.loss.name == "scl":
        return create_loss("normface", temperature=spec.loss.temperature)
    kwargs = spec.loss.kwargs()
    kwargs.update({k: v for k, v in (("gather", False), ("memory", 0)) if k in kwargs})
    return create_loss(spec.loss.name, **kwargs)


def train_loop_per_worker(config: dict[str, Any]) -> None:
    """Ray Train entry point. ``config = {"spec": dict, "tracking": {"uri", "run_id"} | None}``."""
    # Ray Train logs every report with all its metrics at INFO; a person wants our line.
    for name in ("ray.train", "ray.train.v2._internal.execution.context"):
        logging.getLogger(name).setLevel(logging.WARNING)
    spec = ExperimentSpec.model_validate(config["spec"])
    run = _Run(spec, config.get("tracking"))
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            run.restore(load_state(directory))
        # Visible in MLflow: this run was restarted (worker failure or resumed sweep).
        run.log({"resumed_from_step": float(run.step)})
        _log.warning("restored from checkpoint at step %d", run.step)
    run.run()
