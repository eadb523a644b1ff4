"""Successive halving: hptrack.HalvingGridSearchCV / HalvingRandomSearchCV record every
(candidate, rung, fold) with its resource, resume rung- and fold-granularly, reuse folds,
and equal scikit-learn's own searches."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.stats import loguniform
from sklearn.datasets import load_digits
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import HalvingGridSearchCV as SkHalvingGrid
from sklearn.model_selection import HalvingRandomSearchCV as SkHalvingRandom
from sklearn.svm import SVC
from test_resume import fold_rows, write_slow_spec

import hptrack

GRID = {"C": [0.1, 1, 10, 100], "gamma": [1e-4, 1e-3, 1e-2]}
ATTRIBUTES = (
    "n_resources_",
    "n_candidates_",
    "n_iterations_",
    "n_possible_iterations_",
    "n_required_iterations_",
    "min_resources_",
    "max_resources_",
    "n_remaining_candidates_",
    "best_index_",
    "best_params_",
    "best_score_",
)


@pytest.fixture(scope="module")
def digits() -> tuple[Any, Any]:
    X, y = load_digits(return_X_y=True)
    return X[:360], y[:360]


def assert_same_results(a: dict[str, Any], b: dict[str, Any], *, times: bool = False) -> None:
    assert sorted(a) == sorted(b)
    for key in a:
        if key.endswith("_time") and not times:
            continue
        if key == "params":
            assert a[key] == b[key]
        elif isinstance(a[key], np.ma.MaskedArray):
            assert a[key].tolist() == b[key].tolist(), key
        else:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def assert_same_search(ours: Any, theirs: Any) -> None:
    assert_same_results(ours.cv_results_, theirs.cv_results_)
    for name in ATTRIBUTES:
        assert getattr(ours, name) == getattr(theirs, name), name


def trial_rungs(db: Path) -> list[tuple[int, int, int, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT number, rung, resource, status FROM trials ORDER BY number").fetchall()


def _grid(cls: Any) -> Any:
    return cls(SVC(random_state=0), GRID, factor=2, random_state=0)


def _random(cls: Any) -> Any:
    space = {"C": loguniform(1e-2, 1e2), "gamma": loguniform(1e-4, 1e-2)}
    return cls(SVC(random_state=0), space, n_candidates=10, random_state=0)


@pytest.mark.parametrize("grid", [True, False], ids=["grid", "random"])
def test_halving_equals_scikit_learn_and_a_rerun_serves_every_fold(tmp_path, digits, grid):
    X, y = digits
    make = _grid if grid else _random
    if grid:
        sk_cls, our_cls = SkHalvingGrid, hptrack.HalvingGridSearchCV
    else:
        sk_cls, our_cls = SkHalvingRandom, hptrack.HalvingRandomSearchCV
    theirs = make(sk_cls).fit(X, y)
    db = tmp_path / "h.db"
    first = make(our_cls).set_params(store=db).fit(X, y)
    assert_same_search(first, theirs)
    n_folds = len(fold_rows(db))
    again = make(our_cls).set_params(store=db).fit(X, y)
    assert_same_results(again.cv_results_, first.cv_results_, times=True)  # served: times too
    assert len(fold_rows(db)) == n_folds == sum(first.n_candidates_) * 5
    rows = trial_rungs(db)
    assert [r[1] for r in rows] == first.cv_results_["iter"].tolist()
    assert [r[2] for r in rows] == first.cv_results_["n_resources"].tolist()
    assert {r[3] for r in rows} == {"complete"}
    study = again.recorded_study()
    assert study.search == ("halving" if grid else "halving-random")
    assert study.n_trials == len(rows)
    best = study.best()  # the best of the last rung, as scikit-learn's best_index_
    assert best.number == first.best_index_ and best.params == first.best_params_
    assert best.rung == first.n_iterations_ - 1 and best.resource == first.n_resources_[-1]
    assert best.to_dict()["rung"] == best.rung


def test_a_param_as_the_resource_is_recorded_and_keyed_by_its_value(tmp_path, digits):
    X, y = digits
    kwargs = dict(resource="max_iter", min_resources=2, max_resources=18, factor=3, random_state=0, cv=3)
    estimator = SGDClassifier(random_state=0, tol=None)
    grid = {"alpha": [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0]}
    theirs = SkHalvingGrid(estimator, grid, **kwargs).fit(X, y)
    db = tmp_path / "h.db"
    ours = hptrack.HalvingGridSearchCV(estimator, grid, store=db, study="sgd", **kwargs).fit(X, y)
    assert_same_search(ours, theirs)
    trials = ours.recorded_study().trials()
    assert [(t.rung, t.resource) for t in trials] == list(
        zip(ours.cv_results_["iter"].tolist(), ours.cv_results_["n_resources"].tolist())
    )
    assert all(t.params["max_iter"] == t.resource for t in trials)  # the resource param is a param

    # another study asking for the same (config, resource, fold) fits is served from the fold cache
    again = hptrack.HalvingGridSearchCV(estimator, grid, store=db, study="sgd-again", **kwargs).fit(X, y)
    assert_same_results(again.cv_results_, ours.cv_results_, times=True)
    reused = again.recorded_study().trials()
    assert all(t.origins and set(t.origins) == {0, 1, 2} for t in reused)
    assert {o["study"] for t in reused for o in t.origins.values()} == {"sgd"}


def test_halving_search_classes_are_drop_ins(tmp_path):
    search = hptrack.HalvingRandomSearchCV(SVC(), {"C": [1, 2]}, n_candidates=2, store=tmp_path / "x.db")
    assert search.get_params()["n_candidates"] == 2
    assert type(search).__mro__[1].__name__ == "_RecordingSearch"
    assert isinstance(search, SkHalvingRandom)
    from sklearn.base import clone

    cloned = clone(search).get_params(deep=False)
    assert {k: v for k, v in cloned.items() if k not in ("estimator", "error_score")} == {
        k: v for k, v in search.get_params(deep=False).items() if k not in ("estimator", "error_score")
    }


HALVING_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from slowmod import SlowNB, load
    import hptrack

    X, y = load()
    search = hptrack.HalvingGridSearchCV(
        SlowNB(), {"var_smoothing": [10.0 ** -k for k in range(1, 19)]},
        factor=3, cv=3, random_state=0, store=sys.argv[1], study="halving",
    )
    search.fit(X, y)
    out = {k: [float(v) for v in search.cv_results_[k]] for k in search.cv_results_
           if k.startswith(("split", "mean_test", "std_test", "rank_test", "iter", "n_resources"))}
    out["best_params_"] = search.best_params_
    out["n_candidates_"] = search.n_candidates_
    json.dump(out, open(sys.argv[2], "w"))
    """
)


def _script(tmp_path: Path, db: Path, out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "halving.py", str(db), str(out)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_rung(db: Path, rung: int, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    """Until a fold of a trial of ``rung`` is stored (the kill then lands inside that rung)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=5) as conn:
                    (n,) = conn.execute(
                        "SELECT count(*) FROM folds f JOIN trials t ON t.id = f.trial_id WHERE t.rung = ?",
                        (rung,),
                    ).fetchone()
                if n:
                    return
            except sqlite3.Error:
                pass
        time.sleep(0.01)
    raise AssertionError(f"rung {rung} never started")


def test_killed_halving_script_resumes_inside_its_rung_and_equals_the_uninterrupted(tmp_path):
    write_slow_spec(tmp_path)
    (tmp_path / "halving.py").write_text(HALVING_SCRIPT)
    whole = _script(tmp_path, tmp_path / "whole.db", tmp_path / "whole.json")
    _, err = whole.communicate(timeout=300)
    assert whole.returncode == 0, err
    expected = json.loads((tmp_path / "whole.json").read_text())
    total = sum(expected["n_candidates_"]) * 3
    assert expected["n_candidates_"] == [18, 6]

    db = tmp_path / "killed.db"
    proc = _script(tmp_path, db, tmp_path / "killed.json")
    _wait_for_rung(db, 1, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    stored = trial_rungs(db)
    done = len(fold_rows(db))
    assert 18 * 3 < done < total  # killed inside rung 1: rung 0 whole, rung 1 in part
    assert {r[3] for r in stored if r[1] == 0} == {"complete"}
    rerun = _script(tmp_path, db, tmp_path / "killed.json")
    _, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    assert len(fold_rows(db)) == total  # only the missing folds were added
    assert sorted(fold_rows(db)) == sorted(set(fold_rows(db)))
    assert json.loads((tmp_path / "killed.json").read_text()) == expected
    assert trial_rungs(db) == trial_rungs(tmp_path / "whole.db")


def test_a_merged_halving_study_keeps_each_trials_rung_and_resource(tmp_path, digits):
    from click.testing import CliRunner

    from hptrack.cli import cli

    X, y = digits
    source, target = tmp_path / "a.db", tmp_path / "b.db"
    _grid(hptrack.HalvingGridSearchCV).set_params(store=source, study="h").fit(X, y)
    done = CliRunner().invoke(cli, ["merge", str(source), "--store", str(target)])
    assert done.exit_code == 0, done.output
    assert trial_rungs(target) == trial_rungs(source)
    assert {r[1] for r in trial_rungs(target)} == {0, 1}  # 12 candidates on 90, 6 on 180


def test_a_killed_halving_spec_run_resumes_inside_its_rung(tmp_path):
    from conftest import to_toml
    from test_resume import hptrack as cli_process
    from test_resume import start

    write_slow_spec(tmp_path)
    spec = {
        "name": "slow-halving",
        "search": "halving",
        "seed": 3,
        "estimator": "slowmod:SlowNB",
        "data": "slowmod:load",
        "metrics": ["accuracy"],
        "cv": {"kind": "stratified", "folds": 3, "shuffle": True},
        "space": {"var_smoothing": [10.0**-k for k in range(1, 19)]},
        "halving": {"factor": 3},
    }
    (tmp_path / "halving.toml").write_text(to_toml(spec))

    def trials(db: Path) -> list[Any]:
        done = cli_process("trials", "slow-halving", "--store", db, "--json", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        rows = json.loads(done.stdout)
        return [(t["number"], t["rung"], t["resource"], t["params"], t["scores"]) for t in rows]

    whole = cli_process("run", "halving.toml", "--store", tmp_path / "whole.db", cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr
    db = tmp_path / "killed.db"
    proc = start("run", "halving.toml", "--store", db, cwd=tmp_path)
    _wait_for_rung(db, 1, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    total = len(fold_rows(tmp_path / "whole.db"))
    assert 18 * 3 < len(fold_rows(db)) < total  # inside rung 1
    resumed = cli_process("resume", "slow-halving", "--store", db, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert len(fold_rows(db)) == total
    assert trials(db) == trials(tmp_path / "whole.db")
