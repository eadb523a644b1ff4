"""Fold commits: a batch of folds, their scores and keys, and the trials they finish, in a few statements.

A batch costs one SELECT of its trials' status and metric ids, one multi-row INSERT per table
(``folds``, ``scores`` for the metrics after the first, ``fold_keys``, ``fold_notes`` when a
fold failed or was reused, ``curves`` when an objective reported a learning curve), one SELECT of the
recorded folds of the trials it touched, one UPDATE of the trials it finished and one of the
run's counters, however many folds it holds (up to :data:`_VARIABLES` bound values per
statement). Every function runs inside the caller's transaction; table names are our own.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from .._json import canonical_json
from ._codec import key_int, us_from_seconds
from .records import FoldRecord

_VARIABLES = 900  # bound values per statement (SQLite before 3.32 allows 999)
_FOLD_COLUMNS = "trial_id, fold, test, train, fit_us, score_us, run_id"


def _chunks(rows: Sequence[tuple[Any, ...]], width: int) -> Iterable[Sequence[tuple[Any, ...]]]:
    """``rows`` in slices whose bound values fit in one statement."""
    step = max(1, _VARIABLES // width)
    for start in range(0, len(rows), step):
        yield rows[start : start + step]


def _values(rows: Sequence[tuple[Any, ...]]) -> tuple[str, list[Any]]:
    """``VALUES (?, ?), (?, ?)`` for ``rows`` and their flattened parameters."""
    marks = "(" + ", ".join("?" * len(rows[0])) + ")"
    return ", ".join([marks] * len(rows)), [v for row in rows for v in row]


def _ids(trial_ids: Iterable[int]) -> Iterable[tuple[str, list[int]]]:
    """``IN (?, ?...)`` and its distinct trial ids, in chunks that fit in one statement."""
    ids = sorted(set(trial_ids))
    for start in range(0, len(ids), _VARIABLES):
        chunk = ids[start : start + _VARIABLES]
        yield f"IN ({', '.join('?' * len(chunk))})", chunk


def trial_metrics(
    conn: sqlite3.Connection, trial_ids: Iterable[int]
) -> dict[int, tuple[str, int, dict[str, int]]]:
    """Per trial id: its status, its study and the study's metric ids by name (one query)."""
    out: dict[int, tuple[str, int, dict[str, int]]] = {}
    for clause, ids in _ids(trial_ids):
        for trial_id, status, study_id, name, metric_id in conn.execute(
            "SELECT t.id, t.status, t.study_id, m.name, m.id FROM trials t "
            f"LEFT JOIN metrics m ON m.study_id = t.study_id WHERE t.id {clause}",
            ids,
        ):
            entry = out.setdefault(trial_id, (status, study_id, {}))
            if name is not None:
                entry[2][name] = metric_id
    return out


def ensure_metrics(conn: sqlite3.Connection, study_id: int, names: Iterable[str]) -> dict[str, int]:
    """The study's metric ids by name, adding ``names`` it lacks after the others (in order)."""
    known = dict(conn.execute("SELECT name, id FROM metrics WHERE study_id = ?", (study_id,)).fetchall())
    new = [n for n in dict.fromkeys(names) if n not in known]
    for name in new:
        known[name] = len(known)
    if new:
        conn.executemany(
            "INSERT INTO metrics (study_id, id, name) VALUES (?, ?, ?)",
            [(study_id, known[n], n) for n in new],
        )
    return known


def insert_folds(
    conn: sqlite3.Connection,
    folds: Sequence[tuple[int, FoldRecord]],
    metric_ids: dict[int, dict[str, int]],
    *,
    run_ids: Sequence[int | None],
) -> list[bool]:
    """Insert ``(trial_id, fold)`` pairs with their scores and keys; per pair, whether it was new.

    ``metric_ids`` maps each trial id to its study's metric ids (id 0, the ranking metric, is
    kept in the fold row); ``run_ids`` names the run of each pair. A pair already recorded
    (or repeated in the batch) is left as it is, its scores and key too.
    """
    rows = [
        _fold_row(trial_id, record, metric_ids.get(trial_id, {}), run_id)
        for (trial_id, record), run_id in zip(folds, run_ids)
    ]
    inserted: set[tuple[int, int]] = set()
    for chunk in _chunks(rows, 7):
        values, args = _values(chunk)
        inserted.update(
            (int(t), int(f))
            for t, f in conn.execute(
                f"INSERT OR IGNORE INTO folds ({_FOLD_COLUMNS}) VALUES {values} RETURNING trial_id, fold",
                args,
            ).fetchall()
        )
    new = [(trial_id, record) for trial_id, record in folds if (trial_id, record.fold) in inserted]
    scores: list[tuple[Any, ...]] = []
    keys: list[tuple[Any, ...]] = []
    notes: list[tuple[Any, ...]] = []
    curves: list[tuple[Any, ...]] = []
    first: dict[tuple[int, int], FoldRecord] = {}
    for trial_id, record in new:  # a pair repeated in the batch: its first was inserted
        first.setdefault((trial_id, record.fold), record)
    for (trial_id, _), record in first.items():
        ids = metric_ids.get(trial_id, {})
        train = record.train or {}
        scores += [
            (trial_id, record.fold, ids[m], _real(v), _real(train.get(m)))
            for m, v in record.test.items()
            if ids.get(m)
        ]
        if record.fold_key is not None and record.error is None:  # a failed fold is never reused
            keys.append((key_int(record.fold_key), trial_id, record.fold))
        note = _note(record)
        if any(v is not None for v in note):
            notes.append((trial_id, record.fold, *note))
        if record.curve is not None:
            curves.append((trial_id, record.fold, record.curve))
    for table, columns, table_rows in (
        ("scores", "trial_id, fold, metric_id, test, train", scores),
        ("fold_keys", "key, trial_id, fold", keys),
        ("fold_notes", "trial_id, fold, error, origin, score_errors", notes),
        ("curves", "trial_id, fold, points", curves),
    ):
        for chunk in _chunks(table_rows, len(columns.split(","))):
            values, args = _values(chunk)
            conn.execute(f"INSERT OR IGNORE INTO {table} ({columns}) VALUES {values}", args)
    return [(trial_id, record.fold) in inserted for trial_id, record in folds]


def _real(value: float | None) -> float | None:
    """A score as stored: NaN is NULL (as sqlite3 stores it anyway)."""
    return None if value is None or value != value else value


def _fold_row(trial_id: int, record: FoldRecord, ids: dict[str, int], run_id: int | None) -> tuple[Any, ...]:
    """The ``folds`` row of a record: the ranking metric's (id 0) scores inline."""
    first = next((m for m, i in ids.items() if i == 0), None)
    train = record.train or {}
    return (
        trial_id,
        record.fold,
        _real(record.test.get(first)) if first is not None else None,
        _real(train.get(first)) if first is not None else None,
        us_from_seconds(record.fit_time),
        us_from_seconds(record.score_time),
        run_id,
    )


def _note(record: FoldRecord) -> tuple[str | None, str | None, str | None]:
    """The ``fold_notes`` values of a record: error, origin, scorer errors (all None: no row)."""
    return (
        record.error,
        None if record.origin is None else canonical_json(record.origin),
        canonical_json(record.score_errors) if record.score_errors else None,
    )


def finish_trials(
    conn: sqlite3.Connection,
    trial_ids: Iterable[int],
    *,
    n_folds: int,
    finished: int | None,
    run_id: int | None = None,
) -> dict[int, str | None]:
    """Mark trials whose ``n_folds`` folds are all recorded ``complete`` (or ``failed``): per id,
    the new status, None while a fold is missing (nothing written for it).

    A complete trial stores its ranking score, the mean of its folds' ``test`` as scikit-learn
    computes it (None if one is missing or NaN). ``finished`` is the time (microseconds) it
    ends; ``run_id``, when given, replaces the trial's. The claim ends: its heartbeat and pid
    are cleared, and its host too when its run (which names the host) ran there.
    """
    by_trial: dict[int, list[tuple[int, Any, int]]] = {}
    statuses: dict[int, str | None] = {}
    for clause, ids in _ids(trial_ids):
        statuses.update(dict.fromkeys(ids))
        for trial_id, fold, test, failed in conn.execute(
            "SELECT f.trial_id, f.fold, f.test, n.error IS NOT NULL FROM folds f LEFT JOIN fold_notes n "
            f"ON n.trial_id = f.trial_id AND n.fold = f.fold WHERE f.trial_id {clause}",
            ids,
        ):
            by_trial.setdefault(trial_id, []).append((fold, test, failed))
    updates: list[tuple[Any, ...]] = []
    for trial_id, folds in by_trial.items():
        if len(folds) < n_folds:
            continue
        failed = any(f for _, _, f in folds)
        status = "failed" if failed else "complete"
        score = None if failed else _mean([test for _, test, _ in sorted(folds)])
        statuses[trial_id] = status
        updates.append((trial_id, status, score))
    for chunk in _chunks(updates, 3):
        values, args = _values(chunk)
        conn.execute(
            "UPDATE trials SET status = v.column2, score = v.column3, "
            "finished = coalesce(?, finished), heartbeat = NULL, pid = NULL, "
            "run_id = coalesce(?, run_id), host = CASE WHEN host = "
            "(SELECT host FROM runs WHERE id = coalesce(?, trials.run_id)) THEN NULL ELSE host END "
            f"FROM (VALUES {values}) AS v WHERE trials.id = v.column1",
            [finished, run_id, run_id, *args],
        )
    return statuses


def _mean(values: Sequence[float | None]) -> float | None:
    """Mean as scikit-learn computes it (numpy), None if any value is missing or NaN."""
    import numpy as np

    array = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    mean = float(np.average(array.reshape(1, -1), axis=1)[0])
    return None if np.isnan(mean) else mean


def commit_fold_batch(
    conn: sqlite3.Connection,
    folds: Sequence[tuple[int, FoldRecord]],
    *,
    now: int,
    run_id: int | None,
    n_folds: int,
) -> list[str | None]:
    """Insert ``(trial_id, fold)`` pairs, finish each trial they touched once, count them for
    run ``run_id`` once; per pair, the trial's new status at its last pair (else None).

    ``now`` (microseconds) is when the trials it finishes end. A trial finished before is
    left as it is.
    """
    trials = trial_metrics(conn, (t for t, _ in folds))
    ids = {t: metrics for t, (_, _, metrics) in trials.items()}
    for trial_id, record in folds:  # a metric the study does not list yet (none, as hptrack writes)
        if trial_id in trials and not set(record.test) <= set(ids[trial_id]):
            ids[trial_id].update(ensure_metrics(conn, trials[trial_id][1], record.test))
    inserted = insert_folds(conn, folds, ids, run_ids=[run_id] * len(folds))
    last = {trial_id: i for i, (trial_id, _) in enumerate(folds)}  # trial_id -> index of its last pair
    open_trials = [t for t in last if t in trials and trials[t][0] not in ("complete", "failed")]
    finished = finish_trials(conn, open_trials, n_folds=n_folds, finished=now)
    statuses: list[str | None] = [None] * len(folds)
    for trial_id, status in finished.items():
        statuses[last[trial_id]] = status
    n_inserted, n_finished = sum(inserted), sum(s is not None for s in finished.values())
    if run_id is not None and (n_inserted or n_finished):
        conn.execute(
            "UPDATE runs SET folds = folds + ?, trials = trials + ? WHERE id = ?",
            (n_inserted, n_finished, run_id),
        )
    return statuses
