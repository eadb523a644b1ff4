"""hptrack's GridSearchCV and RandomizedSearchCV against scikit-learn's, on the same data.

SPEC section 4: drop-ins with the same arguments, fitted attributes, warnings and
``cv_results_`` (keys, values, dtypes, masks); plus recording, resuming and naming.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from scipy import stats
from sklearn import model_selection as ms
from sklearn.base import clone
from sklearn.datasets import load_digits, load_iris
from sklearn.exceptions import FitFailedWarning, NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import GroupKFold, ParameterGrid
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

import hptrack
from hptrack import Store
from hptrack.run import SEARCH_WEIGHTS_SCORES

X_DIGITS, Y_DIGITS = (a[:300] for a in load_digits(return_X_y=True))
X_IRIS, Y_IRIS = load_iris(return_X_y=True)
GRID = {"C": [0.1, 10.0], "kernel": ["rbf", "linear"]}
SMALL = {"C": [0.5, 1.0]}


def _accuracy(estimator: Any, X: Any, y: Any) -> float:
    return accuracy_score(y, estimator.predict(X))


def _two_scores(estimator: Any, X: Any, y: Any) -> dict[str, float]:
    pred = estimator.predict(X)
    return {"acc": accuracy_score(y, pred), "f1": f1_score(y, pred, average="macro")}


def _compared_keys(results: dict[str, Any]) -> list[str]:
    return [k for k in results if not k.endswith(("fit_time", "score_time"))]


def assert_cv_results_equal(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    """Same keys in the same order; equal values (timings aside), types and dtypes."""
    assert list(ours) == list(theirs)
    for key in _compared_keys(theirs):
        a, b = ours[key], theirs[key]
        if key == "params":
            assert a == b
        elif isinstance(b, np.ma.MaskedArray):
            assert isinstance(a, np.ma.MaskedArray), key
            assert a.dtype == b.dtype, key
            assert np.array_equal(a.mask, b.mask), key
            assert list(a.compressed()) == list(b.compressed()), key
        else:
            assert isinstance(a, np.ndarray), key
            assert a.dtype == b.dtype, (key, a.dtype, b.dtype)
            assert np.array_equal(a, b, equal_nan=True), (key, a, b)
    for key in ("mean_fit_time", "std_fit_time", "mean_score_time", "std_score_time"):
        assert ours[key].dtype == theirs[key].dtype and ours[key].shape == theirs[key].shape


def assert_fitted_like(ours: Any, theirs: Any, X: Any, y: Any) -> None:
    assert_cv_results_equal(ours.cv_results_, theirs.cv_results_)
    for attr in ("best_index_", "best_params_", "best_score_", "best_estimator_", "refit_time_"):
        assert hasattr(ours, attr) == hasattr(theirs, attr), attr
    if hasattr(theirs, "best_index_"):
        assert ours.best_index_ == theirs.best_index_
        assert type(ours.best_index_) is type(theirs.best_index_)
        assert ours.best_params_ == theirs.best_params_
    if hasattr(theirs, "best_score_"):
        assert ours.best_score_ == theirs.best_score_
        assert type(ours.best_score_) is type(theirs.best_score_)
    if hasattr(theirs, "best_estimator_"):
        mine, reference = ours.best_estimator_.get_params(), theirs.best_estimator_.get_params()
        assert mine == reference  # no seed injected: the user's estimator, as given
        assert np.array_equal(ours.predict(X), theirs.predict(X))
        assert ours.score(X, y) == theirs.score(X, y)
    assert ours.multimetric_ == theirs.multimetric_
    assert ours.n_splits_ == theirs.n_splits_
    assert repr(ours.scorer_) == repr(theirs.scorer_)


@pytest.mark.parametrize("return_train_score", [False, True])
@pytest.mark.parametrize(
    ("scoring", "refit"),
    [
        (None, True),
        ("f1_macro", True),
        (_accuracy, True),
        (["accuracy", "f1_macro"], "f1_macro"),
        ({"acc": "accuracy", "f1": "f1_macro"}, "acc"),
        (_two_scores, "f1"),
    ],
    ids=["none", "string", "callable", "list", "dict", "callable-dict"],
)
def test_grid_search_equals_sklearn(scoring, refit, return_train_score, tmp_path):
    kwargs = dict(scoring=scoring, refit=refit, cv=3, return_train_score=return_train_score)
    ours = hptrack.GridSearchCV(SVC(), GRID, store=tmp_path / "x.db", **kwargs)
    assert ours.fit(X_DIGITS, Y_DIGITS) is ours
    theirs = ms.GridSearchCV(SVC(), GRID, **kwargs).fit(X_DIGITS, Y_DIGITS)
    assert_fitted_like(ours, theirs, X_DIGITS, Y_DIGITS)
    if callable(scoring):
        assert ours.scorer_ is scoring


def test_param_columns_are_masked_like_sklearn(tmp_path):
    grid = [
        {"kernel": ["linear"], "C": [0.5, 1]},
        {"kernel": ["rbf"], "C": [1.0], "gamma": ["scale", 0.01]},
        {"kernel": ["poly"], "degree": [2], "class_weight": [None, "balanced"]},
    ]
    ours = hptrack.GridSearchCV(SVC(), grid, cv=3, store=tmp_path / "x.db").fit(X_IRIS, Y_IRIS)
    theirs = ms.GridSearchCV(SVC(), grid, cv=3).fit(X_IRIS, Y_IRIS)
    assert_fitted_like(ours, theirs, X_IRIS, Y_IRIS)
    assert ours.cv_results_["param_gamma"].dtype == object
    assert ours.cv_results_["param_gamma"].mask.tolist() == [True, True, False, False, True, True]


@pytest.mark.parametrize("scoring", ["accuracy", ["accuracy", "f1_macro"]])
def test_refit_false(scoring, tmp_path):
    kwargs = dict(scoring=scoring, refit=False, cv=3)
    ours = hptrack.GridSearchCV(SVC(), GRID, store=tmp_path / "x.db", **kwargs)
    ours.fit(X_IRIS, Y_IRIS)
    theirs = ms.GridSearchCV(SVC(), GRID, **kwargs).fit(X_IRIS, Y_IRIS)
    assert_fitted_like(ours, theirs, X_IRIS, Y_IRIS)
    assert not hasattr(ours, "best_estimator_")
    assert hasattr(ours, "best_index_") == isinstance(scoring, str)
    with pytest.raises(AttributeError) as raised_ours:
        ours.predict(X_IRIS)
    with pytest.raises(AttributeError) as raised_theirs:
        theirs.predict(X_IRIS)
    assert str(raised_ours.value) == str(raised_theirs.value)


def _lowest_c_within(results: dict[str, Any]) -> int:
    """A refit callable: the smallest C whose score is within 0.05 of the best."""
    scores = results["mean_test_score"]
    good = np.flatnonzero(scores >= scores.max() - 0.05)
    return int(good[np.argmin(np.asarray(results["param_C"])[good])])


def test_refit_callable(tmp_path):
    kwargs = dict(refit=_lowest_c_within, cv=3)
    ours = hptrack.GridSearchCV(SVC(), GRID, store=tmp_path / "x.db", **kwargs)
    ours.fit(X_DIGITS, Y_DIGITS)
    theirs = ms.GridSearchCV(SVC(), GRID, **kwargs).fit(X_DIGITS, Y_DIGITS)
    assert_fitted_like(ours, theirs, X_DIGITS, Y_DIGITS)
    assert not hasattr(ours, "best_score_")  # as scikit-learn with a callable refit


@pytest.mark.parametrize(
    ("scoring", "refit"),
    [
        (["accuracy", "f1_macro"], True),
        (["accuracy", "f1_macro"], "recall"),
        (["accuracy", "accuracy"], "accuracy"),
        ([], True),
        ([_accuracy], True),
        ([1, 2], True),
        ({}, True),
        ({1: "accuracy"}, True),
    ],
)
def test_bad_scoring_raises_sklearns_error(scoring, refit, tmp_path):
    db = tmp_path / "x.db"
    with pytest.raises(ValueError) as theirs:
        ms.GridSearchCV(SVC(), GRID, scoring=scoring, refit=refit).fit(X_IRIS, Y_IRIS)
    with pytest.raises(ValueError) as ours:
        hptrack.GridSearchCV(SVC(), GRID, scoring=scoring, refit=refit, store=db).fit(X_IRIS, Y_IRIS)
    assert type(ours.value) is type(theirs.value)
    assert str(ours.value) == str(theirs.value)
    assert not db.exists()  # refused before the store was touched


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"cv": "five"}, "The 'cv' parameter of GridSearchCV must be"),
        ({"store": 3}, "The 'store' parameter of GridSearchCV must be"),
        ({"reuse": "yes"}, "The 'reuse' parameter of GridSearchCV must be"),
        ({"study": "a:b"}, "study"),
    ],
)
def test_bad_arguments_are_refused_before_the_store(params, message, tmp_path):
    db = tmp_path / "x.db"
    with pytest.raises(ValueError, match=message):
        hptrack.GridSearchCV(SVC(), GRID, **{"store": db, **params}).fit(X_IRIS, Y_IRIS)
    assert not db.exists()


def test_the_estimator_is_never_changed_and_unseeded_randomness_is_logged_once(tmp_path, caplog):
    grid = {"max_depth": [2, 4], "max_features": [0.5]}
    seeded = hptrack.GridSearchCV(
        DecisionTreeClassifier(random_state=11), grid, cv=3, store=tmp_path / "x.db"
    )
    seeded.fit(X_DIGITS, Y_DIGITS)
    theirs = ms.GridSearchCV(DecisionTreeClassifier(random_state=11), grid, cv=3).fit(X_DIGITS, Y_DIGITS)
    assert_fitted_like(seeded, theirs, X_DIGITS, Y_DIGITS)

    tree = DecisionTreeClassifier()
    ours = hptrack.GridSearchCV(tree, grid, cv=3, store=tmp_path / "x.db")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a log record, not a warning: fit warns exactly as scikit-learn
        ours.fit(X_DIGITS, Y_DIGITS)
        again = hptrack.GridSearchCV(DecisionTreeClassifier(), grid, cv=3, store=tmp_path / "x.db")
        again.fit(X_DIGITS, Y_DIGITS)
    said = [r for r in caplog.records if r.name == "hptrack" and "verified bit for bit" in r.message]
    assert len(said) == 1 and said[0].levelname == "WARNING"  # once per store, though fitted twice
    assert "estimator param random_state=None" in said[0].message
    assert ours.best_estimator_.random_state is None  # no seed injected
    assert tree.random_state is None
    with Store(tmp_path / "x.db") as store:
        provenance = store.study(ours.recorded_study().name).provenance
        assert provenance["unseeded"] == ["estimator param random_state=None"]


# ------------------------------------------------------------------ RandomizedSearchCV


def _grid_of(candidates: list[dict[str, Any]]) -> list[dict[str, list[Any]]]:
    """A param_grid whose ParameterGrid order is exactly ``candidates``."""
    return [{k: [v] for k, v in c.items()} for c in candidates]


@pytest.mark.parametrize("return_train_score", [False, True])
def test_randomized_search_draws_sklearns_candidates(return_train_score, tmp_path):
    distributions = {"C": stats.loguniform(1e-2, 1e2), "kernel": ["rbf", "linear"]}
    kwargs = dict(
        cv=3, return_train_score=return_train_score, scoring=["accuracy", "f1_macro"], refit="accuracy"
    )
    ours = hptrack.RandomizedSearchCV(
        SVC(random_state=0), distributions, n_iter=5, random_state=3, store=tmp_path / "x.db", **kwargs
    ).fit(X_DIGITS, Y_DIGITS)
    theirs = ms.RandomizedSearchCV(SVC(random_state=0), distributions, n_iter=5, random_state=3, **kwargs)
    assert_fitted_like(ours, theirs.fit(X_DIGITS, Y_DIGITS), X_DIGITS, Y_DIGITS)
    again = hptrack.RandomizedSearchCV(
        SVC(random_state=0), distributions, n_iter=5, random_state=3, store=tmp_path / "x.db", **kwargs
    ).fit(X_DIGITS, Y_DIGITS)
    # seeded: the same candidates, the same study, resumed
    assert again.recorded_study().name == ours.recorded_study().name
    assert_cv_results_equal(again.cv_results_, ours.cv_results_)


def test_randomized_search_with_lists_samples_without_replacement(tmp_path):
    distributions = {"C": [0.1, 1.0, 10.0, 100.0], "kernel": ["rbf", "linear"]}
    ours = hptrack.RandomizedSearchCV(
        SVC(random_state=0), distributions, n_iter=6, random_state=0, cv=3, store=tmp_path / "x.db"
    ).fit(X_IRIS, Y_IRIS)
    theirs = ms.RandomizedSearchCV(SVC(random_state=0), distributions, n_iter=6, random_state=0, cv=3)
    assert_fitted_like(ours, theirs.fit(X_IRIS, Y_IRIS), X_IRIS, Y_IRIS)
    params = ours.cv_results_["params"]
    assert len({(p["C"], p["kernel"]) for p in params}) == 6  # no candidate twice


def test_randomized_search_over_a_small_grid_warns_like_sklearn(tmp_path):
    distributions = [{"kernel": ["linear"], "C": [1.0, 2.0]}, {"kernel": ["rbf"], "C": [1.0]}]
    with pytest.warns(UserWarning) as theirs:
        ms.RandomizedSearchCV(SVC(random_state=0), distributions, n_iter=5, random_state=0, cv=3).fit(
            X_IRIS, Y_IRIS
        )
    with pytest.warns(UserWarning) as ours:
        search = hptrack.RandomizedSearchCV(
            SVC(random_state=0), distributions, n_iter=5, random_state=0, cv=3, store=tmp_path / "x.db"
        ).fit(X_IRIS, Y_IRIS)
    assert [str(w.message) for w in ours] == [str(w.message) for w in theirs]
    assert "The total space of parameters 3 is smaller than n_iter=5" in str(ours[0].message)
    assert sorted(sorted(p.items()) for p in search.cv_results_["params"]) == sorted(
        sorted(p.items()) for p in ParameterGrid(distributions)
    )


def test_unseeded_randomized_search_is_recorded_and_logged(tmp_path, caplog):
    distributions = {"C": stats.uniform(0.5, 5.0)}
    db = tmp_path / "x.db"
    studies = set()
    for _ in range(2):
        search = hptrack.RandomizedSearchCV(SVC(random_state=0), distributions, n_iter=3, cv=3, store=db)
        unseeded = r"RandomizedSearchCV\(random_state=None\)"
        search.fit(X_IRIS, Y_IRIS)
        assert re.search(unseeded, caplog.records[-1].message)
        studies.add(search.recorded_study().name)
    assert len(studies) == 2  # other candidates each time: another study, never a wrong resume
    with Store(db) as store:
        assert all(s.n_trials == 3 for s in store.studies())


@pytest.mark.parametrize(
    "distributions",
    [{"C": 1.0}, [{"C": [1.0]}, 3], {"C": stats.norm(0, 1).pdf}],
    ids=["scalar", "not-a-dict", "function"],
)
def test_randomized_search_bad_distributions_raise_sklearns_error(distributions, tmp_path):
    with pytest.raises(TypeError) as theirs:
        ms.RandomizedSearchCV(SVC(), distributions, n_iter=2).fit(X_IRIS, Y_IRIS)
    with pytest.raises(TypeError) as ours:
        hptrack.RandomizedSearchCV(SVC(), distributions, n_iter=2, store=tmp_path / "x.db").fit(
            X_IRIS, Y_IRIS
        )
    assert str(ours.value) == str(theirs.value)


# ------------------------------------------------------------------ recording and resuming


def _fold_rows(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM folds").fetchone()[0])


def test_fitting_the_same_search_again_fits_nothing_new(tmp_path):
    db = tmp_path / "x.db"
    first = hptrack.GridSearchCV(SVC(), GRID, cv=3, store=db).fit(X_IRIS, Y_IRIS)
    assert _fold_rows(db) == len(ParameterGrid(GRID)) * 3
    second = hptrack.GridSearchCV(SVC(), GRID, cv=3, store=db).fit(X_IRIS, Y_IRIS)
    assert _fold_rows(db) == len(ParameterGrid(GRID)) * 3
    assert second.recorded_study().name == first.recorded_study().name
    assert second.recorded_study().name.startswith("SVC-")
    assert second.recorded_study().store_path == db
    for key in ("mean_fit_time", "std_fit_time", "mean_score_time", "std_score_time"):  # as recorded,
        assert np.array_equal(second.cv_results_[key], first.cv_results_[key])  # to the microsecond
    assert_cv_results_equal(second.cv_results_, first.cv_results_)
    with Store(db) as store:
        assert [s.name for s in store.studies()] == [first.recorded_study().name]
        assert store.study(first.recorded_study().name).counts()["complete"] == len(ParameterGrid(GRID))


def _studies_in_main_file(db: Path) -> int:
    """Studies the store file itself holds, its -wal ignored (``immutable=1``), as a copy of it would."""
    conn = sqlite3.connect(f"file:{db}?immutable=1", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM studies").fetchone()[0])
    except sqlite3.DatabaseError:  # no such table (the schema is still in the -wal), or mid-checkpoint
        return 0
    finally:
        conn.close()


def test_the_store_file_itself_holds_a_fit_soon_after_it_returns(tmp_path):
    db = tmp_path / "x.db"
    hptrack.GridSearchCV(SVC(), SMALL, cv=3, store=db).fit(X_IRIS, Y_IRIS)
    deadline = time.monotonic() + 10  # checkpointed in the background once fits go quiet (~0.25 s)
    while (found := _studies_in_main_file(db)) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert found == 1


def test_a_process_that_fits_and_exits_leaves_everything_in_the_store_file(tmp_path):
    db = tmp_path / "x.db"
    script = (
        "import hptrack; from sklearn.datasets import load_iris; from sklearn.svm import SVC\n"
        "X, y = load_iris(return_X_y=True)\n"
        f"hptrack.GridSearchCV(SVC(), {SMALL!r}, cv=3, store={str(db)!r}).fit(X, y)\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, timeout=120)
    assert not Path(f"{db}-wal").exists()
    assert _studies_in_main_file(db) == 1


def test_a_store_file_replaced_between_fits_gets_the_next_fit(tmp_path):
    db = tmp_path / "x.db"
    hptrack.GridSearchCV(SVC(), SMALL, cv=3, store=db, study="first").fit(X_IRIS, Y_IRIS)
    for leftover in tmp_path.glob("x.db*"):  # the user deletes the store (the process still holds it)
        leftover.unlink()
    hptrack.GridSearchCV(SVC(), SMALL, cv=3, store=db, study="second").fit(X_IRIS, Y_IRIS)
    with Store(db) as store:
        assert [s.name for s in store.studies()] == ["second"]
        assert store.study("second").counts()["complete"] == len(ParameterGrid(SMALL))


def test_nested_searches_in_threads_all_record(tmp_path):
    db = tmp_path / "x.db"
    inner = hptrack.GridSearchCV(SVC(), SMALL, cv=3, store=db)
    with joblib.parallel_backend("threading", n_jobs=2):  # drop-ins fit in two threads at once
        outer = ms.cross_val_score(
            inner, X_IRIS, Y_IRIS, cv=ms.KFold(4, shuffle=True, random_state=0), n_jobs=2
        )
    expected = ms.cross_val_score(
        ms.GridSearchCV(SVC(), SMALL, cv=3), X_IRIS, Y_IRIS, cv=ms.KFold(4, shuffle=True, random_state=0)
    )
    assert np.array_equal(outer, expected)
    with Store(db) as store:
        studies = store.studies()
        assert len(studies) == 4
        assert all(store.study(s.name).counts()["complete"] == len(ParameterGrid(SMALL)) for s in studies)


def test_study_argument_names_the_study(tmp_path):
    db = tmp_path / "x.db"
    search = hptrack.GridSearchCV(SVC(), GRID, cv=3, store=db, study="iris-svc")
    search.fit(X_IRIS, Y_IRIS)
    assert search.recorded_study().name == "iris-svc"
    with Store(db) as store:
        trials = store.study("iris-svc").trials()
    assert [t.params for t in trials] == search.cv_results_["params"]
    for t in trials:
        for k in range(3):
            assert t.scores["score"][k] == search.cv_results_[f"split{k}_test_score"][t.number]
        assert t.mean["score"] == search.cv_results_["mean_test_score"][t.number]
        assert t.rank == search.cv_results_["rank_test_score"][t.number]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"param_grid": {"C": [0.5, 2.0]}}, "space"),
        ({"estimator": SVC(tol=1e-2)}, "estimator"),
        ({"scoring": "f1_macro"}, "metrics"),
        ({"cv": 4}, "cv"),
        ({"return_train_score": True}, "train_scores"),
        ({"error_score": 0.0}, "error_score"),
    ],
)
def test_another_search_under_the_same_study_name_is_refused(changes, field, tmp_path):
    db = tmp_path / "x.db"
    kwargs: dict[str, Any] = dict(estimator=SVC(), param_grid=SMALL, cv=3, store=db, study="s")
    hptrack.GridSearchCV(**kwargs).fit(X_IRIS, Y_IRIS)
    rows = _fold_rows(db)
    with pytest.raises(hptrack.SpecMismatchError, match="study 's' exists with a different spec") as e:
        hptrack.GridSearchCV(**{**kwargs, **changes}).fit(X_IRIS, Y_IRIS)
    assert any(f == field or f.startswith(field + ".") for f in e.value.fields), e.value.fields
    assert field in str(e.value)
    assert _fold_rows(db) == rows


def test_other_data_under_an_explicit_study_name_is_refused(tmp_path):
    db = tmp_path / "x.db"
    hptrack.GridSearchCV(SVC(), SMALL, cv=3, store=db, study="s").fit(X_IRIS, Y_IRIS)
    with pytest.raises(hptrack.HptrackError, match="data changed"):
        hptrack.GridSearchCV(SVC(), SMALL, cv=3, store=db, study="s").fit(X_IRIS[::-1], Y_IRIS[::-1])


def test_other_data_under_the_default_name_is_another_study(tmp_path):
    db = tmp_path / "x.db"
    a = hptrack.GridSearchCV(SVC(), SMALL, cv=3, store=db).fit(X_IRIS, Y_IRIS)
    b = hptrack.GridSearchCV(SVC(), SMALL, cv=3, store=db).fit(X_IRIS[:120], Y_IRIS[:120])
    c = hptrack.GridSearchCV(SVC(), {"C": [1.0]}, cv=3, store=db).fit(X_IRIS, Y_IRIS)
    assert len({a.recorded_study().name, b.recorded_study().name, c.recorded_study().name}) == 3
    with Store(db) as store:
        names = [search.recorded_study().name for search in (a, b, c)]
        assert sorted(s.name for s in store.studies()) == sorted(names)


def test_store_defaults_to_the_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("HPTRACK_STORE", str(tmp_path / "env.db"))
    search = hptrack.GridSearchCV(SVC(), {"C": [1.0]}, cv=3).fit(X_IRIS, Y_IRIS)
    assert search.recorded_study().store_path == tmp_path / "env.db"
    assert (tmp_path / "env.db").exists()


def test_clone_and_get_params(tmp_path):
    search = hptrack.GridSearchCV(SVC(), GRID, cv=3, store=tmp_path / "x.db", study="s", reuse=False)
    params = search.get_params()
    for key, value in {
        "store": tmp_path / "x.db",
        "study": "s",
        "reuse": False,
        "allow_code_change": False,
        "cv": 3,
        "param_grid": GRID,
    }.items():
        assert params[key] == value
    assert "estimator__C" in params
    copy = clone(search)
    assert type(copy) is hptrack.GridSearchCV
    assert {k: v for k, v in copy.get_params(deep=False).items() if k != "estimator"} == {
        k: v for k, v in params.items() if k in copy.get_params(deep=False) and k != "estimator"
    }
    copy.set_params(study="t", estimator__C=2.0)
    assert copy.study == "t" and copy.estimator.C == 2.0 and search.study == "s"
    with pytest.raises(NotFittedError):
        copy.predict(X_IRIS)
    random = hptrack.RandomizedSearchCV(SVC(), {"C": [1.0]}, store="r.db", random_state=5)
    assert {"store", "study", "reuse", "random_state", "n_iter"} <= set(clone(random).get_params())
    assert "seed" not in random.get_params()  # nothing is seeded behind the user's back


def test_n_jobs_two_gives_the_results_of_n_jobs_one(tmp_path):
    kwargs = dict(cv=3, scoring=["accuracy", "f1_macro"], refit="accuracy", study="par")
    one = hptrack.GridSearchCV(SVC(), GRID, n_jobs=1, store=tmp_path / "one.db", **kwargs)
    two = hptrack.GridSearchCV(SVC(), GRID, n_jobs=2, store=tmp_path / "two.db", **kwargs)
    one.fit(X_IRIS, Y_IRIS)
    two.fit(X_IRIS, Y_IRIS)
    assert_cv_results_equal(two.cv_results_, one.cv_results_)
    assert two.best_params_ == one.best_params_


def test_groups_reach_the_splitter(tmp_path):
    groups = np.arange(len(Y_IRIS)) % 5
    kwargs = dict(cv=GroupKFold(n_splits=3), scoring="accuracy")
    ours = hptrack.GridSearchCV(SVC(), GRID, store=tmp_path / "x.db", **kwargs)
    ours.fit(X_IRIS, Y_IRIS, groups=groups)
    theirs = ms.GridSearchCV(SVC(), GRID, **kwargs).fit(X_IRIS, Y_IRIS, groups=groups)
    assert_fitted_like(ours, theirs, X_IRIS, Y_IRIS)
    other = np.arange(len(Y_IRIS)) % 4  # other groups: other splits, other data: another study
    again = hptrack.GridSearchCV(SVC(), GRID, store=tmp_path / "x.db", **kwargs)
    again.fit(X_IRIS, Y_IRIS, groups=other)
    assert again.recorded_study().name != ours.recorded_study().name
    with pytest.raises(ValueError, match="The 'groups' parameter should not be None"):
        hptrack.GridSearchCV(SVC(), GRID, store=tmp_path / "x.db", **kwargs).fit(X_IRIS, Y_IRIS)


def test_sample_weight_fit_param(tmp_path):
    weights = np.linspace(0.2, 3.0, len(Y_IRIS))
    kwargs = dict(cv=3, scoring=["accuracy", "f1_macro"], refit="f1_macro", return_train_score=True)
    ours = hptrack.GridSearchCV(SVC(), SMALL, store=tmp_path / "x.db", **kwargs)
    ours.fit(X_IRIS, Y_IRIS, sample_weight=weights)
    theirs = ms.GridSearchCV(SVC(), SMALL, **kwargs).fit(X_IRIS, Y_IRIS, sample_weight=weights)
    assert_fitted_like(ours, theirs, X_IRIS, Y_IRIS)
    unweighted = hptrack.GridSearchCV(SVC(), SMALL, store=tmp_path / "x.db", **kwargs)
    unweighted.fit(X_IRIS, Y_IRIS)
    # the weights are part of the data fingerprint
    assert unweighted.recorded_study().name != ours.recorded_study().name
    assert not np.array_equal(
        unweighted.cv_results_["split0_test_accuracy"], ours.cv_results_["split0_test_accuracy"]
    )


@pytest.mark.skipif(not SEARCH_WEIGHTS_SCORES, reason="this scikit-learn scores unweighted")
def test_sample_weight_with_a_scorer_that_ignores_it_warns_like_sklearn(tmp_path):
    weights = np.linspace(0.2, 3.0, len(Y_IRIS))
    grid = {"C": [1.0]}
    with pytest.warns(UserWarning, match="does not support sample_weight") as theirs:
        ms.GridSearchCV(SVC(), grid, scoring=_accuracy, cv=3).fit(X_IRIS, Y_IRIS, sample_weight=weights)
    with pytest.warns(UserWarning, match="does not support sample_weight") as ours:
        search = hptrack.GridSearchCV(SVC(), grid, scoring=_accuracy, cv=3, store=tmp_path / "x.db")
        search.fit(X_IRIS, Y_IRIS, sample_weight=weights)
    assert len(ours) == len(theirs) == 1
    assert str(ours[0].message).startswith(f"The scoring {_accuracy} does not support sample_weight")


# ------------------------------------------------------------------ failing fits


FAILING_GRID = {"C": [1.0, -1.0, 0.1]}  # C must be > 0: fit raises for C=-1


def test_failing_fit_warns_and_scores_error_score_like_sklearn(tmp_path):
    db = tmp_path / "x.db"
    kwargs = dict(cv=3, scoring=["accuracy", "f1_macro"], refit="accuracy", return_train_score=True)
    with pytest.warns(UserWarning, match="non-finite"):
        with pytest.warns(FitFailedWarning) as theirs:
            reference = ms.GridSearchCV(LogisticRegression(max_iter=300), FAILING_GRID, **kwargs)
            reference.fit(X_IRIS, Y_IRIS)
    with pytest.warns(UserWarning, match="non-finite"):
        with pytest.warns(FitFailedWarning) as ours:
            search = hptrack.GridSearchCV(
                LogisticRegression(max_iter=300), FAILING_GRID, store=db, study="f", **kwargs
            )
            search.fit(X_IRIS, Y_IRIS)
    assert_fitted_like(search, reference, X_IRIS, Y_IRIS)
    (their_warning,) = [w for w in theirs if w.category is FitFailedWarning]
    (our_warning,) = [w for w in ours if w.category is FitFailedWarning]
    head = (
        "\n3 fits failed out of a total of 9.\nThe score on these train-test partitions for "
        "these parameters will be set to nan.\nIf these failures are not expected, you can "
        "try to debug them by setting error_score='raise'.\n\nBelow are more details about "
        "the failures:\n" + "-" * 80 + "\n3 fits failed with the following error:\n"
    )
    assert str(their_warning.message).startswith(head)
    assert str(our_warning.message).startswith(head)
    assert "InvalidParameterError: The 'C' parameter of LogisticRegression must be" in str(
        our_warning.message
    )
    assert _without_paths(str(our_warning.message)) == _without_paths(str(their_warning.message))
    with Store(db) as store:
        trials = store.study("f").trials()
    assert [t.status for t in trials] == ["complete", "failed", "complete"]
    assert sorted(trials[1].errors) == [0, 1, 2]


def _without_paths(message: str) -> str:
    """A failure summary without its traceback lines (the stack differs by one hptrack frame)."""
    return "\n".join(line for line in message.splitlines() if not line.startswith(("  File", "    ")))


def test_failing_fit_with_a_number_as_error_score(tmp_path):
    kwargs = dict(cv=3, error_score=0.0)
    with pytest.warns(FitFailedWarning, match="will be set to 0.0"):
        theirs = ms.GridSearchCV(LogisticRegression(max_iter=300), FAILING_GRID, **kwargs)
        theirs.fit(X_IRIS, Y_IRIS)
    with pytest.warns(FitFailedWarning, match="will be set to 0.0"):
        ours = hptrack.GridSearchCV(
            LogisticRegression(max_iter=300), FAILING_GRID, store=tmp_path / "x.db", **kwargs
        ).fit(X_IRIS, Y_IRIS)
    assert_fitted_like(ours, theirs, X_IRIS, Y_IRIS)


def test_every_fit_failing_raises_after_recording(tmp_path):
    db = tmp_path / "x.db"
    grid = {"C": [-1.0, -2.0]}
    with pytest.raises(ValueError, match="\nAll the 6 fits failed.\n") as theirs:
        ms.GridSearchCV(LogisticRegression(), grid, cv=3).fit(X_IRIS, Y_IRIS)
    with pytest.raises(ValueError, match="\nAll the 6 fits failed.\n") as ours:
        hptrack.GridSearchCV(LogisticRegression(), grid, cv=3, store=db, study="all").fit(X_IRIS, Y_IRIS)
    assert str(ours.value).startswith(str(theirs.value).split("Below are more details")[0])
    with Store(db) as store:
        assert store.study("all").counts()["failed"] == 2


def test_error_score_raise_raises_the_estimators_error(tmp_path):
    kwargs = dict(cv=3, error_score="raise")
    with pytest.raises(ValueError) as theirs:
        ms.GridSearchCV(LogisticRegression(max_iter=300), FAILING_GRID, **kwargs).fit(X_IRIS, Y_IRIS)
    search = hptrack.GridSearchCV(
        LogisticRegression(max_iter=300), FAILING_GRID, store=tmp_path / "x.db", **kwargs
    )
    # a fit stops at the first failing fold; the next fits resume the failing trial (its
    # other folds fail in turn), then find its recorded failure and raise it once more
    for _ in range(4):
        with pytest.raises(ValueError) as ours:
            search.fit(X_IRIS, Y_IRIS)
        assert type(ours.value) is type(theirs.value)
        assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize(
    "param_grid",
    [{"C": 1.0}, {"C": []}, [{"C": [1.0]}, 3], {"C": np.ones((2, 2))}],
    ids=["scalar", "empty", "not-a-dict", "2d"],
)
def test_bad_param_grid_raises_sklearns_error(param_grid, tmp_path):
    db = tmp_path / "x.db"
    with pytest.raises((TypeError, ValueError)) as theirs:
        ms.GridSearchCV(SVC(), param_grid).fit(X_IRIS, Y_IRIS)
    with pytest.raises((TypeError, ValueError)) as ours:
        hptrack.GridSearchCV(SVC(), param_grid, store=db).fit(X_IRIS, Y_IRIS)
    assert type(ours.value) is type(theirs.value)
    assert str(ours.value) == str(theirs.value)
    assert not db.exists()


def test_a_callable_scorer_resumes_its_study(tmp_path):
    db = tmp_path / "x.db"

    def local_scorer(estimator: Any, X: Any, y: Any) -> float:
        return accuracy_score(y, estimator.predict(X))

    for scoring in (_accuracy, local_scorer, _two_scores):
        refit = "acc" if scoring is _two_scores else True
        kwargs = dict(cv=3, scoring=scoring, refit=refit, store=db)
        first = hptrack.GridSearchCV(SVC(), SMALL, **kwargs).fit(X_IRIS, Y_IRIS)
        rows = _fold_rows(db)
        second = hptrack.GridSearchCV(SVC(), SMALL, **kwargs).fit(X_IRIS, Y_IRIS)
        assert second.recorded_study().name == first.recorded_study().name
        assert _fold_rows(db) == rows
        assert_cv_results_equal(second.cv_results_, first.cv_results_)
        assert second.multimetric_ == (scoring is _two_scores)
    with Store(db) as store:
        assert len(store.studies()) == 3


class _TwoBatches(hptrack.GridSearchCV):
    """A custom ``_run_search`` (scikit-learn's older form, without ``callback_ctx``)."""

    def _run_search(self, evaluate_candidates):
        evaluate_candidates([{"C": 0.5}, {"C": 1.0}])
        evaluate_candidates([{"C": 2.0}])


def test_a_custom_run_search_numbers_trials_across_batches_and_resumes(tmp_path):
    db = tmp_path / "x.db"
    first = _TwoBatches(SVC(random_state=0), {"C": [1.0]}, cv=3, store=db).fit(X_IRIS, Y_IRIS)
    theirs = ms.GridSearchCV(SVC(random_state=0), [{"C": [0.5, 1.0]}, {"C": [2.0]}], cv=3)
    assert_fitted_like(first, theirs.fit(X_IRIS, Y_IRIS), X_IRIS, Y_IRIS)
    with Store(db) as store:
        trials = store.study(first.recorded_study().name).trials()
        assert [t.params for t in trials] == [{"C": 0.5}, {"C": 1.0}, {"C": 2.0}]
    again = _TwoBatches(SVC(random_state=0), {"C": [1.0]}, cv=3, store=db).fit(X_IRIS, Y_IRIS)
    assert _fold_rows(db) == 9  # nothing fitted again
    assert again.recorded_study().name == first.recorded_study().name
    for key in ("mean_fit_time", "std_fit_time", "mean_score_time"):  # the recorded times
        assert np.array_equal(again.cv_results_[key], first.cv_results_[key])
    assert_cv_results_equal(again.cv_results_, first.cv_results_)


def test_a_rerun_with_workers_serves_the_stored_folds(tmp_path):
    db = tmp_path / "x.db"
    kwargs = dict(cv=3, store=db, study="par")
    first = hptrack.GridSearchCV(SVC(random_state=0), GRID, n_jobs=2, **kwargs).fit(X_IRIS, Y_IRIS)
    assert _fold_rows(db) == 12
    again = hptrack.GridSearchCV(SVC(random_state=0), GRID, n_jobs=2, **kwargs).fit(X_IRIS, Y_IRIS)
    assert _fold_rows(db) == 12
    for key in ("mean_fit_time", "mean_score_time"):
        assert np.array_equal(again.cv_results_[key], first.cv_results_[key])
    assert_cv_results_equal(again.cv_results_, first.cv_results_)


def test_default_study_name_is_the_hash_of_spec_data_splits_and_candidates():
    """The derived name a re-run must find again: sha256 of the canonical JSON of the four,
    as hptrack 0.x computed it (``hash_value`` of the list), floats, NaN and estimators included."""
    import json

    from hptrack._json import canonical_json, hash_value
    from hptrack.search._study import study_name

    search = hptrack.GridSearchCV(SVC(), {"C": [0.1, 1.0]})
    spec = {"search": "grid", "space": {"C": [0.1, 1.0]}, "metrics": {"score": "x"}, "nan": float("nan")}
    candidates = [{"C": 0.1, "kernel": "rbf"}, {"C": 1e-300, "estimator": SVC(C=2.5)}, {"C": float("nan")}]
    expected = hash_value([spec, "d" * 64, "s" * 64, json.loads(canonical_json(candidates))])
    assert study_name(search, spec, "d" * 64, "s" * 64, candidates, unstable=False) == f"SVC-{expected[:12]}"


class _CountingKFold(ms.KFold):
    """A user's splitter: its split may have side effects, so scikit-learn's fit must call it."""

    calls = 0

    def split(self, X, y=None, groups=None):
        type(self).calls += 1
        return super().split(X, y, groups)


@pytest.mark.parametrize(
    "cv", [ms.KFold(4, shuffle=True, random_state=3), ms.ShuffleSplit(3, test_size=0.3, random_state=1), 3]
)
def test_splits_handed_to_scikit_learn_are_its_own(tmp_path, cv):
    """A scikit-learn splitter seeded with an int (or not shuffling) is split once, by hptrack,
    and scikit-learn's search is handed those splits: every fold scores as scikit-learn's own."""
    X, y = load_iris(return_X_y=True)
    grid = {"C": [0.5, 5.0]}
    ours = hptrack.GridSearchCV(SVC(), grid, cv=cv, store=tmp_path / "s.db").fit(X, y)
    theirs = ms.GridSearchCV(SVC(), grid, cv=cv).fit(X, y)
    for key in [k for k in theirs.cv_results_ if k.startswith("split")]:
        assert list(ours.cv_results_[key]) == list(theirs.cv_results_[key]), key


def test_a_users_splitter_is_still_split_by_scikit_learn(tmp_path):
    X, y = load_iris(return_X_y=True)
    _CountingKFold.calls = 0
    ms.GridSearchCV(SVC(), {"C": [1.0]}, cv=_CountingKFold(3)).fit(X, y)
    theirs = _CountingKFold.calls
    _CountingKFold.calls = 0
    hptrack.GridSearchCV(SVC(), {"C": [1.0]}, cv=_CountingKFold(3), store=tmp_path / "s.db").fit(X, y)
    assert _CountingKFold.calls == theirs + 1  # hptrack's copy, then every call scikit-learn makes
