"""Typed specs for one training run, loaded from YAML and overridden with ``key.sub=value``.

An :class:`ExperimentSpec` has one section per concern::

    data:     which dataset, where it lives, augmentation, long-tail profile
    model:    backbone from the model registry
    loss:     loss family and its options (temperature, anchor, weights, negative set)
    optim:    optimiser, base learning rate per 256 samples, weight decay
    schedule: cosine with linear warm-up, or constant
    eval:     how often to evaluate, NC sample budget and threshold, SCL probes
    run:      steps/epochs, global batch, workers, checkpoints, seed, tracking
    hyperparameter_schedule: optional; hyper-parameters changed at given steps (what a
              population-based trial went through; ``ncsweep train`` replays it)

Every model forbids unknown keys, so a typo fails before Ray starts. All user mistakes are
raised as :class:`SpecError`, whose message names the file, the key and what is allowed.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

__all__ = [
    "SpecError",
    "DataSpec",
    "ImbalanceSpec",
    "ModelSpec",
    "LossSpec",
    "OptimSpec",
    "ScheduleSpec",
    "EvalSpec",
    "RunSpec",
    "ExperimentSpec",
    "HyperparameterStep",
    "hyperparameter_values",
    "load_spec",
    "parse_overrides",
    "apply_overrides",
    "spec_from_dict",
    "deep_merge",
    "flatten",
    "dump_spec",
]


class SpecError(ValueError):
    """A user mistake in a spec, search space or command line (exit code 2)."""


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ImbalanceSpec(_Spec):
    """Long-tailed training set; the validation set stays balanced."""

    ratio: float = Field(0.01, gt=0, le=1, description="n_min / n_max")
    profile: Literal["exp", "step"] = "exp"


class DataSpec(_Spec):
    name: str = "digits"
    root: str | None = Field(None, description="local path or s3://bucket/prefix")
    augment: bool = True
    augment_on: Literal["auto", "device", "loader"] = Field(
        "auto",
        description="where training samples are augmented: device = raw uint8 batches from "
        "the loader, augmented batched on the trial's device (digits, cifar10/100 and their "
        "long tails); loader = per sample in the DataLoader; auto = device where supported",
    )
    imbalance: ImbalanceSpec | None = None
    cache_dir: str | None = None
    loader_workers: int = Field(0, ge=0, description="DataLoader worker processes per worker")
    options: dict[str, Any] = Field(default_factory=dict, description="dataset-specific options")


class ModelSpec(_Spec):
    name: str = "mlp"
    sync_bn: bool = False
    proj_dim: int = Field(128, gt=0, description="SCL projection head output size")
    options: dict[str, Any] = Field(default_factory=dict, description="backbone-specific options")


class LossSpec(_Spec):
    """Loss family and its options, flat as ``{name: nonl, temperature: 0.1, ...}``.

    Names, options, types, defaults and ranges come from the family's ``LossInfo``
    (``ncsweep/losses/_registry.py``): an option the family does not take, or a value out
    of its range, is an error naming the key and what the family takes. Every option is
    filled with its default, so ``spec.loss.temperature`` reads like a field. ``module``
    names a Python module that registers a family defined outside ``ncsweep.losses``; it
    is imported before the name is looked up (also in Ray workers).
    """

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    name: str = "ce"
    module: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _options_of_family(cls, data: Any) -> Any:
        if isinstance(data, BaseModel):
            data = data.model_dump()
        if not isinstance(data, dict):
            raise ValueError(
                f"expected a mapping like {{name: ntce, temperature: 0.1}}, got {data!r}"
            )
        from .losses import LOSSES

        options = dict(data)
        name, module = options.pop("name", "ce"), options.pop("module", None)
        if module is not None:
            try:
                importlib.import_module(str(module))
            except ImportError as err:
                raise ValueError(f"loss.module {module!r} cannot be imported: {err}") from None
        checked = LOSSES.get(name, source="loss.name").check_options(options, prefix="loss.")
        return {"name": name, **({"module": module} if module else {}), **checked}

    @model_serializer(mode="wrap")
    def _without_empty_module(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        out: dict[str, Any] = handler(self)
        if out.get("module") is None:
            out.pop("module", None)
        return out

    def kwargs(self) -> dict[str, Any]:
        """Constructor arguments for ``create_loss(self.name, **kwargs)``."""
        from .losses import loss_info

        return {k: getattr(self, k) for k in loss_info(self.name).option_names}


class OptimSpec(_Spec):
    name: Literal["sgd", "adamw"] = "sgd"
    lr: float = Field(0.2, gt=0, description="learning rate per 256 samples of global batch")
    momentum: float = Field(0.9, ge=0, lt=1)
    nesterov: bool = False
    weight_decay: float = Field(1e-4, ge=0)

    def scaled_lr(self, global_batch: int) -> float:
        """The paper's linear scaling rule: ``lr * global_batch / 256``."""
        return self.lr * global_batch / 256


class ScheduleSpec(_Spec):
    name: Literal["cosine", "constant"] = "cosine"
    warmup_epochs: float = Field(0.0, ge=0)
    min_lr_ratio: float = Field(0.0, ge=0, le=1)


class EvalSpec(_Spec):
    eval_every: int | None = Field(
        None, gt=0, description="steps between evaluations; None = once an epoch"
    )
    nc_samples: int = Field(10_000, gt=0, description="at most this many training samples for NC")
    nc_threshold: float = Field(95.0, gt=0, le=100)
    val_nc: bool = True
    test: bool = Field(
        False,
        description="log test/acc1, test/acc5, test/loss (and test_nc/*, test_nc_score/* "
        "with val_nc) once at the end of training, from the held-out test split the search "
        "never sees; sweep trials leave it off",
    )
    probe_epochs: int = Field(
        30, ge=1, description="linear probes (SCL runs, suite probes): epochs on frozen features"
    )
    probe_lr: float = Field(0.1, gt=0, description="linear probes: SGD learning rate (SupCon's)")
    probe_batch: int = Field(256, gt=0, description="linear probes: batch size")
    suites: list[str] = Field(
        default_factory=list,
        description="evaluation suites run at the end of training (see ncsweep evaluate)",
    )
    suite_options: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="{suite: {option: value}} for eval.suites"
    )


class RunSpec(_Spec):
    name: str | None = None
    seed: int = 0
    epochs: int = Field(30, gt=0)
    max_steps: int | None = Field(None, gt=0, description="cap on optimizer steps (None = epochs)")
    batch_size: int = Field(128, gt=0, description="global batch (split across workers)")
    workers: int = Field(1, gt=0)
    cpus_per_worker: float = Field(1.0, ge=0)
    gpus_per_worker: float = Field(0.0, ge=0)
    amp: Literal["auto", "bf16", "off"] = "auto"
    memory_format: Literal["auto", "channels_last", "contiguous"] = Field(
        "auto",
        description="activation layout of convolutional models: auto = channels_last on CUDA",
    )
    compile: bool = Field(False, description="wrap the training model with torch.compile")
    log_every: int = Field(10, gt=0, description="steps between train/loss logs")
    checkpoint_every: int | None = Field(
        None, gt=0, description="steps; None = at evaluations, see checkpoint_min_interval_s"
    )
    checkpoint_min_interval_s: float = Field(
        10.0,
        ge=0,
        description="checkpoint_every unset: an evaluation checkpoints when the last checkpoint "
        "is this many seconds old (the last step always does; 0 = every evaluation; sweep "
        "trials checkpoint at every evaluation)",
    )
    keep_checkpoints: int = Field(2, gt=0)
    max_failures: int = Field(1, ge=0, description="worker-group restarts from the last checkpoint")
    experiment: str = "ncsweep"
    storage_path: str | None = Field(
        None, description="Ray storage: local dir or s3://bucket/prefix"
    )

    @field_validator("amp", mode="before")
    @classmethod
    def _yaml_off(cls, value: Any) -> Any:
        return "off" if value is False else value  # YAML 1.1 reads a bare `off` as false

    @model_validator(mode="after")
    def _batch_splits_across_workers(self) -> RunSpec:
        if self.batch_size % self.workers:
            raise ValueError(
                f"batch_size {self.batch_size} is not divisible by workers {self.workers}"
            )
        return self


#: Optimiser settings a running trial can change (no shape, no state layout depends on them).
_MUTABLE_OPTIM = ("lr", "weight_decay")


def hyperparameter_values(spec: ExperimentSpec) -> dict[str, float]:
    """The spec's hyper-parameters a running trial can change, ``{dotted key: value}``:
    ``optim.lr``, ``optim.weight_decay`` and every real-valued loss option (temperatures,
    loss weights); integer, boolean and string options shape the run and stay fixed."""
    values = {f"optim.{k}": float(getattr(spec.optim, k)) for k in _MUTABLE_OPTIM}
    for key, value in spec.loss.kwargs().items():
        if isinstance(value, float):
            values[f"loss.{key}"] = value
    return values


class HyperparameterStep(_Spec):
    """From optimizer step ``step`` on (after that step's evaluation), train with
    ``overrides`` (``{dotted key: value}``, keys of :func:`hyperparameter_values`)."""

    step: int = Field(gt=0)
    overrides: dict[str, float] = Field(min_length=1)


class ExperimentSpec(_Spec):
    data: DataSpec = Field(default_factory=DataSpec)
    model: ModelSpec = Field(default_factory=ModelSpec)
    loss: LossSpec = Field(default_factory=LossSpec)
    optim: OptimSpec = Field(default_factory=OptimSpec)
    schedule: ScheduleSpec = Field(default_factory=ScheduleSpec)
    eval: EvalSpec = Field(default_factory=EvalSpec)
    run: RunSpec = Field(default_factory=RunSpec)
    hyperparameter_schedule: list[HyperparameterStep] = Field(
        default_factory=list,
        description="hyper-parameter changes at optimizer steps, in increasing step order "
        "(a population-based trial's mutations; the spec's own values hold until the first)",
    )

    @model_validator(mode="after")
    def _schedule_changes_hyperparameters(self) -> ExperimentSpec:
        if not self.hyperparameter_schedule:  # the loss options' registry imports torch
            return self
        allowed = hyperparameter_values(self)
        steps = [entry.step for entry in self.hyperparameter_schedule]
        if steps != sorted(set(steps)):
            raise ValueError(f"hyperparameter_schedule: steps must increase, got {steps}")
        data = self.model_dump(mode="json", exclude={"hyperparameter_schedule"})
        for entry in self.hyperparameter_schedule:
            unknown = sorted(set(entry.overrides) - set(allowed))
            if unknown:
                raise ValueError(
                    f"hyperparameter_schedule step {entry.step}: {', '.join(unknown)} cannot "
                    f"change during a run; allowed: {', '.join(allowed)}"
                )
            data = apply_overrides(data, list(entry.overrides.items()))
            try:  # each step's values must be a valid spec (temperature > 0 ...)
                ExperimentSpec.model_validate(data)
            except ValidationError as err:
                raise ValueError(
                    f"hyperparameter_schedule step {entry.step}: "
                    + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
                ) from None
        return self

    @model_serializer(mode="wrap")
    def _without_empty_schedule(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        out: dict[str, Any] = handler(self)
        if not out.get("hyperparameter_schedule"):
            out.pop("hyperparameter_schedule", None)
        return out


# ---------------------------------------------------------------------------------------
# Loading, overrides and error messages


def _allowed_here(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[str, list[str]]:
    """Walk ``loc`` through nested specs; return the dotted key and the allowed sub-keys."""
    current: Any = model
    for part in loc[:-1]:
        field = (
            current.model_fields.get(str(part))
            if isinstance(current, type) and issubclass(current, BaseModel)
            else None
        )
        if field is None:
            break
        inner = [a for a in (field.annotation, *get_args(field.annotation)) if isinstance(a, type)]
        nested = [a for a in inner if issubclass(a, BaseModel)]
        if not nested:
            break
        current = nested[0]
    allowed = (
        list(current.model_fields)
        if isinstance(current, type) and issubclass(current, BaseModel)
        else []
    )
    return ".".join(str(p) for p in loc), allowed


def _format_validation_error(err: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid spec"]
    for item in err.errors():
        key, allowed = _allowed_here(ExperimentSpec, tuple(item["loc"]))
        if item["type"] == "extra_forbidden":
            lines.append(f"  - unknown key '{key}'; allowed here: {', '.join(allowed)}")
        else:
            msg = item["msg"].removeprefix("Value error, ")
            lines.append(f"  - {key or '(top level)'}: {msg} (got {item.get('input')!r})")
    return "\n".join(lines)


def spec_from_dict(data: dict[str, Any], source: str = "<spec>") -> ExperimentSpec:
    """Validate a plain dict into an :class:`ExperimentSpec`, raising :class:`SpecError`."""
    if not isinstance(data, dict):
        raise SpecError(f"{source}: expected a mapping of sections, got {type(data).__name__}")
    try:
        return ExperimentSpec.model_validate(data)
    except ValidationError as err:
        raise SpecError(_format_validation_error(err, source)) from None


def read_yaml(path: str | Path) -> dict[str, Any]:
    """``yaml.safe_load`` a file into a dict; a missing or malformed file is a SpecError."""
    path = Path(path)
    if path.is_dir():
        raise SpecError(f"{path}: is a directory; expected a YAML file (a mapping of sections)")
    if not path.is_file():
        raise SpecError(f"{path}: no such file")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError(f"{path}: not a text file (binary?); expected UTF-8 YAML") from None
    except OSError as err:
        raise SpecError(f"{path}: cannot be read ({err.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise SpecError(f"{path}: not valid YAML: {err}") from None
    if data is None:
        raise SpecError(f"{path}: is empty; expected a YAML mapping (e.g. 'loss: {{name: nonl}}')")
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def parse_overrides(items: list[str] | None) -> list[tuple[str, Any]]:
    """Parse ``["loss.temperature=0.2", ...]``; values are YAML scalars (``true``, ``1e-3``, ``[1, 2]``)."""
    parsed = []
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise SpecError(f"--set {item!r}: expected key.sub=value, e.g. loss.temperature=0.2")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw
        parsed.append((key.strip(), value))
    return parsed


def apply_overrides(data: dict[str, Any], overrides: list[tuple[str, Any]]) -> dict[str, Any]:
    """Set dotted keys into a nested dict (a copy); the result is validated by the caller."""
    out = _deep_copy(data)
    for key, value in overrides:
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise SpecError(f"--set {key}: '{part}' is a value, not a section")
            node = child
        node[parts[-1]] = value
    return out


def deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """Deep merge of nested dicts: ``top`` wins, nested sections merge; neither argument is
    modified and no dict of the result is shared with them. The one merge of the platform
    (YAML on defaults, family base on preset spec, sweep settings on a spec)."""
    out = {k: deep_merge(v, {}) if isinstance(v, dict) else v for k, v in base.items()}
    for key, value in top.items():
        if isinstance(value, dict):
            out[key] = deep_merge(out[key] if isinstance(out.get(key), dict) else {}, value)
        else:
            out[key] = value
    return out


def _deep_copy(data: dict[str, Any]) -> dict[str, Any]:
    return deep_merge(data, {})


def load_spec(
    path: str | Path | None = None,
    overrides: list[str] | None = None,
    base: dict[str, Any] | None = None,
) -> ExperimentSpec:
    """Load ``path`` (YAML) on top of ``base``, apply ``--set`` overrides, validate.

    Export files carry a ``provenance`` section next to the spec: it is ignored here.
    """
    data = _deep_copy(base or {})
    source = "<defaults>"
    if path is not None:
        source = str(path)
        data = deep_merge(data, read_yaml(path))
    data.pop("provenance", None)
    pairs = parse_overrides(overrides)
    if pairs:
        source += " with --set " + " ".join(f"{k}={v}" for k, v in pairs)
    return spec_from_dict(apply_overrides(data, pairs), source)


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"loss": {"temperature": 0.1}}`` -> ``{"loss.temperature": 0.1}`` (for MLflow params)."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def dump_spec(spec: ExperimentSpec) -> str:
    """YAML text that :func:`load_spec` reads back into an equal spec."""
    return yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False)
