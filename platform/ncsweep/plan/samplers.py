"""The samplers a sweep may use (``--sampler``): what the plan needs to know about each.

Each is one of Optuna's own samplers; ``runtime/searcher.py`` builds it (a registry keyed by
the same names, checked equal by ``tests/sweep/test_samplers.py``). Importing this module
imports no Optuna, so the CLI builds its help from it.

Parameters a sampler cannot model are drawn by its *independent sampler*, a seeded
``RandomSampler`` (Optuna's own fallback, documented per sampler below): every shipped search
space has categorical parameters (``run.batch_size``) and most have conditional ones
(``when``), so refusing them would leave CMA-ES and QMC unusable. The ``models`` column
says what each one models jointly; the rest of a trial's parameters are random.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_SAMPLER", "SAMPLERS", "SamplerInfo", "multi_objective_samplers"]


@dataclass(frozen=True)
class SamplerInfo:
    """``multi_objective``: usable under ``--objective pareto``; ``models``: the parameters
    it models (the others come from its independent sampler); ``meaning``: one line."""

    multi_objective: bool
    models: str
    meaning: str


SAMPLERS: dict[str, SamplerInfo] = {
    "tpe": SamplerInfo(
        True,
        "all, jointly (multivariate, grouped by conditional branch)",
        "tree-structured Parzen estimator",
    ),
    "random": SamplerInfo(True, "none (all random)", "independent uniform draws"),
    "qmc": SamplerInfo(
        True,
        "float, int and categorical of the first trial's space (scrambled Sobol); "
        "conditional ones random",
        "quasi-Monte Carlo, space-filling, no model",
    ),
    "gp": SamplerInfo(
        True,
        "the parameters every trial has (float, int, categorical); conditional ones random",
        "Gaussian-process Bayesian optimisation (logEI; logEHVI for pareto)",
    ),
    "cmaes": SamplerInfo(
        False,
        "float and int every trial has; categorical and conditional ones random",
        "covariance matrix adaptation evolution strategy",
    ),
    "nsga2": SamplerInfo(
        True,
        "all (genetic: crossover and mutation), constrained domination",
        "NSGA-II genetic algorithm",
    ),
}

#: The default; with ``asha``, what tests/bench/bench_search.py found no method to beat (README,
#: "Samplers, constraints and nc-at-accuracy").
DEFAULT_SAMPLER = "tpe"


def multi_objective_samplers() -> list[str]:
    """The samplers allowed under ``--objective pareto``."""
    return [name for name, info in SAMPLERS.items() if info.multi_objective]
