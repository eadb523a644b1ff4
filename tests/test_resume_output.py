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


# --------------------------------------------------------------------------- side effects of fits
# A resumed search causes exactly the side effects of the fits scikit-learn makes, in its
# order, or serves nothing: what calls back or prints while it fits is fitted again (and
# recorded once); a silent cache, which only saves time, does not stop serving.


def _masked_cache_lines(text: str) -> str:
    text = re.sub(r"[\d.]+s, [\d.]+min", "<t>", text)  # joblib.Memory's "name - 0.0s, 0.0min"
    return re.sub(r"total=\s*[\d.]+s", "total=<t>", text)  # a verbose Pipeline's step times


@pytest.mark.parametrize("refit", [True, False])
def test_callbacks_see_scikit_learns_fits_in_its_order_first_run_and_re_run(refit, tmp_path):
    from sklearn.callback import ScoringMonitor
    from sklearn.model_selection import GridSearchCV

    def logs(search_class: Any, **store: Any) -> tuple[list[tuple[Any, ...]], Any]:
        monitor = ScoringMonitor(scoring=["accuracy"])
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=50).set_callbacks(monitor))
        grid = {"logisticregression__C": [0.1, 1.0], "standardscaler__with_std": [True, False]}
        search = search_class(model, grid, cv=3, scoring=["accuracy"], refit=refit and "accuracy", **store)
        search.fit(X, Y)
        rows = [(r["task_id_path"], r["task_name"], r["accuracy"]) for r in monitor.get_logs().data]
        return rows, search

    expected, reference = logs(GridSearchCV)
    first, _ = logs(hptrack.GridSearchCV, store=tmp_path / "s.db")
    again, search = logs(hptrack.GridSearchCV, store=tmp_path / "s.db")
    assert len(expected) > 12  # every iteration of the 12 fold fits (and the refit)
    assert first == expected
    assert again == expected  # no fit more or less, none reordered, the same scores
    assert [run.folds for run in search.recorded_study().history()] == [12, 0]
    np.testing.assert_array_equal(
        search.cv_results_["mean_test_accuracy"], reference.cv_results_["mean_test_accuracy"]
    )


def _agglomeration(memory: Any) -> Any:
    from sklearn.cluster import FeatureAgglomeration
    from sklearn.linear_model import BayesianRidge
    from sklearn.pipeline import Pipeline

    return Pipeline([("ward", FeatureAgglomeration(n_clusters=2, memory=memory)), ("ridge", BayesianRidge())])


def _anova(memory: Any) -> Any:
    from sklearn.feature_selection import SelectPercentile, f_regression
    from sklearn.linear_model import BayesianRidge
    from sklearn.pipeline import Pipeline

    return Pipeline([("anova", SelectPercentile(memory.cache(f_regression))), ("ridge", BayesianRidge())])


@pytest.mark.parametrize(
    ("model", "grid"),
    [(_agglomeration, {"ward__n_clusters": [2, 3]}), (_anova, {"anova__percentile": [25, 50]})],
    ids=["memory-param", "cached-function"],
)
def test_a_verbose_joblib_memory_prints_scikit_learns_calls_on_a_re_run(
    model, grid, tmp_path, capsys, caplog
):
    import joblib
    from sklearn.model_selection import GridSearchCV, KFold

    # the gallery's plot_feature_agglomeration_vs_univariate_selection: a new cache dir each run
    def fit(search_class: Any, run: str, **store: Any) -> tuple[str, Any]:
        memory = joblib.Memory(tmp_path / f"cache-{run}", verbose=1)
        search = search_class(model(memory), grid, cv=KFold(2), **store).fit(X, X[:, 0])
        return _masked_cache_lines(capsys.readouterr().out).replace(f"cache-{run}", "cache"), search

    expected, _ = fit(GridSearchCV, "sklearn")
    first, _ = fit(hptrack.GridSearchCV, "first", store=tmp_path / "s.db")
    again, search = fit(hptrack.GridSearchCV, "again", store=tmp_path / "s.db")
    assert expected.count("[Memory] Calling") == 3  # each split's first fit, then the refit
    assert first == expected
    assert again == expected  # the folds are fitted again, in scikit-learn's order
    assert "(verbose=1) prints while fitting" in caplog.text  # Memory or MemorizedFunc
    assert [run.folds for run in search.recorded_study().history()] == [4, 0]  # recorded once


def test_a_verbose_pipeline_prints_its_step_lines_on_a_re_run(tmp_path, capsys, caplog):
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline

    def fit(search_class: Any, **store: Any) -> tuple[str, Any]:
        model = Pipeline([("scale", StandardScaler()), ("svc", SVC())], verbose=True)
        search = search_class(model, {"svc__C": [0.1, 1.0]}, cv=3, refit=False, **store).fit(X, Y)
        return _masked_cache_lines(capsys.readouterr().out), search

    expected, _ = fit(GridSearchCV)
    first, _ = fit(hptrack.GridSearchCV, store=tmp_path / "s.db")
    again, search = fit(hptrack.GridSearchCV, store=tmp_path / "s.db")
    assert expected.count("Processing scale") == 6
    assert first == expected
    assert again == expected
    assert "estimator__verbose=True prints while fitting" in caplog.text
    assert [run.folds for run in search.recorded_study().history()] == [6, 0]  # fitted again, recorded once


def _cached_calls(location: Any) -> int:
    """How many calls a joblib.Memory at ``location`` has stored (one folder each)."""
    return sum(1 for path in location.rglob("output.pkl"))


def test_a_silent_cache_keeps_serving_and_a_pipelines_own_memory_is_scikit_learns(tmp_path, caplog):
    import joblib
    from sklearn.model_selection import GridSearchCV

    def fit(search_class: Any, run: str, **store: Any) -> int:
        location = tmp_path / f"cache-{run}"
        model = make_pipeline(StandardScaler(), SVC(), memory=joblib.Memory(location, verbose=0))
        search_class(model, {"svc__C": [0.1, 1.0]}, cv=3, **store).fit(X, Y)
        return _cached_calls(location)

    expected = fit(GridSearchCV, "sklearn")
    assert expected == 4  # the scaler on each of the 3 splits (the second C loads it), then the refit
    assert fit(hptrack.GridSearchCV, "first", store=tmp_path / "s.db") == expected
    assert fit(hptrack.GridSearchCV, "again", store=tmp_path / "s.db") == 1  # folds served: only the refit
    assert "prints while fitting" not in caplog.text
