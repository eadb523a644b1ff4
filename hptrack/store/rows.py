"""Row writing shared by fold commits and merges: trial finishing, and copying another store's rows.

:func:`~hptrack.store.commits.finish_trials` is the one place a trial turns ``complete`` or
``failed``: after a coordinator's last fold (:meth:`Writer.commit_folds`) and after a merge
brought the last missing fold (:func:`merge_study_rows`). Folds are written by
:func:`~hptrack.store.commits.insert_folds` in both cases. Every function runs inside the
caller's transaction on its connection; table names are our own literals.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from .._json import canonical_json, sha256_text
from ._codec import now_us
from .commits import commit_fold_batch, ensure_metrics, finish_trials, insert_folds
from .history import current_user, hptrack_version, utcnow
from .records import FoldConflict, FoldRecord, MergeOutcome, StudyDump, TrialDump

__all__ = ["commit_fold_batch", "finish_trial", "insert_trials", "merge_study_rows"]

_RUN_IDENTITY = ("host", "pid", "started", "command")  # one run, in whichever store it is found


def finish_trial(
    conn: sqlite3.Connection, trial_id: int, *, n_folds: int, finished: int | None, run_id: int | None = None
) -> str | None:
    """:func:`~hptrack.store.commits.finish_trials` for one trial, ending ``finished`` (microseconds;
    None: now)."""
    end = now_us() if finished is None else finished
    return finish_trials(conn, [trial_id], n_folds=n_folds, finished=end, run_id=run_id)[trial_id]


def insert_trials(
    conn: sqlite3.Connection,
    study_id: int,
    first: int,
    params: Sequence[str],
    seeds: Sequence[str],
    rungs: Sequence[tuple[int, int]] | None = None,
) -> None:
    """Insert pending trials numbered from ``first``; numbers already stored are left as they are.

    A seed equal to the study's ``trial_seed`` is stored as NULL (it is stored once).
    ``rungs`` are the trials' ``(rung, resource)`` in a successive-halving study.
    """
    if rungs is None:
        conn.executemany(
            "INSERT OR IGNORE INTO trials (study_id, number, params, seed, status) "
            "VALUES (?, ?, ?, nullif(?, (SELECT trial_seed FROM studies WHERE id = ?)), 'pending')",
            [(study_id, first + i, p, s, study_id) for i, (p, s) in enumerate(zip(params, seeds))],
        )
        return
    conn.executemany(
        "INSERT OR IGNORE INTO trials (study_id, number, params, seed, status, rung, resource) "
        "VALUES (?, ?, ?, nullif(?, (SELECT trial_seed FROM studies WHERE id = ?)), 'pending', ?, ?)",
        [
            (study_id, first + i, p, s, study_id, rung, resource)
            for i, (p, s, (rung, resource)) in enumerate(zip(params, seeds, rungs))
        ],
    )


def hash_ids(conn: sqlite3.Connection, hashes: Sequence[str | None]) -> None:
    """Store these code hashes and data fingerprints in ``hashes`` (once each)."""
    present = [h for h in hashes if h is not None]
    if present:
        marks = ", ".join(["(?)"] * len(present))
        conn.execute(f"INSERT OR IGNORE INTO hashes (hash) VALUES {marks}", present)


# --------------------------------------------------------------------------- merging


def merge_study_rows(
    conn: sqlite3.Connection,
    dump: StudyDump,
    *,
    name: str,
    source: str | None,
    command: str | None,
    host: str,
    pid: int,
) -> MergeOutcome:
    """Merge a dump into study ``name`` inside the caller's transaction (see :meth:`Writer.merge_study`)."""
    started = utcnow()
    row = conn.execute("SELECT id, n_folds, metrics FROM studies WHERE name = ?", (name,)).fetchone()
    study_id = None if row is None else int(row[0])
    done_before = 0 if study_id is None else _n_finished(conn, study_id)
    run_ids, added = _merge_runs(conn, dump.runs, study_id, origin=source)
    dump = _with_run_ids(dump, run_ids)
    if row is None:
        outcome = _copy_study(conn, dump, name)
        study_id = int(conn.execute("SELECT id FROM studies WHERE name = ?", (name,)).fetchone()[0])
        conn.executemany("UPDATE runs SET study_id = ? WHERE id = ?", [(study_id, i) for i in added])
    else:
        metrics = json.loads(row[2])
        outcome = _merge_trials(conn, dump, study_id=row[0], n_folds=row[1], metrics=metrics)
    outcome = replace(outcome, runs_added=len(added))
    wrote = outcome.created or outcome.trials_added or outcome.folds_added or added
    if command is not None and (wrote or outcome.conflicts):
        now = utcnow()
        conn.execute(
            "INSERT INTO runs (study_id, command, user, host, pid, version, started, finished, "
            "exit, heartbeat, trials, folds) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                study_id,
                command,
                current_user(),
                host,
                pid,
                hptrack_version(),
                started,
                now,
                1 if outcome.conflicts else 0,
                now,
                _n_finished(conn, study_id) - done_before,
                outcome.folds_added,
            ),
        )
    return outcome


def _n_finished(conn: sqlite3.Connection, study_id: int) -> int:
    """How many trials of the study are complete or failed."""
    return int(
        conn.execute(
            "SELECT count(*) FROM trials WHERE study_id = ? AND status IN ('complete', 'failed')", (study_id,)
        ).fetchone()[0]
    )


def _merge_runs(
    conn: sqlite3.Connection, runs: Sequence[dict[str, Any]], study_id: int | None, *, origin: str | None
) -> tuple[dict[int, int], list[int]]:
    """Copy a source's runs not yet here; return (source run id -> id here, ids inserted).

    A run already here (same host, pid, start and command) is the same run: it only gains
    an end it lacked (a store copied while that run was still going).
    """
    here: dict[tuple[Any, ...], int] = {}
    if study_id is not None:
        for run_id, *identity in conn.execute(
            "SELECT id, host, pid, started, command FROM runs WHERE study_id = ?", (study_id,)
        ):
            here[tuple(identity)] = run_id
    columns = _columns(conn, "runs")
    mapping: dict[int, int] = {}
    added: list[int] = []
    for run in runs:
        identity = tuple(run.get(k) for k in _RUN_IDENTITY)
        found = here.get(identity)
        if found is not None:
            conn.execute(
                "UPDATE runs SET finished = coalesce(finished, ?), exit = coalesce(exit, ?), "
                "trials = max(trials, ?), folds = max(folds, ?), prefix_fitted = max(prefix_fitted, ?), "
                "prefix_reused = max(prefix_reused, ?) WHERE id = ?",
                (
                    run.get("finished"),
                    run.get("exit"),
                    *(run.get(k) or 0 for k in ("trials", "folds", "prefix_fitted", "prefix_reused")),
                    found,
                ),
            )
        else:
            row = {k: v for k, v in run.items() if k not in ("id", "study_id")}
            row["origin"] = run.get("origin") or origin  # where it ran, however many merges ago
            found = here[identity] = _insert(conn, "runs", {**row, "study_id": study_id}, columns)
            added.append(found)
        mapping[int(run["id"])] = found
    return mapping, added


def _with_run_ids(dump: StudyDump, run_ids: Mapping[int, int]) -> StudyDump:
    """``dump`` with its trials' and folds' ``run_id`` renumbered as the runs are here."""

    def renumbered(row: dict[str, Any]) -> dict[str, Any]:
        if "run_id" not in row:
            return row
        return {**row, "run_id": None if row["run_id"] is None else run_ids.get(row["run_id"])}

    trials = [
        replace(
            trial,
            row=renumbered(trial.row),
            folds={fold: renumbered(values) for fold, values in trial.folds.items()},
        )
        for trial in dump.trials
    ]
    return replace(dump, trials=trials)


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    """The column names of ``table`` here (a source may come from another schema version)."""
    return {row[0] for row in conn.execute("SELECT name FROM pragma_table_info(?)", (table,))}


def _insert(conn: sqlite3.Connection, table: str, row: dict[str, Any], columns: set[str]) -> int:
    """Insert the values of ``row`` whose keys are columns of ``table`` (our own table names)."""
    keys = [k for k in row if k in columns]
    names = ", ".join(f'"{k}"' for k in keys)
    cursor = conn.execute(
        f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(keys))})", [row[k] for k in keys]
    )
    return int(cursor.lastrowid or 0)


def _fold_record(trial: TrialDump, fold: int) -> FoldRecord:
    """A dumped fold (:func:`hptrack.store.dumps.dump_study`) as the record that commits it."""
    row, scores = trial.folds[fold], trial.scores.get(fold, {})
    return FoldRecord(
        fold=fold,
        test={m: s.get("test") for m, s in scores.items()},
        train={m: s.get("train") for m, s in scores.items()},
        fit_time=row.get("fit_time"),  # type: ignore[arg-type]  # None: not recorded
        score_time=row.get("score_time"),  # type: ignore[arg-type]
        error=row.get("error"),
        fold_key=row.get("fold_key"),
        origin=json.loads(row["origin"]) if row.get("origin") else None,
        score_errors=json.loads(row["score_errors"]) if row.get("score_errors") else None,
        curve=row.get("curve"),
    )


def _insert_folds(
    conn: sqlite3.Connection,
    trial_id: int,
    trial: TrialDump,
    folds: Iterable[int],
    metric_ids: dict[str, int],
) -> int:
    """Insert the given folds of a dumped trial with their scores and keys; return how many."""
    chosen = sorted(folds)
    if chosen:
        insert_folds(
            conn,
            [(trial_id, _fold_record(trial, fold)) for fold in chosen],
            {trial_id: metric_ids},
            run_ids=[trial.folds[fold].get("run_id") for fold in chosen],
        )
    return len(chosen)


def _insert_trial(
    conn: sqlite3.Connection, study_id: int, trial: TrialDump, metric_ids: dict[str, int]
) -> tuple[int, int]:
    """Insert a trial with its folds; a ``running`` one becomes ``pending``. Return (id, folds)."""
    row = dict(trial.row)
    if row.get("status") == "running":  # its worker is elsewhere or gone: resumable here
        row.update(status="pending", host=None, pid=None, heartbeat=None)
    hash_ids(conn, [row.get("code_hash"), row.get("data_hash")])
    finished = row.get("status") in ("complete", "failed")
    cursor = conn.execute(
        "INSERT INTO trials (study_id, number, params, seed, status, score, code_id, data_id, started, "
        "finished, heartbeat, host, pid, run_id, rung, resource) VALUES (?1, ?2, ?3, "
        "nullif(?4, (SELECT trial_seed FROM studies WHERE id = ?1)), ?5, ?6, "
        "(SELECT id FROM hashes WHERE hash = ?7), (SELECT id FROM hashes WHERE hash = ?8), ?9, ?10, ?11, "
        "CASE WHEN ?15 AND ?12 = (SELECT host FROM runs WHERE id = ?14) THEN NULL ELSE ?12 END, ?13, ?14, "
        "?16, ?17)",
        [
            study_id,
            row["number"],
            row["params"],
            row.get("seed"),
            row.get("status", "pending"),
            row.get("score"),
            row.get("code_hash"),
            row.get("data_hash"),
            row.get("started"),
            row.get("finished"),
            row.get("heartbeat"),
            row.get("host"),
            row.get("pid"),
            row.get("run_id"),
            finished,
            row.get("rung"),
            row.get("resource"),
        ],
    )
    trial_id = int(cursor.lastrowid or 0)
    return trial_id, _insert_folds(conn, trial_id, trial, trial.folds, metric_ids)


def _copy_study(conn: sqlite3.Connection, dump: StudyDump, name: str) -> MergeOutcome:
    """Copy a study absent here whole, under ``name``."""
    row = {**dump.row, "name": name}
    if name != dump.name:  # renamed: the stored spec names the study too (resume reads it)
        spec = {**json.loads(row["spec"]), "name": name}
        row["spec"] = canonical_json(spec)
        row["spec_hash"] = sha256_text(row["spec"])
    study_id = _insert(conn, "studies", row, _columns(conn, "studies"))
    scored = (m for trial in dump.trials for scores in trial.scores.values() for m in scores)
    metric_ids = ensure_metrics(conn, study_id, [*json.loads(row["metrics"]), *sorted(set(scored))])
    n_folds = 0
    for trial in dump.trials:
        n_folds += _insert_trial(conn, study_id, trial, metric_ids)[1]
    return MergeOutcome(
        created=True, trials_added=len(dump.trials), folds_added=n_folds, trials_finished=0, conflicts=()
    )


def _same_value(a: Any, b: Any) -> bool:
    """Equal, None only equal to None, and NaN equal to NaN."""
    if a is None or b is None:
        return a is None and b is None
    return bool(a == b or (a != a and b != b))  # NaN equals NaN here


def _fold_conflicts(
    number: int, fold: int, trial: TrialDump, error_here: str | None, scores_here: dict[str, tuple[Any, Any]]
) -> list[FoldConflict]:
    """How fold ``fold`` recorded here differs from the source's (empty: the same)."""
    error_there = trial.folds[fold].get("error")
    if (error_here is None) != (error_there is None):
        state = {True: "failed", False: "ok"}
        return [
            FoldConflict(
                number, fold, None, "error", state[error_here is not None], state[error_there is not None]
            )
        ]
    theirs = {m: (s.get("test"), s.get("train")) for m, s in trial.scores.get(fold, {}).items()}
    out = []
    for metric in sorted(set(scores_here) | set(theirs)):
        mine_test, mine_train = scores_here.get(metric, (None, None))
        their_test, their_train = theirs.get(metric, (None, None))
        if not _same_value(mine_test, their_test):
            out.append(FoldConflict(number, fold, metric, "test", mine_test, their_test))
        if not _same_value(mine_train, their_train):
            out.append(FoldConflict(number, fold, metric, "train", mine_train, their_train))
    return out


def _merge_trials(
    conn: sqlite3.Connection, dump: StudyDump, *, study_id: int, n_folds: int, metrics: list[str]
) -> MergeOutcome:
    """Merge a dump into a study present here, trial by trial."""
    scored = (m for trial in dump.trials for scores in trial.scores.values() for m in scores)
    metric_ids = ensure_metrics(conn, study_id, [*metrics, *sorted(set(scored))])
    here = {
        number: (trial_id, params, status)
        for trial_id, number, params, status in conn.execute(
            "SELECT id, number, params, status FROM trials WHERE study_id = ?", (study_id,)
        )
    }
    conflicts: list[FoldConflict] = []
    trials_added = folds_added = finished = 0
    for trial in dump.trials:
        mine = here.get(trial.number)
        if mine is None:
            folds_added += _insert_trial(conn, study_id, trial, metric_ids)[1]
            trials_added += 1
            continue
        found, added, status = _merge_trial(conn, trial, mine, metric_ids, n_folds=n_folds)
        conflicts.extend(found)
        folds_added += added
        finished += status is not None
    return MergeOutcome(
        created=False,
        trials_added=trials_added,
        folds_added=folds_added,
        trials_finished=finished,
        conflicts=tuple(conflicts),
    )


def _merge_trial(
    conn: sqlite3.Connection,
    trial: TrialDump,
    mine: tuple[int, str, str],
    metric_ids: dict[str, int],
    *,
    n_folds: int,
) -> tuple[list[FoldConflict], int, str | None]:
    """Give a trial present here the folds it lacks; return (conflicts, folds added, new status).

    On any conflict the trial stays exactly as it is here.
    """
    trial_id, params, status = mine
    if canonical_json(json.loads(params)) != canonical_json(json.loads(trial.row["params"])):
        return [FoldConflict(trial.number, None, None, "params", params, trial.row["params"])], 0, None
    errors_here = dict(
        conn.execute(
            "SELECT f.fold, n.error FROM folds f LEFT JOIN fold_notes n ON n.trial_id = f.trial_id "
            "AND n.fold = f.fold WHERE f.trial_id = ?",
            (trial_id,),
        ).fetchall()
    )
    scores_here: dict[int, dict[str, tuple[Any, Any]]] = {}
    for fold, metric, test, train in conn.execute(
        "SELECT f.fold, m.name, f.test, f.train FROM folds f JOIN trials t ON t.id = f.trial_id "
        "JOIN metrics m ON m.study_id = t.study_id AND m.id = 0 WHERE f.trial_id = ?1 UNION ALL "
        "SELECT sc.fold, m.name, sc.test, sc.train FROM scores sc JOIN trials t ON t.id = sc.trial_id "
        "JOIN metrics m ON m.study_id = t.study_id AND m.id = sc.metric_id WHERE sc.trial_id = ?1",
        (trial_id,),
    ):
        scores_here.setdefault(fold, {})[metric] = (test, train)
    found = [
        conflict
        for fold in sorted(set(trial.folds) & set(errors_here))
        for conflict in _fold_conflicts(
            trial.number, fold, trial, errors_here[fold], scores_here.get(fold, {})
        )
    ]
    missing = set(trial.folds) - set(errors_here)
    if found or not missing:  # a conflict: the whole trial stays as it is here
        return found, 0, None
    added = _insert_folds(conn, trial_id, trial, missing, metric_ids)
    source = trial.row
    hash_ids(conn, [source.get("code_hash"), source.get("data_hash")])
    conn.execute(
        "UPDATE trials SET code_id = coalesce(code_id, (SELECT id FROM hashes WHERE hash = ?)), "
        "data_id = coalesce(data_id, (SELECT id FROM hashes WHERE hash = ?)), "
        "started = coalesce(started, ?), host = coalesce(host, ?) WHERE id = ?",
        (
            source.get("code_hash"),
            source.get("data_hash"),
            source.get("started"),
            source.get("host"),
            trial_id,
        ),
    )
    source_finished = source.get("status") in ("complete", "failed")
    new_status = finish_trial(
        conn,
        trial_id,
        n_folds=n_folds,
        finished=source.get("finished") if source_finished else None,
        run_id=source.get("run_id") if source_finished else None,
    )
    if new_status is None and status != "failed" and _has_failed_fold(conn, trial_id):
        conn.execute("UPDATE trials SET status = 'failed', score = NULL WHERE id = ?", (trial_id,))
    return found, added, new_status


def _has_failed_fold(conn: sqlite3.Connection, trial_id: int) -> bool:
    """Whether any recorded fold of the trial failed."""
    return bool(
        conn.execute("SELECT count(error) FROM fold_notes WHERE trial_id = ?", (trial_id,)).fetchone()[0]
    )
