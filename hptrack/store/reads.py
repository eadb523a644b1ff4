"""The parameterised SELECTs behind the query layer and the writer, returning rows or records.

Every function takes an open connection (read-only or not) and only reads. Columns
named in SQL text come from our own whitelists, never from user input. Schema
differences are handled here: an older store is read as it is.
"""

from __future__ import annotations

import difflib
import json
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..errors import StudyNotFoundError
from .records import STATUSES, FoldRecord, ReusableFold, StoredStudy, StudyDump, TrialDump

_CHUNK = 500  # bound parameters per IN (...) list
_CANDIDATES_PER_KEY = 4  # stored folds offered per fold key (originals first)
_HASH_COLUMNS = {"code": "code_hash", "data": "data_hash"}

# A trial with a recorded fold: finished ones have all theirs; only claimed or released
# (running, pending) trials need the folds looked up, so large finished studies stay fast.
_SCORED = "(t.status IN ('complete', 'failed') OR EXISTS (SELECT 1 FROM folds f WHERE f.trial_id = t.id))"


def rows_as_dicts(conn: sqlite3.Connection, sql: str, args: Sequence[Any]) -> list[dict[str, Any]]:
    """The rows of a query as dicts keyed by column name."""
    cursor = conn.execute(sql, list(args))
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row)) for row in cursor.fetchall()]


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    """Whether the store has table ``name`` (older schemas lack some)."""
    return (
        conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone()
        is not None
    )


def has_fold_column(conn: sqlite3.Connection, name: str) -> bool:
    """Whether the store's ``folds`` table has column ``name`` (older schemas lack some)."""
    return any(row[1] == name for row in conn.execute("PRAGMA table_info(folds)"))


# --------------------------------------------------------------------------- studies


def stored_study(conn: sqlite3.Connection, name: str) -> StoredStudy | None:
    """The stored identity of study ``name`` (what a resume is checked against), or None."""
    row = conn.execute(
        "SELECT id, name, spec, code_hash, code, data_hash, split_hash, n_trials, n_folds, "
        "metrics, provenance FROM studies WHERE name = ?",
        (name,),
    ).fetchone()
    if row is None:
        return None
    return StoredStudy(
        id=row[0],
        name=row[1],
        spec=json.loads(row[2]),
        code_hash=row[3],
        code=json.loads(row[4]),
        data_hash=row[5],
        split_hash=row[6],
        n_trials=row[7],
        n_folds=row[8],
        metrics=json.loads(row[9]),
        provenance=json.loads(row[10]),
    )


def study_not_found(conn: sqlite3.Connection, name: str, path: Path | None) -> StudyNotFoundError:
    """The error for a missing study: it suggests a close name, or lists the studies there are."""
    names = [row[0] for row in conn.execute("SELECT name FROM studies ORDER BY id")]
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    where = f" in {path}" if path is not None else ""
    if close:
        hint = f"; did you mean {close[0]!r}?"
    elif names:
        hint = f"; studies: {', '.join(names[:10])}{' ...' if len(names) > 10 else ''}"
    else:
        hint = "; the store has no studies yet (hptrack run SPEC)"
    return StudyNotFoundError(f"no study named {name!r}{where}{hint}")


def study_row(conn: sqlite3.Connection, name: str) -> dict[str, Any] | None:
    """Every column of study ``name``'s row, or None."""
    conn.row_factory = None
    cursor = conn.execute("SELECT * FROM studies WHERE name = ?", (name,))
    row = cursor.fetchone()
    if row is None:
        return None
    columns = [d[0] for d in cursor.description]
    return dict(zip(columns, row))


def study_rows(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every study's row, in creation order."""
    return rows_as_dicts(conn, "SELECT * FROM studies ORDER BY id", ())


def study_summary_rows(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    """Per study, in creation order: name, search, n_trials, metrics (JSON), code and data
    hash, created, and the numbers of complete and failed trials and the best score."""
    return conn.execute(
        """
        SELECT s.name, s.search, s.n_trials, s.metrics, s.code_hash, s.data_hash, s.created,
            (SELECT count(*) FROM trials t WHERE t.study_id = s.id AND t.status = 'complete'),
            (SELECT count(*) FROM trials t WHERE t.study_id = s.id AND t.status = 'failed'),
            (SELECT max(score) FROM trials t WHERE t.study_id = s.id AND t.status = 'complete')
        FROM studies s ORDER BY s.id
        """
    ).fetchall()


def status_counts(conn: sqlite3.Connection, study_id: int) -> dict[str, int]:
    """Number of trials per status (every status present, 0 when none)."""
    counts = dict.fromkeys(STATUSES, 0)
    for status, n in conn.execute(
        "SELECT status, count(*) FROM trials WHERE study_id = ? GROUP BY status", (study_id,)
    ):
        counts[status] = n
    return counts


def best_score(conn: sqlite3.Connection, study_id: int) -> float | None:
    """The highest ranking score of a complete trial, or None."""
    return conn.execute(
        "SELECT max(score) FROM trials WHERE study_id = ? AND status = 'complete'", (study_id,)
    ).fetchone()[0]


def best_number(conn: sqlite3.Connection, study_id: int) -> int | None:
    """The best complete trial by the ranking score (lowest number among ties), or None."""
    row = conn.execute(
        "SELECT number FROM trials WHERE study_id = ? AND status = 'complete' AND score IS NOT "
        "NULL ORDER BY score DESC, number LIMIT 1",
        (study_id,),
    ).fetchone()
    return None if row is None else int(row[0])


# --------------------------------------------------------------------------- provenance


def distinct_hashes(conn: sqlite3.Connection, study_id: int, kind: str) -> list[str]:
    """Up to two distinct ``"code"``/``"data"`` hashes of scored trials: a cheap test for mixed ones."""
    column = _HASH_COLUMNS[kind]
    return [
        row[0]
        for row in conn.execute(
            f"SELECT DISTINCT t.{column} FROM trials t WHERE t.study_id = ? AND t.{column} IS NOT "
            f"NULL AND {_SCORED} LIMIT 2",
            (study_id,),
        )
    ]


def hash_use_rows(conn: sqlite3.Connection, study_id: int, kind: str) -> list[tuple[Any, ...]]:
    """Per ``kind`` hash of trials with a recorded fold, in order of first use: the hash, its
    number of trials, and the first and last start of those trials."""
    column = _HASH_COLUMNS[kind]
    rows = conn.execute(
        f"SELECT t.{column}, count(*), min(t.started), max(t.started), min(t.number) FROM trials t "
        f"WHERE t.study_id = ? AND t.{column} IS NOT NULL AND {_SCORED} "
        f"GROUP BY t.{column} ORDER BY min(t.started) IS NULL, min(t.started), min(t.number)",
        (study_id,),
    ).fetchall()
    return [row[:4] for row in rows]


def numbers_by_hash(conn: sqlite3.Connection, study_id: int, kind: str) -> dict[str, list[int]]:
    """Numbers of the trials (with a recorded fold) scored under each code or data hash."""
    column = _HASH_COLUMNS[kind]
    out: dict[str, list[int]] = {}
    for number, value in conn.execute(
        f"SELECT t.number, t.{column} FROM trials t WHERE t.study_id = ? AND t.{column} IS NOT "
        f"NULL AND {_SCORED} ORDER BY t.number",
        (study_id,),
    ):
        out.setdefault(value, []).append(number)
    return out


def fold_errors(conn: sqlite3.Connection, study_id: int) -> list[str]:
    """The tracebacks of the study's failed folds, in the order they were recorded."""
    return [
        str(error)
        for (error,) in conn.execute(
            "SELECT f.error FROM folds f JOIN trials t ON t.id = f.trial_id "
            "WHERE t.study_id = ? AND f.error IS NOT NULL ORDER BY f.id",
            (study_id,),
        )
    ]


def complete_data_hashes(conn: sqlite3.Connection, study_id: int) -> dict[int, str | None]:
    """The data fingerprint each complete trial was scored under, by number."""
    return dict(
        conn.execute(
            "SELECT number, data_hash FROM trials WHERE study_id = ? AND status = 'complete'",
            (study_id,),
        ).fetchall()
    )


# --------------------------------------------------------------------------- trials


def trial_rows(
    conn: sqlite3.Connection,
    study_id: int,
    *,
    statuses: Sequence[str] | None = None,
    number: int | None = None,
    best_first: bool = False,
    limit: int | None = None,
) -> list[tuple[Any, ...]]:
    """Trial rows: id, number, params, status, score, seed, code_hash, data_hash, started,
    finished, host, pid; by number, or ``best_first`` by score (then number).

    ``statuses`` must come from :data:`STATUSES` (they are written into the SQL as literals,
    which lets SQLite use its indexes).
    """
    where = "WHERE study_id = ?"
    args: list[Any] = [study_id]
    if statuses is not None:
        if not set(statuses) <= set(STATUSES):
            raise ValueError(f"unknown trial status in {list(statuses)!r}")
        if len(statuses) == 1:  # `= 'complete'` lets SQLite use the partial (study_id, score) index
            where += f" AND status = {statuses[0]!r}"
        else:
            where += f" AND status IN ({','.join(repr(s) for s in statuses)})"
    if number is not None:
        where += " AND number = ?"
        args.append(int(number))
    order = " ORDER BY score DESC, number" if best_first else " ORDER BY number"
    if number is not None:
        order = ""
    clause = where + order + (f" LIMIT {int(limit)}" if limit is not None else "")
    return conn.execute(
        "SELECT id, number, params, status, score, seed, code_hash, data_hash, started, "
        f"finished, host, pid FROM trials {clause}",
        args,
    ).fetchall()


def fold_data(
    conn: sqlite3.Connection, study_id: int, ids: Sequence[int], *, whole_study: bool
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Scores (trial_id, fold, metric, test, train) and folds (trial_id, fold, fit_time,
    score_time, error, origin, score_errors) of trials ``ids`` (or of every trial)."""
    scores_sql = "SELECT trial_id, fold, metric, test, train FROM scores WHERE trial_id "
    # ``score_errors`` is a schema v3 column; an older store is read as it is
    score_errors = "score_errors" if has_fold_column(conn, "score_errors") else "NULL"
    folds_sql = (
        f"SELECT trial_id, fold, fit_time, score_time, error, origin, {score_errors} "
        "FROM folds WHERE trial_id "
    )
    if whole_study:
        sub = "IN (SELECT id FROM trials WHERE study_id = ?)"
        return (
            conn.execute(scores_sql + sub, (study_id,)).fetchall(),
            conn.execute(folds_sql + sub, (study_id,)).fetchall(),
        )
    scores: list[tuple[Any, ...]] = []
    folds: list[tuple[Any, ...]] = []
    for start in range(0, len(ids), _CHUNK):
        chunk = list(ids[start : start + _CHUNK])
        marks = f"IN ({','.join('?' * len(chunk))})"
        scores.extend(conn.execute(scores_sql + marks, chunk).fetchall())
        folds.extend(conn.execute(folds_sql + marks, chunk).fetchall())
    return scores, folds


def complete_scores(conn: sqlite3.Connection, study_id: int, *, at_least: float) -> list[float]:
    """The ranking scores of complete trials that are ``at_least`` this high (index-backed)."""
    return [
        row[0]
        for row in conn.execute(
            "SELECT score FROM trials WHERE study_id = ? AND status = 'complete' AND score >= ?",
            (study_id, at_least),
        )
    ]


def metric_fold_scores(conn: sqlite3.Connection, study_id: int, metric: str) -> list[tuple[int, int, Any]]:
    """(number, fold, test score) of ``metric`` for every complete trial, by number and fold."""
    return conn.execute(
        "SELECT t.number, sc.fold, sc.test FROM scores sc JOIN trials t ON t.id = sc.trial_id "
        "WHERE t.study_id = ? AND t.status = 'complete' AND sc.metric = ? ORDER BY t.number, sc.fold",
        (study_id, metric),
    ).fetchall()


def complete_params(conn: sqlite3.Connection, study_id: int) -> list[tuple[int, str]]:
    """(number, params JSON) of every complete trial, by number."""
    return conn.execute(
        "SELECT number, params FROM trials WHERE study_id = ? AND status = 'complete' ORDER BY number",
        (study_id,),
    ).fetchall()


def folds_done(conn: sqlite3.Connection, trial_ids: Sequence[int]) -> dict[int, set[int]]:
    """The folds recorded so far, per trial id."""
    done: dict[int, set[int]] = {}
    for start in range(0, len(trial_ids), _CHUNK):
        chunk = list(trial_ids[start : start + _CHUNK])
        marks = ",".join("?" * len(chunk))
        for trial_id, fold in conn.execute(
            f"SELECT trial_id, fold FROM folds WHERE trial_id IN ({marks})", chunk
        ):
            done.setdefault(trial_id, set()).add(fold)
    return done


def trials_between(
    conn: sqlite3.Connection, study_id: int, first: int, stop: int
) -> tuple[dict[int, tuple[int, str, str]], dict[tuple[int, int], FoldRecord]]:
    """Trials ``first <= number < stop`` of a study and their recorded folds, in two queries.

    Returns ``number -> (trial_id, params, status)`` and ``(number, fold) -> FoldRecord``
    (failed folds included: ``error`` set, scores None).
    """
    trials = {
        number: (trial_id, params, status)
        for trial_id, number, params, status in conn.execute(
            "SELECT id, number, params, status FROM trials WHERE study_id = ? AND number >= ? AND number < ?",
            (study_id, first, stop),
        )
    }
    score_errors = "f.score_errors" if has_fold_column(conn, "score_errors") else "NULL"
    rows = conn.execute(
        "SELECT t.number, f.fold, f.fit_time, f.score_time, f.error, f.fold_key, f.origin, "
        f"{score_errors}, sc.metric, sc.test, sc.train FROM folds f JOIN trials t ON t.id = f.trial_id "
        "LEFT JOIN scores sc ON sc.trial_id = f.trial_id AND sc.fold = f.fold "
        "WHERE t.study_id = ? AND t.number >= ? AND t.number < ? ORDER BY t.number, f.fold, sc.metric",
        (study_id, first, stop),
    ).fetchall()
    folds: dict[tuple[int, int], FoldRecord] = {}
    for number, fold, fit, score, error, key, origin, errors, metric, test, train in rows:
        record = folds.get((number, fold))
        if record is None:
            record = folds[(number, fold)] = FoldRecord(
                fold=fold,
                test={},
                train={},
                fit_time=fit,
                score_time=score,
                error=error,
                fold_key=key,
                origin=json.loads(origin) if origin else None,
                score_errors=json.loads(errors) if errors else None,
            )
        if metric is not None:
            record.test[metric] = test
            assert record.train is not None
            record.train[metric] = train
    return trials, folds


def reusable_folds(conn: sqlite3.Connection, keys: Iterable[str]) -> dict[str, list[ReusableFold]]:
    """Successful stored folds with these content keys, in any study; one indexed query per chunk.

    Failed folds, and folds where a scorer failed, are never offered (a failure may be
    transient). Per key, folds fitted here come before copies, then oldest first.
    """
    wanted = sorted(set(keys))
    found: dict[str, list[ReusableFold]] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        rows = conn.execute(
            "WITH picked AS (SELECT id, fold_key, trial_id, fold, origin, fit_time, score_time "
            "FROM (SELECT f.*, row_number() OVER (PARTITION BY f.fold_key "
            "ORDER BY f.origin IS NOT NULL, f.id) AS rn FROM folds f "
            f"WHERE f.fold_key IN ({','.join('?' * len(chunk))}) AND f.error IS NULL "
            "AND f.score_errors IS NULL) "
            f"WHERE rn <= {_CANDIDATES_PER_KEY}) "
            "SELECT p.id, p.fold_key, s.name, t.number, p.fold, p.origin, p.fit_time, "
            "p.score_time, s.scorers, sc.metric, sc.test, sc.train "
            "FROM picked p JOIN trials t ON t.id = p.trial_id "
            "JOIN studies s ON s.id = t.study_id "
            "LEFT JOIN scores sc ON sc.trial_id = p.trial_id AND sc.fold = p.fold "
            "ORDER BY p.origin IS NOT NULL, p.id",
            chunk,
        ).fetchall()  # at most a few candidates per key: a key copied across many studies stays cheap
        _collect_reusable(rows, found)
    return found


def _collect_reusable(rows: list[tuple[Any, ...]], found: dict[str, list[ReusableFold]]) -> None:
    """Fold the joined (fold, score) rows of :func:`reusable_folds` into ReusableFolds."""
    by_id: dict[int, ReusableFold] = {}
    scorers_of: dict[str, dict[str, Any]] = {}
    for fold_id, key, study, number, fold, origin, fit, score, scorers, metric, test, train in rows:
        stored = by_id.get(fold_id)
        if stored is None:
            stored = by_id[fold_id] = ReusableFold(
                fold_key=key,
                study=study,
                trial=number,
                fold=fold,
                origin=(json.loads(origin) if origin else {"study": study, "trial": number, "fold": fold}),
                fit_time=fit,
                score_time=score,
                test={},
                train={},
                scorers=scorers_of.setdefault(study, json.loads(scorers) if scorers else {}),
            )
            found.setdefault(key, []).append(stored)
        if metric is not None:
            stored.test[metric] = test
            stored.train[metric] = train


# --------------------------------------------------------------------------- history and dumps


def run_rows(conn: sqlite3.Connection, study_id: int) -> list[dict[str, Any]]:
    """The study's runs, oldest first (empty for a store written before history was recorded)."""
    if not has_table(conn, "runs"):
        return []
    return rows_as_dicts(
        conn,
        "SELECT id, command, user, host, pid, version, started, finished, exit, heartbeat, trials, "
        "folds, origin FROM runs WHERE study_id = ? ORDER BY started, id",
        (study_id,),
    )


def finished_numbers_by_run(conn: sqlite3.Connection, study_id: int) -> dict[int, list[int]]:
    """Per run id, the numbers of the finished trials it was the last to work on."""
    numbers: dict[int, list[int]] = {}
    for run_id, number in conn.execute(
        "SELECT run_id, number FROM trials WHERE study_id = ? AND run_id IS NOT NULL "
        "AND status IN ('complete', 'failed') ORDER BY number",
        (study_id,),
    ):
        numbers.setdefault(run_id, []).append(number)
    return numbers


def last_fold_by_run(conn: sqlite3.Connection, study_id: int) -> dict[int, str]:
    """Per run id, when it committed its last fold."""
    return dict(
        conn.execute(
            "SELECT f.run_id, max(f.finished) FROM folds f JOIN trials t ON t.id = f.trial_id "
            "WHERE t.study_id = ? AND f.run_id IS NOT NULL GROUP BY f.run_id",
            (study_id,),
        ).fetchall()
    )


def dump_study(conn: sqlite3.Connection, study_id: int, name: str) -> StudyDump:
    """Every stored row of a study (its studies row, trials, folds, scores and runs), for merging."""
    study = rows_as_dicts(conn, "SELECT * FROM studies WHERE id = ?", (study_id,))[0]
    trials = rows_as_dicts(conn, "SELECT * FROM trials WHERE study_id = ? ORDER BY number", (study_id,))
    folds = rows_as_dicts(
        conn,
        "SELECT f.* FROM folds f JOIN trials t ON t.id = f.trial_id WHERE t.study_id = ? "
        "ORDER BY f.trial_id, f.fold",
        (study_id,),
    )
    scores = rows_as_dicts(
        conn,
        "SELECT sc.* FROM scores sc JOIN trials t ON t.id = sc.trial_id WHERE t.study_id = ? "
        "ORDER BY sc.trial_id, sc.fold, sc.metric",
        (study_id,),
    )
    study.pop("id", None)
    runs = (
        rows_as_dicts(conn, "SELECT * FROM runs WHERE study_id = ? ORDER BY id", (study_id,))
        if has_table(conn, "runs")
        else []
    )
    return StudyDump(name=name, row=study, trials=_trial_dumps(trials, folds, scores), runs=runs)


def _trial_dumps(
    trials: list[dict[str, Any]], folds: list[dict[str, Any]], scores: list[dict[str, Any]]
) -> list[TrialDump]:
    """Group fold and score rows under their trials (ids and study ids dropped)."""
    fold_rows: dict[int, dict[int, dict[str, Any]]] = {}
    for row in folds:
        fold_rows.setdefault(row.pop("trial_id"), {})[row["fold"]] = row
        row.pop("id", None)
    score_rows: dict[int, dict[int, dict[str, dict[str, Any]]]] = {}
    for row in scores:
        trial_id = row.pop("trial_id")
        score_rows.setdefault(trial_id, {}).setdefault(row["fold"], {})[row["metric"]] = row
    dumped = []
    for row in trials:
        trial_id = row.pop("id")
        row.pop("study_id", None)
        dumped.append(
            TrialDump(
                number=row["number"],
                row=row,
                folds=fold_rows.get(trial_id, {}),
                scores=score_rows.get(trial_id, {}),
            )
        )
    return dumped
