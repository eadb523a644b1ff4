"""Reuse's reads (SPEC section 6): stored folds found by their content keys (``fold_keys``).

Keys come in as the hex text :func:`hptrack.identity.fold_key` makes and are looked up as the
signed 64-bit integer of their first 8 bytes (:mod:`hptrack.store._codec`): one indexed query
per chunk of keys, whatever the size of the store.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any

from ._codec import key_int, seconds_from_us
from .curves import fold_curves
from .records import ReusableFold

_CHUNK = 500  # bound parameters per IN (...) list
_CANDIDATES_PER_KEY = 4  # stored folds offered per fold key (originals first)


def keyed_folds(conn: sqlite3.Connection, keys: Mapping[tuple[int, int], str]) -> set[tuple[int, int]]:
    """Of these ``(trial_id, fold) -> content key`` pairs, those stored under that key (one
    indexed query per chunk of keys)."""
    by_key: dict[int, set[tuple[int, int]]] = {}
    for pair, key in keys.items():
        value = key_int(key)
        if value is not None:
            by_key.setdefault(value, set()).add(pair)
    wanted = sorted(by_key)
    found: set[tuple[int, int]] = set()
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        for value, trial_id, fold in conn.execute(
            f"SELECT key, trial_id, fold FROM fold_keys WHERE key IN ({','.join('?' * len(chunk))})", chunk
        ):
            if (trial_id, fold) in by_key[value]:
                found.add((trial_id, fold))
    return found


def reusable_folds(conn: sqlite3.Connection, keys: Iterable[str]) -> dict[str, list[ReusableFold]]:
    """Successful stored folds with these content keys, in any study; one indexed query per chunk.

    Failed folds, and folds where a scorer failed, are never offered (a failure may be
    transient). Per key, folds fitted here come before copies, then oldest first.
    """
    asked: dict[int, list[str]] = {}
    for key in sorted(set(keys)):
        asked.setdefault(key_int(key) or 0, []).append(key)
    wanted = sorted(asked)
    found: dict[str, list[ReusableFold]] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        rows = conn.execute(
            "WITH picked AS (SELECT * FROM (SELECT k.key, f.trial_id, f.fold, n.origin, f.fit_us, "
            "f.score_us, f.test, f.train, row_number() OVER (PARTITION BY k.key "
            "ORDER BY n.origin IS NOT NULL, f.trial_id, f.fold) AS rn FROM fold_keys k "
            "JOIN folds f ON f.trial_id = k.trial_id AND f.fold = k.fold "
            "LEFT JOIN fold_notes n ON n.trial_id = f.trial_id AND n.fold = f.fold "
            f"WHERE k.key IN ({','.join('?' * len(chunk))}) AND n.error IS NULL "
            f"AND n.score_errors IS NULL) WHERE rn <= {_CANDIDATES_PER_KEY}) "
            "SELECT p.key, p.trial_id, s.name, t.number, p.fold, p.origin, p.fit_us, p.score_us, "
            "s.scorers, m.name, p.test, p.train, p.origin IS NOT NULL AS copied FROM picked p "
            "JOIN trials t ON t.id = p.trial_id JOIN studies s ON s.id = t.study_id "
            "LEFT JOIN metrics m ON m.study_id = t.study_id AND m.id = 0 UNION ALL "
            "SELECT p.key, p.trial_id, s.name, t.number, p.fold, p.origin, p.fit_us, p.score_us, "
            "s.scorers, m.name, sc.test, sc.train, p.origin IS NOT NULL FROM picked p "
            "JOIN trials t ON t.id = p.trial_id JOIN studies s ON s.id = t.study_id "
            "JOIN scores sc ON sc.trial_id = p.trial_id AND sc.fold = p.fold "
            "JOIN metrics m ON m.study_id = t.study_id AND m.id = sc.metric_id ORDER BY 13, 2, 5",
            chunk,
        ).fetchall()  # at most a few candidates per key: a key copied across many studies stays cheap
        _collect_reusable(rows, asked, found, fold_curves(conn, [row[1] for row in rows]))
    return found


def _collect_reusable(
    rows: list[tuple[Any, ...]],
    asked: dict[int, list[str]],
    found: dict[str, list[ReusableFold]],
    curves: dict[tuple[int, int], bytes],
) -> None:
    """Fold the joined (fold, score) rows of :func:`reusable_folds` into ReusableFolds, under the
    keys asked for."""
    by_fold: dict[tuple[int, int, int], list[ReusableFold]] = {}
    scorers_of: dict[str, dict[str, Any]] = {}
    for value, trial_id, study, number, fold, origin, fit, score, scorers, metric, test, train, _ in rows:
        stored = by_fold.get((value, trial_id, fold))
        if stored is None:
            stored = by_fold[(value, trial_id, fold)] = [
                ReusableFold(
                    fold_key=key,
                    study=study,
                    trial=number,
                    fold=fold,
                    origin=(
                        json.loads(origin) if origin else {"study": study, "trial": number, "fold": fold}
                    ),
                    fit_time=seconds_from_us(fit),
                    score_time=seconds_from_us(score),
                    test={},
                    train={},
                    scorers=scorers_of.setdefault(study, json.loads(scorers) if scorers else {}),
                    curve=curves.get((trial_id, fold)),
                )
                for key in asked[value]
            ]
            for reusable in stored:
                found.setdefault(reusable.fold_key, []).append(reusable)
        if metric is not None:
            for reusable in stored:
                reusable.test[metric] = test
                reusable.train[metric] = train
