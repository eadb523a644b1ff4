"""Lazy grids (SPEC section 1): trial i is ParameterGrid(space)[i] and is stored only once claimed."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

from click.testing import Result
from conftest import BASE_SPEC, DATA_MODULE, to_toml
from sklearn.model_selection import ParameterGrid

from hptrack import Store
from hptrack.spec.space import grid_point, grid_size, lazy_grid, sample_candidate, stored_space


def grid_space(n: int) -> dict[str, list[Any]]:
    """A KNN grid of n**4 points (32 -> 1,048,576; 18 -> 104,976)."""
    return {
        "n_neighbors": list(range(1, n + 1)),
        "leaf_size": list(range(10, 10 + n)),
        "p": [1, 2] * (n // 2),
        "weights": ["uniform", "distance"] * (n // 2),
    }


def write_grid_spec(directory: Path, n: int, **overrides: Any) -> Path:
    (directory / "tinydata.py").write_text(DATA_MODULE)
    spec = {
        **BASE_SPEC,
        "name": "big",
        "estimator": "sklearn.neighbors:KNeighborsClassifier",
        "metrics": ["accuracy"],
        "fixed": {},
        "space": grid_space(n),
        **overrides,
    }
    path = directory / "big.toml"
    path.write_text(to_toml(spec))
    return path


def store_bytes(db: Path) -> int:
    """The store file and its WAL/SHM files, in bytes."""
    return sum(p.stat().st_size for p in db.parent.glob(f"{db.name}*"))


def trial_numbers(db: Path) -> list[tuple[int, int | None, str]]:
    """(number, run_id, status) of every stored trial, by number."""
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute("SELECT number, run_id, status FROM trials ORDER BY number").fetchall()


def test_lazy_grid_is_parameter_grid_point_by_point() -> None:
    for grid in (grid_space(4), [{"a": [1, 2]}, {}, {"b": ["x", "y", "z"], "c": [None, 1.5]}]):
        assert grid_size(grid) == len(ParameterGrid(grid))
        assert lazy_grid(grid) == list(ParameterGrid(grid))
    big = grid_space(32)
    assert grid_size(big) == 32**4
    for i in (0, 1, 31, 32, 33_333, 32**4 - 1):
        assert grid_point(big, i) == ParameterGrid(big)[i]


def test_million_point_grid_writes_only_what_it_runs(tmp_path: Path, invoke: Callable[..., Result]) -> None:
    db = tmp_path / "hptrack.db"
    spec = write_grid_spec(tmp_path, 32)
    result = invoke("run", spec, "--store", db, "--max-trials", "5")
    assert result.exit_code == 0, result.output
    assert "5 complete, 0 failed of 1048576" in result.stderr
    assert store_bytes(db) < 1_000_000
    assert [(n, s) for n, _, s in trial_numbers(db)] == [(n, "complete") for n in range(5)]
    studies = json.loads(invoke("studies", "--store", db, "--json").stdout)
    assert (studies[0]["n_trials"], studies[0]["n_complete"]) == (32**4, 5)
    with Store(db, readonly=True) as store:
        assert store.study("big").counts() == {"pending": 32**4 - 5, "running": 0, "complete": 5, "failed": 0}

    result = invoke("resume", "big", "--store", db, "--max-trials", "3")  # continues at trial 5
    assert result.exit_code == 0, result.output
    trials = json.loads(invoke("trials", "big", "--store", db, "--json").stdout)
    assert [t["number"] for t in trials] == list(range(8))
    grid = ParameterGrid(grid_space(32))
    assert all(t["params"] == grid[t["number"]] for t in trials)
    assert store_bytes(db) < 1_000_000

    # pending trials: counted, and listed lazily when asked (nothing written)
    before = trial_numbers(db)
    listed = invoke("trials", "big", "--store", db, "--status", "pending")
    assert listed.exit_code == 2 and f"has {32**4 - 8} pending trials, more than" in listed.stderr
    assert "--status pending --limit 100 --offset 0" in listed.stderr  # a page, never a partial list
    page = invoke(
        "trials", "big", "--store", db, "--status", "pending", "--limit", "3", "--offset", "10", "--json"
    )
    assert page.exit_code == 0, page.output
    shown = json.loads(page.stdout)
    assert [t["number"] for t in shown] == [18, 19, 20]
    assert [t["params"] for t in shown] == [grid[18], grid[19], grid[20]]
    assert all(t["status"] == "pending" for t in shown)
    last = json.loads(
        invoke(
            "trials",
            "big",
            "--store",
            db,
            "--status",
            "pending",
            "--limit",
            "5",
            "--offset",
            str(32**4 - 9),
            "--json",
        ).stdout
    )
    assert [t["number"] for t in last] == [32**4 - 1]
    assert trial_numbers(db) == before
    bad = invoke("trials", "big", "--store", db, "--limit", "3")
    assert bad.exit_code == 2 and "add --status pending" in bad.stderr


def test_released_and_failed_trials_are_claimed_before_new_numbers(
    tmp_path: Path, invoke: Callable[..., Result]
) -> None:
    db = tmp_path / "hptrack.db"
    spec = write_grid_spec(tmp_path, 4)
    assert invoke("run", spec, "--store", db, "--max-trials", "4").exit_code == 0
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("UPDATE trials SET status = 'pending' WHERE number = 1")  # a released claim
        conn.execute("DELETE FROM scores WHERE trial_id = (SELECT id FROM trials WHERE number = 1)")
        conn.execute("DELETE FROM folds WHERE trial_id = (SELECT id FROM trials WHERE number = 1)")
    assert invoke("resume", "big", "--store", db, "--max-trials", "2").exit_code == 0
    assert [(n, s) for n, _, s in trial_numbers(db)] == [(n, "complete") for n in range(5)]
    with Store(db, readonly=True) as store:
        assert store.study("big").counts()["pending"] == 4**4 - 5


def test_three_processes_claim_distinct_trials_in_order(
    tmp_path: Path, invoke: Callable[..., Result]
) -> None:
    db = tmp_path / "hptrack.db"
    spec = write_grid_spec(tmp_path, 18)  # 104,976 points
    k = 6
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "hptrack", "run", str(spec), "--store", str(db), "--max-trials", str(k)],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    rows = trial_numbers(db)
    assert [n for n, _, _ in rows] == list(range(3 * k))  # contiguous from 0, none twice
    assert all(status == "complete" for _, _, status in rows)
    by_run: dict[int | None, list[int]] = {}
    for number, run_id, _ in rows:
        by_run.setdefault(run_id, []).append(number)
    assert sorted(len(numbers) for numbers in by_run.values()) == [k, k, k]
    studies = json.loads(invoke("studies", "--store", db, "--json").stdout)
    assert (studies[0]["n_trials"], studies[0]["n_complete"]) == (18**4, 3 * k)

    # reports and exports scale with what ran, not with the space
    csv_path, report = tmp_path / "big.csv", tmp_path / "big.html"
    result = invoke("export", "big", "--format", "csv", "--store", db, "-o", csv_path)
    assert result.exit_code == 0, result.output
    assert len(csv_path.read_text().splitlines()) == 3 * k + 1
    assert csv_path.stat().st_size < 3 * k * 1_000
    result = invoke("report", "big", "--store", db, "-o", report)
    assert result.exit_code == 0, result.output
    assert report.stat().st_size < 400_000
    assert f"{18**4 - 3 * k} pending" in report.read_text()


def test_random_study_stores_only_claimed_trials(tmp_path: Path, invoke: Callable[..., Result]) -> None:
    db = tmp_path / "hptrack.db"
    space = {"n_neighbors": {"dist": "randint", "low": 1, "high": 30}, "weights": ["uniform", "distance"]}
    spec = write_grid_spec(tmp_path, 2, search="random", n_trials=40, space=space)
    assert invoke("run", spec, "--store", db, "--max-trials", "3").exit_code == 0
    assert invoke("resume", "big", "--store", db, "--max-trials", "2").exit_code == 0
    trials = json.loads(invoke("trials", "big", "--store", db, "--json").stdout)
    assert [t["number"] for t in trials] == list(range(5))
    with Store(db, readonly=True) as store:
        study = store.study("big")
        assert study.n_trials == 40 and study.counts()["pending"] == 35
        drawn = stored_space(study.spec["space"])
        assert [t["params"] for t in trials] == [sample_candidate(drawn, 0, i) for i in range(5)]
        assert [t.params for t in study.pending(offset=0, limit=2)] == [
            sample_candidate(drawn, 0, i) for i in (5, 6)
        ]
        assert [t.seed["sample"] for t in study.pending(limit=2)] == [[0, 5], [0, 6]]


def test_merge_of_partial_lazy_stores_is_the_union(tmp_path: Path, invoke: Callable[..., Result]) -> None:
    spec = write_grid_spec(tmp_path, 32)
    first, second, merged = tmp_path / "a.db", tmp_path / "b.db", tmp_path / "merged.db"
    assert invoke("run", spec, "--store", first, "--max-trials", "2").exit_code == 0
    assert invoke("run", spec, "--store", second, "--max-trials", "4").exit_code == 0
    result = invoke("merge", first, second, "--store", merged)
    assert result.exit_code == 0, result.output
    assert [(n, s) for n, _, s in trial_numbers(merged)] == [(n, "complete") for n in range(4)]
    studies = json.loads(invoke("studies", "--store", merged, "--json").stdout)
    assert (studies[0]["n_trials"], studies[0]["n_complete"]) == (32**4, 4)
    assert invoke("resume", "big", "--store", merged, "--max-trials", "1").exit_code == 0
    assert [n for n, _, _ in trial_numbers(merged)] == list(range(5))
    verify = invoke("verify", "big", "--store", merged, "--trials", "2")
    assert verify.exit_code == 0, verify.output


def test_a_paged_export_writes_the_same_bytes_as_a_one_shot_export(tmp_path, monkeypatch):
    import io
    import json as _json

    import numpy as np
    from sklearn.datasets import load_iris
    from sklearn.neighbors import KNeighborsClassifier

    import hptrack
    from hptrack import Store
    from hptrack._csv import csv_text
    from hptrack.query import streaming

    X, y = load_iris(return_X_y=True)
    db = tmp_path / "paged.db"
    # a first study, then a wider one whose first trials reuse its folds: rows with and
    # without origins, so the optional columns appear part-way through the pages
    options = {"cv": 3, "store": db, "return_train_score": True, "scoring": ["accuracy", "f1_macro"]}
    grid = {"n_neighbors": [5, 7], "weights": ["distance"]}
    hptrack.GridSearchCV(KNeighborsClassifier(), grid, refit="accuracy", **options).fit(X, y)
    grid = {"n_neighbors": [1, 3, 5, 7, 9, 11, 13], "weights": ["uniform", "distance"]}
    wide = hptrack.GridSearchCV(KNeighborsClassifier(), grid, refit="accuracy", **options).fit(X, y)
    monkeypatch.setattr(streaming, "PAGE", 3)  # 14 trials: five pages
    with Store(db) as store:
        study = store.study(wide.recorded_study().name)
        rows = study.export_rows()
        assert any("origin" in r for r in rows) and not all("origin" in r for r in rows)
        for fmt, expected in (("csv", csv_text(rows)), ("json", _json.dumps(rows, indent=2) + "\n")):
            out = io.StringIO()
            assert study.write_export(out, fmt) == len(rows) == 14
            assert out.getvalue() == expected, fmt
    assert np.isfinite([r["mean_test_accuracy"] for r in rows]).all()
