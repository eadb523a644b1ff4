"""The store's schema: ordered migrations keyed on ``PRAGMA user_version``.

Tables (schema 7)
-----------------
studies    one row per study: ``name``, ``search``, ``n_trials``, ``n_folds``, ``metrics`` (JSON
           list, the ranking metric first), ``seed``, ``spec`` and ``spec_hash``, ``code_hash``
           and ``code``, ``data_hash`` and ``data``, ``split_hash``, ``provenance``, ``created``
           (ISO text), ``scorers`` (JSON, scorer identity per metric), and ``trial_seed``: the
           seeds (canonical JSON) its trials share, stored once (a trial's own ``seed`` is NULL
           when it equals this). JSON columns hold canonical JSON.
metrics    ``(study_id, id) -> name``: a study's metrics by small integer id, in the order of
           its ``metrics`` (id 0 ranks); score rows name metrics by id, never by name.
hashes     ``id -> hash``: each code hash and data fingerprint (64 hex digits) stored once;
           trials refer to them by id.
trials     one row per trial: ``study_id``, ``number`` (unique per study), ``params`` (JSON),
           ``seed`` (JSON, NULL: the study's ``trial_seed``), ``status`` (pending, running,
           complete, failed), ``score`` (the ranking metric's mean, complete trials only),
           ``code_id``/``data_id`` (``hashes``: what it was scored under), ``started`` and
           ``finished`` (integer microseconds since the Unix epoch, UTC), the claim:
           ``heartbeat`` (ISO text, NULL once finished), ``host`` (NULL once finished on
           the host of its run ``run_id``, which holds it) and ``pid`` (NULL once finished),
           and ``run_id``, the run that last claimed it; (schema 7) ``rung`` and ``resource``:
           for a successive-halving study, the rung (scikit-learn's ``iter``, 0-based) the trial
           belongs to and the resource it was fitted with there (``n_resources``: samples, or the
           value of the study's resource param), NULL for every other study. A halving study has
           one trial per (candidate, rung), numbered as the rows of scikit-learn's ``cv_results_``
           (rung 0's candidates first), so a candidate promoted twice is three trials with the
           same params (n_samples) or params differing only in the resource param.
folds      one row per recorded fold, keyed ``(trial_id, fold)`` (WITHOUT ROWID): ``test`` and
           ``train``, the ranking metric's (id 0) scores; ``fit_us``/``score_us``, fit and score
           times in integer microseconds; ``run_id``, the run that committed it.
fold_notes what few folds have, keyed like ``folds``, a row only when one is present:
           ``error`` (the traceback of a failed fit), ``origin`` (a reused result: JSON
           ``{study, trial, fold}`` it copies) and ``score_errors`` (JSON ``{metric:
           traceback}`` of scorers that failed on a fold whose fit succeeded).
scores     the other metrics' scores (id >= 1): ``(trial_id, fold, metric_id) -> test, train``.
fold_keys  reuse's index (SPEC section 6): ``(key, trial_id, fold)``, WITHOUT ROWID, where
           ``key`` is a fold's content key (:func:`hptrack.identity.fold_key`, sha256) cut to
           its first 8 bytes, a signed 64-bit integer. Two different folds share a key with
           probability about ``n * m / 2**64`` for ``n`` stored keys and ``m`` lookups: below
           1e-6 for 10**7 stored folds and 10**6 lookups; a reused fold must also have scored
           every metric with the same scorer. A failed fold has no key (it is never reused).
runs       one row per invocation that touched a study (command, user, host, pid, version,
           ``started``/``finished``/``heartbeat`` as ISO text, exit code, trials and folds it
           completed, ``origin``: the store it was merged from), and (schema 5) the pipeline
           prefix cache's counters: ``prefix_fitted``, the fits of pipeline steps before the
           final estimator it did, and ``prefix_reused``, those it took from the cache instead
           (in memory, within the run); 0 for a run that fitted no pipeline, or recorded before.
curves     (schema 6) an objective's learning curve, one row per fold that reported one:
           ``(trial_id, fold)`` (unique) and ``points``, a BLOB of the value names, the steps
           and a steps x values float64 table (:mod:`hptrack.store.curves`).

Indexes: ``trials (study_id, number)`` (unique), ``trials_by_status (study_id, status,
number)`` (claims, counts), ``trials_by_score (study_id, score DESC)`` of complete trials
(best, top N), ``runs_by_study``; no other.

Views (for datasette and sqlite-utils: names, ISO times and seconds, as before schema 4)
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
from . import _compact

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


# The compact store (SPEC section 8: at most 80 bytes per fold score): metric ids instead of
# names per score row, the ranking metric's scores in the fold row, hashes and shared seeds
# stored once, integer times, 8-byte fold keys in their own table (see _compact.py).
def _v4_compact(db: Database) -> None:
    _compact.create(db.conn)


# The pipeline prefix cache (issue 15): per run, the pipeline steps before the final estimator
# it fitted and those whose fit it reused from the cache in memory (``hptrack show``, the
# report). Counters of the run, as ``trials`` and ``folds``: 0 for every run recorded before.
_V5 = """
ALTER TABLE runs ADD COLUMN prefix_fitted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN prefix_reused INTEGER NOT NULL DEFAULT 0
"""


def _v5_prefix_fits(db: Database) -> None:
    _statements(db, _V5)


# Learning curves (issue 23): what an objective reported through ``fold.report(step, ...)``,
# one row per fold, its points packed in one BLOB (``store/curves.py``).
_V6 = """
CREATE TABLE curves (
    trial_id INTEGER NOT NULL REFERENCES trials(id),
    fold INTEGER NOT NULL,
    points BLOB NOT NULL
);
CREATE UNIQUE INDEX curves_by_fold ON curves (trial_id, fold)
"""


def _v6_curves(db: Database) -> None:
    _statements(db, _V6)


# Successive halving (issue 22): a trial per (candidate, rung), each with its rung and the
# resource it was fitted with (documented above). NULL for grid and random trials, which costs
# one header byte per trial row, not per fold.
_V7 = """
ALTER TABLE trials ADD COLUMN rung INTEGER;
ALTER TABLE trials ADD COLUMN resource INTEGER
"""


def _v7_rungs(db: Database) -> None:
    _statements(db, _V7)


MIGRATIONS: tuple[Callable[[Database], None], ...] = (
    _v1_initial,
    _v2_fold_keys,
    _v3_runs,
    _v4_compact,
    _v5_prefix_fits,
    _v6_curves,
    _v7_rungs,
)
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
