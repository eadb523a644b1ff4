"""The store's schema: ordered migrations keyed on ``PRAGMA user_version``.

Tables
------
studies  one row per study: spec, hashes, provenance, scorer identity per metric (JSON
         columns hold canonical JSON).
trials   one row per trial: params, status, claim (host, pid, heartbeat), ranking score.
folds    one row per evaluated fold of a trial: times, error, its content key (``fold_key``)
         and, for a reused result, where it came from (``origin``).
scores   one row per (trial, fold, metric): test and train score.
runs     one row per invocation that touched a study (command, user, host, pid,
         version, start, finish, exit code, trials and folds it completed).

Views
-----
trial_summary  a row per trial with its study's name, params and mean test scores.
fold_scores    a row per (study, trial, fold, metric) score.

Never edit a shipped migration: add a new one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import StoreError

if TYPE_CHECKING:
    from sqlite_utils import Database

APPLICATION_TABLES = ("studies", "trials", "folds", "scores")  # the v1 tables: an hptrack store

_V1 = """
CREATE TABLE studies (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    search TEXT NOT NULL,
    n_trials INTEGER NOT NULL,
    n_folds INTEGER NOT NULL,
    metrics TEXT NOT NULL,
    seed INTEGER NOT NULL,
    spec TEXT NOT NULL,
    spec_hash TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    code TEXT NOT NULL,
    data_hash TEXT NOT NULL,
    data TEXT NOT NULL,
    split_hash TEXT NOT NULL,
    provenance TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE trials (
    id INTEGER PRIMARY KEY,
    study_id INTEGER NOT NULL REFERENCES studies(id),
    number INTEGER NOT NULL,
    params TEXT NOT NULL,
    seed TEXT,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'running', 'complete', 'failed')),
    score REAL,
    code_hash TEXT,
    data_hash TEXT,
    started TEXT,
    finished TEXT,
    heartbeat TEXT,
    host TEXT,
    pid INTEGER,
    UNIQUE (study_id, number)
);
CREATE INDEX trials_by_status ON trials (study_id, status, number);
CREATE INDEX trials_by_score ON trials (study_id, score DESC) WHERE status = 'complete';
CREATE TABLE folds (
    id INTEGER PRIMARY KEY,
    trial_id INTEGER NOT NULL REFERENCES trials(id),
    fold INTEGER NOT NULL,
    fit_time REAL,
    score_time REAL,
    error TEXT,
    finished TEXT NOT NULL,
    host TEXT,
    origin TEXT,
    UNIQUE (trial_id, fold)
);
CREATE TABLE scores (
    trial_id INTEGER NOT NULL REFERENCES trials(id),
    fold INTEGER NOT NULL,
    metric TEXT NOT NULL,
    test REAL,
    train REAL,
    PRIMARY KEY (trial_id, fold, metric)
) WITHOUT ROWID;
CREATE VIEW trial_summary AS
SELECT
    s.name AS study,
    t.number,
    t.status,
    t.params,
    t.score,
    (SELECT json_group_object(metric, mean_test) FROM (
        SELECT metric, avg(test) AS mean_test FROM scores
        WHERE scores.trial_id = t.id GROUP BY metric)) AS mean_test,
    t.seed,
    t.code_hash,
    t.started,
    t.finished,
    t.host
FROM trials t JOIN studies s ON s.id = t.study_id;
CREATE VIEW fold_scores AS
SELECT
    s.name AS study,
    t.number AS trial,
    sc.fold,
    sc.metric,
    sc.test,
    sc.train,
    f.fit_time,
    f.score_time,
    f.error
FROM scores sc
JOIN trials t ON t.id = sc.trial_id
JOIN studies s ON s.id = t.study_id
LEFT JOIN folds f ON f.trial_id = sc.trial_id AND f.fold = sc.fold;
"""


def _statements(db: Database, script: str) -> None:
    """Run ``script`` one statement at a time, inside the migration's transaction.

    ``executescript`` would COMMIT first: a process killed mid-migration would leave
    tables behind with ``user_version`` still 0, a file no hptrack could open.
    """
    for statement in script.split(";"):
        if statement.strip():
            db.conn.execute(statement)


def _v1_initial(db: Database) -> None:
    _statements(db, _V1)


# Reuse (SPEC section 6): each fold's content key, indexed for the lookup before a batch
# is dispatched, and each study's scorer identity per metric (canonical JSON).
_V2 = """
ALTER TABLE folds ADD COLUMN fold_key TEXT;
CREATE INDEX folds_by_key ON folds (fold_key);
ALTER TABLE studies ADD COLUMN scorers TEXT;
DROP VIEW fold_scores;
CREATE VIEW fold_scores AS
SELECT
    s.name AS study,
    t.number AS trial,
    sc.fold,
    sc.metric,
    sc.test,
    sc.train,
    f.fit_time,
    f.score_time,
    f.error,
    f.origin
FROM scores sc
JOIN trials t ON t.id = sc.trial_id
JOIN studies s ON s.id = t.study_id
LEFT JOIN folds f ON f.trial_id = sc.trial_id AND f.fold = sc.fold;
"""


def _v2_fold_keys(db: Database) -> None:
    _statements(db, _V2)


# History (SPEC section 3, ``hptrack history``): one row per invocation that touched a
# study (run, resume, verify, merge, a drop-in ``fit``). ``finished``/``exit`` stay NULL
# while it runs, and for a process that died; ``heartbeat`` tells the two apart on other
# hosts. ``trials.run_id`` is the run that last claimed a trial, ``folds.run_id`` the run
# that committed a fold, so the report can show which process ran which trials when.
# ``folds.score_errors`` keeps a failing scorer's traceback per metric (canonical JSON
# ``{metric: traceback}``): as in scikit-learn, it fails only its own metric.
_V3 = """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    study_id INTEGER REFERENCES studies(id),
    command TEXT NOT NULL,
    user TEXT,
    host TEXT,
    pid INTEGER,
    version TEXT,
    started TEXT NOT NULL,
    finished TEXT,
    exit INTEGER,
    heartbeat TEXT,
    trials INTEGER NOT NULL DEFAULT 0,
    folds INTEGER NOT NULL DEFAULT 0,
    origin TEXT
);
CREATE INDEX runs_by_study ON runs (study_id, started);
ALTER TABLE trials ADD COLUMN run_id INTEGER REFERENCES runs(id);
ALTER TABLE folds ADD COLUMN run_id INTEGER REFERENCES runs(id);
ALTER TABLE folds ADD COLUMN score_errors TEXT;
"""


def _v3_runs(db: Database) -> None:
    _statements(db, _V3)


MIGRATIONS: tuple[Callable[[Database], None], ...] = (_v1_initial, _v2_fold_keys, _v3_runs)
SCHEMA_VERSION = len(MIGRATIONS)


def newer_error(path: Path, version: int) -> StoreError:
    return StoreError(
        f"{path} was written by a newer hptrack (schema {version}; this version reads up to "
        f"{SCHEMA_VERSION}); upgrade hptrack (pip install -U hptrack); the file was not changed"
    )


def upgrade(db: Database, path: Path) -> None:
    """Apply the migrations the store lacks, each in its own transaction.

    Each migration takes the write lock first (``BEGIN IMMEDIATE``) and reads the
    version inside it, so two processes opening a new store at once apply it once.
    """
    conn = db.conn
    while True:
        current = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if current > SCHEMA_VERSION:
            raise newer_error(path, current)
        if current == SCHEMA_VERSION:
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if current < SCHEMA_VERSION:  # else another process migrated meanwhile
                MIGRATIONS[current](db)
                # the change and its version bump commit together; our int, as PRAGMA
                # takes no bound parameters
                conn.execute(f"PRAGMA user_version = {current + 1}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
