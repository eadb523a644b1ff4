"""Scoring edge cases: failing scorers, metric/target mismatches, "None" in specs, all-failed runs.

SPEC sections 2, 3 and 5: a failing scorer fails only its own metric, as in
scikit-learn; a metric that cannot work for the data is refused before the store
exists; the string "None" in a spec is Python None; a run where every trial failed
exits 1 naming the most common error.
"""

from __future__ import annotations

import json
import math
import sqlite3
import textwrap
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn import model_selection as ms
from sklearn.datasets import load_digits, load_iris
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.metrics import get_scorer
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

import hptrack
from hptrack import SpecError, Store
from hptrack.run import FoldTask, evaluate_fold, plan_from_spec
from hptrack.spec import load_spec, metric_kind, to_param

X_IRIS, Y_IRIS = load_iris(return_X_y=True)
FAILING = ["accuracy", "precision"]  # precision averages over a binary target: iris has 3 classes


def _assert_cv_results_equal(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    """Same keys in the same order; equal values (NaN-aware, timings aside) and dtypes."""
    assert list(ours) == list(theirs)
    for key, b in theirs.items():
        a = ours[key]
        if key.endswith(("fit_time", "score_time")):
            continue
        if key == "params":
            assert a == b
        elif isinstance(b, np.ma.MaskedArray):
            assert np.array_equal(a.mask, b.mask) and list(a.compressed()) == list(b.compressed()), key
        else:
            assert a.dtype == b.dtype, (key, a.dtype, b.dtype)
            assert np.array_equal(a, b, equal_nan=True), (key, a, b)


def _recorded(fit: Any) -> list[tuple[type, str]]:
    """The warnings ``fit()`` emits: category and first line."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit()
    return [(w.category, str(w.message).splitlines()[0]) for w in caught]


# ------------------------------------------------------------------ a failing scorer


@pytest.mark.parametrize("return_train_score", [False, True])
def test_drop_in_failing_scorer_fails_only_its_metric_like_sklearn(return_train_score, tmp_path):
    kwargs: dict[str, Any] = dict(
        scoring=FAILING, refit="accuracy", cv=3, return_train_score=return_train_score
    )
    grid = {"C": [0.01, 1.0]}
    theirs = ms.GridSearchCV(LogisticRegression(max_iter=300), grid, **kwargs)
    ours = hptrack.GridSearchCV(LogisticRegression(max_iter=300), grid, store=tmp_path / "x.db", **kwargs)
    their_warnings = _recorded(lambda: theirs.fit(X_IRIS, Y_IRIS))
    our_warnings = _recorded(lambda: ours.fit(X_IRIS, Y_IRIS))  # no "All the 6 fits failed"

    assert our_warnings == their_warnings
    assert (
        UserWarning,
        "Scoring failed. The score on this train-test partition for these "
        "parameters will be set to nan. Details: ",
    ) in our_warnings
    _assert_cv_results_equal(ours.cv_results_, theirs.cv_results_)
    assert np.isnan(ours.cv_results_["mean_test_precision"]).all()
    assert not np.isnan(ours.cv_results_["mean_test_accuracy"]).any()
    assert ours.best_params_ == theirs.best_params_
    assert ours.best_index_ == theirs.best_index_
    assert ours.best_score_ == theirs.best_score_

    with Store(tmp_path / "x.db") as store:
        trials = store.study(ours.recorded_study().name).trials()
        rows = store.connection.execute("SELECT error, score_errors FROM fold_notes").fetchall()
    assert [t.status for t in trials] == ["complete", "complete"]  # the fits succeeded
    assert [t.rank for t in trials] == [2, 1]
    for t in trials:
        assert not t.errors
        assert sorted(t.score_errors) == [0, 1, 2]
        for failed in t.score_errors.values():
            assert list(failed) == ["precision"]
            assert "Target is multiclass but average='binary'" in failed["precision"]
        assert t.scores["precision"] == [None, None, None]
        assert None not in t.scores["accuracy"]
        assert t.to_dict()["score_errors"]["0"]["precision"].startswith("Traceback")
    assert len(rows) == 6
    for error, score_errors in rows:
        assert error is None
        assert list(json.loads(score_errors)) == ["precision"]


def test_drop_in_failing_scorer_with_a_number_as_error_score(tmp_path):
    kwargs: dict[str, Any] = dict(scoring=FAILING, refit="accuracy", cv=3, error_score=-1.0)
    grid = {"C": [0.01, 1.0]}
    theirs = ms.GridSearchCV(LogisticRegression(max_iter=300), grid, **kwargs)
    ours = hptrack.GridSearchCV(LogisticRegression(max_iter=300), grid, store=tmp_path / "x.db", **kwargs)
    with pytest.warns(UserWarning, match="Scoring failed.*will be set to -1.0"):
        theirs.fit(X_IRIS, Y_IRIS)
    with pytest.warns(UserWarning, match="Scoring failed.*will be set to -1.0"):
        ours.fit(X_IRIS, Y_IRIS)
    _assert_cv_results_equal(ours.cv_results_, theirs.cv_results_)
    assert (ours.cv_results_["split0_test_precision"] == -1.0).all()


def test_drop_in_failing_scorer_with_error_score_raise_raises_like_sklearn(tmp_path):
    kwargs: dict[str, Any] = dict(scoring=FAILING, refit="accuracy", cv=3, error_score="raise")
    with pytest.raises(ValueError, match="Target is multiclass but average='binary'"):
        ms.GridSearchCV(LogisticRegression(max_iter=300), {"C": [1.0]}, **kwargs).fit(X_IRIS, Y_IRIS)
    with pytest.raises(ValueError, match="Target is multiclass but average='binary'"):
        hptrack.GridSearchCV(
            LogisticRegression(max_iter=300), {"C": [1.0]}, store=tmp_path / "x.db", **kwargs
        ).fit(X_IRIS, Y_IRIS)


def test_folds_with_a_failed_scorer_are_never_reused(tmp_path):
    db = tmp_path / "x.db"
    kwargs: dict[str, Any] = dict(refit="accuracy", cv=3, store=db)
    for scoring in (FAILING, ["accuracy", "f1_macro"]):
        for study in ("first", "second"):
            search = hptrack.GridSearchCV(
                LogisticRegression(max_iter=300),
                {"C": [1.0]},
                scoring=scoring,
                study=f"{study}-{scoring[1]}",
                **kwargs,
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                search.fit(X_IRIS, Y_IRIS)
    with Store(db) as store:
        (failing,) = store.study("second-precision").trials()
        (passing,) = store.study("second-f1_macro").trials()
    assert not failing.origins  # refit: its twin's scorer failed (perhaps transiently)
    assert sorted(passing.origins) == [0, 1, 2]  # the control: a clean fold is reused


def test_evaluate_fold_keeps_the_other_metrics_when_a_scorer_fails():
    train, test = next(StratifiedKFold(3, shuffle=True, random_state=0).split(X_IRIS, Y_IRIS))
    scorers = {m: get_scorer(m) for m in ["accuracy", "precision", "f1_macro"]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the worker itself never warns: the drop-in does
        result = evaluate_fold(
            FoldTask(1, 0, 0, {}), SVC(), X_IRIS, Y_IRIS, train, test, scorers, return_train_score=True
        )
    out = cross_validate(
        SVC(), X_IRIS, Y_IRIS, cv=[(train, test)], scoring=["accuracy", "f1_macro"], return_train_score=True
    )
    assert result.error is None and result.exception is None
    assert result.score_errors is not None and list(result.score_errors) == ["precision"]
    assert "average='binary'" in result.score_errors["precision"]
    assert math.isnan(result.test["precision"])
    assert result.train is not None and math.isnan(result.train["precision"])
    for m in ("accuracy", "f1_macro"):
        assert result.test[m] == out[f"test_{m}"][0]
        assert result.train[m] == out[f"train_{m}"][0]


# ------------------------------------------------------------------ the CLI and the store


def _iris_spec(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = dict(
        data="sklearn.datasets:load_iris",
        estimator="sklearn.linear_model:SGDClassifier",
        fixed={"random_state": 0},
        cv={"kind": "stratified", "folds": 3, "shuffle": True},
    )
    spec.update(overrides)
    return spec


def test_cli_failing_scorer_records_the_other_metrics_and_the_trial_completes(
    write_spec, db_path, invoke, tmp_path
):
    # neg_log_loss needs predict_proba, which SGDClassifier has for loss="log_loss" only
    spec = write_spec(
        **_iris_spec(metrics=["accuracy", "neg_log_loss"], space={"loss": ["log_loss", "hinge"]})
    )
    result = invoke("run", spec, "--store", db_path, "--report", tmp_path / "r.html")
    assert result.exit_code == 0, result.output
    assert "Warning" not in result.stderr

    # one metric per search: with both, scikit-learn 1.9's _MultimetricScorer looks up every
    # scorer's response method before its per-scorer try, so its search raises AttributeError
    expected = {}
    for m in ("accuracy", "neg_log_loss"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "Scoring failed", "non-finite"
            expected[m] = (
                ms.GridSearchCV(
                    SGDClassifier(random_state=0),
                    {"loss": ["log_loss", "hinge"]},
                    scoring=m,
                    cv=StratifiedKFold(3, shuffle=True, random_state=0),
                )
                .fit(X_IRIS, Y_IRIS)
                .cv_results_
            )
    with Store(db_path) as store:
        logistic, hinge = store.study("tiny").trials()
    assert (logistic.status, hinge.status) == ("complete", "complete")
    assert not logistic.score_errors and not hinge.errors
    assert sorted(hinge.score_errors) == [0, 1, 2]
    assert "has none of the following attributes: predict_proba" in hinge.score_errors[0]["neg_log_loss"]
    assert hinge.scores["neg_log_loss"] == [None, None, None]
    assert hinge.mean["neg_log_loss"] is not None and math.isnan(hinge.mean["neg_log_loss"])
    for t in (logistic, hinge):
        for m in ("accuracy", "neg_log_loss"):
            for k in range(3):
                value = expected[m][f"split{k}_test_score"][t.number]
                assert (t.scores[m][k] is None) if np.isnan(value) else t.scores[m][k] == value
        assert t.rank == expected["accuracy"]["rank_test_score"][t.number]

    listed = json.loads(invoke("trials", "tiny", "--store", db_path, "--json").stdout)
    assert listed[1]["score_errors"]["2"]["neg_log_loss"].startswith("Traceback")
    assert listed[1]["mean"]["neg_log_loss"] is None
    exported = json.loads(invoke("export", "tiny", "--format", "json", "--store", db_path).stdout)
    assert [row["rank_test_neg_log_loss"] for row in exported] == [1, None]  # a NaN mean: no rank
    shown = invoke("show", "tiny", "1", "--store", db_path).stdout
    assert "fold 0 scorer neg_log_loss failed: AttributeError: SGDClassifier has none" in shown
    html = (tmp_path / "r.html").read_text()
    assert "Failed scorers (1 trial)" in html
    assert "neg_log_loss, folds 0, 1, 2:" in html


def test_a_failed_ranking_metric_leaves_the_trial_complete_and_unranked(write_spec, db_path, invoke):
    spec = write_spec(
        **_iris_spec(metrics=["neg_log_loss", "accuracy"], space={"loss": ["log_loss", "hinge"]})
    )
    assert invoke("run", spec, "--store", db_path).exit_code == 0
    with Store(db_path) as store:
        study = store.study("tiny")
        logistic, hinge = study.trials()
        assert study.best().number == 0
        by_accuracy = study.trials(sort="accuracy")
    assert (logistic.rank, hinge.rank) == (1, None)
    assert hinge.status == "complete"
    assert [t.number for t in by_accuracy] == sorted(
        [0, 1],
        key=lambda n: -(logistic, hinge)[n].mean["accuracy"],  # type: ignore[operator]
    )
    out = invoke("trials", "tiny", "--store", db_path)
    assert out.exit_code == 0, out.output
    exported = json.loads(invoke("export", "tiny", "--format", "json", "--store", db_path).stdout)
    assert exported[1]["rank_test_neg_log_loss"] is None


# neg_mean_squared_log_error fails on every fold of a target with values <= -1: nothing
# before the fits can tell (the check is scikit-learn's, on the fold's values)
_MSLE_ERROR = (
    "ValueError: Mean Squared Logarithmic Error cannot be used when targets contain values "
    "less than or equal to -1."
)


def _never_scored_spec(write_spec, tmp_path, metrics):
    (tmp_path / "continuous.py").write_text(CONTINUOUS)
    return write_spec(
        estimator="sklearn.linear_model:Ridge",
        data="continuous:load",
        metrics=metrics,
        fixed={},
        cv={"kind": "kfold", "folds": 3},
        space={"alpha": [0.1, 1.0, 10.0]},
    )


def test_a_ranking_metric_that_never_scored_fails_the_run_and_every_view_agrees(
    write_spec, db_path, invoke, tmp_path
):
    spec = _never_scored_spec(write_spec, tmp_path, ["neg_mean_squared_log_error", "r2"])
    result = invoke("run", spec, "--store", db_path, "--report", tmp_path / "r.html")
    assert result.exit_code == 1, result.output
    line = (
        f"study 'tiny': metric 'neg_mean_squared_log_error' failed on every fold so far (9 fitted "
        f"folds; {_MSLE_ERROR}); it is the ranking metric, so no trial is ranked: see the "
        f"score_errors of `hptrack trials tiny --store {db_path} --json`"
    )
    assert f"Warning: metric 'neg_mean_squared_log_error' failed on every fold of the first trial" in (
        result.stderr
    )
    assert result.stderr.endswith(f"Error: {line}\n")
    assert result.stdout == ""  # no table of "top" configurations that rank nothing
    history = json.loads(invoke("history", "tiny", "--store", db_path, "--json").stdout)
    assert [run["exit"] for run in history] == [1]

    again = invoke("run", spec, "--store", db_path)  # a finished study answered from the store
    assert again.exit_code == 1 and again.stderr.endswith(f"Error: {line}\n")

    trials = invoke("trials", "tiny", "--store", db_path)
    assert trials.exit_code == 0 and f"Warning: {line}" in trials.stderr
    assert "no test (no complete trial has a neg_mean_squared_log_error score)" in trials.stdout
    best = invoke("best", "tiny", "--store", db_path)
    assert best.exit_code == 2
    assert best.stderr.endswith(
        "Error: no complete trial of study 'tiny' has a 'neg_mean_squared_log_error' score (its "
        f"scorer failed); see the score_errors of `hptrack trials tiny --json`\n"
    )
    compared = invoke("compare", "tiny", "tiny", "--store", db_path)
    assert "best of A: none (no ranked trial)" in compared.stdout
    assert "no complete trial" not in compared.stdout
    html = (tmp_path / "r.html").read_text()
    assert "No complete trial has a neg_mean_squared_log_error score (its scorer failed)" in html
    assert "No complete trials yet" not in html
    with Store(db_path) as store:
        (unscored,) = store.study("tiny").unscored_metrics()
    assert (unscored.metric, unscored.n_folds, unscored.error, unscored.ranking) == (
        "neg_mean_squared_log_error",
        9,
        _MSLE_ERROR,
        True,
    )


def test_another_metric_that_never_scored_is_a_warning_and_the_run_succeeds(
    write_spec, db_path, invoke, tmp_path
):
    spec = _never_scored_spec(write_spec, tmp_path, ["r2", "neg_mean_squared_log_error"])
    result = invoke("run", spec, "--store", db_path)
    assert result.exit_code == 0, result.output
    assert (
        "Warning: study 'tiny': metric 'neg_mean_squared_log_error' failed on every fold so far "
        f"(9 fitted folds; {_MSLE_ERROR}); no trial has a mean of it"
    ) in result.stderr
    assert "alpha=0.1" in result.stdout  # ranked by r2 as usual
    with Store(db_path) as store:
        assert [u.metric for u in store.study("tiny").unscored_metrics()] == ["neg_mean_squared_log_error"]


def test_a_metric_that_scored_on_some_fold_is_not_reported(write_spec, db_path, invoke):
    # neg_log_loss fails for the hinge loss only: the study is fine, no warning
    spec = write_spec(
        **_iris_spec(metrics=["neg_log_loss", "accuracy"], space={"loss": ["log_loss", "hinge"]})
    )
    result = invoke("run", spec, "--store", db_path)
    assert result.exit_code == 0, result.output
    assert "Warning" not in result.stderr
    with Store(db_path) as store:
        assert store.study("tiny").unscored_metrics() == []


# ------------------------------------------------------------------ refused up front


CONTINUOUS = textwrap.dedent(
    """
    import numpy as np
    from sklearn.datasets import load_breast_cancer, make_regression


    def load():
        return make_regression(n_samples=60, n_features=3, random_state=0)


    def words():
        X, y = load_breast_cancer(return_X_y=True)
        return X[:120, :4], np.where(y[:120] == 1, "benign", "malignant")
    """
)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            dict(
                estimator="sklearn.linear_model:Ridge",
                data="sklearn.datasets:load_diabetes",
                metrics=["accuracy"],
                cv={},
                space={"alpha": [1.0]},
            ),
            "spec.toml: metrics: 'accuracy' is a classification metric but estimator = "
            "'sklearn.linear_model:Ridge' is a regressor; use e.g. 'r2' or 'neg_mean_squared_error'",
        ),
        (
            dict(
                estimator="sklearn.neighbors:KNeighborsClassifier",
                data="continuous:load",
                metrics=["accuracy"],
                cv={},
                space={"n_neighbors": [3]},
            ),
            "spec.toml: metrics: 'accuracy' is a classification metric but y is continuous "
            "(a regression target); use e.g. 'r2' or 'neg_mean_squared_error'",
        ),
        (
            dict(
                estimator="sklearn.linear_model:LogisticRegression",
                data="sklearn.datasets:load_iris",
                metrics=["accuracy", "precision"],
            ),
            "spec.toml: metrics: 'precision' averages over a binary target but y has 3 classes; "
            "use 'precision_macro', 'precision_micro' or 'precision_weighted'",
        ),
        (
            dict(estimator="sklearn.linear_model:LogisticRegression", metrics=["roc_auc"]),
            "spec.toml: metrics: 'roc_auc' averages over a binary target but y has 10 classes; "
            "use 'roc_auc_ovr', 'roc_auc_ovo' or 'roc_auc_ovr_weighted'",
        ),
        (
            dict(estimator="sklearn.linear_model:LogisticRegression", metrics=["accuracy", "r2"]),
            "spec.toml: metrics: 'r2' is a regression metric but estimator = "
            "'sklearn.linear_model:LogisticRegression' is a classifier; use e.g. 'accuracy' or 'f1_macro'",
        ),
        (
            dict(metrics=["f1_samples"]),
            "spec.toml: metrics: 'f1_samples' averages over the labels of each sample, for a "
            "multilabel target, but y is multiclass; use 'f1_macro' or 'f1_weighted'",
        ),
        (
            dict(
                estimator="sklearn.linear_model:Ridge",
                data="sklearn.datasets:load_diabetes",
                metrics=["r2"],
                fixed={},
                space={"alpha": [1.0]},
            ),
            "spec.toml: [cv] kind = 'stratified' keeps class proportions, but estimator = "
            "'sklearn.linear_model:Ridge' is a regressor; use [cv] kind = \"kfold\"",
        ),
        (
            dict(
                estimator="sklearn.neighbors:KNeighborsClassifier",
                data="continuous:load",
                metrics=["score"],
                fixed={},
                space={"n_neighbors": [3]},
            ),
            "spec.toml: [cv] kind = 'stratified' needs class labels but y is continuous "
            '(a regression target); use [cv] kind = "kfold"',
        ),
        (
            dict(estimator="sklearn.svm:SVC", metrics=["neg_log_loss"], space={"C": [1, 10]}),
            "spec.toml: metrics: 'neg_log_loss' scores predict_proba, which SVC does not have with "
            "these params; use an estimator with predict_proba, or use a metric scored on predict "
            "such as 'accuracy'",
        ),
        (
            dict(
                estimator="sklearn.linear_model:SGDClassifier",
                metrics=["accuracy", "neg_log_loss"],
                space={"loss": ["hinge", "perceptron", "squared_hinge"]},
            ),
            "spec.toml: metrics: 'neg_log_loss' scores predict_proba, which SGDClassifier does not "
            "have with these params; use an estimator with predict_proba, or use a metric scored on "
            "predict such as 'accuracy'",
        ),
        (
            dict(
                estimator="sklearn.linear_model:LogisticRegression",
                data="continuous:words",
                metrics=["accuracy", "f1"],
            ),
            "spec.toml: metrics: 'f1' scores the positive class pos_label=1, but y's labels are "
            "'benign' and 'malignant'; use 'f1_macro', or return y as 0/1 from the data loader "
            "(1 = the positive class)",
        ),
        (
            dict(
                estimator="sklearn.linear_model:LogisticRegression",
                data="continuous:words",
                metrics=["neg_brier_score"],
            ),
            "spec.toml: metrics: 'neg_brier_score' needs the labels 0 and 1 (or -1 and 1) to know "
            "the positive class, but y's labels are 'benign' and 'malignant'; return y as 0/1 from "
            "the data loader (1 = the positive class)",
        ),
    ],
    ids=[
        "classification-for-regressor",
        "classification-on-continuous",
        "binary-average-on-multiclass",
        "roc-auc-on-multiclass",
        "regression-for-classifier",
        "samples-on-multiclass",
        "stratified-for-regressor",
        "stratified-on-continuous",
        "no-predict-proba",
        "no-predict-proba-in-any-space-value",
        "pos-label-not-a-label",
        "brier-on-string-labels",
    ],
)
def test_a_metric_or_cv_that_cannot_work_for_the_data_is_refused_before_the_store(
    overrides, message, write_spec, db_path, invoke, tmp_path
):
    (tmp_path / "continuous.py").write_text(CONTINUOUS)
    overrides = {"fixed": {}, **overrides}
    spec = write_spec(**overrides)
    result = invoke("run", spec, "--store", db_path)
    assert result.exit_code == 2, result.output
    assert result.stderr == f"Error: {message}\n"
    assert not db_path.exists()


def test_metric_kind_comes_from_sklearns_scorers():
    assert (
        metric_kind("accuracy")
        == metric_kind("roc_auc_ovr")
        == metric_kind("neg_log_loss")
        == "classification"
    )
    assert (
        metric_kind("r2")
        == metric_kind("neg_mean_absolute_error")
        == metric_kind("d2_absolute_error_score")
        == "regression"
    )
    assert metric_kind("adjusted_rand_score") is None and metric_kind("score") is None


def test_binary_metrics_on_a_binary_target_and_multiclass_ones_are_accepted(write_spec, tmp_path):
    (tmp_path / "binary.py").write_text(
        "from sklearn.datasets import load_breast_cancer\n\n\ndef load():\n"
        "    X, y = load_breast_cancer(return_X_y=True)\n    return X[:120], y[:120]\n"
    )
    binary = write_spec(data="binary:load", metrics=["precision", "roc_auc", "f1", "average_precision"])
    assert plan_from_spec(load_spec(binary)).metrics == ["precision", "roc_auc", "f1", "average_precision"]
    multiclass = write_spec(metrics=["precision_macro", "roc_auc_ovr", "average_precision", "neg_log_loss"])
    assert len(plan_from_spec(load_spec(multiclass)).metrics) == 4
    regression = write_spec(
        estimator="sklearn.linear_model:Ridge",
        data="sklearn.datasets:load_diabetes",
        metrics=["r2", "neg_mean_squared_error"],
        fixed={},
        cv={"kind": "kfold", "folds": 3},
        space={"alpha": [1.0]},
    )
    assert plan_from_spec(load_spec(regression)).metrics == ["r2", "neg_mean_squared_error"]
    with pytest.raises(SpecError, match="'recall' averages over a binary target but y has 10 classes"):
        plan_from_spec(load_spec(write_spec(metrics=["recall"])))


# ------------------------------------------------------------------ every trial failed


def test_a_run_where_every_trial_failed_exits_1_naming_the_most_common_error(write_spec, db_path, invoke):
    spec = write_spec(estimator="sklearn.svm:SVC", fixed={}, space={"C": [-1.0, -2.0]})
    result = invoke("run", spec, "--store", db_path)
    assert result.exit_code == 1, result.output
    assert "no trials match" not in result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1
    assert errors[0].startswith("Error: all 2 trials of 'tiny' failed; most common error (3 folds): ")
    assert "InvalidParameterError: The 'C' parameter of SVC must be a float" in errors[0]
    assert errors[0].endswith("; see hptrack trials tiny --status failed")
    with Store(db_path) as store:
        common = store.study("tiny").most_common_error()
    assert common is not None and common[1] == 3 and "Got -1.0 instead" in common[0]
    # resuming a study that has nothing left: still no complete trial, still exit 1
    again = invoke("resume", "tiny", "--store", db_path)
    assert again.exit_code == 1


def test_a_run_with_one_complete_trial_exits_0(write_spec, db_path, invoke):
    spec = write_spec(estimator="sklearn.svm:SVC", fixed={}, space={"C": [-1.0, 1.0]})
    result = invoke("run", spec, "--store", db_path)
    assert result.exit_code == 0, result.output
    assert "Error:" not in result.stderr


# ------------------------------------------------------------------ "None" in specs


def test_none_string_is_python_none():
    assert to_param("None") is None
    assert to_param(["None", 4]) == (None, 4)
    assert to_param("none") == "none" and to_param("NONE") == "NONE"  # only the exact string


def test_none_in_a_grid_equals_sklearn_and_resumes(write_spec, db_path, invoke):
    spec = write_spec(
        estimator="sklearn.tree:DecisionTreeClassifier",
        fixed={"random_state": 0},
        space={"max_depth": ["None", 2]},
    )
    first = invoke("run", spec, "--store", db_path, "--max-trials", "1")
    assert first.exit_code == 0, first.output
    assert "max_depth=None" in first.stdout
    resumed = invoke("resume", "tiny", "--store", db_path)
    assert resumed.exit_code == 0, resumed.output

    X, y = (a[:300] for a in load_digits(return_X_y=True))  # conftest's tinydata:load
    expected = ms.GridSearchCV(
        DecisionTreeClassifier(random_state=0),
        {"max_depth": [None, 2]},
        scoring=["accuracy", "f1_macro"],
        refit="accuracy",
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
    ).fit(X, y)
    cv = expected.cv_results_
    with Store(db_path) as store:
        study = store.study("tiny")
        trials = study.trials()
        assert study.spec["space"] == {"max_depth": ["None", 2]}  # re-parses the same on resume
    assert [t.params for t in trials] == [{"max_depth": None}, {"max_depth": 2}]
    assert [t.status for t in trials] == ["complete", "complete"]
    for t in trials:
        for m in ("accuracy", "f1_macro"):
            assert t.scores[m] == [cv[f"split{k}_test_{m}"][t.number] for k in range(3)]
    listed = invoke("trials", "tiny", "--store", db_path).stdout
    assert "max_depth=None" in listed and "null" not in listed
    assert json.loads(invoke("trials", "tiny", "--store", db_path, "--json").stdout)[0]["params"] == {
        "max_depth": None
    }


def test_none_in_fixed_and_in_a_choice(write_spec, db_path, invoke):
    spec = write_spec(
        search="random",
        n_trials=8,
        estimator="sklearn.tree:DecisionTreeClassifier",
        fixed={"random_state": 0, "max_features": "None"},
        space={"max_depth": {"dist": "choice", "values": ["None", 2]}, "min_samples_split": [2, 3]},
    )
    plan = plan_from_spec(load_spec(spec))
    assert plan.estimator.get_params()["max_features"] is None
    assert {c["max_depth"] for c in plan.candidates} == {None, 2}
    assert invoke("run", spec, "--store", db_path).exit_code == 0
    with Store(db_path) as store:
        assert {t.params["max_depth"] for t in store.study("tiny").trials()} == {None, 2}


def test_a_store_without_score_errors_column_still_reads(tmp_path):
    """A v1 store (no ``folds.score_errors``) serves trials read-only, as before."""
    import shutil

    path = tmp_path / "old.db"
    shutil.copy(Path(__file__).parent / "data" / "store_v1.db", path)
    path.chmod(0o444)
    with Store(path, readonly=True) as store:
        for summary in store.studies():
            for trial in store.study(summary.name).trials():
                assert trial.score_errors == {}
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
