"""Pipeline prefixes fitted once per fold and shared between configurations (issue 15).

Every test compares fold scores with scikit-learn's own ``GridSearchCV`` on the same
pipeline, params, splits and seeds, bit for bit: sharing a fitted prefix must never
change a result.
"""

from __future__ import annotations

import json
import logging
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.decomposition import KernelPCA
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from test_search import assert_cv_results_equal

import hptrack
from hptrack import Store

PIPES = textwrap.dedent(
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA, KernelPCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline
    from sklearn.preprocessing import StandardScaler


    def load():
        X, y = load_digits(return_X_y=True)
        return X[:300], y[:300]


    def kpca_knn():
        return Pipeline([("kpca", KernelPCA(kernel="rbf")), ("knn", KNeighborsClassifier())])


    def three_steps():  # a seeded randomized step in the middle
        return make_pipeline(
            StandardScaler(), PCA(svd_solver="randomized"), LogisticRegression(max_iter=5000)
        )


    def union():
        features = FeatureUnion([("pca", PCA()), ("kpca", KernelPCA(n_components=5))])
        return Pipeline([("features", features), ("clf", LogisticRegression(max_iter=5000))])


    def columns():  # a ColumnTransformer, then a step that scales its input in place
        cols = ColumnTransformer(
            [("scale", StandardScaler(), list(range(32))), ("keep", "passthrough", list(range(32, 64)))]
        )
        inplace = StandardScaler(copy=False)
        return Pipeline([("cols", cols), ("inplace", inplace), ("clf", LogisticRegression(max_iter=5000))])


    def nested():
        inner = Pipeline([("scale", StandardScaler()), ("pca", PCA(n_components=10))])
        return Pipeline([("pre", inner), ("skip", "passthrough"), ("knn", KNeighborsClassifier())])
    """
)

# factory -> (fixed params, space); every random_state fixed, so scikit-learn gets the same ones
CASES: dict[str, tuple[dict[str, Any], dict[str, list[Any]]]] = {
    "kpca_knn": (
        {"kpca__random_state": 0},
        {"kpca__gamma": [0.001, 0.0001], "knn__n_neighbors": [1, 5, 9]},
    ),
    "three_steps": (
        {"pca__random_state": 0, "logisticregression__random_state": 0},
        {"pca__n_components": [5, 10], "logisticregression__C": [0.1, 1.0]},
    ),
    "union": (
        {"features__pca__random_state": 0, "features__kpca__random_state": 0, "clf__random_state": 0},
        {"features__pca__n_components": [3, 6], "clf__C": [0.1, 1.0]},
    ),
    "columns": ({"clf__random_state": 0}, {"cols__scale__with_mean": [True, False], "clf__C": [0.1, 1.0]}),
    "nested": (
        {"pre__pca__random_state": 0},
        {"pre__pca__n_components": [5, 10], "knn__n_neighbors": [1, 3]},
    ),
}
N_FOLDS = 3


@pytest.fixture(autouse=True)
def empty_cache():
    """Each test starts with this process's prefix cache empty: fits of earlier tests on the same
    data, splits and code would otherwise be shared too (which is right, but not what a test counts)."""
    from hptrack.run.prefix import shared_cache

    shared_cache().clear()


@pytest.fixture
def pipe_spec(write_spec, tmp_path):
    """``pipe_spec("kpca_knn")``: a grid spec over one of PIPES' factories."""
    (tmp_path / "pipes.py").write_text(PIPES)

    def write(factory: str, **overrides: Any) -> Path:
        fixed, space = CASES[factory]
        return write_spec(
            name=factory,
            estimator=f"pipes:{factory}",
            data="pipes:load",
            fixed=fixed,
            space=space,
            filename=f"{factory}.toml",
            **overrides,
        )

    return write


def _sklearn_scores(tmp_path: Path, factory: str) -> list[tuple[dict[str, Any], dict[str, list[float]]]]:
    """scikit-learn's GridSearchCV on the same pipeline, params and splits: (params, fold scores)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"pipes_{factory}", tmp_path / "pipes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fixed, space = CASES[factory]
    X, y = module.load()
    search = GridSearchCV(
        getattr(module, factory)().set_params(**fixed),
        space,
        cv=StratifiedKFold(N_FOLDS, shuffle=True, random_state=0),
        scoring=["accuracy", "f1_macro"],
        refit=False,
    ).fit(X, y)
    results = search.cv_results_
    return [
        (
            params,
            {
                m: [float(results[f"split{k}_test_{m}"][i]) for k in range(N_FOLDS)]
                for m in ("accuracy", "f1_macro")
            },
        )
        for i, params in enumerate(results["params"])
    ]


def _recorded_scores(db: Path, name: str) -> list[tuple[dict[str, Any], dict[str, list[float]]]]:
    with Store(db, readonly=True) as store:
        return [(t.params, t.scores) for t in store.study(name).trials()]


@pytest.mark.parametrize("factory", sorted(CASES))
def test_shared_prefixes_give_sklearns_fold_scores_bit_for_bit(factory, pipe_spec, tmp_path, invoke):
    spec = pipe_spec(factory)
    shared, unshared = tmp_path / "shared.db", tmp_path / "unshared.db"
    result = invoke("run", spec, "--store", shared)
    assert result.exit_code == 0, result.output
    assert "step fit(s) taken from the cache" in result.stderr
    assert invoke("run", spec, "--store", unshared, "--no-reuse").exit_code == 0
    expected = _sklearn_scores(tmp_path, factory)
    assert _recorded_scores(shared, factory) == expected
    assert _recorded_scores(unshared, factory) == expected


def test_each_distinct_prefix_is_fitted_once_per_fold(pipe_spec, tmp_path, invoke):
    result = invoke("run", pipe_spec("kpca_knn"), "--store", tmp_path / "a.db")
    assert result.exit_code == 0, result.output
    # 2 KernelPCA settings x 3 folds fitted; the 2 other KNN settings of each take them
    assert "pipeline prefixes: 12 step fit(s) taken from the cache, 6 fitted" in result.stderr


def test_a_three_step_prefix_counts_each_step(pipe_spec, tmp_path, invoke):
    result = invoke("run", pipe_spec("three_steps"), "--store", tmp_path / "a.db")
    assert result.exit_code == 0, result.output
    # per fold: the scaler once, PCA once per n_components; the second C takes both steps
    assert "pipeline prefixes: 15 step fit(s) taken from the cache, 9 fitted" in result.stderr


def test_parallel_workers_share_prefixes_and_give_the_same_scores(pipe_spec, tmp_path, invoke):
    spec = pipe_spec("kpca_knn")
    result = invoke("run", spec, "--store", tmp_path / "a.db", "--n-jobs", "2")
    assert result.exit_code == 0, result.output
    # chunks of (prefix, fold) run in one worker each: every prefix is fitted once per fold
    assert "pipeline prefixes: 12 step fit(s) taken from the cache, 6 fitted" in result.stderr
    assert _recorded_scores(tmp_path / "a.db", "kpca_knn") == _sklearn_scores(tmp_path, "kpca_knn")


@pytest.mark.parametrize("option", [["--no-reuse"], ["--cache-mem", "0"], ["--cache-mem", "1K"]])
def test_the_cache_can_be_turned_off_or_made_too_small_to_keep_anything(option, pipe_spec, tmp_path, invoke):
    result = invoke("run", pipe_spec("kpca_knn"), "--store", tmp_path / "a.db", *option)
    assert result.exit_code == 0, result.output
    assert "pipeline prefixes" not in result.stderr
    assert _recorded_scores(tmp_path / "a.db", "kpca_knn") == _sklearn_scores(tmp_path, "kpca_knn")


@pytest.mark.parametrize("size", ["lots", "-1G", "1.5X", "", "inf"])
def test_a_bad_cache_size_is_refused_before_the_store(size, pipe_spec, tmp_path, invoke):
    db = tmp_path / "a.db"
    result = invoke("run", pipe_spec("kpca_knn"), "--store", db, "--cache-mem", size)
    assert result.exit_code == 2
    assert "--cache-mem" in result.stderr and "is not a size" in result.stderr
    assert not db.exists()


@pytest.mark.parametrize("size", ["512M", "2g", "1.5GiB", "100000", "64KB"])
def test_cache_sizes_in_the_forms_people_type(size, pipe_spec, tmp_path, invoke):
    result = invoke("run", pipe_spec("kpca_knn"), "--store", tmp_path / "a.db", "--cache-mem", size)
    assert result.exit_code == 0, result.output


# --------------------------------------------------------------------------- drop-ins

X_DIGITS, Y_DIGITS = (a[:300] for a in load_digits(return_X_y=True))
GRID = {"kpca__gamma": [0.001, 0.0001], "knn__n_neighbors": [1, 5, 9]}


def _kpca_knn(random_state: Any = 0, verbose: bool = False) -> Pipeline:
    return Pipeline(
        [("kpca", KernelPCA(kernel="rbf", random_state=random_state)), ("knn", KNeighborsClassifier())],
        verbose=verbose,
    )


@pytest.mark.parametrize("n_jobs", [None, 2])
def test_the_dropin_shares_prefixes_and_keeps_sklearns_results(n_jobs, tmp_path):
    ours = hptrack.GridSearchCV(_kpca_knn(), GRID, cv=3, n_jobs=n_jobs, store=tmp_path / "a.db").fit(
        X_DIGITS, Y_DIGITS
    )
    theirs = GridSearchCV(_kpca_knn(), GRID, cv=3, n_jobs=n_jobs).fit(X_DIGITS, Y_DIGITS)
    assert_cv_results_equal(ours.cv_results_, theirs.cv_results_)
    assert ours.best_estimator_.get_params()["memory"] is None  # the user's pipeline, as given
    assert np.array_equal(ours.predict(X_DIGITS), theirs.predict(X_DIGITS))
    if n_jobs is None:  # fits in worker processes are not counted: they report nothing back
        assert ours.recorded_study().prefix_fits().to_dict() == {"fitted": 6, "reused": 12}


def test_the_dropin_with_reuse_off_shares_nothing_and_keeps_sklearns_results(tmp_path):
    ours = hptrack.GridSearchCV(_kpca_knn(), GRID, cv=3, store=tmp_path / "a.db", reuse=False)
    ours.fit(X_DIGITS, Y_DIGITS)
    theirs = GridSearchCV(_kpca_knn(), GRID, cv=3).fit(X_DIGITS, Y_DIGITS)
    assert_cv_results_equal(ours.cv_results_, theirs.cv_results_)


def test_an_unseeded_step_is_never_shared_and_that_is_said_once(tmp_path, caplog):
    from sklearn.decomposition import PCA

    pipe = Pipeline([("pca", PCA(n_components=5, svd_solver="randomized")), ("knn", KNeighborsClassifier())])
    grid = {"knn__n_neighbors": [1, 3, 5]}
    with caplog.at_level(logging.WARNING, logger="hptrack"):
        hptrack.GridSearchCV(pipe, grid, cv=3, store=tmp_path / "a.db").fit(X_DIGITS, Y_DIGITS)
        hptrack.GridSearchCV(pipe, grid, cv=3, store=tmp_path / "a.db").fit(X_DIGITS, Y_DIGITS)
    said = [r.getMessage() for r in caplog.records if "are not shared" in r.getMessage()]
    assert said == [
        "hptrack: pipeline step PCA has random_state=None: its fits are not shared between "
        "configurations; set it to an int to share them"
    ]


def test_a_verbose_pipeline_prints_what_sklearn_prints(tmp_path, capsys):
    GridSearchCV(_kpca_knn(verbose=True), GRID, cv=3).fit(X_DIGITS, Y_DIGITS)
    theirs = capsys.readouterr().out
    hptrack.GridSearchCV(_kpca_knn(verbose=True), GRID, cv=3, store=tmp_path / "a.db").fit(X_DIGITS, Y_DIGITS)
    ours = capsys.readouterr().out

    def steps(text: str) -> list[str]:  # the lines without their times
        return [line.split(", total=")[0] for line in text.splitlines()]

    assert steps(ours) == steps(theirs)
    assert "Processing kpca" in ours


def test_run_history_counts_the_saved_prefix_fits(pipe_spec, tmp_path, invoke):
    db = tmp_path / "a.db"
    assert invoke("run", pipe_spec("kpca_knn"), "--store", db).exit_code == 0
    runs = json.loads(invoke("history", "kpca_knn", "--store", db, "--json").stdout)
    assert [(r["prefix_fitted"], r["prefix_reused"]) for r in runs] == [(6, 12)]
