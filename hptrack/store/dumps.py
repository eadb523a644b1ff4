"""A study's stored rows in a form that does not depend on the store's ids, for merging.

:func:`dump_study` is what :func:`hptrack.store.merge_stores` copies from each source
store (and what ``Study.dump()`` returns); :mod:`hptrack.store.rows` writes it back.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from ._codec import key_hex
from .reads import TRIAL_HOST, fold_data, has_table, rows_as_dicts
from .records import StudyDump, TrialDump


def dump_study(conn: sqlite3.Connection, study_id: int, name: str) -> StudyDump:
    """Every stored row of a study, for merging, in a form that does not depend on this store's
    ids: its studies row, trials (hashes and seeds spelled out, times in microseconds), folds
    (times in seconds, ``fold_key`` as 16 hex digits), scores by metric name, and runs."""
    study = rows_as_dicts(conn, "SELECT * FROM studies WHERE id = ?", (study_id,))[0]
    trials = rows_as_dicts(
        conn,
        "SELECT t.id, t.number, t.params, coalesce(t.seed, s.trial_seed) AS seed, t.status, t.score, "
        "hc.hash AS code_hash, hd.hash AS data_hash, t.started, t.finished, t.heartbeat, "
        f"{TRIAL_HOST} AS host, t.pid, t.run_id, t.rung, t.resource "
        "FROM trials t JOIN studies s ON s.id = t.study_id "
        "LEFT JOIN hashes hc ON hc.id = t.code_id LEFT JOIN hashes hd ON hd.id = t.data_id "
        "LEFT JOIN runs r ON r.id = t.run_id WHERE t.study_id = ? ORDER BY t.number",
        (study_id,),
    )
    keys = {
        (trial_id, fold): key_hex(key)
        for key, trial_id, fold in conn.execute(  # a scan of every key: merges read whole stores anyway
            "SELECT k.key, k.trial_id, k.fold FROM fold_keys k JOIN trials t ON t.id = k.trial_id "
            "WHERE t.study_id = ?",
            (study_id,),
        )
    }
    scores, folds = fold_data(conn, study_id, [], whole_study=True)
    run_of = dict(
        ((t, f), run)
        for t, f, run in conn.execute(
            "SELECT f.trial_id, f.fold, f.run_id FROM folds f JOIN trials t ON t.id = f.trial_id "
            "WHERE t.study_id = ?",
            (study_id,),
        )
    )
    curves = {
        (t, f): bytes(blob)
        for t, f, blob in (
            conn.execute(
                "SELECT c.trial_id, c.fold, c.points FROM curves c JOIN trials t ON t.id = c.trial_id "
                "WHERE t.study_id = ?",
                (study_id,),
            )
            if has_table(conn, "curves")
            else ()
        )
    }
    study.pop("id", None)
    return StudyDump(
        name=name,
        row=study,
        trials=_trial_dumps(trials, folds, scores, keys, run_of, curves),
        runs=rows_as_dicts(conn, "SELECT * FROM runs WHERE study_id = ? ORDER BY id", (study_id,)),
    )


def _trial_dumps(
    trials: list[dict[str, Any]],
    folds: list[tuple[Any, ...]],
    scores: list[tuple[Any, ...]],
    keys: dict[tuple[int, int], str | None],
    run_of: dict[tuple[int, int], int | None],
    curves: dict[tuple[int, int], bytes],
) -> list[TrialDump]:
    """Group fold and score rows (:func:`~hptrack.store.reads.fold_data`) under their trials (ids dropped)."""
    fold_rows: dict[int, dict[int, dict[str, Any]]] = {}
    for trial_id, fold, fit, score, error, origin, errors in folds:
        fold_rows.setdefault(trial_id, {})[fold] = {
            "fold": fold,
            "fit_time": fit,
            "score_time": score,
            "error": error,
            "origin": origin,
            "score_errors": errors,
            "fold_key": keys.get((trial_id, fold)),
            "run_id": run_of.get((trial_id, fold)),
            "curve": curves.get((trial_id, fold)),
        }
    score_rows: dict[int, dict[int, dict[str, dict[str, Any]]]] = {}
    for trial_id, fold, metric, test, train in scores:
        row = {"fold": fold, "metric": metric, "test": test, "train": train}
        score_rows.setdefault(trial_id, {}).setdefault(fold, {})[metric] = row
    dumped = []
    for row in trials:
        trial_id = row.pop("id")
        dumped.append(
            TrialDump(
                number=row["number"],
                row=row,
                folds=fold_rows.get(trial_id, {}),
                scores=score_rows.get(trial_id, {}),
            )
        )
    return dumped
