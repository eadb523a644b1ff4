"""Honest warnings only (issue 24, item 3): "unseeded randomness" only where it is used,
and a resumed study says when it served folds of a split that this fit would not draw.

The rule is `hptrack/run/randomness.py`'s table of what scikit-learn documents; anything
not in the table is taken to draw (a warning too many, never one too few).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import pytest
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

import hptrack
from hptrack import Store

X, Y = load_iris(return_X_y=True)


class MyRidge(Ridge):
    """A user's subclass: it may draw where Ridge does not, so it is taken to draw."""


def _unseeded_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "hptrack" and "unseeded" in r.getMessage()]


def _fit(db: Path, estimator: Any, grid: dict[str, list[Any]], cv: Any, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # SVC(probability=True) is deprecated in 1.9
        return hptrack.GridSearchCV(estimator, grid, cv=cv, store=db, **kwargs).fit(X, Y)


QUIET = [
    pytest.param(SVC(), {"C": [1, 10]}, StratifiedKFold(3), id="svc-no-probability"),
    pytest.param(Ridge(), {"alpha": [1, 10]}, KFold(3), id="ridge-auto"),
    pytest.param(Ridge(solver="cholesky"), {"alpha": [1, 10]}, 3, id="ridge-cholesky"),
    pytest.param(LogisticRegression(max_iter=500), {"C": [1, 10]}, 3, id="logistic-lbfgs"),
    pytest.param(SVC(), {"C": [1, 10]}, KFold(3, shuffle=False), id="kfold-unshuffled"),
    pytest.param(
        Pipeline([("scale", StandardScaler()), ("pca", PCA(svd_solver="full")), ("svc", SVC())]),
        {"svc__C": [1, 10]},
        3,
        id="pipeline-pca-full-svc",
    ),
]

WARNED = [
    pytest.param(SVC(probability=True), {"C": [1, 10]}, 3, "estimator param random_state=None", id="svc-proba"),
    pytest.param(Ridge(solver="sag"), {"alpha": [1, 10]}, 3, "estimator param random_state=None", id="ridge-sag"),
    pytest.param(
        Ridge(), {"solver": ["auto", "sag"]}, 3, "estimator param random_state=None", id="ridge-solver-searched"
    ),
    pytest.param(MyRidge(), {"alpha": [1, 10]}, 3, "estimator param random_state=None", id="user-subclass"),
    pytest.param(
        DecisionTreeClassifier(), {"max_depth": [2, 3]}, 3, "estimator param random_state=None", id="not-in-table"
    ),
    pytest.param(
        Pipeline([("pca", PCA()), ("svc", SVC())]),
        {"svc__C": [1, 10]},
        3,
        "estimator param pca__random_state=None",
        id="pca-auto-may-randomize",
    ),
    pytest.param(
        SVC(), {"C": [1, 10]}, KFold(3, shuffle=True), "cv=KFold(n_splits=3, random_state=None, shuffle=True)",
        id="kfold-shuffled",
    ),
]


@pytest.mark.parametrize(("estimator", "grid", "cv"), QUIET)
def test_unused_randomness_is_not_warned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, estimator: Any, grid: dict[str, Any], cv: Any
) -> None:
    caplog.set_level(logging.WARNING, logger="hptrack")
    search = _fit(tmp_path / "s.db", estimator, grid, cv)
    assert _unseeded_lines(caplog) == []
    with Store(tmp_path / "s.db", readonly=True) as store:
        assert "unseeded" not in store.study(search.recorded_study().name).provenance


@pytest.mark.parametrize(("estimator", "grid", "cv", "named"), WARNED)
def test_used_randomness_is_warned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, estimator: Any, grid: dict[str, Any], cv: Any, named: str
) -> None:
    caplog.set_level(logging.WARNING, logger="hptrack")
    search = _fit(tmp_path / "s.db", estimator, grid, cv)
    (line,) = _unseeded_lines(caplog)
    assert f"draws on unseeded randomness ({named})" in line, line
    with Store(tmp_path / "s.db", readonly=True) as store:
        assert store.study(search.recorded_study().name).provenance["unseeded"] == [named]


def test_nested_cv_with_svc_does_not_warn(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="hptrack")
    inner = hptrack.GridSearchCV(SVC(), {"C": [1, 10]}, cv=3, store=tmp_path / "n.db")
    scores = cross_val_score(inner, X, Y, cv=3)
    assert len(scores) == 3
    assert _unseeded_lines(caplog) == []
    with Store(tmp_path / "n.db", readonly=True) as store:
        assert len(store.studies()) == 3  # one inner search per outer fold, all recorded
        assert all("unseeded" not in store.study(s.name).provenance for s in store.studies())


def test_a_pipeline_step_that_does_not_draw_is_shared(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """PCA's full solver never reads random_state: its fits are shared between configurations."""
    caplog.set_level(logging.WARNING, logger="hptrack")
    pipe = Pipeline([("pca", PCA(n_components=2, svd_solver="full")), ("svc", SVC())])
    search = _fit(tmp_path / "s.db", pipe, {"svc__C": [0.1, 1, 10]}, 3)
    assert not [r for r in caplog.records if "its fits are not shared" in r.getMessage()]
    with Store(tmp_path / "s.db", readonly=True) as store:
        fits = store.study(search.recorded_study().name).prefix_fits()
    assert (fits.fitted, fits.reused) == (3, 6)  # PCA once per fold, not once per configuration
    drawing = clone(pipe).set_params(pca__svd_solver="randomized")  # draws: never shared
    search = _fit(tmp_path / "r.db", drawing, {"svc__C": [0.1, 1, 10]}, 3)
    with Store(tmp_path / "r.db", readonly=True) as store:
        assert store.study(search.recorded_study().name).prefix_fits().reused == 0


# ------------------------------------------------------------------ served from an unseeded split


def _served_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "hptrack" and "served" in r.getMessage()]


def test_a_named_study_with_an_unseeded_shuffle_says_it_served_stored_folds(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="hptrack")
    db, cv = tmp_path / "s.db", KFold(3, shuffle=True)
    first = _fit(db, SVC(), {"C": [1, 10]}, cv, study="named")
    assert _served_lines(caplog) == []  # nothing stored yet: everything fitted
    again = _fit(db, SVC(), {"C": [1, 10]}, cv, study="named")
    (line,) = _served_lines(caplog)
    assert line == (
        "hptrack: study 'named': served 6 stored fold result(s) although "
        "cv=KFold(n_splits=3, random_state=None, shuffle=True) shuffles without a seed: they were "
        "scored on an earlier fit's split, which this fit's new split would not have reproduced; "
        "set the splitter's random_state to an int (or fit a new study) to score the split "
        "scikit-learn draws now"
    )
    assert list(again.cv_results_["split0_test_score"]) == list(first.cv_results_["split0_test_score"])


def test_a_seeded_or_unnamed_shuffle_says_nothing_about_serving(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="hptrack")
    for _ in range(2):
        _fit(tmp_path / "seeded.db", SVC(), {"C": [1, 10]}, KFold(3, shuffle=True, random_state=0), study="s")
        _fit(tmp_path / "unnamed.db", SVC(), {"C": [1, 10]}, KFold(3, shuffle=True))
    assert _served_lines(caplog) == []
    with Store(tmp_path / "unnamed.db", readonly=True) as store:
        assert len(store.studies()) == 2  # each unseeded split is its own study: nothing to serve
