"""``search``: per family, Optuna's own figures of the search: parallel coordinates of the
sampled parameters coloured by the target, parameter importances, optimisation history;
fed from the study the sweep saved, or one rebuilt from the MLflow runs (``report.study``).

Optuna's default importance evaluator (PED-ANOVA) treats low targets as good, so a
maximised target is negated for it.
"""

from __future__ import annotations

import warnings

from optuna import visualization as vis
from optuna.trial import TrialState

from ..data import SweepData
from ..kinds import Fragment, register_kind
from ..optuna_study import family_study
from ..page import PageContext, esc
from ._common import note

_FIGURES = ("parallel", "importances", "history")


def _targets(study):
    """(target for the plots, target for importances): the first objective, val/acc1, is
    maximised; PED-ANOVA ranks low values as good, so its target is negated."""
    if len(study.directions) > 1:
        return (lambda t: t.values[0]), (lambda t: -t.values[0])
    if study.direction.name == "MAXIMIZE":
        return None, (lambda t: -t.value)
    return None, None


@register_kind(
    "search",
    metrics_required=1,
    metrics_help="the target the figures colour and rank by, e.g. val/acc1",
    options=("figures",),
    option_values={"figures": _FIGURES},
)
def render_search(panel, data: SweepData, page: PageContext) -> Fragment:
    """Parallel coordinates, importances and history per family (Optuna visualisation)."""
    wanted = panel.options.get("figures", list(_FIGURES))
    target_name = panel.metrics[0]
    blocks, plots = [], 0
    for family in data.families:
        study, origin = family_study(data, family)
        done = [t for t in study.trials if t.state == TrialState.COMPLETE]
        head = (
            f"<h3>{esc(family)}</h3><p class='desc'>{len(done)} finished of "
            f"{len(study.trials)} trials in the study ({esc(origin)})</p>"
        )
        if not done:
            blocks.append(head + note("No finished trial yet."))
            continue
        target, ranked = _targets(study)
        label = target_name
        parts = []
        for figure in wanted:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    if figure == "parallel":
                        fig = vis.plot_parallel_coordinate(study, target=target, target_name=label)
                    elif figure == "importances":
                        if len(done) < 2:
                            raise ValueError("needs at least two finished trials")
                        fig = vis.plot_param_importances(
                            study, target=ranked, target_name=f"{label} (importance)"
                        )
                    else:
                        fig = vis.plot_optimization_history(study, target=target, target_name=label)
            except (ValueError, RuntimeError) as err:
                parts.append(f"<div>{note(f'{figure}: {err}')}</div>")
                continue
            fig.update_layout(title={"text": f"{family}: {figure}", "font": {"size": 14}})
            parts.append(f"<div>{page.figure(fig, height=360)}</div>")
            plots += 1
        blocks.append(
            head
            + f'<div class="cols family-block" style="--n:{len(wanted)}">{"".join(parts)}</div>'
        )
    return Fragment("".join(blocks), plots=plots)
