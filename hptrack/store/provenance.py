"""Provenance reads: the code and data hashes trials were scored under, and failed folds' tracebacks.

What :mod:`hptrack.query.provenance` (mixed code or data, the most common error) and the
ties test (trials scored on other data are not paired) read. Every function takes an open
connection to a store of the current schema and only reads; the hash columns named in SQL
text come from :data:`_HASH_COLUMNS`, never from user input.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from ._codec import iso_from_us

_HASH_COLUMNS = {"code": "code_id", "data": "data_id"}

# A trial with a recorded fold: finished ones have all theirs; only claimed or released
# (running, pending) trials need the folds looked up, so large finished studies stay fast.
_SCORED = "(t.status IN ('complete', 'failed') OR EXISTS (SELECT 1 FROM folds f WHERE f.trial_id = t.id))"


def distinct_hashes(conn: sqlite3.Connection, study_id: int, kind: str) -> list[str]:
    """Up to two distinct ``"code"``/``"data"`` hashes of scored trials: a cheap test for mixed ones."""
    column = _HASH_COLUMNS[kind]
    return [
        row[0]
        for row in conn.execute(
            f"SELECT h.hash FROM (SELECT DISTINCT t.{column} AS id FROM trials t WHERE t.study_id = ? "
            f"AND t.{column} IS NOT NULL AND {_SCORED} LIMIT 2) d JOIN hashes h ON h.id = d.id",
            (study_id,),
        )
    ]


def hash_use_rows(conn: sqlite3.Connection, study_id: int, kind: str) -> list[tuple[Any, ...]]:
    """Per ``kind`` hash of trials with a recorded fold, in order of first use: the hash, its
    number of trials, and the first and last start of those trials."""
    column = _HASH_COLUMNS[kind]
    rows = conn.execute(
        f"SELECT h.hash, count(*), min(t.started), max(t.started), min(t.number) FROM trials t "
        f"JOIN hashes h ON h.id = t.{column} WHERE t.study_id = ? AND {_SCORED} "
        f"GROUP BY t.{column} ORDER BY min(t.started) IS NULL, min(t.started), min(t.number)",
        (study_id,),
    ).fetchall()
    return [(row[0], row[1], iso_from_us(row[2]), iso_from_us(row[3])) for row in rows]


def numbers_by_hash(conn: sqlite3.Connection, study_id: int, kind: str) -> dict[str, list[int]]:
    """Numbers of the trials (with a recorded fold) scored under each code or data hash."""
    column = _HASH_COLUMNS[kind]
    out: dict[str, list[int]] = {}
    for number, value in conn.execute(
        f"SELECT t.number, h.hash FROM trials t JOIN hashes h ON h.id = t.{column} "
        f"WHERE t.study_id = ? AND {_SCORED} ORDER BY t.number",
        (study_id,),
    ):
        out.setdefault(value, []).append(number)
    return out


def fold_errors(conn: sqlite3.Connection, study_id: int) -> list[str]:
    """The tracebacks of the study's failed folds, by trial (in the order trials were added) and fold."""
    return [
        str(error)
        for (error,) in conn.execute(
            "SELECT n.error FROM fold_notes n JOIN trials t ON t.id = n.trial_id "
            "WHERE t.study_id = ? AND n.error IS NOT NULL ORDER BY n.trial_id, n.fold",
            (study_id,),
        )
    ]


def complete_data_hashes(conn: sqlite3.Connection, study_id: int) -> dict[int, str | None]:
    """The data fingerprint each complete trial was scored under, by number."""
    return dict(
        conn.execute(
            "SELECT t.number, h.hash FROM trials t LEFT JOIN hashes h ON h.id = t.data_id "
            "WHERE t.study_id = ? AND t.status = 'complete'",
            (study_id,),
        ).fetchall()
    )


def unscored_metrics(conn: sqlite3.Connection, study_id: int) -> list[tuple[str, int, str | None]]:
    """Metrics that scored on none of the study's fitted folds: name, fitted folds, first error.

    A fold counts once its fit succeeded (no fold error). A metric has scored when any such
    fold holds a test score for it (the ranking metric's in ``folds``, the others' in
    ``scores``); each check stops at the first scored fold, so a healthy study costs one
    row per metric. The error is the last line of the first recorded traceback of that
    metric's scorer. Empty when no fold was fitted yet.
    """
    fitted = (
        "FROM folds f JOIN trials t ON t.id = f.trial_id LEFT JOIN fold_notes n "
        "ON n.trial_id = f.trial_id AND n.fold = f.fold WHERE t.study_id = ? AND n.error IS NULL"
    )
    metrics = conn.execute(
        "SELECT id, name FROM metrics WHERE study_id = ? ORDER BY id", (study_id,)
    ).fetchall()
    found: list[tuple[int, str]] = []
    for metric_id, name in metrics:
        if metric_id == 0:  # the ranking metric's scores are the fold rows' own
            scored = conn.execute(f"SELECT 1 {fitted} AND f.test IS NOT NULL LIMIT 1", (study_id,))
        else:
            scored = conn.execute(
                f"SELECT 1 {fitted} AND EXISTS (SELECT 1 FROM scores s WHERE s.trial_id = f.trial_id "
                "AND s.fold = f.fold AND s.metric_id = ? AND s.test IS NOT NULL) LIMIT 1",
                (study_id, metric_id),
            )
        if scored.fetchone() is None:
            found.append((metric_id, name))
    if not found:
        return []
    (n_fitted,) = conn.execute(f"SELECT count(*) {fitted}", (study_id,)).fetchone()
    if not n_fitted:
        return []
    return [(name, n_fitted, _first_score_error(conn, study_id, name)) for _, name in found]


def _first_score_error(conn: sqlite3.Connection, study_id: int, metric: str) -> str | None:
    """The last line of the first recorded traceback of ``metric``'s scorer, if any."""
    for (text,) in conn.execute(
        "SELECT n.score_errors FROM fold_notes n JOIN trials t ON t.id = n.trial_id "
        "WHERE t.study_id = ? AND n.score_errors IS NOT NULL ORDER BY n.trial_id, n.fold LIMIT 100",
        (study_id,),
    ):
        error = json.loads(text).get(metric)
        if error:
            lines = [line.strip() for line in str(error).splitlines() if line.strip()]
            return lines[-1] if lines else None
    return None
