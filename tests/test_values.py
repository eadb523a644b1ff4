"""Any value scikit-learn accepts in a grid or an estimator is accepted (issue 12).

Each value kind is fitted for real with ``hptrack.GridSearchCV``: no crash, fold scores
equal scikit-learn's ``GridSearchCV`` on the same input, and for values with a stable
content a second fit of the unchanged script resumes the same study and fits nothing.
A value with no stable identity is recorded with its description, warned about once,
and never reused.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.cluster import FeatureAgglomeration
from sklearn.datasets import load_digits, load_iris
from sklearn.feature_extraction.image import grid_to_graph
from sklearn.feature_selection import SelectKBest, mutual_info_classif
from sklearn.gaussian_process.kernels import RBF, ExpSineSquared
from sklearn.impute import SimpleImputer
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV as SkGridSearchCV
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

import hptrack
from hptrack import Store

N_SPLITS = 3
UNSTABLE = "cannot be fingerprinted; results are recorded but will not be reused"


def _said(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    """What the ``hptrack`` logger said at WARNING level that contains ``text``."""
    records = [r for r in caplog.records if r.name == "hptrack" and r.levelname == "WARNING"]
    return [r.message for r in records if text in r.message]


def _iris() -> tuple[Any, Any]:
    X, y = load_iris(return_X_y=True)
    return X, y


def _digits() -> tuple[Any, Any]:
    X, y = load_digits(return_X_y=True)
    return X[:240], y[:240]


def _sine() -> tuple[Any, Any]:
    rng = np.random.RandomState(0)
    X = 5 * rng.rand(60, 1)
    return X, np.sin(X).ravel() + 0.1 * rng.randn(60)


def _columns(X: Any, keep: Any = (), rng: Any = None, weights: Any = None) -> Any:
    """Keep the columns in ``keep`` (a set), scaled by ``weights``; ``rng`` is unused."""
    out = X[:, sorted(keep)] if keep else X
    return out if weights is None else out * weights[: out.shape[1]]


def _categories(X: Any) -> Any:
    """The iris features as integer categories, for a one-hot encoder."""
    return np.floor(X).astype(int)


class _DotKernel:
    """A callable kernel object: its repr holds a memory address, so no stable identity."""

    def __call__(self, X: Any, Y: Any) -> Any:
        return X @ Y.T


# name -> (data, search factory: fresh objects on each call, as a re-run script makes them)
Case = tuple[Callable[[], tuple[Any, Any]], Callable[[Path], tuple[Any, dict[str, Any]]]]
STABLE: dict[str, Case] = {
    "range in a grid": (_iris, lambda _: (KNeighborsClassifier(), {"n_neighbors": range(1, 8, 3)})),
    "seeded RandomState param": (
        _iris,
        lambda _: (DecisionTreeClassifier(random_state=np.random.RandomState(0)), {"max_depth": [2, 3]}),
    ),
    "RandomState in a grid": (
        _iris,
        lambda _: (
            DecisionTreeClassifier(max_features=2),
            {"random_state": [np.random.RandomState(1), np.random.RandomState(2)]},
        ),
    ),
    "set, Generator and large array params": (
        _iris,
        lambda _: (
            Pipeline(
                [
                    (
                        "cols",
                        FunctionTransformer(
                            _columns,
                            kw_args={
                                "keep": {2, 0, 3},
                                "rng": np.random.default_rng(0),
                                "weights": np.linspace(1.0, 2.0, 1500),
                            },
                        ),
                    ),
                    ("clf", LogisticRegression(max_iter=500)),
                ]
            ),
            {"clf__C": [0.1, 1.0]},
        ),
    ),
    "sparse connectivity and joblib.Memory": (
        _digits,
        lambda tmp: (
            Pipeline(
                [
                    (
                        "agg",
                        FeatureAgglomeration(
                            connectivity=grid_to_graph(8, 8), memory=joblib.Memory(tmp / "agg", verbose=0)
                        ),
                    ),
                    ("clf", KNeighborsClassifier()),
                ],
                memory=joblib.Memory(tmp / "pipe", verbose=0),
            ),
            {"agg__n_clusters": [8, 16]},
        ),
    ),
    "GP kernels in a grid": (
        _sine,
        lambda _: (
            KernelRidge(kernel=ExpSineSquared()),
            {"alpha": [1.0, 0.1], "kernel": [ExpSineSquared(1.0, 5.0), ExpSineSquared(0.5, 6.0) + RBF(2.0)]},
        ),
    ),
    "class object and partial": (
        _iris,
        lambda _: (
            Pipeline(
                [
                    ("cat", FunctionTransformer(_categories)),
                    ("onehot", OneHotEncoder(dtype=np.float32, handle_unknown="ignore")),
                    ("select", SelectKBest(functools.partial(mutual_info_classif, random_state=0), k=5)),
                    ("clf", LogisticRegression(max_iter=500)),
                ]
            ),
            {"onehot__dtype": [np.float32, np.float64]},
        ),
    ),
    "numpy arrays in a grid and as params": (
        _iris,
        lambda _: (
            GaussianNB(),
            {"priors": [None, np.array([0.2, 0.3, 0.5])], "var_smoothing": np.array([1e-9, 1e-3])},
        ),
    ),
    "object array grid, NaN": (
        _iris,
        lambda _: (
            Pipeline([("imp", SimpleImputer()), ("svc", SVC())]),
            {"svc__kernel": np.array(["rbf", "linear"], dtype=object), "imp__missing_values": [float("nan")]},
        ),
    ),
}


def _fit(factory: Case, tmp_path: Path, *, study: str | None = None) -> tuple[Any, Any]:
    """Fit the drop-in (store in ``tmp_path``) and scikit-learn's search on the same input."""
    data, make = factory
    X, y = data()
    estimator, grid = make(tmp_path)
    with warnings.catch_warnings():  # the estimators' own warnings (e.g. KernelRidge's) are no concern
        warnings.filterwarnings("ignore", category=UserWarning, module="sklearn")
        warnings.filterwarnings("ignore", category=RuntimeWarning, module="sklearn")
        theirs = SkGridSearchCV(estimator, grid, cv=N_SPLITS).fit(X, y)
        estimator, grid = make(tmp_path)
        ours = hptrack.GridSearchCV(estimator, grid, cv=N_SPLITS, store=tmp_path / "s.db", study=study)
        ours.fit(X, y)
    return ours, theirs


def _assert_same_scores(ours: Any, theirs: Any) -> None:
    for k in range(N_SPLITS):
        key = f"split{k}_test_score"
        np.testing.assert_array_equal(ours.cv_results_[key], theirs.cv_results_[key], err_msg=key)
    assert ours.best_params_.keys() == theirs.best_params_.keys()


def _counts(db: Path) -> tuple[int, int, int]:
    """(studies, folds, folds with a content key) in the store."""
    with sqlite3.connect(db) as conn:
        studies = conn.execute("SELECT COUNT(*) FROM studies").fetchone()[0]
        folds = conn.execute("SELECT COUNT(*) FROM folds").fetchone()[0]
        keyed = conn.execute("SELECT COUNT(*) FROM fold_keys").fetchone()[0]
    return studies, folds, keyed


@pytest.mark.parametrize("case", list(STABLE), ids=list(STABLE))
def test_a_stable_value_is_fitted_recorded_and_reused(
    case: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ours, theirs = _fit(STABLE[case], tmp_path)
    _assert_same_scores(ours, theirs)
    studies, folds, keyed = _counts(tmp_path / "s.db")
    assert (studies, keyed) == (1, folds) and folds == len(ours.cv_results_["params"]) * N_SPLITS

    again, _ = _fit(STABLE[case], tmp_path)  # the unchanged script, run again
    assert not _said(caplog, UNSTABLE)  # a stable value is not said to be unstable
    assert again.recorded_study().name == ours.recorded_study().name
    assert _counts(tmp_path / "s.db") == (studies, folds, keyed)  # resumed: nothing fitted
    _assert_same_scores(again, theirs)
    with Store(tmp_path / "s.db", readonly=True) as store:
        assert "unstable" not in store.study(ours.recorded_study().name).provenance


UNSTABLE_CASE: Case = (_iris, lambda _: (SVC(), {"kernel": [_DotKernel(), "rbf"], "C": [1.0, 2.0]}))


def test_a_value_with_no_stable_identity_is_recorded_never_reused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ours, theirs = _fit(UNSTABLE_CASE, tmp_path)
    assert len(_said(caplog, UNSTABLE)) == 1  # said once per fit
    _assert_same_scores(ours, theirs)
    db = tmp_path / "s.db"
    studies, folds, keyed = _counts(db)
    assert (studies, folds, keyed) == (1, 4 * N_SPLITS, 0)  # recorded, with no content key
    with Store(db, readonly=True) as store:
        study = store.study(ours.recorded_study().name)
        assert study.provenance["unstable"] == ["param kernel: <test_values._DotKernel object>"]
        kernels = [t.params["kernel"] for t in study.trials()]
    assert {"unhashable": "test_values._DotKernel", "repr": "<test_values._DotKernel object>"} in kernels

    again, _ = _fit(UNSTABLE_CASE, tmp_path)  # the same script again: fitted again, not resumed
    assert len(_said(caplog, UNSTABLE)) == 2  # another study, said again
    assert again.recorded_study().name != ours.recorded_study().name
    assert _counts(db) == (2, 2 * folds, 0)
    _assert_same_scores(again, theirs)


def test_an_unstable_estimator_param_gets_no_fold_keys(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    case: Case = (_iris, lambda _: (SVC(kernel=_DotKernel()), {"C": [1.0, 2.0]}))
    ours, theirs = _fit(case, tmp_path)
    assert _said(caplog, "estimator.params.kernel: <test_values._DotKernel object>")
    _assert_same_scores(ours, theirs)
    assert _counts(tmp_path / "s.db") == (1, 2 * N_SPLITS, 0)


def test_an_unstable_fit_param_is_recorded_as_such(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    class Note:
        """An object passed through to fit: no stable identity."""

    class Model(DecisionTreeClassifier):
        def fit(self, X: Any, y: Any, note: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
            return super().fit(X, y, **kwargs)

    X, y = _iris()
    search = hptrack.GridSearchCV(
        Model(random_state=0), {"max_depth": [2]}, cv=N_SPLITS, store=tmp_path / "s.db"
    )
    search.fit(X, y, note=Note())
    assert _said(caplog, "data fit:note value: <test_values.")
    assert _counts(tmp_path / "s.db") == (1, N_SPLITS, 0)


def test_random_search_over_unstable_values_draws_distinct_objects(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    X, y = _iris()
    kernels = [_DotKernel(), _DotKernel()]  # equal descriptions, distinct objects
    search = hptrack.RandomizedSearchCV(
        SVC(), {"kernel": kernels}, n_iter=2, cv=N_SPLITS, random_state=0, store=tmp_path / "s.db"
    )
    search.fit(X, y)
    assert _said(caplog, UNSTABLE)
    assert sorted(id(p["kernel"]) for p in search.cv_results_["params"]) == sorted(map(id, kernels))


def test_a_stable_spec_is_json_in_the_store(tmp_path: Path) -> None:
    ours, _ = _fit(STABLE["range in a grid"], tmp_path)
    with Store(tmp_path / "s.db", readonly=True) as store:
        spec = store.study(ours.recorded_study().name).spec
    assert spec["space"] == {"n_neighbors": {"range": [1, 8, 3]}}
    assert json.loads(json.dumps(spec)) == spec


def test_a_random_state_object_fitted_twice_is_one_study(tmp_path: Path) -> None:
    X, y = _iris()
    estimator = DecisionTreeClassifier(max_features=2, random_state=np.random.RandomState(0))
    theirs = SkGridSearchCV(estimator, {"max_depth": [2, 3]}, cv=N_SPLITS).fit(X, y)
    first = hptrack.GridSearchCV(estimator, {"max_depth": [2, 3]}, cv=N_SPLITS, store=tmp_path / "s.db").fit(
        X, y
    )
    counts = _counts(tmp_path / "s.db")
    second = hptrack.GridSearchCV(estimator, {"max_depth": [2, 3]}, cv=N_SPLITS, store=tmp_path / "s.db").fit(
        X, y
    )
    assert second.recorded_study().name == first.recorded_study().name
    assert _counts(tmp_path / "s.db") == counts
    _assert_same_scores(first, theirs)
    _assert_same_scores(second, theirs)


def test_show_says_which_values_are_unstable_or_unseeded(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from hptrack.cli import cli

    ours, _ = _fit(UNSTABLE_CASE, tmp_path)
    X, y = load_iris(return_X_y=True)
    s_db = tmp_path / "s.db"
    tree = hptrack.GridSearchCV(DecisionTreeClassifier(), {"max_depth": [1, 2]}, cv=3, store=s_db)
    tree.fit(X, y)
    db = str(tmp_path / "s.db")
    shown = CliRunner().invoke(cli, ["show", ours.recorded_study().name, "--store", db])
    assert shown.exit_code == 0, shown.output
    assert "unstable:    param kernel: <test_values._DotKernel object>" in shown.stdout
    shown = CliRunner().invoke(cli, ["show", tree.recorded_study().name, "--store", db])
    assert "unseeded:    estimator param random_state=None (not verifiable bit for bit)" in shown.stdout
    for command in ("best", "trials"):  # every reading command warns, on stderr
        read = CliRunner().invoke(cli, [command, tree.recorded_study().name, "--store", db])
        assert read.exit_code == 0, read.output
        assert (
            f"Warning: study {tree.recorded_study().name!r} drew on unseeded randomness "
            "(estimator param random_state=None): its scores cannot be reproduced bit for bit"
        ) in read.stderr
        read = CliRunner().invoke(cli, [command, ours.recorded_study().name, "--store", db])
        assert "has values with no stable fingerprint (param kernel: <test_values._DotKernel" in read.stderr
