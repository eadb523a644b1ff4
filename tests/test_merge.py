"""Merging stores from several machines: no duplicates, no silent overwrite, idempotent."""

from __future__ import annotations

import json
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import BASE_SPEC, DATA_MODULE, to_toml

from hptrack import Store, StoreError
from hptrack.cli import cli
from hptrack.errors import MergeRefusedError
from hptrack.store import merge_stores

KNN = {
    "name": "knn",
    "estimator": "sklearn.neighbors:KNeighborsClassifier",
    "fixed": {},
    "cv": {"kind": "stratified", "folds": 3, "shuffle": True},
    "space": {"n_neighbors": [1, 3, 20, 120]},
}
# what differs between machines or runs, not between results
VOLATILE = ("fit_time", "score_time", "started", "finished", "host", "pid")
DATA = Path(__file__).parent / "data" / "store_v1.db"


def write_spec(directory: Path, **overrides: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "tinydata.py").write_text(DATA_MODULE)
    spec = {**BASE_SPEC, **KNN, **overrides}
    path = directory / f"{spec['name']}.toml"
    path.write_text(to_toml(spec))
    return path


def invoke(*args: Any) -> Any:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def run(spec: Path, db: Path, *args: Any) -> None:
    result = invoke("run", spec, "--store", db, *args)
    assert result.exit_code == 0, result.output


def sql(db: Path, *statements: tuple[str, tuple[Any, ...]]) -> None:
    with closing(sqlite3.connect(db)) as conn, conn:
        for statement, args in statements:
            conn.execute(statement, args)


def results(db: Path, study: str = "knn") -> list[dict[str, Any]]:
    """``trials --json`` without timing and host fields."""
    trials = json.loads(invoke("trials", study, "--store", db, "--json").stdout)
    return [{k: v for k, v in t.items() if k not in VOLATILE} for t in trials]


def tables(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order."""
    with closing(sqlite3.connect(db)) as conn:
        names = [
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        ]
        return {name: sorted(map(repr, conn.execute(f"SELECT * FROM {name}").fetchall())) for name in names}


def snapshot(path: Path) -> tuple[bytes, int, list[str]]:
    return (
        path.read_bytes(),
        path.stat().st_mtime_ns,
        sorted(p.name for p in path.parent.glob(f"{path.name}-*")),
    )


@pytest.fixture(scope="module")
def machines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """'whole': one machine ran all 4 trials; 'first' ran trials 0-1 and 'second' trials 2-3."""
    root = tmp_path_factory.mktemp("machines")
    spec = write_spec(root)
    whole, first, second = root / "whole.db", root / "first.db", root / "second.db"
    run(spec, whole)
    run(spec, first, "--max-trials", "2")
    run(spec, second, "--max-trials", "0")  # created, nothing run: keep 0-1 from being claimed
    with closing(sqlite3.connect(whole)) as conn:  # trials are stored once claimed: write 0-1 failed
        rows = conn.execute("SELECT number, params, seed FROM trials WHERE number IN (0, 1)").fetchall()
    sql(
        second,
        *[
            ("INSERT INTO trials (study_id, number, params, seed, status) VALUES (1, ?, ?, ?, 'failed')", r)
            for r in rows
        ],
    )
    run(spec, second)
    sql(second, ("UPDATE trials SET status = 'pending' WHERE number IN (0, 1)", ()))
    return {"whole": whole, "first": first, "second": second, "spec": spec}


@pytest.fixture
def copies(machines: dict[str, Path], tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name in ("whole", "first", "second"):
        out[name] = tmp_path / f"{name}.db"
        shutil.copy(machines[name], out[name])
    return out


# ---------------------------------------------------------------------------- merging halves


def test_two_halves_merge_into_the_single_machine_run(machines, copies, tmp_path):
    # trials are stored once claimed: 'first' never claimed 2-3
    assert [t["status"] for t in results(copies["first"])] == ["complete", "complete"]
    assert [t["status"] for t in results(copies["second"])] == ["pending", "pending", "complete", "complete"]
    merged = tmp_path / "merged.db"
    result = invoke("merge", copies["first"], copies["second"], "--store", merged)
    assert result.exit_code == 0, result.output
    assert f"merged 2 source(s) into {merged}" in result.stdout
    assert "knn -> knn (created): 2 trial(s) and 6 fold(s) added" in result.stdout
    assert (
        "knn -> knn (merged): 2 trial(s) and 6 fold(s) added, 0 trial(s) finished, 0 conflict(s)"
        in result.stdout
    )
    assert results(merged) == results(copies["whole"])
    studies = json.loads(invoke("studies", "--store", merged, "--json").stdout)
    whole = json.loads(invoke("studies", "--store", copies["whole"], "--json").stdout)
    assert [{**s, "created": None} for s in studies] == [{**s, "created": None} for s in whole]
    with Store(merged, readonly=True) as m, Store(copies["whole"], readonly=True) as w:
        assert m.study("knn").tied_with_best() == w.study("knn").tied_with_best()
        assert m.study("knn").spec == w.study("knn").spec


def test_merge_is_idempotent(copies, tmp_path):
    merged = tmp_path / "merged.db"
    first = merge_stores([copies["first"], copies["second"]], merged)
    assert first.ok and first.changed
    before = tables(merged)
    again = merge_stores([copies["first"], copies["second"]], merged)
    assert again.ok and not again.changed
    assert [(s.action, s.trials_added, s.folds_added, s.trials_finished) for s in again.studies] == [
        ("merged", 0, 0, 0),
        ("merged", 0, 0, 0),
    ]
    assert tables(merged) == before
    result = invoke("merge", copies["second"], copies["whole"], "--store", merged, "--json")
    assert result.exit_code == 0
    # 'whole' adds no result, only its history: its run, and this merge's own run
    after = tables(merged)
    assert {k: v for k, v in after.items() if k != "runs"} == {k: v for k, v in before.items() if k != "runs"}
    assert len(after["runs"]) == len(before["runs"]) + 2
    assert json.loads(result.stdout)["studies"][1]["folds_added"] == 0
    assert json.loads(result.stdout)["studies"][1]["runs_added"] == 1
    again = invoke("merge", copies["second"], copies["whole"], "--store", merged, "--json")
    assert again.exit_code == 0 and tables(merged) == after


def test_sources_are_never_modified(copies, tmp_path):
    before = {name: snapshot(path) for name, path in copies.items()}
    assert invoke("merge", *copies.values(), "--store", tmp_path / "merged.db").exit_code == 0
    assert {name: snapshot(path) for name, path in copies.items()} == before


def test_fold_by_fold_and_running_trials_become_pending(machines, copies, tmp_path):
    """A worker died in trial 3 after fold 1 on one machine; another has only its fold 2."""
    a, b = copies["first"], copies["whole"]
    shutil.copy(copies["whole"], a)
    sql(
        a,
        ("DELETE FROM scores WHERE fold = 2 AND trial_id = (SELECT id FROM trials WHERE number = 3)", ()),
        ("DELETE FROM folds WHERE fold = 2 AND trial_id = (SELECT id FROM trials WHERE number = 3)", ()),
        ("UPDATE trials SET status = 'running', score = NULL, pid = 999999999 WHERE number = 3", ()),
    )
    sql(
        b,
        ("DELETE FROM scores WHERE fold < 2 AND trial_id = (SELECT id FROM trials WHERE number = 3)", ()),
        ("DELETE FROM folds WHERE fold < 2 AND trial_id = (SELECT id FROM trials WHERE number = 3)", ()),
        ("UPDATE trials SET status = 'pending', score = NULL WHERE number = 3", ()),
    )
    reference = results(machines["whole"])
    merged = tmp_path / "merged.db"
    report = merge_stores([a], merged)
    assert report.studies[0].action == "created"
    trial = json.loads(invoke("show", "knn", "3", "--store", merged, "--json").stdout)
    assert trial["status"] == "pending" and trial["pid"] is None  # resumable here
    assert trial["scores"]["accuracy"] == [*reference[3]["scores"]["accuracy"][:2], None]
    report = merge_stores([b], merged)
    assert (report.studies[0].folds_added, report.studies[0].trials_finished) == (1, 1)
    assert results(merged) == reference
    with Store(merged, readonly=True) as store:  # the ranking score was computed as a run does
        assert store.study("knn").best().number == next(t["number"] for t in reference if t["rank"] == 1)
        assert [s.best_score for s in store.studies()] == [max(t["mean"]["accuracy"] for t in reference)]


def test_merged_study_resumes(machines, copies, tmp_path):
    merged = tmp_path / "merged.db"
    merge_stores([copies["first"]], merged)
    result = invoke("resume", "knn", "--store", merged)
    assert result.exit_code == 0, result.output
    assert "2 trial(s) run now" in result.stderr
    assert results(merged) == results(copies["whole"])


# ---------------------------------------------------------------------------- conflicts


def test_conflicting_fold_is_reported_and_not_overwritten(copies, tmp_path):
    edited = copies["whole"]  # trial 1 fold 0 scored differently there
    sql(
        edited,
        (
            "UPDATE folds SET test = 0.5 WHERE fold = 0 AND "  # the ranking metric's, in the fold row
            "trial_id = (SELECT id FROM trials WHERE number = 1)",
            (),
        ),
    )
    merged = tmp_path / "merged.db"
    merge_stores([copies["first"]], merged)  # trials 0 and 1
    kept = results(merged)[1]["scores"]["accuracy"][0]
    result = invoke("merge", edited, "--store", merged)
    assert result.exit_code == 1, result.output
    assert f"{edited}: knn trial 1 fold 0 accuracy test score: store {kept!r}, source 0.5" in result.stdout
    assert result.stderr.startswith("1 conflict(s): results differ between the store and a source")
    assert results(merged)[1]["scores"]["accuracy"][0] == kept  # never overwritten
    statuses = [t["status"] for t in results(merged)]
    assert statuses == ["complete"] * 4  # the rest still merged
    data = json.loads(invoke("merge", edited, "--store", merged, "--json").stdout)
    assert data["ok"] is False
    assert data["conflicts"] == [
        {
            "source": str(edited),
            "study": "knn",
            "trial": 1,
            "fold": 0,
            "metric": "accuracy",
            "kind": "test",
            "store_value": kept,
            "source_value": 0.5,
        }
    ]


def test_a_conflicting_trial_takes_nothing_from_the_source(copies, tmp_path):
    source = copies["whole"]
    sql(
        source,
        (
            "UPDATE scores SET test = 0.25 WHERE metric_id = 1 AND fold = 0 AND "  # f1_macro
            "trial_id = (SELECT id FROM trials WHERE number = 2)",
            (),
        ),
    )
    dst = copies["second"]  # trial 2 complete here; make it miss fold 2
    sql(
        dst,
        ("DELETE FROM scores WHERE fold = 2 AND trial_id = (SELECT id FROM trials WHERE number = 2)", ()),
        ("DELETE FROM folds WHERE fold = 2 AND trial_id = (SELECT id FROM trials WHERE number = 2)", ()),
        ("UPDATE trials SET status = 'pending', score = NULL WHERE number = 2", ()),
    )
    report = merge_stores([source], dst)
    assert [(c.trial, c.fold, c.metric) for c in report.conflicts] == [(2, 0, "f1_macro")]
    trial = results(dst)[2]
    assert trial["status"] == "pending" and trial["scores"]["accuracy"][2] is None


# ---------------------------------------------------------------------------- refusals and renames


@pytest.fixture
def other_spec(machines, tmp_path) -> Path:
    """A store whose 'knn' study has another space (and so another spec)."""
    db = tmp_path / "other.db"
    run(write_spec(tmp_path / "other", space={"n_neighbors": [2, 4]}), db)
    return db


def test_same_name_other_spec_is_refused_and_nothing_written(copies, other_spec, tmp_path):
    merged = tmp_path / "merged.db"
    result = invoke("merge", copies["first"], other_spec, "--store", merged)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: cannot merge study 'knn' from {other_spec}: the destination ")
    assert "differs in spec space.n_neighbors; pass --rename" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not merged.exists()  # refused before the store was created
    merge_stores([copies["first"]], merged)
    before = tables(merged)
    with pytest.raises(MergeRefusedError) as info:
        merge_stores([copies["second"], other_spec], merged)
    assert info.value.fields == ["spec space.n_neighbors"] and info.value.study == "knn"
    assert tables(merged) == before  # not even the second's compatible study was merged


def test_rename_merges_under_a_new_name(copies, other_spec, tmp_path):
    merged = tmp_path / "merged.db"
    report = merge_stores([copies["first"], other_spec], merged, rename=True)
    renamed = report.studies[1]
    assert renamed.action == "renamed" and renamed.into.startswith("knn@")
    assert renamed.differences == ("spec space.n_neighbors",)
    with Store(merged, readonly=True) as store:
        names = [s.name for s in store.studies()]
        assert names == ["knn", renamed.into]
        study = store.study(renamed.into)
        assert study.spec["name"] == renamed.into  # so `hptrack resume` finds it under its new name
        assert [t.params for t in study.trials()] == [{"n_neighbors": 2}, {"n_neighbors": 4}]
    before = tables(merged)
    again = invoke("merge", copies["first"], other_spec, "--store", merged, "--rename", "--json")
    assert again.exit_code == 0
    assert [s["into"] for s in json.loads(again.stdout)["studies"]] == ["knn", renamed.into]
    assert tables(merged) == before
    assert results(merged, renamed.into) == results(other_spec)


@pytest.mark.parametrize("kind", ["itself", "not-sqlite", "missing"])
def test_bad_sources_are_refused(copies, tmp_path, kind):
    dst = copies["first"]
    source = {"itself": dst, "not-sqlite": tmp_path / "notes.db", "missing": tmp_path / "missing.db"}[kind]
    if kind == "not-sqlite":
        source.write_text("not a store")
    before = snapshot(dst)
    result = invoke("merge", copies["second"], source, "--store", dst)
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1 and str(source) in result.stderr
    assert snapshot(dst) == before
    with pytest.raises(StoreError):
        merge_stores([source], dst)


def test_merge_needs_a_source(tmp_path):
    result = invoke("merge", "--store", tmp_path / "x.db")
    assert result.exit_code == 2 and "Missing argument 'SOURCES...'" in result.stderr
    assert not (tmp_path / "x.db").exists()


def test_merging_a_store_of_the_first_schema(tmp_path):
    source = tmp_path / "v1.db"
    shutil.copy(DATA, source)
    before = snapshot(source)
    merged = tmp_path / "merged.db"
    report = merge_stores([source], merged)
    assert [s.into for s in report.studies] == ["iris-lr", "iris-knn"]
    assert snapshot(source) == before
    with Store(merged, readonly=True) as store:
        counts = {s.name: (s.n_complete, s.n_failed, s.n_trials) for s in store.studies()}
    assert counts == {"iris-lr": (3, 1, 4), "iris-knn": (3, 0, 5)}


# ---------------------------------------------------------------------------- schema 4


def _keys(db: Path) -> set[tuple[str, int, int, int]]:
    """(study, trial number, fold, key) of every stored fold key."""
    with closing(sqlite3.connect(db)) as conn:
        return set(
            conn.execute(
                "SELECT s.name, t.number, k.fold, k.key FROM fold_keys k JOIN trials t ON t.id = k.trial_id "
                "JOIN studies s ON s.id = t.study_id"
            ).fetchall()
        )


def test_a_schema_3_store_merges_into_a_new_one_with_its_results_and_fold_keys(tmp_path):
    """The committed v3 store (upgraded on a copy, never changed) merged into a fresh store, then
    into one that holds part of it: the same trials, answers and reuse keys as the v3 store itself."""
    source = tmp_path / "v3.db"
    shutil.copy(Path(__file__).parent / "data" / "store_v3.db", source)
    upgraded = tmp_path / "upgraded.db"
    shutil.copy(source, upgraded)
    Store(upgraded).close()
    merged = tmp_path / "merged.db"
    report = merge_stores([source], merged, command="hptrack merge v3")
    assert report.ok and {s.study for s in report.studies} == {
        "iris-lr",
        "iris-lr-wide",
        "iris-knn",
        "iris-tree",
    }
    assert _keys(merged) == _keys(upgraded) and len(_keys(merged)) > 0
    for study in ("iris-lr", "iris-lr-wide", "iris-knn", "iris-tree"):
        assert invoke("trials", study, "--store", merged, "--json").stdout == (
            invoke("trials", study, "--store", upgraded, "--json").stdout
        )
    partial = tmp_path / "partial.db"  # a v4 store whose trials numbered 3 lack their folds
    merge_stores([upgraded], partial, command="hptrack merge")
    sql(
        partial,
        *(
            (f"DELETE FROM {table} WHERE trial_id IN (SELECT id FROM trials WHERE number = 3)", ())
            for table in ("fold_notes", "fold_keys", "scores")
        ),
        ("DELETE FROM folds WHERE trial_id IN (SELECT id FROM trials WHERE number = 3)", ()),
        ("UPDATE trials SET status = 'pending', score = NULL WHERE number = 3", ()),
    )
    again = merge_stores([source], partial, command="hptrack merge again")
    assert again.ok and sum(s.folds_added for s in again.studies) == 3 + 3 + 4  # lr, lr-wide, knn
    assert _keys(partial) == _keys(upgraded)
    for study in ("iris-lr", "iris-knn"):
        assert invoke("trials", study, "--store", partial, "--json").stdout == (
            invoke("trials", study, "--store", upgraded, "--json").stdout
        )
