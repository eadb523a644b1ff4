"""Reuse (SPEC section 6): a fold evaluated under the same content key is copied, not refit.

Every component of the key is changed alone to show it prevents reuse; the same params
written in another order are reused; copies equal refits exactly and say where they
came from.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV as SkGridSearchCV
from sklearn.tree import DecisionTreeClassifier

import hptrack
from hptrack import Store
from hptrack.identity import fold_key, fold_key_base, scorer_identity
from hptrack.run import RunSummary, StudyPlan, plan_from_spec, run_plan
from hptrack.spec import load_spec
from hptrack.store import SCHEMA_VERSION, Writer

DATA = Path(__file__).parent / "data"

# A fast, seeded estimator whose params tell 1 from 1.0 (one feature vs all of them).
TREE: dict[str, Any] = {
    "estimator": "sklearn.tree:DecisionTreeClassifier",
    "metrics": ["accuracy", "f1_macro"],
    "fixed": {},
    "space": {"max_depth": [2, 4], "max_features": [1.0]},
}
N_FOLDS = 3  # conftest's BASE_SPEC: stratified, 3 folds, shuffled


@pytest.fixture
def run(write_spec: Any, db_path: Path) -> Any:
    """``run(name, **overrides)``: write a tree spec and run it as a new study in the store."""

    def go(name: str, *, reuse: bool = True, mutate: Any = None, **overrides: Any) -> RunSummary:
        path = write_spec(filename=f"{name}.toml", name=name, **{**TREE, **overrides})
        plan = plan_from_spec(load_spec(path))
        if mutate is not None:
            plan = mutate(plan)
        with Writer(db_path) as store:
            return run_plan(store, plan, reuse=reuse)

    return go


def fold_scores(db_path: Path, name: str) -> list[tuple[Any, ...]]:
    with Store(db_path, readonly=True) as store:
        return [
            (json.dumps(t.params, sort_keys=True), t.scores, t.train_scores, t.status)
            for t in sorted(store.study(name).trials(), key=lambda t: json.dumps(t.params, sort_keys=True))
        ]


# ------------------------------------------------------------------ the key


def test_base_study_fits_then_a_renamed_twin_reuses_everything(run: Any, db_path: Path) -> None:
    first = run("a")
    assert (first.folds_fitted, first.folds_reused) == (2 * N_FOLDS, 0)
    twin = run("b")
    assert (twin.folds_fitted, twin.folds_reused, twin.folds_refit) == (0, 2 * N_FOLDS, 0)
    assert twin.n_complete == 2 and twin.trials_finished == 2
    assert fold_scores(db_path, "a") == fold_scores(db_path, "b")


def _code_change(plan: StudyPlan) -> StudyPlan:  # as a new scikit-learn or numpy would make it
    return dataclasses.replace(plan, code_hash="0" * 64)  # the plan is frozen


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"space": {"max_depth": [3, 5], "max_features": [1.0]}}, id="param-value"),
        pytest.param({"space": {"max_depth": [2, 4], "max_features": [1]}}, id="param-type-1-vs-1.0"),
        pytest.param({"fixed": {"criterion": "entropy"}}, id="estimator-fixed-param"),
        pytest.param({"estimator": "sklearn.tree:ExtraTreeClassifier"}, id="estimator-class"),
        pytest.param({"cv": {"kind": "stratified", "folds": 4, "shuffle": True}}, id="splits-folds"),
        pytest.param({"cv": {"kind": "kfold", "folds": 3, "shuffle": True}}, id="splits-kind"),
        pytest.param({"train_scores": True}, id="train-scores"),
        pytest.param({"error_score": 0}, id="error-score"),
        pytest.param({"mutate": _code_change}, id="package-versions-via-code-hash"),
    ],
)
def test_changing_one_component_prevents_reuse(run: Any, change: dict[str, Any]) -> None:
    run("a")
    other = run("b", **change)
    assert other.folds_reused == 0
    assert other.folds_fitted == other.n_trials * change.get("cv", {}).get("folds", N_FOLDS)


def test_split_shuffle_seed_alone_prevents_reuse(run: Any) -> None:
    fixed = {"random_state": 0}  # the estimator seed stays, only the CV shuffle moves
    run("a", fixed=fixed, seed=0)
    assert run("b", fixed=fixed, seed=1).folds_reused == 0
    assert run("c", fixed=fixed, seed=0).folds_reused == 2 * N_FOLDS


def test_estimator_seed_alone_prevents_reuse(run: Any) -> None:
    cv = {"kind": "stratified", "folds": 3, "shuffle": False}  # splits do not depend on the seed
    run("a", cv=cv, seed=0)
    assert run("b", cv=cv, seed=1).folds_reused == 0  # random_state = 1
    assert run("c", cv=cv, seed=0).folds_reused == 2 * N_FOLDS


def test_changed_code_prevents_reuse(run: Any, write_spec: Any, tmp_path: Path, db_path: Path) -> None:
    run("a")
    path = write_spec(filename="b.toml", name="b", **TREE)
    module = tmp_path / "tinydata.py"  # the user's data module, beside the spec
    module.write_text(module.read_text() + "\n# edited\n")
    plan = plan_from_spec(load_spec(path))
    assert "tinydata.py" in plan.code_info["sources"]
    with Writer(db_path) as store:
        summary = run_plan(store, plan)
    assert (summary.folds_reused, summary.folds_fitted) == (0, 2 * N_FOLDS)


def test_changed_data_prevents_reuse(write_spec: Any, tmp_path: Path, db_path: Path) -> None:
    (tmp_path / "filedata.py").write_text(
        "from pathlib import Path\nimport numpy as np\n\n"
        "def load():\n"
        "    with np.load(Path(__file__).with_name('data.npz')) as data:\n"
        "        return data['X'], data['y']\n"
    )
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X, y = X[:300], y[:300]

    def run_on(name: str, X: Any) -> RunSummary:
        np.savez(tmp_path / "data.npz", X=X, y=y)
        path = write_spec(filename=f"{name}.toml", name=name, data="filedata:load", **TREE)
        with Writer(db_path) as store:
            return run_plan(store, plan_from_spec(load_spec(path)))

    run_on("a", X)
    assert run_on("b", X).folds_reused == 2 * N_FOLDS  # same bytes: reused
    changed = X.copy()
    changed[0, 0] += 1.0  # same shape, dtype and labels, so the same splits
    assert run_on("c", changed).folds_reused == 0


def test_metrics_need_the_same_scorer_for_every_metric(run: Any, db_path: Path) -> None:
    run("a")  # accuracy, f1_macro
    subset = run("b", metrics=["f1_macro"])
    assert (subset.folds_reused, subset.folds_fitted) == (2 * N_FOLDS, 0)
    assert [s[1] for s in fold_scores(db_path, "b")] == [
        {"f1_macro": s[1]["f1_macro"]} for s in fold_scores(db_path, "a")
    ]
    extra = run("c", metrics=["accuracy", "balanced_accuracy"])
    assert (extra.folds_reused, extra.folds_fitted) == (0, 2 * N_FOLDS)
    assert (extra.folds_refit, extra.refit_metrics) == (2 * N_FOLDS, ("balanced_accuracy",))
    # the refit folds now carry balanced_accuracy: the next study reuses them
    assert run("d", metrics=["balanced_accuracy"]).folds_reused == 2 * N_FOLDS


def test_scorer_identity_tells_scorers_apart() -> None:
    from sklearn.metrics import check_scoring, f1_score, fbeta_score, get_scorer, make_scorer

    ids = [
        scorer_identity(get_scorer("accuracy")),
        scorer_identity(get_scorer("f1_macro")),
        scorer_identity(make_scorer(fbeta_score, beta=2)),
        scorer_identity(make_scorer(fbeta_score, beta=3)),
        scorer_identity(make_scorer(f1_score, average="macro", greater_is_better=False)),
        scorer_identity(check_scoring(DecisionTreeClassifier())),
        scorer_identity(fold_key),  # a plain function
    ]
    assert None not in ids and len(set(ids)) == len(ids)
    assert scorer_identity(get_scorer("accuracy")) == ids[0]  # stable
    assert scorer_identity(lambda est, X, y: 0.0) != scorer_identity(lambda est, X, y: 1.0)

    class Opaque:
        def __call__(self, estimator: Any, X: Any, y: Any) -> float:
            return 0.0

    assert scorer_identity(Opaque()) is None  # its repr holds an address: never reused


def test_fold_key_components() -> None:
    base_args: dict[str, Any] = {
        "estimator": DecisionTreeClassifier(random_state=0),
        "estimator_version": "1.9.1",
        "code_hash": "c" * 64,
        "data_hash": "d" * 64,
        "train_scores": False,
        "error_score": math.nan,
    }
    base = fold_key_base(**base_args)
    key = fold_key(base, {"a": 1, "b": 2.0}, "s")
    assert fold_key(base, {"b": 2.0, "a": 1}, "s") == key  # order-free
    assert fold_key(base, {"a": np.int64(1), "b": np.float64(2.0)}, "s") == key  # numpy scalars
    for params in ({"a": 1.0, "b": 2.0}, {"a": True, "b": 2.0}, {"a": 1, "b": 2}, {"a": "1", "b": 2.0}):
        assert fold_key(base, params, "s") != key, params
    assert fold_key(base, {"a": 1, "b": 2.0}, "t") != key
    for name, other in [
        ("estimator", DecisionTreeClassifier(random_state=1)),
        ("estimator", DecisionTreeClassifier(random_state=0, max_features=1)),
        ("estimator_version", "1.10.0"),
        ("code_hash", "e" * 64),
        ("data_hash", "f" * 64),
        ("train_scores", True),
        ("error_score", 0.0),
    ]:
        assert fold_key_base(**{**base_args, name: other}) != base, name


def test_same_params_in_another_order_are_reused(run: Any, db_path: Path) -> None:
    run("a", space={"max_depth": [2, 4], "min_samples_leaf": [1, 5]})
    other = run("b", space={"min_samples_leaf": [5, 1], "max_depth": [4, 2]})
    assert (other.folds_reused, other.folds_fitted) == (4 * N_FOLDS, 0)
    assert fold_scores(db_path, "a") == fold_scores(db_path, "b")


# ------------------------------------------------------------------ results and origins


def test_reused_folds_equal_a_refit_and_record_their_origin(run: Any, db_path: Path, invoke: Any) -> None:
    run("a", train_scores=True)
    run("b", train_scores=True)
    refit = run("c", train_scores=True, reuse=False)
    assert (refit.folds_reused, refit.folds_fitted) == (0, 2 * N_FOLDS)
    assert fold_scores(db_path, "b") == fold_scores(db_path, "c")  # exactly, train scores too
    with Store(db_path, readonly=True) as store:
        original = store.study("a").trial(1)
        copy = store.study("b").trial(1)
        assert copy.origins == {k: {"study": "a", "trial": 1, "fold": k} for k in range(N_FOLDS)}
        assert copy.fit_time == original.fit_time  # what the result cost, where it was fit
        assert store.study("c").trial(1).origins == {}
    shown = invoke("show", "b", "1", "--store", db_path)
    assert 'fold 2 reused from {"fold": 2, "study": "a", "trial": 1}' in shown.stdout
    exported = json.loads(invoke("export", "b", "--format", "json", "--store", db_path).stdout)
    assert json.loads(exported[1]["origin"])["0"] == {"fold": 0, "study": "a", "trial": 1}
    assert "origin" in invoke("export", "b", "--store", db_path).stdout.splitlines()[0].split(",")
    # a copy of a copy names the fold that was fitted
    run("d", train_scores=True)
    with Store(db_path, readonly=True) as store:
        assert store.study("d").trial(0).origins[0] == {"study": "a", "trial": 0, "fold": 0}


def test_failed_folds_are_not_reused(run: Any, db_path: Path) -> None:
    space = {"max_depth": [-1, 2], "max_features": [1.0]}  # max_depth=-1: every fit fails
    first = run("a", space=space)
    assert first.n_failed == 1
    again = run("b", space=space)
    assert (again.folds_reused, again.folds_fitted) == (N_FOLDS, N_FOLDS)
    with Store(db_path, readonly=True) as store:
        failed = store.study("b").trial(0)
    assert failed.status == "failed" and sorted(failed.errors) == [0, 1, 2] and failed.origins == {}


# ------------------------------------------------------------------ the command line


def test_extending_a_grid_fits_only_the_new_cells(write_spec: Any, db_path: Path, invoke: Any) -> None:
    small = write_spec(filename="small.toml", name="small", **TREE)
    assert invoke("run", small, "--store", db_path).exit_code == 0
    larger = {**TREE, "space": {"max_depth": [2, 4, 6], "max_features": [1.0]}}
    refused = invoke("run", write_spec(filename="s2.toml", name="small", **larger), "--store", db_path)
    assert refused.exit_code == 2
    assert "exists with a different spec (changed: space.max_depth)" in refused.stderr
    assert "a study under a new name reuses the folds this one evaluated, so only the new" in refused.stderr

    result = invoke("run", write_spec(filename="large.toml", name="large", **larger), "--store", db_path)
    assert result.exit_code == 0, result.output
    assert "large: 3 trial(s) run now (3 folds fitted), 6 reused from the store" in result.stderr
    assert "refit" not in result.stderr

    forced = invoke(
        "run", write_spec(filename="x.toml", name="x", **larger), "--store", db_path, "--no-reuse"
    )
    assert "x: 3 trial(s) run now (9 folds fitted), 0 reused from the store" in forced.stderr

    more = invoke(
        "run",
        write_spec(filename="m.toml", name="m", **{**larger, "metrics": ["accuracy", "recall_macro"]}),
        "--store",
        db_path,
    )
    assert "(9 folds fitted), 0 reused" in more.stderr
    assert "9 fold(s) refit for new metric(s) recall_macro" in more.stderr


def test_resume_no_reuse(write_spec: Any, db_path: Path, invoke: Any) -> None:
    assert invoke("run", write_spec(filename="a.toml", name="a", **TREE), "--store", db_path).exit_code == 0
    spec = write_spec(filename="b.toml", name="b", **TREE)
    assert invoke("run", spec, "--store", db_path, "--max-trials", "0").exit_code == 0
    resumed = invoke("resume", "b", "--store", db_path, "--no-reuse")
    assert "b: 2 trial(s) run now (6 folds fitted), 0 reused from the store" in resumed.stderr
    help_text = invoke("resume", "--help").stdout
    assert "--no-reuse" in help_text and "--no-reuse" in invoke("run", "--help").stdout


# ------------------------------------------------------------------ the drop-ins


def _digits() -> tuple[Any, Any]:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X[:300], y[:300]


def _origins(db: Path, study: str) -> int:
    with Store(db, readonly=True) as store:
        return sum(len(t.origins) for t in store.study(study).trials())


def test_drop_in_studies_with_overlapping_grids_reuse_folds(tmp_path: Path) -> None:
    X, y = _digits()
    db = tmp_path / "api.db"
    tree = DecisionTreeClassifier(random_state=0)
    small = hptrack.GridSearchCV(tree, {"max_depth": [2, 4]}, cv=3, store=db).fit(X, y)
    grid = {"max_depth": [2, 4, 6]}
    large = hptrack.GridSearchCV(tree, grid, cv=3, store=db).fit(X, y)
    # another search: another (automatic) study
    assert small.recorded_study().name != large.recorded_study().name
    assert _origins(db, large.recorded_study().name) == 2 * 3
    forced = hptrack.GridSearchCV(tree, grid, cv=3, store=db, study="forced", reuse=False).fit(X, y)
    assert _origins(db, "forced") == 0
    reference = SkGridSearchCV(tree, grid, cv=3).fit(X, y)
    for k in range(3):
        key = f"split{k}_test_score"
        assert (
            list(large.cv_results_[key]) == list(forced.cv_results_[key]) == list(reference.cv_results_[key])
        )
    assert large.best_params_ == reference.best_params_


def test_drop_in_reuse_needs_the_same_scorer(tmp_path: Path) -> None:
    X, y = _digits()
    db = tmp_path / "api.db"
    tree = DecisionTreeClassifier(random_state=0)
    hptrack.GridSearchCV(tree, {"max_depth": [2]}, cv=3, store=db, study="acc", scoring="accuracy").fit(X, y)
    hptrack.GridSearchCV(
        tree, {"max_depth": [2]}, cv=3, store=db, study="bal", scoring="balanced_accuracy"
    ).fit(X, y)
    assert _origins(db, "bal") == 0
    hptrack.GridSearchCV(tree, {"max_depth": [2]}, cv=3, store=db, study="acc2", scoring="accuracy").fit(X, y)
    assert _origins(db, "acc2") == 3


# ------------------------------------------------------------------ the store


def test_a_version_1_store_upgrades_with_fold_keys(tmp_path: Path, write_spec: Any) -> None:
    path = tmp_path / "old.db"
    shutil.copy(DATA / "store_v1.db", path)
    with sqlite3.connect(path) as conn:
        before = conn.execute("SELECT count(*) FROM folds").fetchone()[0]
    with Writer(path) as store:
        conn = store.connection
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert "scorers" in [row[1] for row in conn.execute("PRAGMA table_info(studies)")]
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT trial_id, fold FROM fold_keys WHERE key IN (1, 2)"
        ).fetchall()
        assert "USING PRIMARY KEY" in str(plan)  # an index search, not a scan
        assert conn.execute("SELECT count(*) FROM folds").fetchone()[0] == before
        assert conn.execute("SELECT count(*) FROM fold_keys").fetchone()[0] == 0
        assert {row[0] for row in conn.execute("SELECT name FROM studies")} == {"iris-lr", "iris-knn"}
        summary = run_plan(store, plan_from_spec(load_spec(write_spec(**TREE))))
        assert summary.n_complete == 2
        assert "origin" in [d[0] for d in conn.execute("SELECT * FROM fold_scores LIMIT 1").description]
