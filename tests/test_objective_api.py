"""``hptrack.search(fn, space, data=(X, y), ...)``: an objective study from Python."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.datasets import load_iris

import hptrack
from hptrack import SpecError, SpecMismatchError, Store

X, Y = load_iris(return_X_y=True)


def objective(params, fold):
    rng = np.random.default_rng(fold.seed)
    centre = fold.X_train.mean(axis=0) + rng.normal(size=4) * params["noise"]
    for epoch in range(params["epochs"]):
        fold.report(epoch, distance=float(np.abs(fold.X_val - centre).mean()) / (epoch + 1))
    return {"neg_distance": -float(np.abs(fold.X_val - centre).mean()), "n_val": float(len(fold.val))}


def test_search_returns_the_study_with_scores_and_curves(tmp_path):
    study = hptrack.search(objective, {"noise": [0.0, 1.0]}, data=(X, Y), metrics=["neg_distance", "n_val"],
                           cv=3, fixed={"epochs": 2}, seed=4, store=tmp_path / "h.db")
    trials = study.trials()
    assert [t.params for t in trials] == [{"noise": 0.0}, {"noise": 1.0}]
    assert trials[0].scores["n_val"] == [50.0, 50.0, 50.0]
    assert trials[0].rank == 1
    assert len(study.curves()) == 2 * 3 and study.curves(1)[0].steps == [0, 1]
    assert study.spec["objective"].endswith(":objective") and study.seed == 4


def test_search_again_resumes_the_same_study_without_refitting(tmp_path):
    db = tmp_path / "h.db"
    options = dict(data=(X, Y), metrics=["neg_distance"], cv=3, fixed={"epochs": 1}, store=db)
    first = hptrack.search(objective, {"noise": [0.0, 0.5, 1.0]}, max_trials=1, **options)
    assert first.counts()["complete"] == 1
    second = hptrack.search(objective, {"noise": [0.0, 0.5, 1.0]}, **options)
    assert second.name == first.name and second.counts()["complete"] == 3
    history = second.history()
    assert [run.trials for run in history] == [1, 2]


def test_random_search_from_python_samples_from_the_seed(tmp_path):
    space = {"noise": {"dist": "uniform", "low": 0.0, "high": 1.0}}
    options = dict(data=(X, Y), metrics=["neg_distance"], cv=2, fixed={"epochs": 1}, search="random",
                   n_trials=3, seed=9)
    a = hptrack.search(objective, space, store=tmp_path / "a.db", **options)
    b = hptrack.search(objective, space, store=tmp_path / "b.db", **options)
    assert [t.params for t in a.trials()] == [t.params for t in b.trials()]
    assert len({t.params["noise"] for t in a.trials()}) == 3


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"metrics": ["bad name"]}, "hptrack.search: metrics: 'bad name' is not a plain name"),
        ({"search": "grdi"}, "search = 'grdi' must be one of 'grid', 'random', "),
        ({"direction": "up"}, "direction = 'up' must be 'maximize' or 'minimize'"),
        ({"cv": 1}, "[cv] folds = 1 must be a whole number >= 2"),
        ({"data": (X, Y[:10])}, "X has 150 samples but y has 10"),
    ],
)
def test_bad_arguments_raise_one_line_and_write_nothing(tmp_path, overrides, message):
    db = tmp_path / "h.db"
    options = {"data": (X, Y), "metrics": ["neg_distance"], "cv": 3, "store": db, **overrides}
    with pytest.raises(SpecError) as info:
        hptrack.search(objective, {"noise": [0.0]}, **options)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert not db.exists()


def distance(params, fold):
    return {"distance": float(np.abs(fold.X_val - fold.X_train.mean(axis=0)).mean()) + params["offset"]}


def test_minimize_ranks_the_lowest_first_and_is_stored_in_the_spec(tmp_path):
    options = {"data": (X, Y), "metrics": ["distance"], "cv": 2, "store": tmp_path / "h.db"}
    study = hptrack.search(distance, {"offset": [0.5, 0.0, 1.0]}, direction="minimize", **options)
    assert study.spec["direction"] == "minimize"
    assert study.best().params == {"offset": 0.0}
    assert [t.params["offset"] for t in study.trials(sort="distance")] == [0.0, 0.5, 1.0]
    assert [t.rank for t in study.trials()] == [2, 1, 3]


def test_a_named_study_with_another_space_is_refused(tmp_path):
    db = tmp_path / "h.db"
    options = {"data": (X, Y), "metrics": ["neg_distance"], "cv": 2, "fixed": {"epochs": 1}, "store": db}
    hptrack.search(objective, {"noise": [0.0]}, study="named", **options)
    with pytest.raises(SpecMismatchError, match="changed: space"):
        hptrack.search(objective, {"noise": [0.0, 1.0]}, study="named", **options)
    with Store(db, readonly=True) as store:
        assert store.study("named").counts()["complete"] == 1


def test_search_is_the_package_and_the_function():
    import hptrack.search as package

    assert hptrack.search is package and callable(hptrack.search)
    assert hptrack.search.GridSearchCV is hptrack.GridSearchCV


def test_a_python_study_is_resumed_from_python_not_the_cli(tmp_path, invoke):
    db = tmp_path / "h.db"
    study = hptrack.search(objective, {"noise": [0.0, 1.0]}, data=(X, Y), metrics=["neg_distance"], cv=2,
                           fixed={"epochs": 1}, store=db, max_trials=1)
    result = invoke("resume", study.name, "--store", db)
    assert result.exit_code == 2
    assert "its hptrack.search(...) call continues the study" in result.stderr
    curves = invoke("curves", study.name, "0", "--store", db, "--json")
    assert curves.exit_code == 0 and len(json.loads(curves.stdout)) == 2
