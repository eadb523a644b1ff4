"""A store written by the first schema (tests/data/store_v1.db) still answers every query.

The fixture holds 'iris-lr' (grid over C, 3 stratified folds, train scores; trial 0 failed
with C=-1) and 'iris-knn' (random, 5 trials, 3 complete, two of them tied on accuracy).
Tests work on a copy: the committed file is never opened.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from hptrack import Store
from hptrack.cli import cli
from hptrack.store import SCHEMA_VERSION

FIXTURE = Path(__file__).parent / "data" / "store_v1.db"
V1_TABLES = ("studies", "trials", "folds", "scores")


def invoke(*args: Any) -> Any:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


# What a store holds, whatever its schema: its studies (the first schema's columns), trials
# (hashes spelled out, ISO times), folds (times in seconds) and scores (metric names). Schema 4
# keeps fold times in microseconds (rounded here on older schemas) and, for a finished trial,
# neither its heartbeat nor a host its run holds: those are left out.
_OLD_ROWS = {
    "studies": "SELECT id, name, search, n_trials, n_folds, metrics, seed, spec, spec_hash, code_hash, code, "
    "data_hash, data, split_hash, provenance, created FROM studies",
    "trials": "SELECT id, study_id, number, params, seed, status, score, code_hash, data_hash, started, "
    "finished, CASE WHEN status IN ('complete', 'failed') THEN NULL ELSE heartbeat END, pid FROM trials",
    "folds": "SELECT trial_id, fold, hptrack_rounded(fit_time), hptrack_rounded(score_time), error, origin "
    "FROM folds",
    "scores": "SELECT trial_id, fold, metric, test, train FROM scores",
}
_V4_ROWS = {
    "studies": _OLD_ROWS["studies"],
    "trials": "SELECT t.id, t.study_id, t.number, t.params, nullif(coalesce(t.seed, s.trial_seed), ''), "
    "t.status, t.score, hc.hash, hd.hash, v.started, v.finished, t.heartbeat, t.pid FROM trials t "
    "JOIN studies s ON s.id = t.study_id LEFT JOIN hashes hc ON hc.id = t.code_id "
    "LEFT JOIN hashes hd ON hd.id = t.data_id "
    "JOIN trial_summary v ON v.study = s.name AND v.number = t.number",
    "folds": "SELECT f.trial_id, f.fold, f.fit_us / 1e6, f.score_us / 1e6, n.error, n.origin FROM folds f "
    "LEFT JOIN fold_notes n ON n.trial_id = f.trial_id AND n.fold = f.fold",
    "scores": "SELECT f.trial_id, f.fold, m.name, f.test, f.train FROM folds f "
    "JOIN trials t ON t.id = f.trial_id "
    "JOIN metrics m ON m.study_id = t.study_id AND m.id = 0 UNION ALL SELECT sc.trial_id, sc.fold, m.name, "
    "sc.test, sc.train FROM scores sc JOIN trials t ON t.id = sc.trial_id "
    "JOIN metrics m ON m.study_id = t.study_id AND m.id = sc.metric_id",
}


def store_rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every study, trial, fold and score of the store at ``path``, read the same way from any schema."""
    with closing(sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)) as conn:
        conn.create_function("hptrack_rounded", 1, lambda t: None if t is None else round(t * 1e6) / 1e6)
        queries = _V4_ROWS if user_version(path) >= 4 else _OLD_ROWS
        return {t: sorted(conn.execute(sql).fetchall(), key=repr) for t, sql in queries.items()}


def v1_rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    return store_rows(path)


def user_version(path: Path) -> int:
    return int.from_bytes(path.read_bytes()[60:64], "big")


@pytest.fixture
def v1(tmp_path: Path) -> Path:
    copy = tmp_path / "store_v1.db"
    shutil.copy(FIXTURE, copy)
    return copy


@pytest.fixture
def current(v1: Path) -> Path:
    """The copy, upgraded to the current schema by a writable open."""
    Store(v1).close()
    return v1


def test_fixture_is_a_first_schema_store():
    assert user_version(FIXTURE) == 1


def test_read_only_open_of_an_older_schema_serves_queries_untouched(v1: Path):
    """Archived stores on read-only media must stay readable (SPEC section 8)."""
    before = v1.read_bytes()
    with Store(v1, readonly=True) as store:
        assert [s.name for s in store.studies()] == ["iris-lr", "iris-knn"]
        study = store.study("iris-lr")
        assert [t.status for t in study.trials()].count("failed") == 1
        assert study.best().rank == 1
    for args in (["trials", "iris-lr"], ["best", "iris-knn"], ["show", "iris-lr"], ["export", "iris-lr"]):
        result = invoke(*args, "--store", v1)
        assert result.exit_code == 0, result.output
    assert v1.read_bytes() == before
    assert sorted(p.name for p in v1.parent.iterdir()) == ["store_v1.db"]


def test_writable_open_upgrades_and_keeps_every_row(v1: Path):
    before = v1_rows(v1)
    assert sum(map(len, before.values())) == 2 + 9 + 21 + 33
    with Store(v1) as store:
        assert store.connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert v1_rows(v1) == before
    Store(v1).close()  # a second open applies nothing more
    assert v1_rows(v1) == before
    with closing(sqlite3.connect(v1)) as conn:
        views = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'view'")}
        assert {"trial_summary", "fold_scores"} <= views
        assert conn.execute("SELECT count(*) FROM fold_scores").fetchone()[0] == 33


def test_studies_answer_as_recorded(current: Path):
    with Store(current, readonly=True) as store:
        summaries = {s.name: s for s in store.studies()}
    lr, knn = summaries["iris-lr"], summaries["iris-knn"]
    assert (lr.search, lr.n_trials, lr.n_complete, lr.n_failed, lr.metric) == ("grid", 4, 3, 1, "accuracy")
    assert lr.best_score == pytest.approx(0.9733333333333333)
    assert (knn.search, knn.n_trials, knn.n_complete, knn.n_failed) == ("random", 5, 3, 0)


def test_trials_ranks_failures_and_train_scores(current: Path):
    with Store(current, readonly=True) as store:
        lr = store.study("iris-lr")
        trials = lr.trials()
        assert [t.status for t in trials] == ["failed", "complete", "complete", "complete"]
        assert [t.rank for t in trials] == [None, 3, 2, 1]  # a failed trial is never ranked
        assert trials[0].params == {"C": -1.0} and set(trials[0].errors) == {0, 1, 2}
        assert trials[3].scores["accuracy"] == [0.98, 0.96, 0.98]
        assert trials[3].train_scores is not None and trials[3].train_scores["accuracy"] == [0.97, 0.99, 1.0]
        best = lr.best()
        assert best.number == 3 and best.params == {"C": 10.0}
        assert best.std["accuracy"] == pytest.approx(0.02 * math.sqrt(2) / 3)  # ddof=0, as scikit-learn
        knn = store.study("iris-knn")
        ranked = knn.trials(status="complete", sort="accuracy")
        assert [(t.number, t.rank) for t in ranked] == [(2, 1), (0, 2), (1, 2)]  # ties share a rank
        assert [t.status for t in knn.trials()][3:] == ["pending", "pending"]
        assert knn.trials(params={"weights": "uniform"})[0].params == {"n_neighbors": 9, "weights": "uniform"}


def test_tied_with_best_on_old_rows(current: Path):
    with Store(current, readonly=True) as store:
        ties = store.study("iris-lr").tied_with_best()
    # best #3 (0.98, 0.96, 0.98) against #2 (0.96, 0.98, 0.94): d = (0.02, -0.02, 0.04),
    # mean 1/75, var(ddof=1) = 0.00093333; 3-fold: n_test/n_train = 1/2;
    # t = (1/75) / sqrt((1/3 + 1/2) * 0.00093333) = 0.47809; df = 2: p = 1 - t/sqrt(2 + t^2) = 0.67975
    t = (1 / 75) / math.sqrt((1 / 3 + 1 / 2) * (0.0018666666666666666 / 2))
    assert t == pytest.approx(0.47809, abs=1e-5)
    assert ties.best == 3 and ties.test_train_ratio == 0.5
    assert ties.p_values[2] == pytest.approx(1 - t / math.sqrt(2 + t * t), rel=1e-9)
    assert ties.p_values[2] == pytest.approx(0.67975, abs=1e-5)
    assert 0 not in ties.p_values  # the failed trial is not compared


def test_query_commands_on_the_upgraded_store(current: Path):
    trials = json.loads(invoke("trials", "iris-knn", "--store", current, "--json").stdout)
    assert [t["rank"] for t in trials] == [2, 2, 1, None, None]
    assert [t["tied_with_best"] for t in trials] == [True, True, True, None, None]
    best = json.loads(invoke("best", "iris-lr", "--store", current, "--json").stdout)
    assert best["number"] == 3 and best["train_scores"]["accuracy"] == [0.97, 0.99, 1.0]
    show = invoke("show", "iris-lr", "0", "--store", current)
    assert show.exit_code == 0 and "fold 0 failed" in show.stdout
    rows = list(csv.DictReader(io.StringIO(invoke("export", "iris-lr", "--store", current).stdout)))
    assert [r["rank_test_accuracy"] for r in rows] == ["", "3", "2", "1"]
    assert rows[3]["split0_train_accuracy"] == "0.97"
    studies = json.loads(invoke("studies", "--store", current, "--json").stdout)
    assert [s["name"] for s in studies] == ["iris-lr", "iris-knn"]
    compared = json.loads(invoke("compare", "iris-lr", "iris-knn", "--store", current, "--json").stdout)
    assert compared["shared"] == [] and compared["differences"]["spec"]


# ---------------------------------------------------------------------------- schema 2, history

FIXTURE_V2 = Path(__file__).parent / "data" / "store_v2.db"
# Written by hptrack at commit b2e2229 (schema 2: fold keys, scorer identities):
# 'iris-lr' (grid over C, 3 stratified folds, train scores; trial 0 failed with C=-1) and
# 'iris-knn' (random, 5 trials, 3 run with --max-trials 3, 2 pending).


def rows_of(fixture: Path, path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the store at ``path`` (:func:`store_rows`)."""
    return store_rows(path)


@pytest.fixture
def v2(tmp_path: Path) -> Path:
    copy = tmp_path / "store_v2.db"
    shutil.copy(FIXTURE_V2, copy)
    return copy


def test_v2_fixture_is_a_second_schema_store():
    assert user_version(FIXTURE_V2) == 2
    with closing(sqlite3.connect(FIXTURE_V2.resolve().as_uri() + "?mode=ro", uri=True)) as conn:
        assert "fold_key" in {r[1] for r in conn.execute("PRAGMA table_info(folds)")}
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'runs'").fetchone()[0] == 0
        statuses = sorted(r[0] for r in conn.execute("SELECT status FROM trials"))
    assert statuses.count("complete") == 6 and statuses.count("failed") == 1


@pytest.mark.parametrize("fixture", ["v1", "v2"])
def test_older_schemas_upgrade_to_the_current_one_keeping_every_row(fixture: str, request):
    path: Path = request.getfixturevalue(fixture)
    original = FIXTURE if fixture == "v1" else FIXTURE_V2
    before = rows_of(original, path)
    assert sum(map(len, before.values())) > 0
    with Store(path) as store:
        assert store.connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 7
    assert rows_of(original, path) == before
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM trials WHERE run_id IS NOT NULL").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM folds WHERE run_id IS NOT NULL").fetchone()[0] == 0


@pytest.mark.parametrize("fixture", ["v1", "v2"])
def test_history_of_an_older_store_is_empty_read_only_or_upgraded(fixture: str, request):
    path: Path = request.getfixturevalue(fixture)
    before = path.read_bytes()
    with Store(path, readonly=True) as store:  # no runs table at all
        assert store.study("iris-lr").history() == []
    result = invoke("history", "iris-lr", "--store", path, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []
    text = invoke("history", "iris-knn", "--store", path)
    assert text.exit_code == 0 and "no runs recorded" in text.stdout
    assert path.read_bytes() == before  # read, never upgraded
    Store(path).close()
    with Store(path, readonly=True) as store:
        assert store.study("iris-knn").history() == []
    assert json.loads(invoke("history", "iris-lr", "--store", path, "--json").stdout) == []


def test_resuming_an_upgraded_v2_study_starts_its_history(v2: Path):
    # the fixture recorded the versions of the environment that wrote it: any other one
    # (an older numpy, say) is a code change, accepted here so the test runs anywhere
    result = invoke("resume", "iris-knn", "--store", v2, "--allow-code-change")
    assert result.exit_code == 0, result.output
    runs = json.loads(invoke("history", "iris-knn", "--store", v2, "--json").stdout)
    assert [(r["command"], r["exit"], r["trials"], r["trial_numbers"]) for r in runs] == [
        (f"hptrack resume iris-knn --store {v2} --allow-code-change", 0, 2, [3, 4])
    ]


# ---------------------------------------------------------------- every read command, before and after

DATA = Path(__file__).parent / "data"
FIXTURE_V3 = DATA / "store_v3.db"  # written by tests/data/make_store_v3.py at 6e301ec (schema 3)
FIXTURE_V4 = DATA / "store_v4.db"  # written by tests/data/make_store_v4.py at 6f62142 (schema 4)


def _maker() -> Any:
    """tests/data/make_store_v3.py: the commands whose outputs are golden, and how they are read."""
    spec = importlib.util.spec_from_file_location("make_store_v3", DATA / "make_store_v3.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def as_before(name: str, text: str) -> str:
    """``text``, the output ``name`` of a read command, without what schema 5 added: the pipeline
    prefix counters of each ``history --json`` row, which must be 0 in a store from before."""
    if not (name.startswith("history_") and name.endswith(".json")):
        return text
    runs = json.loads(text)
    for run in runs:
        assert (run.pop("prefix_fitted"), run.pop("prefix_reused")) == (0, 0), name
    return json.dumps(runs, indent=2) + "\n"


@pytest.mark.parametrize("version", ["v1", "v2", "v3", "v4"])
def test_every_read_command_answers_as_before_once_upgraded(version: str, tmp_path: Path):
    """Golden outputs (tests/data/golden/) were written by the schema-3 hptrack (v1 to v3) and the
    schema-4 one (v4), read-only, on copies whose fold times were rounded to the microsecond: a
    change users see, as schema 4 keeps fold times as integer microseconds. The other is that
    ``history --json`` rows gain the prefix counters (schema 5), 0 here (:func:`as_before`).
    Everything else is byte for byte."""
    copy = tmp_path / f"store_{version}.db"
    shutil.copy(DATA / f"store_{version}.db", copy)
    Store(copy).close()  # upgrade
    assert user_version(copy) == SCHEMA_VERSION
    outputs = _maker().read_outputs(version, copy, tmp_path)
    assert sorted(outputs) == sorted(p.name for p in (DATA / "golden" / version).iterdir())
    for name, text in outputs.items():
        assert as_before(name, text) == (DATA / "golden" / version / name).read_text(encoding="utf-8"), name


def test_a_migration_killed_halfway_leaves_the_old_store_usable(tmp_path: Path):
    """SIGKILL-like death (``os._exit``) after the schema-4 migration has rebuilt half its tables:
    the file is still a schema-3 store that answers as before, and the next open migrates it."""
    copy = tmp_path / "store_v3.db"
    shutil.copy(FIXTURE_V3, copy)
    script = (
        "import os, sys\n"
        "from hptrack.store import _compact, Writer\n"
        "original, done = _compact.run_script, []\n"
        "def dying(conn, script):\n"
        "    original(conn, script)\n"
        "    done.append(script)\n"
        "    if len(done) == 3:  # old tables renamed aside, new ones created and filled\n"
        "        os._exit(9)\n"
        "_compact.run_script = dying\n"
        "Writer(sys.argv[1])\n"
    )
    died = subprocess.run([sys.executable, "-c", script, str(copy)], capture_output=True, text=True)
    assert died.returncode == 9, died.stderr
    assert Path(f"{copy}-wal").exists()  # the half-done transaction was in flight
    assert store_rows(copy) == store_rows(FIXTURE_V3)  # rolled back: schema 3, every row
    outputs = _maker().read_outputs("v3", copy, tmp_path)
    assert user_version(copy) == 3
    assert outputs["studies.json"] == (DATA / "golden" / "v3" / "studies.json").read_text()
    Store(copy).close()
    assert user_version(copy) == SCHEMA_VERSION
    upgraded = _maker().read_outputs("v3", copy, tmp_path)
    assert {name: as_before(name, text) for name, text in upgraded.items()} == {
        name: (DATA / "golden" / "v3" / name).read_text(encoding="utf-8") for name in outputs
    }


# ---------------------------------------------------------------- schema 5, pipeline prefix counters


@pytest.fixture
def v4(tmp_path: Path) -> Path:
    copy = tmp_path / "store_v4.db"
    shutil.copy(FIXTURE_V4, copy)
    return copy


def run_counters(path: Path) -> list[tuple[Any, ...]]:
    """Every run's id, command, trials and folds, and (schema 5) its prefix counters."""
    with closing(sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)) as conn:
        columns = {r[1] for r in conn.execute("PRAGMA table_info(runs)")}
        prefix = ", prefix_fitted, prefix_reused" if "prefix_fitted" in columns else ""
        return conn.execute(f"SELECT id, command, trials, folds{prefix} FROM runs ORDER BY id").fetchall()


def test_v4_fixture_is_a_fourth_schema_store_hptrack_wrote():
    assert user_version(FIXTURE_V4) == 4
    with closing(sqlite3.connect(FIXTURE_V4.resolve().as_uri() + "?mode=ro", uri=True)) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"metrics", "hashes", "fold_notes", "fold_keys", "runs"} <= tables
        assert "prefix_fitted" not in {r[1] for r in conn.execute("PRAGMA table_info(runs)")}
    assert len(run_counters(FIXTURE_V4)) == 8  # lr, wide, knn x2 here; knn, tree elsewhere; two merges


def test_v4_upgrades_with_zero_prefix_counters_keeping_every_row(v4: Path):
    before, runs = store_rows(v4), run_counters(v4)
    with Store(v4) as store:
        assert store.connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 7
        assert store.study("iris-knn").prefix_fits().to_dict() == {"fitted": 0, "reused": 0}
    assert store_rows(v4) == before
    assert run_counters(v4) == [(*run, 0, 0) for run in runs]
    Store(v4).close()  # a second open applies nothing more
    assert run_counters(v4) == [(*run, 0, 0) for run in runs]


def test_immutable_v4_store_reads_zero_prefix_counters_untouched(v4: Path, monkeypatch: pytest.MonkeyPatch):
    """A schema-4 archive its reader may not write (``immutable=1``: the WAL-mode fixture has no
    -wal beside it) is read through a copy upgraded in memory: every run counts 0 prefix fits."""
    real_access = os.access  # the tests may run as root: "not writable" is reported by patching

    def access(path: object, mode: int, *args: object, **kwargs: object) -> bool:
        return False if mode == os.W_OK else real_access(path, mode, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "access", access)
    before = v4.read_bytes()
    runs = json.loads(invoke("history", "iris-knn", "--store", v4, "--json").stdout)
    assert len(runs) == 4 and {(r["prefix_fitted"], r["prefix_reused"]) for r in runs} == {(0, 0)}
    shown = json.loads(invoke("show", "iris-knn", "--store", v4, "--json").stdout)
    assert "prefix_fits" not in shown  # said only when a run fitted or reused a prefix
    assert "prefixes:" not in invoke("show", "iris-knn", "--store", v4).stdout
    with Store(v4, readonly=True) as store:
        assert [(r.prefix_fitted, r.prefix_reused) for r in store.study("iris-lr").history()] == [(0, 0)]
    assert v4.read_bytes() == before and user_version(v4) == 4
    assert sorted(p.name for p in v4.parent.iterdir()) == ["store_v4.db"]
