"""Learning curves: every fold.report(step, **values) is stored (one packed row per fold) and
read back by Study.curves, ``hptrack curves`` and the report."""

from __future__ import annotations

import json
import math
import sqlite3
import textwrap

import pytest
from conftest import to_toml

from hptrack import Store

CURVES = textwrap.dedent(
    """
    import numpy as np


    def load():
        X = np.arange(40.0).reshape(20, 2)
        return X, np.arange(20.0)


    def objective(params, fold):
        for step in range(0, 10 * params["n"], 10):  # even steps: 0, 10, 20, ...
            fold.report(step, loss=params["lr"] / (step + 1) + fold.index, acc=step * 0.01)
        fold.report(10 * params["n"] + 5, acc=float("nan"), extra=np.float32(1.5))  # uneven at the end
        return {"score": params["lr"] + fold.index}


    def silent(params, fold):
        return {"score": 1.0}


    def bad_step(params, fold):
        fold.report(3, loss=1.0)
        fold.report(2, loss=0.5)
        return {"score": 1.0}


    def bad_value(params, fold):
        fold.report(0, loss="low")
        return {"score": 1.0}


    KEPT = []


    def reports_late(params, fold):
        KEPT.append(fold)
        if len(KEPT) > 1:
            KEPT[0].report(99, loss=1.0)
        return {"score": 1.0}
    """
)


@pytest.fixture
def curve_spec(tmp_path):
    (tmp_path / "curvy.py").write_text(CURVES)

    def write(**overrides):
        spec = {
            "name": "curvy",
            "search": "grid",
            "objective": "curvy:objective",
            "data": "curvy:load",
            "metrics": ["score"],
            "cv": {"folds": 2},
            "space": {"lr": [1.0, 2.0], "n": [3]},
            **overrides,
        }
        path = tmp_path / "curvy.toml"
        path.write_text(to_toml(spec))
        return path

    return write


def test_every_reported_point_is_read_back_per_trial_and_fold(curve_spec, tmp_path, invoke):
    db = tmp_path / "h.db"
    assert invoke("run", curve_spec(), "--store", db).exit_code == 0
    with Store(db, readonly=True) as store:
        curves = store.study("curvy").curves()
        one = store.study("curvy").curves(1)
    assert [(c.trial, c.fold) for c in curves] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert [(c.trial, c.fold) for c in one] == [(1, 0), (1, 1)]
    fold1 = curves[1]
    assert fold1.steps == [0, 10, 20, 35]
    assert fold1.values["loss"][:3] == [1.0 / 1 + 1, 1.0 / 11 + 1, 1.0 / 21 + 1]
    assert math.isnan(fold1.values["loss"][3])  # not reported at that step
    assert math.isnan(fold1.values["acc"][3])  # reported as NaN
    assert fold1.values["extra"][3] == 1.5
    assert fold1.to_dict()["values"]["acc"] == [0.0, 0.1, 0.2, None]


def test_curves_are_one_compact_row_per_fold(curve_spec, tmp_path, invoke):
    db = tmp_path / "h.db"
    assert invoke("run", curve_spec(), "--store", db).exit_code == 0
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT length(points) FROM curves").fetchall()
    conn.close()
    assert len(rows) == 4
    # header + names once, 4 explicit int64 steps, 4 x 3 float64 values: no text per point
    assert all(size < 29 + 30 + 4 * 8 + 4 * 3 * 8 for (size,) in rows)


def test_cli_curves_text_and_json(curve_spec, tmp_path, invoke):
    db = tmp_path / "h.db"
    assert invoke("run", curve_spec(), "--store", db).exit_code == 0
    summary = invoke("curves", "curvy", "--store", db)
    assert summary.exit_code == 0
    lines = summary.stdout.splitlines()
    assert lines[0].split() == ["#", "value", "folds", "steps", "first", "last", "last", "fold", "range"]
    assert any(line.split()[:5] == ["0", "loss", "2", "3", "(0"] for line in lines)
    by_step = invoke("curves", "curvy", "1", "--store", db)
    assert by_step.exit_code == 0
    # trial 1, lr 2: median over folds 0 and 1 of 2/(step+1) + fold, fold range around it
    assert "1  loss   0     2.5000  2.0000 - 3.0000" in by_step.stdout
    data = json.loads(invoke("curves", "curvy", "1", "--store", db, "--json").stdout)
    assert [(c["trial"], c["fold"]) for c in data] == [(1, 0), (1, 1)]
    assert data[0]["steps"] == [0, 10, 20, 35]
    missing = invoke("curves", "curvy", "7", "--store", db)
    assert missing.exit_code == 2 and "has no trial 7" in missing.stderr


def test_a_study_without_curves_says_so(curve_spec, tmp_path, invoke):
    db = tmp_path / "h.db"
    assert invoke("run", curve_spec(objective="curvy:silent"), "--store", db).exit_code == 0
    result = invoke("curves", "curvy", "--store", db)
    assert result.exit_code == 0 and result.stdout == ""
    assert "has no learning curves" in result.stderr
    assert json.loads(invoke("curves", "curvy", "--store", db, "--json").stdout) == []


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        ("bad_step", "fold.report(step=2) after step 3: steps must increase"),
        ("bad_value", "fold.report(loss=...) = 'low' is not a real number"),
        ("reports_late", "fold.report() after the objective returned"),
    ],
)
def test_bad_reports_fail_the_fold(curve_spec, tmp_path, invoke, fn, message):
    db = tmp_path / "h.db"
    invoke("run", curve_spec(objective=f"curvy:{fn}"), "--store", db)
    with Store(db, readonly=True) as store:
        errors = [e for t in store.study("curvy").trials() for e in t.errors.values()]
    assert errors and message in errors[0]


def test_reused_folds_carry_their_curves(curve_spec, tmp_path, invoke):
    db = tmp_path / "h.db"
    assert invoke("run", curve_spec(), "--store", db).exit_code == 0
    again = invoke("run", curve_spec(name="again"), "--store", db)
    assert "4 reused" in again.stderr
    with Store(db, readonly=True) as store:
        first, second = store.study("curvy").curves(), store.study("again").curves()
    assert [c.to_dict() for c in first] == [c.to_dict() for c in second]


def test_report_draws_the_best_configurations_curves_with_fold_ranges(curve_spec, tmp_path, invoke):
    db = tmp_path / "h.db"
    assert invoke("run", curve_spec(space={"lr": [1.0, 2.0, 3.0, 4.0], "n": [3]}), "--store", db).exit_code == 0
    out, again = tmp_path / "r.html", tmp_path / "r2.html"
    assert invoke("report", "curvy", "--store", db, "-o", out).exit_code == 0
    assert invoke("report", "curvy", "--store", db, "-o", again).exit_code == 0
    html = out.read_text()
    assert html == again.read_text()  # deterministic
    section = html[html.index('<section class="curves"') : html.index("</section>", html.index('<section class="curves"'))]
    assert "Learning curves" in section
    # the best 3 of 4 configurations (score = lr + fold: lr 4, 3, 2), one plot per reported value
    assert section.count("<figure") == 3  # loss, acc, extra
    assert section.count('<polyline class="curve-line') == 3 * 3
    assert section.count('<polygon class="curve-band') == 3 * 3  # two folds: a range to shade
    assert "#3 lr=4" in section and "#2 lr=3" in section and "#1 lr=2" in section and "#0 lr=1" not in section
    assert "style=" not in section and "fill=" not in section  # colours are CSS classes


def test_report_of_an_estimator_study_has_no_curves_section(write_spec, tmp_path, invoke):
    db = tmp_path / "h.db"
    assert invoke("run", write_spec(), "--store", db).exit_code == 0
    out = tmp_path / "r.html"
    assert invoke("report", "tiny", "--store", db, "-o", out).exit_code == 0
    assert '<section class="curves"' not in out.read_text()
