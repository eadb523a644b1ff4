"""``direction = "minimize"``: a study of a loss ranks its first metric lowest-first in ``best``,
``trials``, ``studies``, ties, exports, ``compare`` (and its regression gate), importance and
the report; the same study maximized ranks the other way; a bad direction is refused."""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from conftest import to_toml

from hptrack import Store
from hptrack.query import Direction, min_ranks
from hptrack.spec import MINIMIZING, load_spec

# A user's estimator whose score() is a loss: the mean squared error of predicting the
# constant c * scale (the target's mean is 1.2, so c = 1, scale = 1 is the lowest loss).
LOSS_MODULE = textwrap.dedent(
    """
    import numpy as np
    from sklearn.base import BaseEstimator


    class Constant(BaseEstimator):
        def __init__(self, c=0.0, scale=1.0):
            self.c = c
            self.scale = scale

        def fit(self, X, y):
            self.n_features_in_ = np.asarray(X).shape[1]
            return self

        def predict(self, X):
            return np.full(len(X), self.c * self.scale)

        def score(self, X, y):
            return float(np.mean((np.asarray(y) - self.predict(X)) ** 2))


    def load():
        i = np.arange(40)
        return i.reshape(-1, 1).astype(float), 1.0 + 0.1 * (i % 5)
    """
)

LOSS_SPEC: dict[str, Any] = {
    "name": "loss",
    "search": "grid",
    "seed": 0,
    "estimator": "lossmodel:Constant",
    "data": "lossmodel:load",
    "metrics": ["score"],
    "direction": "minimize",
    "cv": {"kind": "kfold", "folds": 4, "shuffle": True},
    "space": {"c": [0.0, 1.0, 2.0, 3.0], "scale": [1.0, 2.0]},
}

Invoke = Callable[..., Result]


def _spec(tmp_path: Path, filename: str = "loss.toml", **overrides: Any) -> Path:
    (tmp_path / "lossmodel.py").write_text(LOSS_MODULE)
    spec = {**LOSS_SPEC, **overrides}
    for key in [k for k, v in spec.items() if v is None]:
        del spec[key]
    path = tmp_path / filename
    path.write_text(to_toml(spec))
    return path


def _run(invoke: Invoke, spec: Path, db: Path) -> None:
    result = invoke("run", spec, "--store", db)
    assert result.exit_code == 0, result.output


def _json(invoke: Invoke, *args: Any) -> Any:
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _means(trials: list[dict[str, Any]]) -> dict[int, float]:
    return {t["number"]: t["mean"]["score"] for t in trials}


def test_minimize_ranks_the_lowest_loss_first_everywhere(tmp_path: Path, invoke: Invoke) -> None:
    db = tmp_path / "hptrack.db"
    _run(invoke, _spec(tmp_path), db)
    trials = _json(invoke, "trials", "loss", "--store", db)
    means = _means(trials)
    lowest = min(means, key=means.__getitem__)
    assert trials[lowest]["params"] == {"c": 1.0, "scale": 1.0}
    # ranks: 1 for the lowest mean, growing with the mean (min ranks, ties share)
    by_mean = sorted(means.values())
    assert all(t["rank"] == 1 + by_mean.index(t["mean"]["score"]) for t in trials)
    best = _json(invoke, "best", "loss", "--store", db)
    assert best["number"] == lowest and best["rank"] == 1 and best["tie_test"]["best"] == lowest
    top = _json(invoke, "trials", "loss", "--store", db, "--sort", "score", "--top", "3")
    assert [t["mean"]["score"] for t in top] == by_mean[:3]
    assert _json(invoke, "studies", "--store", db)[0]["best_score"] == by_mean[0]
    exported = json.loads(invoke("export", "loss", "--store", db, "--format", "json").stdout)
    assert {r["number"]: r["rank_test_score"] for r in exported} == {t["number"]: t["rank"] for t in trials}
    text = invoke("trials", "loss", "--store", db, "--top", "2").stdout
    assert "score (mean ± std, lower is better)" in text
    assert "lower is better" in invoke("best", "loss", "--store", db).stdout
    shown = invoke("show", "loss", "--store", db).stdout
    assert "metrics:     score (ranked by score, lower is better)" in shown


def test_python_api_agrees_with_the_cli(tmp_path: Path, invoke: Invoke) -> None:
    db = tmp_path / "hptrack.db"
    _run(invoke, _spec(tmp_path), db)
    with Store(db, readonly=True) as store:
        study = store.study("loss")
        assert study.direction == Direction(minimize=True) and study.spec["direction"] == "minimize"
        assert study.direction_of("score") == MINIMIZING
        trials = study.trials()
        lowest = min(trials, key=lambda t: t.mean["score"])
        assert study.best().number == lowest.number
        assert study.trials(top=1)[0].number == lowest.number
        doubled = study.trials(sort="score", params={"scale": 2.0})  # sorted in Python, not SQL
        assert [t.mean["score"] for t in doubled] == sorted(t.mean["score"] for t in doubled)
        assert study.tied_with_best().best == lowest.number
        ranks = study.cv_results()["rank_test_score"]
        assert list(ranks) == [t.rank for t in trials]
        assert ranks[lowest.number] == 1
        assert store.studies()[0].best_score == lowest.mean["score"]


def test_the_same_study_maximized_ranks_the_other_way(tmp_path: Path, invoke: Invoke) -> None:
    db = tmp_path / "hptrack.db"
    _run(invoke, _spec(tmp_path), db)
    _run(invoke, _spec(tmp_path, "max.toml", name="loss-max", direction=None), db)
    low = _json(invoke, "trials", "loss", "--store", db)
    high = _json(invoke, "trials", "loss-max", "--store", db)
    assert _means(low) == _means(high)  # the same folds, reused: only the order differs
    assert [t["rank"] for t in low] == min_ranks(list(_means(low).values()), direction=MINIMIZING)
    assert [t["rank"] for t in high] == min_ranks(list(_means(high).values()))
    means = _means(high)
    assert _json(invoke, "best", "loss-max", "--store", db)["number"] == max(means, key=means.__getitem__)
    with Store(db, readonly=True) as store:
        assert "direction" not in store.study("loss-max").spec  # maximize: stored as always
    # importance: the same shares whichever way the score is ranked
    a = _json(invoke, "importance", "loss", "--store", db)
    b = _json(invoke, "importance", "loss-max", "--store", db)
    assert a["params"] == b["params"] and a["pairs"] == b["pairs"]


def test_report_ranks_and_shades_the_lowest_loss_best(tmp_path: Path, invoke: Invoke) -> None:
    db, out = tmp_path / "hptrack.db", tmp_path / "report.html"
    _run(invoke, _spec(tmp_path), db)
    result = invoke("report", "loss", "--store", db, "-o", out)
    assert result.exit_code == 0, result.output
    html = out.read_text()
    best = _json(invoke, "best", "loss", "--store", db)["number"]
    assert f"Best configuration: trial {best}</h2>" in html
    assert "ranked by mean score, lowest first (lower is better)" in html
    assert "line: the best so far, lower is better" in html
    cell = r'<title>[^<]*: mean score ([-\d.]+) \(\d+ trial\(s\)\)</title>\n<rect class="q(\d)"'
    cells = re.findall(cell, html)
    assert len(cells) == 8
    shade = {float(mean): int(q) for mean, q in cells}
    assert shade[min(shade)] == 8 and shade[max(shade)] == 0  # the darkest shade is the best


def test_compare_fails_on_a_higher_loss(tmp_path: Path, invoke: Invoke) -> None:
    db = tmp_path / "hptrack.db"
    _run(invoke, _spec(tmp_path), db)  # A: c = 1 reaches the lowest loss
    worse = {"c": [2.0, 3.0], "scale": [1.0, 2.0]}
    _run(invoke, _spec(tmp_path, "b.toml", name="loss-b", space=worse), db)
    result = invoke("compare", "loss", "loss-b", "--store", db, "--fail-on-regression")
    assert result.exit_code == 1, result.output
    assert "regression: B's best score is" in result.stderr and "above A's" in result.stderr
    assert "on score (lower is better)" in result.stdout
    found = _json(invoke, "compare", "loss", "loss-b", "--store", db)
    assert found["best"]["delta"] > 0 and found["regressed"] and found["direction"] == "minimize"
    shared = [s["b_mean"] for s in found["shared"]]
    assert shared == sorted(shared)  # shared configurations best (lowest) first
    assert invoke("compare", "loss-b", "loss", "--store", db, "--fail-on-regression").exit_code == 0
    loose = ("--fail-on-regression", "--threshold", str(found["best"]["delta"] * 2))
    assert invoke("compare", "loss", "loss-b", "--store", db, *loose).exit_code == 0


def test_compare_refuses_studies_ranked_opposite_ways(tmp_path: Path, invoke: Invoke) -> None:
    db = tmp_path / "hptrack.db"
    _run(invoke, _spec(tmp_path), db)
    _run(invoke, _spec(tmp_path, "max.toml", name="loss-max", direction=None), db)
    result = invoke("compare", "loss", "loss-max", "--store", db, "--fail-on-regression")
    assert result.exit_code == 2
    assert "ranks 'score' lower-is-better but study B 'loss-max' ranks it higher-is-better" in result.stderr
    out = tmp_path / "both.html"
    assert invoke("report", "loss", "loss-max", "--store", db, "-o", out).exit_code == 0
    assert "not compared: &#39;loss-max&#39; ranks score the other way (direction)" in out.read_text()


def test_changing_direction_is_another_study(tmp_path: Path, invoke: Invoke) -> None:
    db = tmp_path / "hptrack.db"
    _run(invoke, _spec(tmp_path), db)
    result = invoke("run", _spec(tmp_path, direction="maximize"), "--store", db)
    assert result.exit_code == 2
    assert "different spec (changed: direction)" in result.stderr
    resumed = invoke("resume", "loss", "--store", db)  # from the stored spec, direction and all
    assert resumed.exit_code == 0, resumed.output


@pytest.mark.parametrize("value", ["minimise", "max", 1, ""])
def test_a_bad_direction_is_refused_before_the_store(tmp_path: Path, invoke: Invoke, value: Any) -> None:
    db = tmp_path / "hptrack.db"
    result = invoke("run", _spec(tmp_path, direction=value), "--store", db)
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert "\n" not in line
    assert f"loss.toml: direction = {value!r} must be 'maximize' or 'minimize'" in line
    assert not db.exists()


@pytest.mark.parametrize(
    ("metric", "fix"),
    [
        ("r2", "use a neg_* scorer (e.g. 'neg_log_loss') and remove direction"),
        ("neg_mean_squared_error", "'neg_mean_squared_error' is already a negated loss"),
    ],
)
def test_minimizing_a_scikit_learn_scorer_is_refused(
    tmp_path: Path, invoke: Invoke, metric: str, fix: str
) -> None:
    db = tmp_path / "hptrack.db"
    result = invoke("run", _spec(tmp_path, metrics=[metric]), "--store", db)
    assert result.exit_code == 2
    assert f"direction = 'minimize' with metric {metric!r}, a scikit-learn scorer" in result.stderr
    assert fix in result.stderr
    assert not db.exists()


def test_a_spec_without_direction_maximizes_and_stores_as_before(tmp_path: Path) -> None:
    spec = load_spec(_spec(tmp_path, direction=None))
    assert spec.direction == "maximize" and "direction" not in spec.to_dict()
    minimized = load_spec(_spec(tmp_path))
    assert minimized.to_dict()["direction"] == "minimize"


def test_direction_orders_and_compares() -> None:
    loss, score = Direction(minimize=True), Direction()
    assert min_ranks([0.3, None, 0.1, 0.3], direction=loss) == [2, None, 1, 2]
    assert min_ranks([0.3, None, 0.1, 0.3]) == [1, None, 3, 1]
    assert loss.better(0.1, 0.2) and score.better(0.2, 0.1) and not loss.better(float("nan"), 0.2)
    assert loss.gain(0.1, 0.3) == pytest.approx(0.2) and score.gain(0.1, 0.3) == pytest.approx(-0.2)
    assert (loss.goodness(0.0, 0.0, 1.0), score.goodness(0.0, 0.0, 1.0)) == (1.0, 0.0)
    assert sorted([0.2, None, 0.1], key=loss.sort_key) == [0.1, 0.2, None]
