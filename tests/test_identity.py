"""Code identity (SPEC section 1): every user module and distribution a study pulls in.

Real files beside real specs, real processes for scripts: a helper module edited after
a run, a package version that moved, a comment added to a script, process-local params.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import hptrack
from hptrack import Store
from hptrack._json import canonical_json, hash_value, identity_params
from hptrack.identity import code_fingerprint, diff_code, fold_key_base

ROOT = Path(__file__).resolve().parents[1]
X_IRIS, Y_IRIS = load_iris(return_X_y=True)

MODELS = textwrap.dedent(
    """
    import helper
    from sklearn.linear_model import LogisticRegression


    def make():
        return LogisticRegression(C=helper.strength(), max_iter=300)
    """
)

HELPER = textwrap.dedent(
    """
    def strength(scale=0.01):
        return scale
    """
)


def _python(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run Python in a fresh process that imports this worktree's hptrack."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def _reused_folds(db: Path, study: str) -> int:
    with sqlite3.connect(db) as conn:
        query = (
            "SELECT count(*) FROM fold_notes n JOIN trials t ON n.trial_id = t.id "
            "JOIN studies s ON t.study_id = s.id WHERE s.name = ? AND n.origin IS NOT NULL"
        )
        return int(conn.execute(query, (study,)).fetchone()[0])


def _fold_rows(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM folds").fetchone()[0])


def _scores(db: Path, study: str) -> list[list[float | None]]:
    with Store(db) as store:
        return [t.scores["accuracy"] for t in store.study(study).trials()]


# --------------------------------------------------------------------------- user modules


def test_editing_a_helper_module_refits_new_studies_and_refuses_resume(
    tmp_path: Path, write_spec: Any, invoke: Any, db_path: Path
) -> None:
    (tmp_path / "models.py").write_text(MODELS)
    helper = tmp_path / "helper.py"
    helper.write_text(HELPER)
    space = {"tol": [0.0001, 0.001]}
    overrides = {"estimator": "models:make", "fixed": {"max_iter": 300}, "space": space}
    first = invoke("run", write_spec(name="a", filename="a.toml", **overrides), "--store", db_path)
    assert first.exit_code == 0, first.output
    with Store(db_path) as store:
        assert {"helper.py", "models.py", "tinydata.py"} <= set(store.study("a").code["sources"])

    same = invoke("run", write_spec(name="same", filename="same.toml", **overrides), "--store", db_path)
    assert same.exit_code == 0, same.output
    assert _reused_folds(db_path, "same") == 6  # unchanged code: every fold reused

    helper.write_text(HELPER.replace("scale=0.01", "scale=100.0"))  # C moves from 0.01 to 100
    second = invoke("run", write_spec(name="b", filename="b.toml", **overrides), "--store", db_path)
    assert second.exit_code == 0, second.output
    assert "6 folds fitted), 0 reused from the store" in second.stderr
    assert _reused_folds(db_path, "b") == 0
    assert _scores(db_path, "b") != _scores(db_path, "a")  # the edited helper really ran

    resumed = invoke("resume", "a", "--store", db_path)
    assert resumed.exit_code == 2, resumed.output
    assert "code changed in helper.py" in resumed.stderr
    assert "models.py" not in resumed.stderr  # only what changed is named


def test_a_helper_imported_only_at_import_time_counts(tmp_path: Path, write_spec: Any) -> None:
    """``import helper`` whose names are never referenced still enters the code hash."""
    from hptrack.run import plan_from_spec
    from hptrack.spec import load_spec

    (tmp_path / "models.py").write_text(
        "import sidecar  # noqa: F401  (registers things when imported)\n"
        "from sklearn.linear_model import LogisticRegression\n\n\n"
        "def make():\n    return LogisticRegression(max_iter=300)\n"
    )
    (tmp_path / "sidecar.py").write_text("REGISTERED = []\n")
    spec = write_spec(estimator="models:make", fixed={"max_iter": 300})
    plan = plan_from_spec(load_spec(spec))
    assert "sidecar.py" in plan.code_info["sources"]


def test_code_fingerprint_is_the_same_in_two_processes(tmp_path: Path) -> None:
    (tmp_path / "models.py").write_text(MODELS)
    (tmp_path / "helper.py").write_text(HELPER)
    (tmp_path / "fp.py").write_text(
        textwrap.dedent(
            """
            import json
            from pathlib import Path

            import models
            from sklearn.metrics import get_scorer

            from hptrack.identity import code_fingerprint

            here = Path(__file__).resolve().parent
            print(json.dumps(code_fingerprint(
                [models.make, models.make(), get_scorer("f1_macro")], base_dir=here
            )))
            """
        )
    )
    runs = []
    for seed in ("1", "2"):  # string hashing differs between the two processes
        done = subprocess.run(
            [sys.executable, "fp.py"],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        runs.append(json.loads(done.stdout))
    assert runs[0] == runs[1]
    code_hash, components = runs[0]
    assert set(components["sources"]) == {"helper.py", "models.py"}
    assert code_hash == hash_value(components)


# --------------------------------------------------------------------------- packages


def test_components_name_every_distribution_an_estimator_pulls_in() -> None:
    _, components = code_fingerprint([LogisticRegression()])
    packages = components["packages"]
    for name in ("scikit-learn", "numpy", "scipy", "joblib", "threadpoolctl"):
        assert packages[name] == importlib.metadata.version(name), name
    assert components["sources"] == {}
    assert components["python"] == f"{sys.version_info.major}.{sys.version_info.minor}"


def test_diff_code_names_a_changed_package_version() -> None:
    old = {"sources": {"models.py": "a" * 64}, "packages": {"scipy": "1.16.0"}, "python": "3.11"}
    new = {**old, "packages": {"scipy": "1.17.1", "threadpoolctl": "3.6.0"}}
    assert diff_code(old, new) == ["scipy 1.16.0 -> 1.17.1", "threadpoolctl None -> 3.6.0"]
    assert diff_code(old, old) == []


def test_resume_under_another_scipy_is_refused_naming_it(write_spec: Any, invoke: Any, db_path: Path) -> None:
    assert invoke("run", write_spec(), "--store", db_path).exit_code == 0
    with Store(db_path) as store:
        code = dict(store.study("tiny").code)
    code["packages"] = {**code["packages"], "scipy": "0.0.1"}  # as if recorded under an old scipy
    with sqlite3.connect(db_path) as conn:
        conn.execute(
            "UPDATE studies SET code = ?, code_hash = ? WHERE name = 'tiny'",
            (canonical_json(code), hash_value(code)),
        )
    result = invoke("resume", "tiny", "--store", db_path)
    assert result.exit_code == 2, result.output
    current = importlib.metadata.version("scipy")
    assert f"code changed in scipy 0.0.1 -> {current}" in result.stderr


# --------------------------------------------------------------------------- scripts


SCRIPT = textwrap.dedent(
    """
    import sys

    from sklearn.datasets import load_iris
    from sklearn.metrics import accuracy_score
    from sklearn.svm import SVC

    import hptrack


    def my_scorer(estimator, X, y):
        return accuracy_score(y, estimator.predict(X))


    X, y = load_iris(return_X_y=True)
    search = hptrack.GridSearchCV(
        SVC(), {"C": [0.1, 1.0]}, cv=3, scoring=my_scorer, store=sys.argv[1]
    )
    search.fit(X, y)
    print(search.recorded_study().name)
    """
)


def test_a_scripts_scorer_counts_by_its_own_source(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    db = tmp_path / "x.db"
    first = _python(str(script), str(db), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    study = first.stdout.strip()
    assert _fold_rows(db) == 6
    with Store(db) as store:
        sources = store.study(study).code["sources"]
    assert set(sources) == {"script.py:my_scorer"}  # not the whole script

    script.write_text(SCRIPT.replace("X, y = load_iris", "# the iris data, as ever\nX, y = load_iris"))
    again = _python(str(script), str(db), cwd=tmp_path)
    assert again.returncode == 0, again.stderr  # no DriftError
    assert again.stdout.strip() == study  # the same study, resumed
    assert _fold_rows(db) == 6  # nothing refit

    edited = SCRIPT.replace("return accuracy_score(", "return 1.0 - accuracy_score(")
    script.write_text(edited)
    changed = _python(str(script), str(db), cwd=tmp_path)
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout.strip() != study  # another scorer: another study
    assert _fold_rows(db) == 12
    with Store(db) as store:
        assert store.study(changed.stdout.strip()).code_hash != store.study(study).code_hash


CLASS_SCRIPT = textwrap.dedent(
    """
    import json

    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.dummy import DummyClassifier

    from hptrack.identity import code_fingerprint

    SHIFT = 1


    class Shifted(ClassifierMixin, BaseEstimator):
        def __init__(self, strategy="prior"):
            self.strategy = strategy

        def fit(self, X, y):
            self.inner_ = DummyClassifier(strategy=self.strategy).fit(X, y + SHIFT)
            return self


    unused = lambda x: x  # noqa: E731
    scale = lambda x: 2 * x  # noqa: E731
    print(json.dumps(code_fingerprint([Shifted(), scale])))
    """
)


def test_a_scripts_estimator_class_counts_with_the_globals_it_reads(tmp_path: Path) -> None:
    script = tmp_path / "script.py"

    def fingerprint(text: str) -> tuple[str, dict[str, Any]]:
        script.write_text(text)
        done = _python(str(script), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        code_hash, components = json.loads(done.stdout)
        return code_hash, components

    code_hash, components = fingerprint(CLASS_SCRIPT)
    assert set(components["sources"]) == {"script.py:Shifted", "script.py:<lambda>"}
    assert fingerprint(CLASS_SCRIPT.replace("unused = lambda x: x", "unused = lambda x: -x"))[0] == code_hash
    assert fingerprint(CLASS_SCRIPT.replace("import json", "import json  # stdlib"))[0] == code_hash
    changed = fingerprint(CLASS_SCRIPT.replace("SHIFT = 1", "SHIFT = 2"))[1]
    assert diff_code(components, changed) == ["script.py:Shifted"]


# --------------------------------------------------------------------------- process-local


def _knn_pipeline(**knn: Any) -> Pipeline:
    return Pipeline([("scale", StandardScaler()), ("knn", KNeighborsClassifier(**knn))])


def test_pipeline_memory_n_jobs_and_verbose_are_no_part_of_the_study(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    grid = {"knn__n_neighbors": [3, 5]}
    one = _knn_pipeline(n_jobs=1).set_params(memory=str(tmp_path / "cache1"))
    first = hptrack.GridSearchCV(one, grid, cv=3, store=db).fit(X_IRIS, Y_IRIS)
    rows = _fold_rows(db)
    two = _knn_pipeline(n_jobs=2).set_params(
        memory=joblib.Memory(tmp_path / "cache2", verbose=0), verbose=True
    )
    second = hptrack.GridSearchCV(two, grid, cv=3, store=db).fit(X_IRIS, Y_IRIS)
    assert second.recorded_study().name == first.recorded_study().name
    assert _fold_rows(db) == rows  # nothing recorded again (a verbose pipeline is fitted again)
    assert list(second.cv_results_["mean_test_score"]) == list(first.cv_results_["mean_test_score"])

    assert canonical_json(one) == canonical_json(two)
    assert code_fingerprint([one]) == code_fingerprint([two])
    base = {
        "estimator_version": "1",
        "code_hash": "c",
        "data_hash": "d",
        "train_scores": False,
        "error_score": "NaN",
    }
    assert fold_key_base(estimator=one, **base) == fold_key_base(estimator=two, **base)


def test_process_local_params_are_dropped_at_any_depth() -> None:
    params = {"C": 1.0, "n_jobs": 2, "clf__n_jobs": 4, "verbose": 1, "memory": "/tmp/x", "pre_dispatch": 3}
    assert identity_params(params) == {"C": 1.0}
    assert identity_params({"clf__C": 1.0, "clf__verbose": 2}) == {"clf__C": 1.0}


def test_fixed_n_jobs_in_a_spec_is_no_part_of_the_study(write_spec: Any, invoke: Any, db_path: Path) -> None:
    common = {"estimator": "sklearn.neighbors:KNeighborsClassifier", "space": {"n_neighbors": [3, 5]}}
    first = invoke("run", write_spec(fixed={"n_jobs": 1}, **common), "--store", db_path)
    assert first.exit_code == 0, first.output
    rows = _fold_rows(db_path)
    again = invoke("run", write_spec(fixed={"n_jobs": 2}, **common), "--store", db_path)
    assert again.exit_code == 0, again.output  # the same study, not "a different spec"
    assert _fold_rows(db_path) == rows
    with Store(db_path) as store:
        assert store.study("tiny").spec["fixed"] == {}
    resumed = invoke("resume", "tiny", "--store", db_path)  # the stored spec still runs
    assert resumed.exit_code == 0, resumed.output
