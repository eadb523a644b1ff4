"""An objective study killed with SIGKILL at random moments and resumed ends with exactly
the results (scores and learning curves) of an uninterrupted run: real processes."""

from __future__ import annotations

import json
import random
import re
import signal
import sqlite3
import textwrap
import time
from pathlib import Path

from conftest import to_toml
from test_resume import hptrack, n_complete, start, wait_for_progress

# A slow training loop (10 ms an epoch), so that kills land mid-fold and mid-curve.
SLOW_OBJECTIVE = textwrap.dedent(
    """
    import time

    import numpy as np


    def load():
        rng = np.random.default_rng(1)
        X = rng.normal(size=(90, 4))
        return X, X @ np.array([1.0, -2.0, 0.5, 0.0])


    def objective(params, fold):
        rng = np.random.default_rng(fold.seed)
        w = rng.normal(size=fold.X_train.shape[1]) * 0.01
        for epoch in range(3):
            time.sleep(0.01)
            grad = fold.X_train.T @ (fold.X_train @ w - fold.y_train) / len(fold.train)
            w = w - params["lr"] * grad
            fold.report(epoch, train_mse=float(np.mean((fold.X_train @ w - fold.y_train) ** 2)))
        return {"neg_mse": -float(np.mean((fold.X_val @ w - fold.y_val) ** 2))}
    """
)

N_TRIALS, N_FOLDS = 30, 3


def write_spec(directory: Path) -> Path:
    (directory / "slowfit.py").write_text(SLOW_OBJECTIVE)
    spec = {
        "name": "slowobj",
        "search": "random",
        "n_trials": N_TRIALS,
        "seed": 5,
        "objective": "slowfit:objective",
        "data": "slowfit:load",
        "metrics": ["neg_mse"],
        "cv": {"kind": "kfold", "folds": N_FOLDS, "shuffle": True},
        "space": {"lr": {"dist": "loguniform", "low": 0.001, "high": 0.3}},
    }
    path = directory / "slowobj.toml"
    path.write_text(to_toml(spec))
    return path


def outcome(db: Path, cwd: Path) -> tuple[list, list]:
    trials = hptrack("trials", "slowobj", "--store", db, "--json", cwd=cwd)
    curves = hptrack("curves", "slowobj", "--store", db, "--json", cwd=cwd)
    assert trials.returncode == 0 and curves.returncode == 0, trials.stderr + curves.stderr
    scores = [(t["number"], t["params"], t["status"], t["scores"], t["rank"]) for t in json.loads(trials.stdout)]
    return scores, json.loads(curves.stdout)


def test_sigkill_an_objective_study_then_resume_equals_uninterrupted(tmp_path):
    reference_dir = tmp_path / "reference"
    reference_dir.mkdir()
    reference_db = reference_dir / "r.db"
    done = hptrack("run", write_spec(reference_dir), "--store", reference_db, cwd=reference_dir)
    assert done.returncode == 0, done.stderr
    spec, db = write_spec(tmp_path), tmp_path / "killed.db"
    rng = random.Random(23)
    kills = 0
    proc = start("run", spec, "--store", db, cwd=tmp_path)
    while kills < 4:
        wait_for_progress(db, n_complete(db), proc)
        time.sleep(rng.uniform(0.0, 0.1))  # a random moment: mid-fold, mid-commit, between trials
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        kills += 1
        proc = start("resume", "slowobj", "--store", db, cwd=tmp_path)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert kills >= 3, f"the study finished after only {kills} kills"
    assert outcome(db, tmp_path) == outcome(reference_db, reference_dir)
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT trial_id, fold FROM folds").fetchall()
    curves = conn.execute("SELECT trial_id, fold FROM curves").fetchall()
    conn.close()
    assert len(rows) == len(set(rows)) == N_TRIALS * N_FOLDS
    assert sorted(curves) == sorted(rows)  # every fold's curve, none twice


def test_two_processes_share_one_objective_study_each_trial_once(tmp_path):
    spec, db = write_spec(tmp_path), tmp_path / "shared.db"
    procs = [start("run", spec, "--store", db, cwd=tmp_path) for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (_, err) in zip(procs, outputs):
        assert proc.returncode == 0, err
    fitted = [re.search(r"(\d+) trial\(s\) run now \((\d+) folds fitted\)", err) for _, err in outputs]
    assert all(fitted), [err for _, err in outputs]
    assert sum(int(m.group(1)) for m in fitted) == N_TRIALS  # every trial evaluated exactly once
    assert sum(int(m.group(2)) for m in fitted) == N_TRIALS * N_FOLDS
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM curves").fetchone()[0] == N_TRIALS * N_FOLDS
    conn.close()
