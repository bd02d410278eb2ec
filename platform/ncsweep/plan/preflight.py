"""Checks a spec against the registries before Ray starts, so mistakes exit 2 with a message.

The pydantic spec already rejects unknown keys and wrong types; this adds what only the
registries know: dataset, model and loss names and options, and whether local dataset files
exist (``s3://`` roots are checked by the workers that read them).
"""

from __future__ import annotations

from ..config import ExperimentSpec, SpecError

__all__ = ["check_spec"]


def check_spec(spec: ExperimentSpec, source: str = "spec") -> None:
    """Raise :class:`SpecError` naming ``source`` and the key if the spec cannot run."""
    from ..data import DATASETS, create_dataset
    from ..losses import create_loss
    from ..models import MODELS

    checks = (
        ("loss", lambda: create_loss(spec.loss.name, **spec.loss.kwargs())),
        ("model.name", lambda: MODELS.get(spec.model.name)),
        ("model.options", lambda: MODELS.validate_options(spec.model.name, spec.model.options)),
        ("data.name", lambda: DATASETS.get(spec.data.name)),
        ("data.options", lambda: DATASETS.validate_options(spec.data.name, spec.data.options)),
    )
    for key, check in checks:
        try:
            check()
        except ValueError as err:
            raise SpecError(f"{source}: {key}: {err}") from None
    if spec.eval.suites or spec.eval.suite_options:
        from ..evaluate import parse_suites
        from ..evaluate._registry import check_options

        parse_suites(spec.eval.suites, f"{source}: eval.suites")
        check_options(spec.eval.suite_options, f"{source}: eval.suite_options")
    if spec.model.sync_bn and spec.run.gpus_per_worker == 0:
        raise SpecError(
            f"{source}: model.sync_bn: SyncBatchNorm runs on GPUs only; set "
            f"run.gpus_per_worker > 0 or model.sync_bn=false"
        )
    root = spec.data.root
    if root is None or "://" not in root:
        try:
            bundle = create_dataset(
                spec.data.name,
                root=root,
                views=1,
                augment=False,
                augment_on=spec.data.augment_on,
                imbalance=spec.data.imbalance.model_dump() if spec.data.imbalance else None,
                seed=spec.run.seed,
                **spec.data.options,
            )
        except ValueError as err:  # DatasetNotFoundError included: says where it looked
            raise SpecError(f"{source}: data: {err}") from None
        if spec.eval.test:
            try:
                bundle.require_test()
            except ValueError as err:
                raise SpecError(f"{source}: eval.test: {err}") from None
