"""The training core: one model for one spec, in plain PyTorch, in any process.

``TrainingCore`` builds what a run needs from an ``ExperimentSpec`` (data, model, loss,
optimiser, schedule, evaluation loaders), takes optimizer steps, evaluates (streaming NC on
the training subset, validation accuracy/loss and NC; with ``eval.test``, the test split's
accuracy/loss and NC once, at the last step) and saves/loads its whole state.
``fit`` runs the loop and tells ``RunHooks`` what happened; the hooks are where a run meets
the outside world (Ray Train reports and checkpoints, Tune reports, MLflow, the log line)
and what a caller measures at the end of a run (probes, evaluation suites: the caller's
choice, ``evaluate.hook.default_hooks``). Nothing here imports Ray, MLflow or the suites: a
unit test trains digits in-process in seconds.

Training batches with ``data.augment_on=device`` (digits, CIFAR and their long tails) come
out of the loader as raw uint8 samples; ``train_step`` moves them to the device and applies
the dataset's ``BatchPipeline`` there with ONE generator the core owns (seeded from
``run.seed`` and the rank, saved in ``state_dict`` as ``augment_rng``), so a resumed run
draws the same crops as an uninterrupted one. Evaluation applies the splits' fixed steps
(ToFloat, Normalize) through ``EvalSplit``.

Data parallelism is the caller's: pass ``rank``/``world_size`` and a ``prepare_model``
(e.g. Ray Train's DDP wrapping); the loop's collectives go through ``distributed`` and are
no-ops in one process.

Outcome of ``fit``: ``RunResult(status, metrics, failure_reason)`` with status ``done``
(trained to the end), ``failed`` (a non-finite loss: deterministic, not worth a retry).
Exceptions (bad data, a dead peer) propagate to the caller.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn
from torch.utils.data import DataLoader

from .. import metric_keys as keys
from ..config import ExperimentSpec, hyperparameter_values
from ..data import create_dataset
from ..geometry import NCProgress, nc_scores
from ..losses import create_loss, evaluation_loss, loss_info
from ..metric_keys import EVALUATION, STATUS, mean_nc_score
from ..models import NCModel, create_model
from ..status import LoopStatus
from ._malloc import retain_freed_memory
from .acceleration import augmentation_generator, maybe_compile, memory_format_for
from .checkpoint import load_state
from .distributed import all_reduce_, unwrap
from .evaluation import (
    FeatureView,
    autocast_for,
    evaluate,
    evaluate_test,
    make_eval_loaders,
    split_nc,
)
from .hyperparameters import Lineage, apply_hyperparameters, planned_until, spec_with
from .optimization import build_optimizer, build_scheduler
from .sampling import ResumableDistributedSampler
from .streaming import epoch_batches, is_stream, stream_loader, stream_steps_per_epoch, train_size

__all__ = [
    "planned_evaluations",
    "step_plan",
    "STATUS_DONE",
    "STATUS_FAILED",
    "STATUS_RUNNING",
    "RunHooks",
    "RunResult",
    "TrainingCore",
    "fit",
    "load_checkpoint",
    "progress_line",
]

STATUS_DONE = LoopStatus.DONE
STATUS_FAILED = LoopStatus.FAILED
STATUS_RUNNING = LoopStatus.RUNNING

_log = logging.getLogger("ncsweep.train")


@dataclass
class RunResult:
    """How ``fit`` ended: ``status`` (done/failed), the last metrics, the failure reason;
    ``trained=False``: restored from its final state, nothing trained in this call."""

    status: str
    metrics: dict[str, Any] = field(default_factory=dict)
    failure_reason: str | None = None
    trained: bool = True


class RunHooks:
    """What a run tells the outside world; every method is optional (no-op here).

    Order: ``on_start`` once per process (``resumed`` = restored from a checkpoint), then
    ``on_train_metrics`` every ``log_every`` steps, ``final_metrics`` of every hook after
    the last evaluation, ``on_evaluation`` at step 0 (fresh runs)
    and every ``eval_every`` steps (``checkpoint=True`` when :meth:`TrainingCore.checkpoint_due`
    and at the last step, never at step 0), ``on_checkpoint`` at ``checkpoint_every`` steps
    between evaluations, and ``on_end`` with the result.
    """

    @property
    def checkpoint_each_evaluation(self) -> bool:
        """True for a hook that needs a checkpoint with every evaluation (a Tune trial: its
        restored state and Tune's experiment state follow its results): no time floor then."""
        return False

    def on_start(self, core: TrainingCore, resumed: bool) -> None: ...

    def on_train_metrics(self, core: TrainingCore, metrics: dict[str, float]) -> None: ...

    def final_metrics(self, core: TrainingCore, metrics: dict[str, Any]) -> dict[str, Any]:
        """Measurements this hook makes at the end of training (probes, evaluation suites),
        called on every rank after the last evaluation; they join its ``metrics`` before any
        hook's ``on_evaluation`` sees them. A hook that works on one rank returns ``{}`` on
        the others."""
        return {}

    def on_evaluation(self, core: TrainingCore, metrics: dict[str, Any], checkpoint: bool) -> None:
        """``checkpoint``: the state after this evaluation should be saved now."""

    def on_checkpoint(self, core: TrainingCore) -> None: ...

    def on_end(self, core: TrainingCore, result: RunResult) -> None: ...


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


def step_plan(spec: ExperimentSpec, steps_per_epoch: int) -> tuple[int, int]:
    """(total optimizer steps, steps between evaluations) of a run whose epochs hold
    ``steps_per_epoch`` steps: ``run.epochs`` epochs capped at ``run.max_steps``, evaluated
    every ``eval.eval_every`` steps (default: once an epoch) and at the last step."""
    total = spec.run.epochs * steps_per_epoch
    if spec.run.max_steps:
        total = min(total, spec.run.max_steps)
    return total, spec.eval.eval_every or steps_per_epoch


def planned_evaluations(spec: ExperimentSpec, train_size: int) -> int:
    """Evaluations after step 0 of a run on ``train_size`` training samples: the value of
    the ``evaluation`` metric at its last report (ASHA's time unit in a sweep). Mirrors
    the loader: each of ``run.workers`` ranks gets ``ceil(N / workers)`` samples in
    batches of ``batch_size // workers``, the last partial batch dropped."""
    workers = spec.run.workers
    per_rank = math.ceil(train_size / workers)
    steps_per_epoch = max(1, per_rank // max(1, spec.run.batch_size // workers))
    total, every = step_plan(spec, steps_per_epoch)
    return math.ceil(total / every)


def build_model(spec: ExperimentSpec, num_classes: int, input_shape: Sequence[int]) -> NCModel:
    """The spec's backbone with the head its loss family trains (an ``NCModel``)."""
    return create_model(
        spec.model.name,
        num_classes=num_classes,
        input_shape=tuple(input_shape),
        head=loss_info(spec.loss.name).head,
        sync_bn=spec.model.sync_bn,
        proj_dim=spec.model.proj_dim,
        **spec.model.options,
    )


def eval_loss_for(spec: ExperimentSpec) -> nn.Module:
    """The family's loss on validation batches (``losses.evaluation_loss``: per rank, no
    memory; SCL's is NormFace against its class-mean prototypes)."""
    return evaluation_loss(spec.loss.name, spec.loss.kwargs())


class TrainingCore:
    """Everything one worker holds for one run.

    Args:
        spec: the experiment.
        rank, world_size: this worker's place in the data-parallel group (1 process: 0, 1).
        device: where to train (default: CPU).
        prepare_model: wraps the built model for data parallelism (e.g. DDP); identity if None.
    """

    def __init__(
        self,
        spec: ExperimentSpec,
        *,
        rank: int = 0,
        world_size: int = 1,
        device: torch.device | str | None = None,
        prepare_model: Callable[[nn.Module], nn.Module] | None = None,
    ):
        self.spec = spec
        self.rank, self.world = rank, world_size
        retain_freed_memory()  # evaluations allocate and free multi-MB tensors (_malloc.py)
        self.device = torch.device(device or "cpu")
        self.autocast = autocast_for(self.device, spec.run.amp)
        torch.manual_seed(spec.run.seed)

        self.loss = create_loss(spec.loss.name, **spec.loss.kwargs()).to(self.device)
        family = loss_info(spec.loss.name)  # what register_loss also set on the loss class
        self.views = family.views
        data = spec.data
        self.bundle = create_dataset(
            data.name,
            root=data.root,
            views=self.views,
            augment=data.augment,
            augment_on=data.augment_on,
            imbalance=data.imbalance.model_dump() if data.imbalance else None,
            seed=spec.run.seed,
            cache_dir=data.cache_dir,
            **data.options,
        )
        # the batched augmentation the loop applies on the device (None: the loader did it)
        self.augment = getattr(self.bundle.train, "pipeline", None)
        self.generator = augmentation_generator(self.device, spec.run.seed, rank)
        model = build_model(spec, self.bundle.num_classes, self.bundle.input_shape).to(self.device)
        self.memory_format = memory_format_for(model, self.device, spec.run.memory_format)
        model = model.to(memory_format=self.memory_format)
        self.model = maybe_compile(
            prepare_model(model) if prepare_model else model, spec.run.compile
        )

        batch = spec.run.batch_size
        if is_stream(self.bundle.train):  # no random access: streaming.py
            self.sampler = None
            self.train_loader = stream_loader(
                self.bundle.train.for_rank(self.rank, self.world),
                batch // self.world,
                data.loader_workers,
                drop_last=True,
                pin_memory=self.device.type == "cuda",
            )
            self.steps_per_epoch = stream_steps_per_epoch(
                self.train_loader.dataset,
                spec.run.epochs,
                batch // self.world,
                self.world,
                data.loader_workers,
            )
        else:
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
            self.steps_per_epoch = len(self.train_loader)
        if self.steps_per_epoch == 0:
            raise ValueError(
                f"the training set ({train_size(self.bundle.train)} samples) is smaller than "
                f"one batch per worker ({batch // self.world})"
            )
        self.total_steps, self.eval_every = step_plan(spec, self.steps_per_epoch)
        self.checkpoint_every = spec.run.checkpoint_every or self.eval_every

        self.optimizer = build_optimizer(self.model.parameters(), spec.optim, batch)
        self.scheduler = build_scheduler(
            self.optimizer, spec.schedule, self.total_steps, self.steps_per_epoch
        )
        self.view = FeatureView(
            self.nc_model,
            normalized=family.normalized,
            projection=family.head == "projection",
        )
        self.eval_loss = eval_loss_for(spec)
        self.eval_loaders = make_eval_loaders(
            self.bundle,
            max(256, batch // self.world),
            spec.eval.nc_samples,
            spec.run.seed,
            data.loader_workers,
            rank=self.rank,
            world_size=self.world,
            test=spec.eval.test,
        )
        self.progress = NCProgress(threshold=spec.eval.nc_threshold)
        self.lineage = Lineage.of_spec(spec)
        # the change a restore made (checkpoint trained with other values), for the caller
        self.restored_change: dict[str, Any] | None = None
        self.history: list[tuple[int, dict[str, float]]] = []
        self.initial: dict[str, float] | None = None
        self.step = 0
        self.last_metrics: dict[str, Any] = {}
        self._last_checkpoint = time.monotonic()

    def checkpoint_due(self, time_floor: bool = True) -> bool:
        """Whether the evaluation at ``self.step`` checkpoints: on the ``run.checkpoint_every``
        schedule when set; otherwise always without ``time_floor``, else when rank 0's last
        checkpoint (or the start) is at least ``run.checkpoint_min_interval_s`` old. Why a
        time floor: a report to Ray Train waits for its controller's poll (tens of ms), which
        small runs evaluating every few tens of ms would pay at every evaluation; a GPU run
        evaluating every few minutes checkpoints at each. One collective: every rank takes
        rank 0's answer."""
        every = self.spec.run.checkpoint_every
        if every:
            return self.step % every == 0
        if not time_floor:
            return True
        now = time.monotonic()
        due = now - self._last_checkpoint >= self.spec.run.checkpoint_min_interval_s
        flag = torch.tensor([float(due and self.rank == 0)], device=self.device)
        if bool(all_reduce_(flag, "max").item()):
            self._last_checkpoint = now
            return True
        return False

    @classmethod
    def from_checkpoint(
        cls, spec: ExperimentSpec, directory: str | Path, device: torch.device | str | None = None
    ) -> TrainingCore:
        """Rebuild the run of ``spec`` and load the checkpoint in ``directory`` (one process)."""
        core = cls(spec, device=device)
        core.load_state_dict(load_checkpoint(directory))
        return core

    # -- state -------------------------------------------------------------------------

    @property
    def nc_model(self) -> NCModel:
        """The ``NCModel`` inside :attr:`model`'s DDP and ``torch.compile`` wrappers."""
        model = unwrap(self.model)
        if not isinstance(model, NCModel):
            raise TypeError(
                f"prepare_model must wrap the NCModel (as DDP does), got {type(model).__name__}"
            )
        return model

    @property
    def finished(self) -> bool:
        return self.step >= self.total_steps

    def state_dict(self) -> dict[str, Any]:
        """Tensors, numbers, strings and plain containers (``torch.load(weights_only=True)``)."""
        return {
            "step": self.step,
            "model": unwrap(self.model).state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "loss": self.loss.state_dict(),
            "rng": torch.get_rng_state(),
            "augment_rng": self.generator.get_state(),
            "nc_iters": dict(self.progress.iters),
            "history": [[s, m] for s, m in self.history],
            "initial": self.initial or {},
            "last_metrics": {
                k: v for k, v in self.last_metrics.items() if isinstance(v, int | float | str)
            },
            # what the next step trains with (a change planned at this step included)
            "hyperparameters": {
                **hyperparameter_values(self.spec),
                **planned_until(self.spec, self.step, self.step),
            },
            "lineage": self.lineage.to_state(),
            "run_name": self.spec.run.name or "",
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = int(state["step"])
        unwrap(self.model).load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.loss.load_state_dict(state["loss"])
        torch.set_rng_state(state["rng"])
        if "augment_rng" in state:  # checkpoints from before device augmentation lack it
            self.generator.set_state(state["augment_rng"])
        self.history = [(int(s), dict(m)) for s, m in state["history"]]
        self.initial = dict(state["initial"]) or None
        self.last_metrics = dict(state.get("last_metrics", {}))
        self.progress = NCProgress(threshold=self.spec.eval.nc_threshold)
        for step, raw in self.history:  # replaying the history rebuilds NCProgress exactly
            self.progress.update(step, split_nc(raw, keys.NC_SCORE))
        self._restore_hyperparameters(state)

    def _restore_hyperparameters(self, state: dict[str, Any]) -> None:
        """After a restore: the spec's schedule up to this step applies; where the values
        differ from those the checkpoint trained with, that is a change at this step
        (population-based training: ``hyperparameters.py``). The optimiser and loss
        follow the spec either way (the checkpoint's optimiser holds its own rates)."""
        planned = planned_until(self.spec, self.step)
        if planned:
            self.spec = spec_with(self.spec, planned)
        current = hyperparameter_values(self.spec)
        saved = {k: float(v) for k, v in state.get("hyperparameters", current).items()}
        if "lineage" in state:  # checkpoints from before lineages lack it
            self.lineage = Lineage.from_state(state["lineage"])
        changed = {k: v for k, v in current.items() if k in saved and saved[k] != v}
        self.restored_change = None
        if changed:
            previous = {k: saved[k] for k in changed}
            source = str(state.get("run_name", ""))
            self.lineage.record(self.step, changed, previous, self.spec.run.name or "", source)
            self.restored_change = self.lineage.changes[-1]
        apply_hyperparameters(self)

    def advance_schedule(self) -> None:
        """Apply the spec's schedule entry at ``self.step``, if any (after its evaluation)."""
        due = planned_until(self.spec, self.step, self.step)
        if due:
            self.spec = spec_with(self.spec, due)
            apply_hyperparameters(self)

    # -- steps and evaluations ---------------------------------------------------------

    def batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The remaining training batches of the run, from ``self.step`` on (mid-epoch
        restarts continue with the batches not seen yet, in the uninterrupted order)."""
        while self.step < self.total_steps:
            epoch, offset = divmod(self.step, self.steps_per_epoch)
            if self.sampler is None:  # a stream
                yield from epoch_batches(self.train_loader, epoch, offset, self.steps_per_epoch)
                if self.step < min((epoch + 1) * self.steps_per_epoch, self.total_steps):
                    raise RuntimeError(
                        f"the training stream ended at step {self.step}, before the "
                        f"{self.steps_per_epoch} steps of epoch {epoch} its index promises"
                    )
                continue
            self.sampler.start_at(epoch, offset * (self.spec.run.batch_size // self.world))
            yield from self.train_loader

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One optimizer step on a batch (x: B×C×H×W, or B×V×C×H×W for V views, or the raw
        uint8 B×C×H×W the device pipeline augments into those); returns the loss (a device
        scalar: reading it would wait for the device)."""
        x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
        if self.augment is not None:
            x = self.augment(x, self.generator)
        views = self.views
        if views > 1:  # one forward over B·V images
            b = x.shape[0]
            x = x.flatten(0, 1)
        x = x.contiguous(memory_format=self.memory_format)
        with self.autocast():
            feats, prototypes, bias = self.model(x)
            if views > 1:
                feats = feats.view(b, views, -1)
            loss: torch.Tensor = self.loss(feats.float(), y, prototypes, bias)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        self.step += 1
        return loss

    def meta(self) -> dict[str, Any]:
        return {
            keys.STEP: self.step,
            keys.TOTAL_STEPS: self.total_steps,
            keys.EPOCH: self.step / self.steps_per_epoch,
            keys.LR: self.optimizer.param_groups[0]["lr"],
        }

    def evaluate(self, final: bool = False) -> dict[str, Any]:
        """Every evaluation metric at the current step, keyed as MLflow logs them, plus NC
        progress (``nc_iters/*``), ``eval_time_s`` and the step meta; exact class-mean
        prototypes when ``final``, and then, with ``eval.test``, the test split's
        ``test/*`` (and ``test_nc*/*`` with ``eval.val_nc``): the only evaluation that reads
        it (what else the end of a run measures, probes and suites, comes from the hooks'
        ``final_metrics``). Appends to the NC history (what ``nc_iters`` is computed from)."""
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
        if final and self.eval_loaders.test is not None:
            metrics.update(
                evaluate_test(
                    self.model,
                    self.view,
                    self.eval_loaders.test,
                    self.eval_loss,
                    self.bundle.num_classes,
                    self.device,
                    self.autocast,
                    nc=self.spec.eval.val_nc,
                )
            )
        if self.initial is None:  # step 0: the run's own initial geometry is the reference
            self.initial = split_nc(metrics)
            scores = nc_scores(self.initial, self.bundle.num_classes, initial=self.initial)
            metrics.update(keys.prefixed(keys.NC_SCORE, scores))
        self.history.append(
            (
                self.step,
                {k: v for k, v in metrics.items() if k.startswith((keys.NC, keys.NC_SCORE))},
            )
        )
        self.progress.update(self.step, split_nc(metrics, keys.NC_SCORE))
        metrics.update(keys.prefixed(keys.NC_ITERS, self.progress.iters))
        metrics["eval_time_s"] = time.perf_counter() - start
        metrics[EVALUATION] = math.ceil(self.step / self.eval_every)
        metrics.update(self.meta())
        return metrics


def fit(core: TrainingCore, hooks: Sequence[RunHooks] = (), resumed: bool = False) -> RunResult:
    """Train ``core`` to its last step, evaluating and checkpointing on the spec's schedule.

    A core restored from its final state (a resumed sweep whose run had finished) does not
    train again: it ends ``done`` with the metrics it had.
    """
    for hook in hooks:
        hook.on_start(core, resumed)

    def end(result: RunResult) -> RunResult:
        for hook in hooks:
            hook.on_end(core, result)
        return result

    if core.finished and core.last_metrics:
        return end(RunResult(STATUS_DONE, dict(core.last_metrics), trained=False))
    if core.step == 0:
        metrics = core.evaluate()
        metrics[STATUS] = STATUS_RUNNING.value
        for hook in hooks:
            hook.on_evaluation(core, metrics, checkpoint=False)
    spec = core.spec
    time_floor = not any(hook.checkpoint_each_evaluation for hook in hooks)
    window = _LossWindow(core.device, core.step)
    core.model.train()
    for x, y in core.batches():
        window.add(core.train_step(x, y))
        step, last = core.step, core.finished
        evaluation = step % core.eval_every == 0 or last
        if step % spec.run.log_every == 0 or evaluation:
            mean_loss, bad_step = window.reduce()
            if bad_step is not None:
                reason = f"non-finite loss at step {bad_step}"
                return end(
                    RunResult(STATUS_FAILED, {**core.meta(), STATUS: STATUS_FAILED.value}, reason)
                )
            train_metrics = {
                keys.TRAIN_LOSS: mean_loss,
                # every registered family's forward sets it; nn.Module does not declare it
                keys.TRAIN_NEGATIVE_SET_SIZE: float(cast(int, core.loss.negative_set_size)),
                **core.meta(),
            }
            for hook in hooks:
                hook.on_train_metrics(core, train_metrics)
        if evaluation:
            metrics = core.evaluate(final=last)
            if last:
                for hook in hooks:
                    metrics.update(hook.final_metrics(core, metrics))
            # plain strings: metrics travel in checkpoints (torch.load(weights_only=True))
            metrics[STATUS] = (STATUS_DONE if last else STATUS_RUNNING).value
            core.last_metrics = metrics
            checkpoint = last or core.checkpoint_due(time_floor)
            for hook in hooks:
                hook.on_evaluation(core, metrics, checkpoint=checkpoint)
        elif step % core.checkpoint_every == 0:
            for hook in hooks:
                hook.on_checkpoint(core)
        if last:
            break
        core.advance_schedule()
    return end(RunResult(STATUS_DONE, dict(core.last_metrics)))


def load_checkpoint(directory: str | Path) -> dict[str, Any]:
    """The ``TrainingCore.state_dict`` saved in a checkpoint directory."""
    return load_state(directory)


def progress_line(m: dict[str, Any]) -> str:
    """One line per evaluation for a person: step, epoch, accuracy, loss, mean NC score."""
    mean = mean_nc_score(m)
    mean = float("nan") if mean is None else mean
    return (
        f"step {m['step']}/{m['total_steps']} epoch {m['epoch']:.1f} "
        f"val/acc1 {m.get('val/acc1', float('nan')):.4f} "
        f"val/loss {m.get('val/loss', float('nan')):.4f} mean NC score {mean:.1f}%"
    )


class LogLineHooks(RunHooks):
    """Logs ``progress_line`` at each evaluation (``ncsweep.train`` logger)."""

    def on_evaluation(self, core: TrainingCore, metrics: dict[str, Any], checkpoint: bool) -> None:
        _log.info("%s", progress_line(metrics))

    def on_start(self, core: TrainingCore, resumed: bool) -> None:
        if resumed:
            _log.warning("restored from checkpoint at step %d", core.step)
