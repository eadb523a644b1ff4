"""Provenance reads: the code and data hashes trials were scored under, and failed folds' tracebacks.

What :mod:`hptrack.query.provenance` (mixed code or data, the most common error) and the
ties test (trials scored on other data are not paired) read. Every function takes an open
connection to a store of the current schema and only reads; the hash columns named in SQL
text come from :data:`_HASH_COLUMNS`, never from user input.
"""

from __future__ import annotations

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
