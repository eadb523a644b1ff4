"""Resume anything, with real processes: SIGKILL at random moments, Ctrl-C, SIGTERM,
and several workers on one store. The final results must equal an uninterrupted run."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import to_toml

# A real estimator made slow on purpose (20 ms per fit), so that kills land mid-study.
SLOW_MODULE = textwrap.dedent(
    """
    import time

    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.datasets import load_digits
    from sklearn.naive_bayes import GaussianNB


    class SlowNB(ClassifierMixin, BaseEstimator):
        def __init__(self, var_smoothing=1e-9, delay=0.02):
            self.var_smoothing = var_smoothing
            self.delay = delay

        def fit(self, X, y):
            time.sleep(self.delay)
            self.model_ = GaussianNB(var_smoothing=self.var_smoothing).fit(X, y)
            self.classes_ = self.model_.classes_
            return self

        def predict(self, X):
            return self.model_.predict(X)


    def load():
        X, y = load_digits(return_X_y=True)
        return X[:300], y[:300]
    """
)

N_TRIALS, N_FOLDS = 40, 3


def write_slow_spec(directory: Path) -> Path:
    (directory / "slowmod.py").write_text(SLOW_MODULE)
    spec = {
        "name": "slow",
        "search": "grid",
        "seed": 3,
        "estimator": "slowmod:SlowNB",
        "data": "slowmod:load",
        "metrics": ["accuracy", "f1_macro"],
        "cv": {"kind": "stratified", "folds": N_FOLDS, "shuffle": True},
        "space": {"var_smoothing": [round(10 ** (-9 + 8 * i / (N_TRIALS - 1)), 12) for i in range(N_TRIALS)]},
    }
    path = directory / "slow.toml"
    path.write_text(to_toml(spec))
    return path


@pytest.fixture
def slow_spec(tmp_path: Path) -> Path:
    return write_slow_spec(tmp_path)


def start(*args: object, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "hptrack", *map(str, args)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def hptrack(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hptrack", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def n_complete(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        # read-write, though it only reads: a mode=ro reader of a WAL store being written can
        # fail to open its -shm for a while, and this poll would then miss the progress
        conn = sqlite3.connect(db, timeout=5)
        try:
            return conn.execute("SELECT count(*) FROM trials WHERE status = 'complete'").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:  # not created yet
        return 0


def wait_for_progress(db: Path, above: int, proc: subprocess.Popen[str], timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = n_complete(db)
        if done > above or proc.poll() is not None:
            return done
        time.sleep(0.02)
    raise AssertionError("no progress")


def results(db: Path, cwd: Path) -> list:
    done = hptrack("trials", "slow", "--store", db, "--json", cwd=cwd)
    assert done.returncode == 0, done.stderr
    return [(t["number"], t["params"], t["status"], t["scores"], t["rank"]) for t in json.loads(done.stdout)]


def fold_rows(db: Path) -> list[tuple[int, int]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT t.number, f.fold FROM folds f JOIN trials t ON t.id = f.trial_id"
        ).fetchall()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> list:
    """The uninterrupted run, once for the module (in its own directory)."""
    directory = tmp_path_factory.mktemp("reference")
    db = directory / "reference.db"
    done = hptrack("run", write_slow_spec(directory), "--store", db, cwd=directory)
    assert done.returncode == 0, done.stderr
    return results(db, directory)


def test_sigkill_at_random_moments_then_resume_equals_uninterrupted(slow_spec, tmp_path, reference):
    db = tmp_path / "killed.db"
    rng = random.Random(20261128)
    kills = 0
    proc = start("run", slow_spec, "--store", db, cwd=tmp_path)
    while kills < 6:
        before = n_complete(db)
        wait_for_progress(db, before, proc)
        time.sleep(rng.uniform(0.0, 0.15))  # a random moment: mid-fold, mid-commit, between trials
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        kills += 1
        proc = start("resume", "slow", "--store", db, cwd=tmp_path)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert kills >= 5, f"the study finished after only {kills} kills"
    assert results(db, tmp_path) == reference
    rows = fold_rows(db)
    assert len(rows) == len(set(rows)) == N_TRIALS * N_FOLDS  # no duplicate, none missing


def test_ctrl_c_exits_130_keeps_completed_trials_and_resume_finishes(slow_spec, tmp_path, reference):
    db = tmp_path / "interrupted.db"
    proc = start("run", slow_spec, "--store", db, cwd=tmp_path)
    wait_for_progress(db, 2, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert (
        f"Interrupted; completed trials are saved (continue with `hptrack resume slow --store {db}`)" in err
    )
    assert "Traceback" not in err
    conn = sqlite3.connect(db)
    statuses = dict(conn.execute("SELECT status, count(*) FROM trials GROUP BY status").fetchall())
    conn.close()
    assert statuses.get("running", 0) == 0  # the in-flight trial was released
    assert statuses["complete"] >= 3
    resumed = hptrack("resume", "slow", "--store", db, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert results(db, tmp_path) == reference


def test_sigterm_is_treated_like_ctrl_c(slow_spec, tmp_path):
    db = tmp_path / "terminated.db"
    proc = start("run", slow_spec, "--store", db, cwd=tmp_path)
    wait_for_progress(db, 0, proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM trials WHERE status = 'running'").fetchone()[0] == 0
    conn.close()


def test_three_processes_share_one_study_each_trial_once(slow_spec, tmp_path, reference):
    db = tmp_path / "shared.db"
    procs = [start("run", slow_spec, "--store", db, cwd=tmp_path) for _ in range(3)]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (_, err) in zip(procs, outputs):
        assert proc.returncode == 0, err
        assert "database is locked" not in err
    fitted = [re.search(r"(\d+) trial\(s\) run now \((\d+) folds fitted\)", err) for _, err in outputs]
    assert all(fitted), [err for _, err in outputs]
    assert sum(int(m.group(1)) for m in fitted) == N_TRIALS  # every trial evaluated exactly once
    assert sum(int(m.group(2)) for m in fitted) == N_TRIALS * N_FOLDS
    assert sum(int(m.group(1)) > 0 for m in fitted) >= 2  # the work was really shared
    assert results(db, tmp_path) == reference


def test_resume_needs_no_spec_file(slow_spec, tmp_path, reference):
    db = tmp_path / "nospec.db"
    first = hptrack("run", slow_spec, "--store", db, "--max-trials", "5", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    slow_spec.unlink()  # the spec is in the store
    resumed = hptrack("resume", "slow", "--store", db, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "35 trial(s) run now" in resumed.stderr
    assert results(db, tmp_path) == reference


def test_kill_test_is_not_fooled_by_a_dead_claim(slow_spec, tmp_path):
    """A SIGKILLed worker's claim is re-run by the next coordinator on this host."""
    db = tmp_path / "claim.db"
    proc = start("run", slow_spec, "--store", db, cwd=tmp_path)
    wait_for_progress(db, 0, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    conn = sqlite3.connect(db)
    running = conn.execute("SELECT number FROM trials WHERE status = 'running'").fetchall()
    conn.close()
    resumed = hptrack("resume", "slow", "--store", db, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    if running:
        assert "re-ran trial(s) abandoned by dead workers" in resumed.stderr
    assert os.path.exists(db)


DROPIN_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from slowmod import SlowNB, load
    import hptrack

    X, y = load()
    search = hptrack.GridSearchCV(
        SlowNB(), {"var_smoothing": [10.0 ** -k for k in range(1, 31)]},
        scoring=["accuracy", "f1_macro"], refit="accuracy", cv=3, store=sys.argv[1], study="dropin",
    )
    search.fit(X, y)
    keys = [k for k in search.cv_results_ if k.startswith(("split", "mean_test", "std_test", "rank_test"))]
    out = {k: [float(v) for v in search.cv_results_[k]] for k in keys}
    out["best_params_"] = search.best_params_
    json.dump(out, open(sys.argv[2], "w"))
    """
)


def test_killed_dropin_script_rerun_gives_the_uninterrupted_cv_results(tmp_path):
    write_slow_spec(tmp_path)
    (tmp_path / "search.py").write_text(DROPIN_SCRIPT)

    def script(db: Path, out: Path) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "search.py", str(db), str(out)],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    whole = script(tmp_path / "whole.db", tmp_path / "whole.json")
    _, err = whole.communicate(timeout=300)
    assert whole.returncode == 0, err
    db = tmp_path / "killed.db"
    proc = script(db, tmp_path / "killed.json")
    wait_for_progress(db, 4, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    done_before = len(fold_rows(db))
    assert 0 < done_before < 90
    rerun = script(db, tmp_path / "killed.json")
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    assert len(fold_rows(db)) == 90  # only the missing folds were added
    assert json.loads((tmp_path / "killed.json").read_text()) == json.loads(
        (tmp_path / "whole.json").read_text()
    )
