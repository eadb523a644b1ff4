"""A resumed drop-in search prints and calls back what its first fit did.

scikit-learn's gallery runs searches with ``verbose=10`` and with callbacks
(``set_callbacks``); run twice on one store, the second run serves the stored folds and
must still print the same lines, and callbacks must still see every fold's fit.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

import hptrack
from hptrack import Store

X, Y = load_iris(return_X_y=True)
GRID = {"C": [0.1, 10.0], "kernel": ["rbf", "linear"]}


def _masked_times(text: str) -> str:
    return re.sub(r"total time=\s*[\d.]+\w+", "total time=<t>", text)


@pytest.mark.parametrize("verbose", [2, 3, 10])
@pytest.mark.parametrize(
    ("scoring", "return_train_score"),
    [(None, False), (None, True), (["accuracy", "f1_macro"], True)],
)
def test_a_resumed_verbose_search_prints_its_first_fits_lines(
    verbose, scoring, return_train_score, tmp_path, capsys
):
    def fit() -> tuple[str, Any]:
        search = hptrack.GridSearchCV(
            SVC(),
            GRID,
            cv=3,
            verbose=verbose,
            scoring=scoring,
            refit=False,
            return_train_score=return_train_score,
            store=tmp_path / "s.db",
        )
        search.fit(X, Y)
        return capsys.readouterr().out, search

    first, _ = fit()
    second, search = fit()
    assert "END" in first
    assert _masked_times(second) == _masked_times(first)
    history = search.recorded_study().history()
    assert [run.folds for run in history] == [12, 0]


class _CountingCallback:
    """A scikit-learn fit callback that counts the fit tasks it sees (class-wide)."""

    begun: ClassVar[list[str]] = []

    def setup(self, estimator: Any, context: Any) -> None:
        pass

    def teardown(self, estimator: Any, context: Any) -> None:
        pass

    def on_fit_task_begin(self, estimator: Any, context: Any, **kwargs: Any) -> None:
        self.begun.append(type(estimator).__name__)

    def on_fit_task_end(self, estimator: Any, context: Any, **kwargs: Any) -> bool:
        return False


@pytest.mark.parametrize("n_jobs", [None, 2])
def test_callbacks_see_every_fold_fit_again_when_the_search_is_resumed(n_jobs, tmp_path, caplog):
    def fit() -> tuple[list[str], Any]:
        _CountingCallback.begun = []
        model = make_pipeline(
            StandardScaler(), LogisticRegression(max_iter=50).set_callbacks(_CountingCallback())
        )
        search = hptrack.GridSearchCV(
            model, {"logisticregression__C": [0.1, 1.0]}, cv=3, n_jobs=n_jobs, store=tmp_path / "s.db"
        )
        search.fit(X, Y)
        return list(_CountingCallback.begun), search

    first, search1 = fit()
    second, search2 = fit()
    if n_jobs is None:  # workers' callbacks count in the workers
        assert len(first) > 7  # 6 fold fits and the refit, each with its iterations
        assert second == first
    np.testing.assert_array_equal(
        search2.cv_results_["mean_test_score"], search1.cv_results_["mean_test_score"]
    )
    assert "has scikit-learn callbacks" in caplog.text
    study = Store(tmp_path / "s.db", readonly=True).study(search2.recorded_study().name)
    assert [t.status for t in study.trials()] == ["complete", "complete"]
    assert [run.folds for run in study.history()] == [6, 0]  # fitted again, recorded once


def test_a_search_without_callbacks_still_serves_its_stored_folds(tmp_path, caplog):
    def fit() -> Any:
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=50))
        search = hptrack.GridSearchCV(
            model, {"logisticregression__C": [0.1, 1.0]}, cv=3, store=tmp_path / "s.db"
        )
        return search.fit(X, Y)

    fit()
    history = fit().recorded_study().history()
    assert [run.folds for run in history] == [6, 0]
    assert "callbacks" not in caplog.text


def test_callbacks_on_an_estimator_of_any_candidate_make_a_resumed_search_refit(tmp_path, caplog):
    def fit() -> list[str]:
        _CountingCallback.begun = []
        watched = LogisticRegression(max_iter=50).set_callbacks(_CountingCallback())
        grid = {"logisticregression": [watched, LogisticRegression(C=0.5, max_iter=50)]}
        search = hptrack.GridSearchCV(
            make_pipeline(StandardScaler(), LogisticRegression()),
            grid,
            cv=3,
            refit=False,
            store=tmp_path / "s.db",
        )
        search.fit(X, Y)
        return list(_CountingCallback.begun)

    first = fit()
    assert first and fit() == first  # the first candidate's folds are fitted again, not served
    assert "candidate param logisticregression has scikit-learn callbacks" in caplog.text
