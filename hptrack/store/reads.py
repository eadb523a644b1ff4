"""The parameterised SELECTs of studies, trials, folds and runs, for the query layer and the writer.

Every function takes an open connection (read-only or not) to a store of the current
schema (an older one opened read-only is read through an upgraded copy in memory) and only
reads. Columns named in SQL text come from our own whitelists, never from user input. Values
come back as users see them: metric names, hashes, ISO timestamps and seconds. Two kinds of
reads live beside this module: :mod:`~hptrack.store.provenance` (the hashes trials were
scored under) and :mod:`~hptrack.store.dumps` (a study's rows for merging).
"""

from __future__ import annotations

import difflib
import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import StudyNotFoundError
from ..spec.direction import MAXIMIZING, Direction
from ._codec import iso_from_us, iso_sql
from .records import STATUSES, FoldRecord, StoredStudy

_CHUNK = 500  # bound parameters per IN (...) list

# A finished trial's host, which its run holds when it ran there (trials ``t``, runs ``r``).
TRIAL_HOST = "CASE WHEN t.host IS NULL AND t.status IN ('complete', 'failed') THEN r.host ELSE t.host END"


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
    hash, created, and the numbers of complete and failed trials and the best score (the lowest
    for a spec with ``direction = "minimize"``, :class:`~hptrack.spec.Direction`)."""
    return conn.execute(
        """
        SELECT s.name, s.search, s.n_trials, s.metrics, s.code_hash, s.data_hash, s.created,
            (SELECT count(*) FROM trials t WHERE t.study_id = s.id AND t.status = 'complete'),
            (SELECT count(*) FROM trials t WHERE t.study_id = s.id AND t.status = 'failed'),
            (SELECT CASE WHEN json_extract(s.spec, '$.direction') = 'minimize' THEN min(score)
                ELSE max(score) END FROM trials t WHERE t.study_id = s.id AND t.status = 'complete'
                AND (s.search NOT IN ('halving', 'halving-random')  -- else the last rung's best
                    OR t.rung = (SELECT max(rung) FROM trials WHERE study_id = s.id AND status = 'complete')))
        FROM studies s ORDER BY s.id
        """
    ).fetchall()


def status_counts(conn: sqlite3.Connection, study_id: int) -> dict[str, int]:
    """Number of trials per status, never-claimed ones pending (every status present, 0 when none)."""
    counts = dict.fromkeys(STATUSES, 0)
    for status, n in conn.execute(
        "SELECT status, count(*) FROM trials WHERE study_id = ? GROUP BY status UNION ALL SELECT 'pending', "
        "max(0, n_trials - (SELECT count(*) FROM trials WHERE study_id = ?)) FROM studies WHERE id = ?",
        (study_id, study_id, study_id),
    ):
        counts[status] += n
    return counts


def best_score(
    conn: sqlite3.Connection, study_id: int, direction: Direction = MAXIMIZING, *, last_rung: bool = False
) -> float | None:
    """The best ranking score of a complete trial (highest, or lowest when minimizing; ``last_rung``:
    of the last rung), or None."""
    if last_rung:
        number = best_number(conn, study_id, direction, last_rung=True)
        if number is None:
            return None
        return conn.execute(
            "SELECT score FROM trials WHERE study_id = ? AND number = ?", (study_id, number)
        ).fetchone()[0]
    return conn.execute(
        f"SELECT {direction.sql_best}(score) FROM trials WHERE study_id = ? AND status = 'complete'",
        (study_id,),
    ).fetchone()[0]


def best_number(
    conn: sqlite3.Connection, study_id: int, direction: Direction = MAXIMIZING, *, last_rung: bool = False
) -> int | None:
    """The best complete trial by the ranking score in ``direction`` (lowest number among ties), or None.

    ``last_rung`` (successive halving): among the trials of the last rung with a complete
    trial, as scikit-learn's ``best_index_`` is the best of its last iteration.
    """
    rung = (
        " AND rung = (SELECT max(rung) FROM trials WHERE study_id = ? AND status = 'complete')"
        if last_rung
        else ""
    )
    row = conn.execute(
        "SELECT number FROM trials WHERE study_id = ? AND status = 'complete' AND score IS NOT "
        f"NULL{rung} ORDER BY score {direction.sql_order}, number LIMIT 1",
        (study_id, study_id) if last_rung else (study_id,),
    ).fetchone()
    return None if row is None else int(row[0])


def rung_rows(conn: sqlite3.Connection, study_id: int) -> list[tuple[Any, ...]]:
    """Per rung of a successive-halving study, in order: rung, resource, trials, complete
    trials and their best ranking score (none for any other study)."""
    return conn.execute(
        "SELECT rung, min(resource), count(*), sum(status = 'complete'), "
        "max(CASE WHEN status = 'complete' THEN score END) FROM trials "
        "WHERE study_id = ? AND rung IS NOT NULL GROUP BY rung ORDER BY rung",
        (study_id,),
    ).fetchall()


# --------------------------------------------------------------------------- trials


def trial_rows(
    conn: sqlite3.Connection,
    study_id: int,
    *,
    statuses: Sequence[str] | None = None,
    number: int | None = None,
    best_first: bool = False,
    direction: Direction = MAXIMIZING,
    limit: int | None = None,
    after: int | None = None,
) -> list[tuple[Any, ...]]:
    """Trial rows: id, number, params, status, score, seed, code_hash, data_hash, started,
    finished, host, pid, rung, resource; by number, or ``best_first`` by score in ``direction``
    (then number).

    ``statuses`` must come from :data:`STATUSES` (they are written into the SQL as literals,
    which lets SQLite use its indexes).
    """
    where = "WHERE t.study_id = ?"
    args: list[Any] = [study_id]
    if statuses is not None:
        if not set(statuses) <= set(STATUSES):
            raise ValueError(f"unknown trial status in {list(statuses)!r}")
        if len(statuses) == 1:  # `= 'complete'` lets SQLite use the partial (study_id, score) index
            where += f" AND t.status = {statuses[0]!r}"
        else:
            where += f" AND t.status IN ({','.join(repr(s) for s in statuses)})"
    if number is not None or after is not None:  # one trial, or a page after a number
        where += " AND t.number = ?" if number is not None else " AND t.number > ?"
        args.append(int(number if number is not None else after))  # type: ignore[arg-type]
    order = f" ORDER BY t.score {direction.sql_order}, t.number" if best_first else " ORDER BY t.number"
    if number is not None:
        order = ""
    clause = where + order + (f" LIMIT {int(limit)}" if limit is not None else "")
    return conn.execute(  # times as iso_from_us text, formatted by SQLite (faster for many rows)
        "SELECT t.id, t.number, t.params, t.status, t.score, coalesce(t.seed, s.trial_seed), hc.hash, "
        f"hd.hash, {iso_sql('t.started')}, {iso_sql('t.finished')}, {TRIAL_HOST}, t.pid, t.rung, t.resource "
        "FROM trials t "
        "JOIN studies s ON s.id = t.study_id LEFT JOIN hashes hc ON hc.id = t.code_id "
        f"LEFT JOIN hashes hd ON hd.id = t.data_id LEFT JOIN runs r ON r.id = t.run_id {clause}",
        args,
    ).fetchall()


def fold_data(
    conn: sqlite3.Connection, study_id: int, ids: Sequence[int], *, whole_study: bool
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Scores (trial_id, fold, metric, test, train) and folds (trial_id, fold, fit_time,
    score_time, error, origin, score_errors) of trials ``ids`` (or of every trial)."""
    names = metric_names(conn, study_id)
    folds_sql = (  # times in seconds as seconds_from_us gives them (SQL's us / 1e6, the same double)
        "SELECT f.trial_id, f.fold, f.test, f.train, f.fit_us / 1e6, f.score_us / 1e6, n.error, n.origin, "
        "n.score_errors FROM folds f LEFT JOIN fold_notes n ON n.trial_id = f.trial_id AND n.fold = f.fold "
        "WHERE f.trial_id "
    )
    scores_sql = "SELECT trial_id, fold, metric_id, test, train FROM scores WHERE trial_id "
    if whole_study:
        sub = "IN (SELECT id FROM trials WHERE study_id = ?)"
        fold_rows = conn.execute(folds_sql + sub, (study_id,)).fetchall()
        score_rows = conn.execute(scores_sql + sub, (study_id,)).fetchall() if len(names) > 1 else []
    else:
        fold_rows, score_rows = [], []
        for start in range(0, len(ids), _CHUNK):
            chunk = list(ids[start : start + _CHUNK])
            marks = f"IN ({','.join('?' * len(chunk))})"
            fold_rows.extend(conn.execute(folds_sql + marks, chunk).fetchall())
            if len(names) > 1:
                score_rows.extend(conn.execute(scores_sql + marks, chunk).fetchall())
    first = names.get(0)
    scores = [(row[0], row[1], first, row[2], row[3]) for row in fold_rows]
    scores += [(t, f, names.get(m), test, train) for t, f, m, test, train in score_rows]
    folds = [row[:2] + row[4:] for row in fold_rows]
    return scores, folds


def metric_names(conn: sqlite3.Connection, study_id: int) -> dict[int, str]:
    """A study's metric names by id (0: the ranking metric)."""
    return dict(conn.execute("SELECT id, name FROM metrics WHERE study_id = ?", (study_id,)).fetchall())


def complete_scores(
    conn: sqlite3.Connection, study_id: int, *, at_least: float, direction: Direction = MAXIMIZING
) -> list[float]:
    """The ranking scores of complete trials that are ``at_least`` this good in ``direction``
    (this high, or this low when minimizing; index-backed)."""
    return [
        row[0]
        for row in conn.execute(
            "SELECT score FROM trials WHERE study_id = ? AND status = 'complete' AND score "
            f"{direction.sql_at_least} ?",
            (study_id, at_least),
        )
    ]


def metric_fold_scores(conn: sqlite3.Connection, study_id: int, metric: str) -> list[tuple[int, int, Any]]:
    """(number, fold, test score) of ``metric`` for every complete trial, by number and fold."""
    ids = {name: i for i, name in metric_names(conn, study_id).items()}
    if ids.get(metric) == 0:
        return conn.execute(
            "SELECT t.number, f.fold, f.test FROM folds f JOIN trials t ON t.id = f.trial_id "
            "WHERE t.study_id = ? AND t.status = 'complete' ORDER BY t.number, f.fold",
            (study_id,),
        ).fetchall()
    return conn.execute(
        "SELECT t.number, sc.fold, sc.test FROM scores sc JOIN trials t ON t.id = sc.trial_id "
        "WHERE t.study_id = ? AND t.status = 'complete' AND sc.metric_id = ? ORDER BY t.number, sc.fold",
        (study_id, ids.get(metric, -1)),
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
    """Trials ``first <= number < stop`` of a study and their recorded folds, in a few queries.

    Returns ``number -> (trial_id, params, status)`` and ``(number, fold) -> FoldRecord``
    (failed folds included: ``error`` set, scores None). Records carry no ``fold_key``
    (:func:`hptrack.store.fold_keys.keyed_folds` checks keys).
    """
    trials = {
        number: (trial_id, params, status)
        for trial_id, number, params, status in conn.execute(
            "SELECT id, number, params, status FROM trials WHERE study_id = ? AND number >= ? AND number < ?",
            (study_id, first, stop),
        )
    }
    numbers = {row[0]: number for number, row in trials.items()}
    scores, fold_rows = fold_data(conn, study_id, list(numbers), whole_study=False)
    folds: dict[tuple[int, int], FoldRecord] = {}
    for trial_id, fold, fit, score, error, origin, errors in fold_rows:
        folds[(numbers[trial_id], fold)] = FoldRecord(
            fold=fold,
            test={},
            train={},
            fit_time=fit,  # type: ignore[arg-type]  # None: not recorded
            score_time=score,  # type: ignore[arg-type]
            error=error,
            origin=json.loads(origin) if origin else None,
            score_errors=json.loads(errors) if errors else None,
        )
    for trial_id, fold, metric, test, train in sorted(scores, key=lambda row: (row[0], row[1], row[2] or "")):
        record = folds.get((numbers[trial_id], fold))
        if record is not None and metric is not None:
            record.test[metric] = test
            assert record.train is not None
            record.train[metric] = train
    return trials, dict(sorted(folds.items()))


# --------------------------------------------------------------------------- run history


def run_rows(conn: sqlite3.Connection, study_id: int) -> list[dict[str, Any]]:
    """The study's runs, oldest first (empty for a store written before history was recorded)."""
    if not has_table(conn, "runs"):
        return []
    return rows_as_dicts(
        conn,
        "SELECT id, command, user, host, pid, version, started, finished, exit, heartbeat, trials, "
        "folds, origin, prefix_fitted, prefix_reused FROM runs WHERE study_id = ? ORDER BY started, id",
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
    """Per run id, the last sign of life its trials give: the latest end (else start) of the
    trials it was the last to claim."""
    return {
        run_id: iso_from_us(last) or ""
        for run_id, last in conn.execute(
            "SELECT run_id, max(coalesce(finished, started)) FROM trials "
            "WHERE study_id = ? AND run_id IS NOT NULL GROUP BY run_id",
            (study_id,),
        )
        if last is not None
    }
