"""Dashboard specs: the shipped ones load, and each mistake exits 2 naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ncsweep.cli import main
from ncsweep.report import PANEL_KINDS, dashboards_dir, load_dashboards, spec

GOOD = {"title": "t", "kind": "pareto", "metrics": ["val/acc1", "objective/nc_steps"]}


def test_shipped_dashboards_use_every_registered_kind():
    panels = [p for board in load_dashboards() for p in board.panels]
    assert {p.kind for p in panels} == set(PANEL_KINDS)


def test_shipped_dashboards_are_the_repository_folder_in_a_checkout():
    assert dashboards_dir() == Path(__file__).resolve().parents[2] / "dashboards"


def test_missing_shipped_dashboards_exit_1_as_an_installation_fault(tmp_path, capsys, monkeypatch):
    # an installation without the copy setup.py makes, run outside any checkout
    monkeypatch.setattr(spec, "shipped_dir", lambda name: tmp_path / name)
    with pytest.raises(SystemExit) as done:
        main(["report", "nosweep", "--tracking-uri", f"sqlite:///{tmp_path}/never.db"])
    err = " ".join(capsys.readouterr().err.split())
    assert done.value.code == 1, err
    assert "dashboards that ship with ncsweep are missing" in err and str(tmp_path) in err
    assert "installation is incomplete" in err and "--dashboards" in err
    assert "Traceback" not in err
    assert not (tmp_path / "never.db").exists()


def _exit_message(tmp_path, capsys, panel: dict | None = None, top: dict | None = None):
    path = tmp_path / "board.yaml"
    path.write_text(yaml.safe_dump(top if top is not None else {"title": "x", "panels": [panel]}))
    with pytest.raises(SystemExit) as done:
        # the spec is checked before MLflow is opened: the tracking URI is never touched
        main(
            [
                "report",
                "nosweep",
                "--dashboards",
                str(path),
                "--tracking-uri",
                f"sqlite:///{tmp_path}/never.db",
            ]
        )
    err = capsys.readouterr().err
    assert done.value.code == 2, err
    assert "Traceback" not in err
    assert not (tmp_path / "never.db").exists()
    return " ".join(err.split()), str(path)


@pytest.mark.parametrize(
    ("panel", "names"),
    [
        ({**GOOD, "kind": "heatmap"}, ["panels[0].kind", "'heatmap'", "pareto", "trials"]),
        (
            {**GOOD, "metrics": ["val/acc1", "nc/nc7"]},
            ["panels[0].metrics[1]", "'nc/nc7'", "nc/<name>"],
        ),
        ({"kind": "trials"}, ["panels[0]", "missing key 'title'"]),
        ({"title": "t"}, ["panels[0]", "missing key 'kind'"]),
        ({"title": "t", "kind": "pareto"}, ["panels[0]", "missing key 'metrics'", "maximise"]),
        ({**GOOD, "colour": "red"}, ["panels[0]", "unknown key 'colour'", "grouping"]),
        ({**GOOD, "grouping": "trial"}, ["panels[0].grouping", "'trial'", "allowed: family"]),
        ({**GOOD, "options": {"smooth": 1}}, ["panels[0]", "unknown key 'options.smooth'"]),
        (
            {
                "title": "t",
                "kind": "search",
                "metrics": ["val/acc1"],
                "options": {"figures": ["contour"]},
            },
            ["panels[0]", "options.figures=['contour']", "parallel, importances, history"],
        ),
    ],
)
def test_panel_mistake_exits_2_naming_file_and_key(tmp_path, capsys, panel, names):
    message, path = _exit_message(tmp_path, capsys, panel)
    assert path in message
    for name in names:
        assert name in message, (name, message)


def test_file_without_panels_exits_2(tmp_path, capsys):
    message, path = _exit_message(tmp_path, capsys, top={"title": "x"})
    assert path in message and "missing key 'panels'" in message
