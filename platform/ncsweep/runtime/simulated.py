"""A simulated trial: the sweep's real driver path with a trial body that sleeps instead of
training (``ncsweep sweep --simulate SECONDS``).

Everything around the body is the sweep's own: the lease, the Optuna journal, the scheduler,
Tune's trial actors, experiment state and checkpoints in the sweep's storage, the MLflow
parent run and one child run per trial (its tags, params, ``spec.yaml``), the live view,
the leaderboard, the exports and the report. The body logs the metric keys a trained trial
logs (``metric_keys.py``: ``train/loss`` every ``run.log_every`` steps, an evaluation with
the headline, ``nc/*``, ``nc_score/*``, ``nc_iters/*`` and, with ``eval.val_nc``,
``val_nc*/*`` every ``eval.eval_every`` steps) at the real cadence, reports every
evaluation to Tune with a checkpoint (as an in-process trial does), and sleeps ``step_s``
per optimizer step. It imports neither torch nor Ray Train, so a 2-core machine holds 64
trial actors at once (``ray.init(num_cpus=64)``): what a cluster's driver, MLflow server
and storage will face, measured before the cluster exists (``tests/bench/bench_scale.py``).

Learning curves are synthetic and deterministic in (config, seed), smooth in the sampled
values, so a sampler has signal to follow. With quality ``q`` in (0, 1] (below),
``val/acc1(t) = c + (a - c)(1 - exp(-5 t / T))`` for chance ``c = 0.1``, final accuracy
``a = c + 0.85 q`` plus a seed offset of at most 0.01, step ``t`` of ``T``; each NC score
``s_m(t) = 100 (1 - exp(-r_m q t / T))`` with a per-metric rate ``r_m`` in [2, 8].
``q = (0.15 + 0.85 mean_k (1 + cos(π (x_k - o_k) / 1.5)) / 2) exp(-Σ_j p_j)`` over the
numeric values ``x_k`` (log10 of positive ones) with a hidden optimum ``o_k`` per key and a
penalty ``p_j`` in [0, 0.3] per categorical value; ``o_k`` and ``p_j`` come from a hash of
the key (and value). Bounded and smooth whatever a space's ranges: every key matters.
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ray import tune
from ray.tune import Checkpoint

from .. import metric_keys as keys
from ..config import ExperimentSpec, LossSpec, SpecError, dump_spec, flatten
from ..geometry.descriptors import METRICS
from ..status import LoopStatus, RunState
from ..tracking import (
    STAGE_SEARCH,
    TAG_FAMILY,
    TAG_KIND,
    TAG_RESOURCES,
    TAG_STAGE,
    MetricLogger,
    finish_run,
    log_params,
    log_text,
    node_tags,
    provenance_tags,
    start_run,
)
from .trial_context import TrialContext, trial_spec_data, tune_result

__all__ = [
    "SIMULATED_TAG",
    "SIMULATED_TRAIN_SIZE",
    "SyntheticCurve",
    "run_simulated_trial",
    "simulated_spec",
    "steps_of",
]

#: The run tag that marks a simulated trial (its value: seconds slept per step).
SIMULATED_TAG = "ncsweep.simulated"
#: Training examples a simulated epoch has (a digits-sized split; ``run.max_steps`` overrides).
SIMULATED_TRAIN_SIZE = 1_437
_CHANCE = 0.1
_STATE_FILE = "simulated.json"


def _unit(*parts: Any) -> float:
    """A number in [0, 1) fixed by ``parts`` (same in every process: not ``hash()``)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass(frozen=True)
class SyntheticCurve:
    """The learning curves of one (config, seed) over ``total`` steps (module docstring)."""

    quality: float
    offset: float
    total: int
    val_nc: bool
    scl: bool

    @classmethod
    def of(cls, config: dict[str, Any], seed: int, spec: ExperimentSpec) -> SyntheticCurve:
        closeness, penalty = [], 0.0
        for key in sorted(config):
            value = config[key]
            if isinstance(value, bool) or not isinstance(value, int | float):
                penalty += 0.3 * _unit(key, str(value))
                continue
            x = math.log10(value) if value > 0 else float(value)
            optimum = -3.0 + 3.0 * _unit(key)
            closeness.append((1 + math.cos(math.pi * (x - optimum) / 1.5)) / 2)
        mean = sum(closeness) / len(closeness) if closeness else 1.0
        quality = (0.15 + 0.85 * mean) * math.exp(-penalty)
        offset = 0.01 * (2 * _unit("seed", seed, spec.loss.name) - 1)
        total = steps_of(spec)
        return cls(quality, offset, total, spec.eval.val_nc, spec.loss.name == "scl")

    def accuracy(self, step: int) -> float:
        final = _CHANCE + 0.85 * self.quality + self.offset
        return min(
            1.0, max(0.0, _CHANCE + (final - _CHANCE) * (1 - math.exp(-5 * step / self.total)))
        )

    def train_metrics(self, step: int) -> dict[str, float]:
        """What ``train/loss`` windows log (``train/negative_set_size`` beside it)."""
        loss = 2.3 * math.exp(-3 * step / self.total) * (1.2 - self.quality) + 0.05
        return {keys.TRAIN_LOSS: loss, keys.TRAIN_NEGATIVE_SET_SIZE: 9.0}

    def scores(self, step: int, salt: str = "") -> dict[str, float]:
        return {
            m.name: 100
            * (1 - math.exp(-(2 + 6 * _unit(m.name, salt)) * self.quality * step / self.total))
            for m in METRICS
        }

    def evaluation(self, step: int) -> dict[str, float]:
        """An evaluation's metrics at ``step`` (``nc_iters/*`` added by :func:`nc_iters`)."""
        acc = self.accuracy(step)
        metrics = {
            keys.VAL_LOSS: -math.log(max(acc, 1e-6)),
            keys.VAL_ACC1: acc,
            keys.VAL_ACC5: acc + (1 - acc) * 0.8,
            "eval_time_s": 0.0,
        }
        scores = self.scores(step)
        metrics.update(keys.prefixed(keys.NC_SCORE, scores))
        metrics.update(keys.prefixed(keys.NC, {k: 1 - v / 100 for k, v in scores.items()}))
        if self.val_nc:
            val = self.scores(step, "val")
            metrics.update(keys.prefixed(keys.VAL_NC_SCORE, val))
            metrics.update(keys.prefixed(keys.VAL_NC, {k: 1 - v / 100 for k, v in val.items()}))
        if self.scl and step == self.total:
            for key in (keys.VAL_ACC1_PROTOTYPES, keys.VAL_ACC1_PROBE, keys.VAL_ACC1_NORMPROBE):
                metrics[key] = acc
        return metrics

    def nc_iters(self, step: int, threshold: float = 95.0) -> dict[str, float]:
        """``nc_iters/<name>``: the first step ≤ ``step`` whose score reached ``threshold``
        (the curve is increasing: solved, not searched); absent until then."""
        iters = {}
        for m in METRICS:
            rate = (2 + 6 * _unit(m.name, "")) * self.quality / self.total
            first = math.ceil(-math.log(1 - threshold / 100) / rate) if rate > 0 else None
            if first is not None and first <= step:
                iters[m.name] = float(first)
        return keys.prefixed(keys.NC_ITERS, iters)


def steps_of(spec: ExperimentSpec) -> int:
    """A simulated run's optimizer steps: ``run.max_steps``, else epochs of a
    :data:`SIMULATED_TRAIN_SIZE` split at the spec's batch size."""
    per_epoch = math.ceil(SIMULATED_TRAIN_SIZE / spec.run.batch_size)
    return spec.run.max_steps or spec.run.epochs * per_epoch


def simulated_spec(data: dict[str, Any], source: str) -> ExperimentSpec:
    """``spec_from_dict`` without checking the loss options against the loss registry,
    which imports torch: nothing reads them here (the driver checked the family's space)."""
    loss = LossSpec.model_construct(**data.get("loss", {}))
    try:
        return ExperimentSpec.model_validate({**data, "loss": loss})
    except ValueError as err:
        raise SpecError(f"{source}: {err}") from None


def _open_run(spec: ExperimentSpec, key: str, context: TrialContext, step_s: float) -> str:
    """The trial's MLflow child run (re-attached by its tags after a restart) with the tags,
    params and ``spec.yaml`` a trained trial's run has (``trainer.open_run``), and
    :data:`SIMULATED_TAG`."""
    uri = context.tracking_uri
    placement = {"workers": 1, "per_worker": {"CPU": spec.run.cpus_per_worker}, "use_gpu": False}
    tags = {
        TAG_FAMILY: spec.loss.name,
        "ncsweep.dataset": spec.data.name,
        "ncsweep.model": spec.model.name,
        **provenance_tags(),
        TAG_KIND: "train",
        TAG_RESOURCES: json.dumps(placement, sort_keys=True),
        TAG_STAGE: STAGE_SEARCH,
        SIMULATED_TAG: str(step_s),
        **context.run_tags(key),
        **node_tags(0),
    }
    reattach = context.run_tags(key)
    run_id = start_run(uri, context.experiment_id, key, tags, context.parent_run_id, reattach)
    log_params(uri, run_id, flatten(spec.model_dump(mode="json")))
    log_text(uri, run_id, dump_spec(spec), "spec.yaml")
    return run_id


def _restored_step() -> int:
    """The step of the trial's latest Tune checkpoint (a restarted trial), else 0."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return 0
    with checkpoint.as_directory() as directory:
        return int(json.loads((Path(directory) / _STATE_FILE).read_text())["step"])


def run_simulated_trial(
    config: dict[str, Any],
    context: TrialContext,
    base_spec: dict[str, Any],
    seed: int,
    train_storage: str,
    step_s: float = 0.0,
) -> None:
    """Tune trainable of a simulated sweep family: ``run_trial``'s arguments (its spec is
    built the same way, ``simulated_spec``) and ``step_s``, the seconds each optimizer step sleeps."""
    trial_id = tune.get_context().get_trial_id()
    data = trial_spec_data(config, context, base_spec, trial_id, seed, train_storage)
    spec = simulated_spec(data, f"sweep {context.name} simulated trial {trial_id}")
    curve = SyntheticCurve.of(config, seed, spec)
    total = curve.total
    eval_every = spec.eval.eval_every or math.ceil(SIMULATED_TRAIN_SIZE / spec.run.batch_size)
    uri = context.tracking_uri
    run_id = _open_run(spec, trial_id, context, step_s)
    logger = MetricLogger(uri, run_id)

    def meta(step: int) -> dict[str, float]:
        return {
            keys.STEP: step,
            keys.TOTAL_STEPS: total,
            keys.EPOCH: step * spec.run.batch_size / SIMULATED_TRAIN_SIZE,
            keys.LR: spec.optim.lr,
        }

    start = _restored_step()
    try:
        if start == 0:  # the step-0 evaluation a fresh run logs (not reported to Tune)
            logger.log({**curve.evaluation(0), **meta(0), keys.EVALUATION: 0}, step=0)
        else:
            logger.log({"resumed_from_step": float(start)}, step=start)
        for step in range(start + 1, total + 1):
            time.sleep(step_s)
            last = step == total
            evaluation = step % eval_every == 0 or last
            if step % spec.run.log_every == 0 or evaluation:
                logger.log({**curve.train_metrics(step), **meta(step)}, step=step, flush=None)
            if not evaluation:
                continue
            metrics: dict[str, Any] = {
                **curve.evaluation(step),
                **curve.nc_iters(step),
                keys.EVALUATION: math.ceil(step / eval_every),
                **meta(step),
            }
            logger.log(metrics, step=step)
            metrics[keys.STATUS] = (LoopStatus.DONE if last else LoopStatus.RUNNING).value
            result = tune_result(metrics, context.nc_metric, context.objectives)
            every = spec.run.checkpoint_every
            if last or not every or step % every == 0:
                with tempfile.TemporaryDirectory() as tmp:
                    (Path(tmp) / _STATE_FILE).write_text(json.dumps({"step": step}))
                    tune.report(result, checkpoint=Checkpoint.from_directory(tmp))
            else:
                tune.report(result)
    except Exception as err:  # the trial fails, the sweep goes on (as a trained trial's)
        logger.flush()
        finish_run(uri, run_id, RunState.FAILED, f"{type(err).__name__}: {err}"[:1000])
        raise
    except BaseException:  # stopped by Tune (ASHA) mid-report: the driver gives the verdict
        logger.flush()
        raise
    logger.flush()
    finish_run(uri, run_id, RunState.FINISHED)
