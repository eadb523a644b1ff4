"""Fold scores equal scikit-learn's: through the CLI, the store and ``evaluate_fold``.

SPEC section 5: for the same estimator, grid, splits and scoring, every fold score
hptrack records equals ``GridSearchCV(...).cv_results_["split{k}_test_<m>"]`` exactly
(``==``, never approx). A failing fit follows ``error_score``.
"""

from __future__ import annotations

import importlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_digits, load_iris
from sklearn.exceptions import FitFailedWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_validate
from sklearn.svm import SVC

import hptrack
from hptrack import Store
from hptrack.run import (
    SEARCH_WEIGHTS_SCORES,
    FoldTask,
    ScoreKey,
    evaluate_fold,
)

METRICS = ["accuracy", "f1_macro"]


def _tiny_data() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_digits(return_X_y=True)  # as conftest's tinydata:load
    return X[:300], y[:300]


def _sklearn_search(
    estimator: str,
    fixed: dict[str, Any],
    space: dict[str, list[Any]],
    *,
    seed: int,
    folds: int = 3,
    train_scores: bool = False,
    error_score: Any = np.nan,
) -> GridSearchCV:
    """scikit-learn's search on the spec's data, splits, scorers and seeded estimator."""
    module, _, attr = estimator.partition(":")
    est = getattr(importlib.import_module(module), attr)(**fixed)
    if "random_state" in est.get_params() and est.random_state is None:
        est.set_params(random_state=seed)  # what hptrack does with random_state left at None
    X, y = _tiny_data()
    return GridSearchCV(
        est,
        space,
        scoring=METRICS,
        refit=False,
        cv=StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed),
        return_train_score=train_scores,
        error_score=error_score,
    ).fit(X, y)


def _value(x: float | None) -> float:
    return math.nan if x is None else x


def _same(recorded: float | None, expected: float) -> bool:
    """Exact equality, a missing score (None) standing for scikit-learn's NaN."""
    if recorded is None:
        return bool(np.isnan(expected))
    return recorded == expected


CASES = [
    pytest.param(
        "sklearn.linear_model:LogisticRegression",
        {"max_iter": 200},
        {"C": [0.01, 0.1, 1.0]},
        0,
        False,
        id="logistic",
    ),
    pytest.param(
        "sklearn.svm:SVC",
        {},
        {"C": [0.1, 10.0], "kernel": ["rbf", "linear"]},
        3,
        True,
        id="svc-train-scores",
    ),
    pytest.param(
        "sklearn.tree:DecisionTreeClassifier",
        {},
        {"max_depth": [2, 5], "max_features": [0.5, 1.0]},
        7,
        True,
        id="tree-seeded-random-state",
    ),
    pytest.param(
        "sklearn.neighbors:KNeighborsClassifier",
        {},
        {"n_neighbors": [1, 3, 7]},
        1,
        False,
        id="kneighbors",
    ),
]


@pytest.mark.parametrize(("estimator", "fixed", "space", "seed", "train_scores"), CASES)
def test_cli_fold_scores_equal_sklearn_exactly(
    estimator, fixed, space, seed, train_scores, write_spec, db_path, invoke
):
    spec = write_spec(
        estimator=estimator,
        fixed=fixed,
        space=space,
        seed=seed,
        metrics=METRICS,
        train_scores=train_scores,
    )
    result = invoke("run", spec, "--store", db_path)
    assert result.exit_code == 0, result.output

    expected = _sklearn_search(estimator, fixed, space, seed=seed, train_scores=train_scores)
    cv = expected.cv_results_
    with Store(db_path) as store:
        trials = store.study("tiny").trials()
    assert [t.number for t in trials] == list(range(len(cv["params"])))
    for t in trials:
        assert t.status == "complete"
        assert t.params == cv["params"][t.number]
        for m in METRICS:
            for k in range(3):
                assert t.scores[m][k] == cv[f"split{k}_test_{m}"][t.number], (t.number, m, k)
                if train_scores:
                    assert t.train_scores is not None
                    assert t.train_scores[m][k] == cv[f"split{k}_train_{m}"][t.number]
            assert t.mean[m] == cv[f"mean_test_{m}"][t.number]
            assert t.std[m] == cv[f"std_test_{m}"][t.number]
        assert t.rank == cv["rank_test_accuracy"][t.number]  # the first metric ranks
        if not train_scores:
            assert t.train_scores is None


def test_cli_export_json_equals_sklearn_cv_results(write_spec, db_path, invoke):
    space = {"C": [0.1, 1.0], "kernel": ["rbf", "linear"]}
    spec = write_spec(estimator="sklearn.svm:SVC", fixed={}, space=space, train_scores=True)
    assert invoke("run", spec, "--store", db_path).exit_code == 0
    result = invoke("export", "tiny", "--format", "json", "--store", db_path)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)

    cv = _sklearn_search("sklearn.svm:SVC", {}, space, seed=0, train_scores=True).cv_results_
    assert [row["number"] for row in rows] == list(range(len(cv["params"])))
    for row in rows:
        n = row["number"]
        assert json.loads(row["params"]) == cv["params"][n]
        assert row["param_C"] == cv["param_C"][n]
        assert row["param_kernel"] == cv["param_kernel"][n]
        for m in METRICS:
            for k in range(3):
                assert row[f"split{k}_test_{m}"] == cv[f"split{k}_test_{m}"][n]
                assert row[f"split{k}_train_{m}"] == cv[f"split{k}_train_{m}"][n]
            for stat in ("mean", "std"):
                assert row[f"{stat}_test_{m}"] == cv[f"{stat}_test_{m}"][n]
                assert row[f"{stat}_train_{m}"] == cv[f"{stat}_train_{m}"][n]
            assert row[f"rank_test_{m}"] == cv[f"rank_test_{m}"][n]


def test_cli_failing_fit_is_recorded_and_the_study_goes_on(write_spec, db_path, invoke):
    # C must be > 0: LogisticRegression.fit raises InvalidParameterError for C=-1.
    space = {"C": [0.1, -1.0, 1.0]}
    spec = write_spec(space=space)
    result = invoke("run", spec, "--store", db_path)
    assert result.exit_code == 0, result.output

    with pytest.warns(FitFailedWarning, match="3 fits failed out of a total of 9"):
        with pytest.warns(UserWarning, match="non-finite"):
            expected = _sklearn_search(
                "sklearn.linear_model:LogisticRegression", {"max_iter": 200}, space, seed=0
            )
    cv = expected.cv_results_
    with Store(db_path) as store:
        study = store.study("tiny")
        trials = study.trials()
        assert study.counts() == {"pending": 0, "running": 0, "complete": 2, "failed": 1}
    failed = trials[1]
    assert failed.status == "failed"
    assert failed.rank is None
    assert sorted(failed.errors) == [0, 1, 2]
    for error in failed.errors.values():
        assert error.startswith("Traceback (most recent call last):")
        assert "InvalidParameterError" in error
        assert "The 'C' parameter of LogisticRegression must be a float" in error
    assert failed.scores == {m: [None, None, None] for m in METRICS}  # error_score = nan
    assert all(math.isnan(_value(failed.mean[m])) for m in METRICS)  # sklearn's mean: nan
    for t in (trials[0], trials[2]):
        assert t.status == "complete"
        assert not t.errors
        for m in METRICS:
            for k in range(3):
                assert t.scores[m][k] == cv[f"split{k}_test_{m}"][t.number]
            assert t.mean[m] == cv[f"mean_test_{m}"][t.number]
            assert t.std[m] == cv[f"std_test_{m}"][t.number]
        assert t.rank == cv["rank_test_accuracy"][t.number]
    for m in METRICS:
        assert all(np.isnan(cv[f"split{k}_test_{m}"][1]) for k in range(3))

    trials_json = json.loads(invoke("trials", "tiny", "--store", db_path, "--json").stdout)
    assert [t["status"] for t in trials_json] == ["complete", "failed", "complete"]


def test_cli_error_score_number_is_recorded_for_failed_folds(write_spec, db_path, invoke):
    space = {"C": [-1.0, 1.0]}
    spec = write_spec(space=space, error_score=0.0)
    assert invoke("run", spec, "--store", db_path).exit_code == 0
    with Store(db_path) as store:
        failed, complete = store.study("tiny").trials()
    assert failed.status == "failed"
    assert failed.scores == {m: [0.0, 0.0, 0.0] for m in METRICS}
    assert len(failed.errors) == 3
    assert complete.status == "complete"


def test_drop_in_error_score_raise_reraises_after_recording(tmp_path):
    X, y = load_iris(return_X_y=True)
    db = tmp_path / "x.db"
    search = hptrack.GridSearchCV(
        LogisticRegression(max_iter=300),
        {"C": [1.0, -1.0]},
        cv=3,
        error_score="raise",
        store=db,
        study="raising",
    )
    with pytest.raises(ValueError, match="The 'C' parameter of LogisticRegression must be"):
        search.fit(X, y)
    with Store(db) as store:
        trials = store.study("raising").trials()
    assert trials[0].status == "complete"
    assert trials[1].errors  # the failure was recorded before it was raised
    assert "InvalidParameterError" in next(iter(trials[1].errors.values()))

    # sklearn raises the estimator's own error; a second fit resumes, and raises again
    with pytest.raises(ValueError, match="The 'C' parameter of LogisticRegression must be"):
        GridSearchCV(LogisticRegression(max_iter=300), {"C": [1.0, -1.0]}, cv=3, error_score="raise").fit(
            X, y
        )
    with pytest.raises(ValueError, match="The 'C' parameter of LogisticRegression must be"):
        search.fit(X, y)


# ------------------------------------------------------------------ evaluate_fold itself


def _iris_fold() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    X, y = load_iris(return_X_y=True)
    train, test = next(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))
    return X, y, train, test


def test_evaluate_fold_equals_cross_validate():
    X, y, train, test = _iris_fold()
    scorers = {"accuracy": "accuracy", "f1_macro": "f1_macro"}
    from sklearn.metrics import get_scorer

    est = SVC(C=0.5)
    result = evaluate_fold(
        FoldTask(1, 2, 0, {"kernel": "linear"}),
        est,
        X,
        y,
        train,
        test,
        {m: get_scorer(s) for m, s in scorers.items()},
        return_train_score=True,
    )
    out = cross_validate(
        SVC(C=0.5, kernel="linear"),
        X,
        y,
        cv=[(train, test)],
        scoring=list(scorers),
        return_train_score=True,
    )
    assert (result.trial_id, result.number, result.fold) == (1, 2, 0)
    assert result.error is None and result.exception is None
    for m in scorers:
        assert result.test[m] == out[f"test_{m}"][0]
        assert result.train is not None and result.train[m] == out[f"train_{m}"][0]
    assert est.get_params()["kernel"] == "rbf"  # the estimator passed in is not modified


@pytest.mark.parametrize("error_score", [np.nan, 0.0, "raise"])
def test_evaluate_fold_failure_keeps_traceback(error_score):
    X, y, train, test = _iris_fold()
    from sklearn.metrics import get_scorer

    result = evaluate_fold(
        FoldTask(1, 0, 2, {"C": -1.0}),
        LogisticRegression(),
        X,
        y,
        train,
        test,
        {"accuracy": get_scorer("accuracy")},
        error_score=error_score,
        return_train_score=True,
    )
    assert result.error is not None
    # as scikit-learn's fit_error: from _fit_and_score down to the estimator's error
    assert result.error.startswith("Traceback (most recent call last):")
    assert "in _fit_and_score" in result.error.splitlines()[1]
    assert "The 'C' parameter of LogisticRegression must be" in result.error
    expected = math.nan if error_score == "raise" else error_score
    assert np.array_equal([result.test["accuracy"]], [expected], equal_nan=True)
    assert result.train is not None
    assert np.array_equal([result.train["accuracy"]], [expected], equal_nan=True)
    if error_score == "raise":
        assert isinstance(result.exception, ValueError)
    else:
        assert result.exception is None


def _acc_and_error(estimator, X, y):
    pred = estimator.predict(X)
    return {"acc": accuracy_score(y, pred), "err": 1 - accuracy_score(y, pred)}


def test_score_key_scores_a_dict_returning_callable_once_per_fold():
    X, y, train, test = _iris_fold()
    scorers = {"acc": ScoreKey(_acc_and_error, "acc"), "err": ScoreKey(_acc_and_error, "err")}
    result = evaluate_fold(FoldTask(1, 0, 0, {}), SVC(), X, y, train, test, scorers)
    out = cross_validate(SVC(), X, y, cv=[(train, test)], scoring=_acc_and_error)
    assert result.test == {"acc": out["test_acc"][0], "err": out["test_err"][0]}


@pytest.mark.skipif(not SEARCH_WEIGHTS_SCORES, reason="this scikit-learn scores unweighted")
def test_sample_weight_weights_the_scorers_that_accept_it():
    X, y, train, test = _iris_fold()
    from sklearn.metrics import get_scorer

    weights = np.linspace(0.1, 2.0, len(y))
    task = FoldTask(1, 0, 0, {})
    scorers = {"accuracy": get_scorer("accuracy"), "f1_macro": get_scorer("f1_macro")}
    result = evaluate_fold(
        task,
        SVC(),
        X,
        y,
        train,
        test,
        scorers,
        fit_params={"sample_weight": weights},
        return_train_score=True,
    )
    expected = (
        GridSearchCV(
            SVC(),
            {"C": [1.0]},
            scoring=list(scorers),
            refit=False,
            cv=[(train, test)],
            return_train_score=True,
        )
        .fit(X, y, sample_weight=weights)
        .cv_results_
    )
    for m in scorers:
        assert result.test[m] == expected[f"split0_test_{m}"][0]
        assert result.train is not None and result.train[m] == expected[f"split0_train_{m}"][0]
    fitted = SVC().fit(X[train], y[train], sample_weight=weights[train])
    unweighted = accuracy_score(y[test], fitted.predict(X[test]))
    assert result.test["accuracy"] != unweighted  # the weights did reach the scorer


def test_random_state_left_none_gets_the_study_seed(write_spec, db_path, invoke):
    spec = write_spec(
        estimator="sklearn.tree:DecisionTreeClassifier", fixed={}, space={"max_depth": [3]}, seed=5
    )
    assert invoke("run", spec, "--store", db_path).exit_code == 0
    with Store(db_path) as store:
        (trial,) = store.study("tiny").trials()
    assert trial.seed.get("random_state") == 5
    seeded = _sklearn_search(
        "sklearn.tree:DecisionTreeClassifier", {"random_state": 5}, {"max_depth": [3]}, seed=5
    )
    for k in range(3):
        assert trial.scores["accuracy"][k] == seeded.cv_results_[f"split{k}_test_accuracy"][0]


def test_tinydata_matches_conftest(tmp_path: Path, write_spec):
    """The sklearn side above loads the very data the spec's data module returns."""
    write_spec()
    import runpy

    module = runpy.run_path(str(tmp_path / "tinydata.py"))
    X, y = module["load"]()
    X2, y2 = _tiny_data()
    assert np.array_equal(X, X2) and np.array_equal(y, y2)
