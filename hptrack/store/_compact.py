"""Schema 4, the compact store: its tables, views, and the migration that rebuilds a schema-3 store.

The layout is documented in :mod:`hptrack.store.schema`. The migration runs inside the
caller's transaction (:func:`hptrack.store.schema.upgrade`): a process killed halfway leaves
the schema-3 file as it was. Old tables are renamed aside, copied into the new ones with
their values encoded (:mod:`hptrack.store._codec`), then dropped; row ids are kept.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from ._codec import iso_sql, key_int, us_from_iso, us_from_seconds

TABLES = """
CREATE TABLE hashes (
    id INTEGER PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE
);
CREATE TABLE metrics (
    study_id INTEGER NOT NULL REFERENCES studies(id),
    id INTEGER NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (study_id, id)
) WITHOUT ROWID;
CREATE TABLE trials (
    id INTEGER PRIMARY KEY,
    study_id INTEGER NOT NULL REFERENCES studies(id),
    number INTEGER NOT NULL,
    params TEXT NOT NULL,
    seed TEXT,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'running', 'complete', 'failed')),
    score REAL,
    code_id INTEGER REFERENCES hashes(id),
    data_id INTEGER REFERENCES hashes(id),
    started INTEGER,
    finished INTEGER,
    heartbeat TEXT,
    host TEXT,
    pid INTEGER,
    run_id INTEGER REFERENCES runs(id),
    UNIQUE (study_id, number)
);
CREATE TABLE folds (
    trial_id INTEGER NOT NULL REFERENCES trials(id),
    fold INTEGER NOT NULL,
    test REAL,
    train REAL,
    fit_us INTEGER,
    score_us INTEGER,
    run_id INTEGER REFERENCES runs(id),
    PRIMARY KEY (trial_id, fold)
) WITHOUT ROWID;
CREATE TABLE fold_notes (
    trial_id INTEGER NOT NULL,
    fold INTEGER NOT NULL,
    error TEXT,
    origin TEXT,
    score_errors TEXT,
    PRIMARY KEY (trial_id, fold),
    FOREIGN KEY (trial_id, fold) REFERENCES folds(trial_id, fold)
) WITHOUT ROWID;
CREATE TABLE scores (
    trial_id INTEGER NOT NULL REFERENCES trials(id),
    fold INTEGER NOT NULL,
    metric_id INTEGER NOT NULL,
    test REAL,
    train REAL,
    PRIMARY KEY (trial_id, fold, metric_id)
) WITHOUT ROWID;
CREATE TABLE fold_keys (
    key INTEGER NOT NULL,
    trial_id INTEGER NOT NULL REFERENCES trials(id),
    fold INTEGER NOT NULL,
    PRIMARY KEY (key, trial_id, fold)
) WITHOUT ROWID
"""

INDEXES = """
CREATE INDEX trials_by_status ON trials (study_id, status, number);
CREATE INDEX trials_by_score ON trials (study_id, score DESC) WHERE status = 'complete'
"""

VIEWS = f"""
CREATE VIEW trial_summary AS
SELECT
    s.name AS study,
    t.number,
    t.status,
    t.params,
    t.score,
    (SELECT json_group_object(metric, mean_test) FROM (
        SELECT m.name AS metric, avg(v.test) AS mean_test FROM (
            SELECT 0 AS metric_id, test FROM folds WHERE folds.trial_id = t.id
            UNION ALL
            SELECT metric_id, test FROM scores WHERE scores.trial_id = t.id) v
        JOIN metrics m ON m.study_id = t.study_id AND m.id = v.metric_id
        GROUP BY m.name)) AS mean_test,
    nullif(coalesce(t.seed, s.trial_seed), '') AS seed,
    (SELECT hash FROM hashes WHERE id = t.code_id) AS code_hash,
    {iso_sql("t.started")} AS started,
    {iso_sql("t.finished")} AS finished,
    CASE WHEN t.host IS NULL AND t.status IN ('complete', 'failed')
        THEN (SELECT host FROM runs WHERE id = t.run_id) ELSE t.host END AS host
FROM trials t JOIN studies s ON s.id = t.study_id;
CREATE VIEW fold_scores AS
SELECT
    s.name AS study,
    t.number AS trial,
    f.fold,
    m.name AS metric,
    f.test,
    f.train,
    f.fit_us / 1e6 AS fit_time,
    f.score_us / 1e6 AS score_time,
    n.error,
    n.origin
FROM folds f
LEFT JOIN fold_notes n ON n.trial_id = f.trial_id AND n.fold = f.fold
JOIN trials t ON t.id = f.trial_id
JOIN studies s ON s.id = t.study_id
JOIN metrics m ON m.study_id = t.study_id AND m.id = 0
UNION ALL
SELECT s.name, t.number, sc.fold, m.name, sc.test, sc.train, f.fit_us / 1e6, f.score_us / 1e6,
    n.error, n.origin
FROM scores sc
JOIN trials t ON t.id = sc.trial_id
JOIN studies s ON s.id = t.study_id
JOIN metrics m ON m.study_id = t.study_id AND m.id = sc.metric_id
LEFT JOIN folds f ON f.trial_id = sc.trial_id AND f.fold = sc.fold
LEFT JOIN fold_notes n ON n.trial_id = sc.trial_id AND n.fold = sc.fold
"""

# schema 3 -> 4: the old tables step aside (their indexes and the views go first: names
# are reused, and a rename checks every view)
_ASIDE = """
DROP VIEW trial_summary;
DROP VIEW fold_scores;
DROP INDEX IF EXISTS trials_by_status;
DROP INDEX IF EXISTS trials_by_score;
DROP INDEX IF EXISTS folds_by_key;
ALTER TABLE scores RENAME TO scores_v3;
ALTER TABLE folds RENAME TO folds_v3;
ALTER TABLE trials RENAME TO trials_v3;
ALTER TABLE studies ADD COLUMN trial_seed TEXT
"""

_COPY = """
INSERT INTO hashes (hash)
    SELECT code_hash FROM trials_v3 WHERE code_hash IS NOT NULL
    UNION SELECT data_hash FROM trials_v3 WHERE data_hash IS NOT NULL;
UPDATE studies SET trial_seed = (
    SELECT seed FROM trials_v3 t WHERE t.study_id = studies.id ORDER BY t.number LIMIT 1);
INSERT INTO trials (id, study_id, number, params, seed, status, score, code_id, data_id, started,
    finished, heartbeat, host, pid, run_id)
SELECT t.id, t.study_id, t.number, t.params,
    CASE WHEN t.seed IS NULL THEN CASE WHEN s.trial_seed IS NULL THEN NULL ELSE '' END
        WHEN t.seed = s.trial_seed THEN NULL ELSE t.seed END,
    t.status, t.score, hc.id, hd.id, hptrack_us(t.started), hptrack_us(t.finished),
    CASE WHEN t.status IN ('complete', 'failed') THEN NULL ELSE t.heartbeat END,
    CASE WHEN t.status IN ('complete', 'failed') AND t.host = r.host THEN NULL ELSE t.host END,
    t.pid, t.run_id
FROM trials_v3 t JOIN studies s ON s.id = t.study_id
LEFT JOIN hashes hc ON hc.hash = t.code_hash
LEFT JOIN hashes hd ON hd.hash = t.data_hash
LEFT JOIN runs r ON r.id = t.run_id
ORDER BY t.id;
INSERT INTO folds (trial_id, fold, test, train, fit_us, score_us, run_id)
SELECT f.trial_id, f.fold, sc.test, sc.train, hptrack_micro(f.fit_time), hptrack_micro(f.score_time), f.run_id
FROM folds_v3 f JOIN trials_v3 t ON t.id = f.trial_id
LEFT JOIN metrics m ON m.study_id = t.study_id AND m.id = 0
LEFT JOIN scores_v3 sc ON sc.trial_id = f.trial_id AND sc.fold = f.fold AND sc.metric = m.name
ORDER BY f.trial_id, f.fold;
INSERT INTO fold_notes (trial_id, fold, error, origin, score_errors)
SELECT trial_id, fold, error, origin, score_errors FROM folds_v3
WHERE error IS NOT NULL OR origin IS NOT NULL OR score_errors IS NOT NULL
ORDER BY trial_id, fold;
INSERT INTO scores (trial_id, fold, metric_id, test, train)
SELECT sc.trial_id, sc.fold, m.id, sc.test, sc.train
FROM scores_v3 sc JOIN trials_v3 t ON t.id = sc.trial_id
JOIN metrics m ON m.study_id = t.study_id AND m.name = sc.metric
WHERE m.id > 0
ORDER BY sc.trial_id, sc.fold, m.id;
INSERT OR IGNORE INTO fold_keys (key, trial_id, fold)
SELECT hptrack_key(fold_key), trial_id, fold FROM folds_v3 WHERE fold_key IS NOT NULL AND error IS NULL
ORDER BY 1, 2, 3;
DROP TABLE scores_v3;
DROP TABLE folds_v3;
DROP TABLE trials_v3
"""


def run_script(conn: sqlite3.Connection, script: str) -> None:
    """Run ``script`` one statement at a time, in the caller's transaction (no ``executescript``,
    which would COMMIT first)."""
    for statement in script.split(";\n"):
        if statement.strip():
            conn.execute(statement)


def create(conn: sqlite3.Connection) -> None:
    """Schema 4 from schema 3 (an empty store included), inside the caller's transaction."""
    conn.create_function("hptrack_us", 1, us_from_iso, deterministic=True)
    conn.create_function("hptrack_micro", 1, us_from_seconds, deterministic=True)
    conn.create_function("hptrack_key", 1, key_int, deterministic=True)
    run_script(conn, _ASIDE)
    run_script(conn, TABLES)
    _copy_metrics(conn)
    run_script(conn, _COPY)
    run_script(conn, INDEXES)
    run_script(conn, VIEWS)


def _copy_metrics(conn: sqlite3.Connection) -> None:
    """Each study's metrics by id, in its ``metrics`` order; a metric scored but not listed
    there (none is, as hptrack writes them) follows, by name."""
    rows: list[tuple[Any, ...]] = []
    for study_id, metrics in conn.execute("SELECT id, metrics FROM studies ORDER BY id").fetchall():
        names = list(json.loads(metrics))
        scored = conn.execute(
            "SELECT DISTINCT sc.metric FROM scores_v3 sc JOIN trials_v3 t ON t.id = sc.trial_id "
            "WHERE t.study_id = ? ORDER BY sc.metric",
            (study_id,),
        )
        names += [name for (name,) in scored if name not in names]
        rows += [(study_id, i, name) for i, name in enumerate(names)]
    conn.executemany("INSERT INTO metrics (study_id, id, name) VALUES (?, ?, ?)", rows)
