"""Lazy trials: a study's trials exist as rows only once claimed.

A study of ``n_trials`` trials (a grid of 10^7 points) starts with no trial rows. A
claim (:meth:`~hptrack.store.Writer.claim`) takes the ``pending`` rows first (released
claims, ``--retry-failed`` resets), lowest numbers first, then materialises the next
numbers that have no row yet: :func:`materialise` inserts them as ``pending`` inside the
claim's transaction, with the params the run layer computes for each number, and the
claim's one ``UPDATE ... RETURNING`` turns them ``running``. Rows are therefore a prefix
``0..M`` of the numbers (a merge of such studies is one too); :func:`unclaimed_numbers`
still fills any hole below ``M`` first when asked to scan for one.
"""

from __future__ import annotations

import datetime as _dt
import sqlite3
from collections.abc import Callable

from ._codec import now_us
from .history import process_alive, utcnow
from .rows import hash_ids, insert_trials

ParamsOf = Callable[[int], "tuple[str, str]"]  # number -> (params, seeds), canonical JSON


def unclaimed_numbers(conn: sqlite3.Connection, study_id: int, limit: int, *, scan_gaps: bool) -> list[int]:
    """The lowest ``limit`` numbers below the study's ``n_trials`` that have no trial row.

    Without ``scan_gaps`` only the numbers after the highest row are looked at (one
    indexed look-up); with it, holes below it come first (one pass over the study's rows).
    """
    (n_trials,) = conn.execute("SELECT n_trials FROM studies WHERE id = ?", (study_id,)).fetchone()
    first, last = conn.execute(
        "SELECT min(number), max(number) FROM trials WHERE study_id = ?", (study_id,)
    ).fetchone()
    if last is None:
        return list(range(min(limit, n_trials)))
    gaps: list[tuple[int, int]] = []  # (a row's number, the next row's number) around each hole
    if scan_gaps:
        gaps = [(-1, first)] if first > 0 else []
        gaps += conn.execute(
            "SELECT number, next FROM (SELECT number, lead(number) OVER (ORDER BY number) AS next "
            "FROM trials WHERE study_id = ?) WHERE next > number + 1 ORDER BY number LIMIT ?",
            (study_id, int(limit)),
        ).fetchall()
    gaps.append((last, n_trials))
    found: list[int] = []
    for before, after in gaps:
        found.extend(range(before + 1, min(after, n_trials, before + 1 + limit - len(found))))
        if len(found) >= limit:
            break
    return found


def materialise(
    conn: sqlite3.Connection, study_id: int, limit: int, params_of: ParamsOf, *, scan_gaps: bool = False
) -> int:
    """Insert as ``pending`` the never-claimed trials a claim of ``limit`` needs; return how many.

    That is ``limit`` minus the study's pending rows (claimed first), at most; their
    params and seeds come from ``params_of(number)``. Runs inside the claim's transaction.
    """
    (n_pending,) = conn.execute(
        "SELECT count(*) FROM (SELECT 1 FROM trials WHERE study_id = ? AND status = 'pending' LIMIT ?)",
        (study_id, int(limit)),
    ).fetchone()
    if n_pending >= limit:
        return 0
    numbers = unclaimed_numbers(conn, study_id, limit - n_pending, scan_gaps=scan_gaps)
    for number in numbers:
        params, seeds = params_of(number)
        insert_trials(conn, study_id, number, [params], [seeds])
    return len(numbers)


def add_trials(
    conn: sqlite3.Connection,
    study_id: int,
    first: int,
    params: list[str],
    seeds: list[str],
    rungs: list[tuple[int, int]] | None = None,
) -> None:
    """Insert pending trials numbered from ``first`` up front (the drop-ins' batches); the
    study's ``n_trials`` grows to cover them, never shrinks. ``rungs``: each trial's
    ``(rung, resource)`` in a successive-halving study."""
    insert_trials(conn, study_id, first, params, seeds, rungs)
    conn.execute(
        "UPDATE studies SET n_trials = max(n_trials, (SELECT count(*) FROM trials WHERE study_id = ?)) "
        "WHERE id = ?",
        (study_id, study_id),
    )


def pending_numbers(
    conn: sqlite3.Connection, study_id: int, *, offset: int = 0, limit: int = 100
) -> list[int]:
    """Numbers ``offset..offset+limit`` of the study's pending trials in number order: its pending
    rows and the numbers never claimed, without writing them (one pass over its rows)."""
    (n_trials,) = conn.execute("SELECT n_trials FROM studies WHERE id = ?", (study_id,)).fetchone()
    found: list[int] = []
    skip = max(0, int(offset))

    def take(start: int, stop: int) -> None:  # numbers start..stop-1 are pending
        nonlocal skip
        start, skip = start + min(skip, max(0, stop - start)), max(0, skip - max(0, stop - start))
        found.extend(range(start, min(stop, start + limit - len(found))))

    following = 0
    for number, status in conn.execute(
        "SELECT number, status FROM trials WHERE study_id = ? ORDER BY number", (study_id,)
    ):
        take(following, min(number, n_trials))
        if status == "pending":
            take(number, number + 1)
        following = number + 1
        if len(found) >= limit:
            return found
    take(following, n_trials)
    return found


def claim_pending(
    conn: sqlite3.Connection,
    study_id: int,
    limit: int,
    *,
    host: str,
    pid: int,
    run_id: int | None,
    code_hash: str,
    data_hash: str,
) -> list[tuple[int, int, str]]:
    """Turn up to ``limit`` pending trials ``running`` for this process, lowest numbers first, in one
    ``UPDATE ... RETURNING``; return their ``(id, number, params)`` by number. Runs inside the
    claim's transaction."""
    hash_ids(conn, [code_hash, data_hash])
    now = utcnow()
    rows = conn.execute(
        "UPDATE trials SET status = 'running', started = coalesce(started, :now_us), "
        "heartbeat = :now, host = :host, pid = :pid, "
        "code_id = (SELECT id FROM hashes WHERE hash = :code), "
        "data_id = (SELECT id FROM hashes WHERE hash = :data), run_id = :run "
        "WHERE id IN (SELECT id FROM trials WHERE study_id = :study "
        "AND status = 'pending' ORDER BY number LIMIT :limit) "
        "RETURNING id, number, params",
        {
            "now": now,
            "now_us": now_us(),
            "host": host,
            "pid": pid,
            "code": code_hash,
            "data": data_hash,
            "study": study_id,
            "limit": int(limit),
            "run": run_id,
        },
    ).fetchall()
    return sorted(((int(i), int(n), str(p)) for i, n, p in rows), key=lambda row: row[1])


def recover_abandoned(
    conn: sqlite3.Connection, study_id: int, *, host: str, pid: int, lease_seconds: float
) -> list[int]:
    """Return the study's trials left ``running`` by dead workers to ``pending``; their numbers.

    A worker on this host (``host``; ``pid`` is this process) is dead when its process is gone;
    a worker elsewhere when its heartbeat is older than ``lease_seconds``. Runs inside the
    caller's transaction, so no live claim is lost between the read and the reset.
    """
    rows = conn.execute(
        "SELECT id, number, host, pid, heartbeat FROM trials "
        "WHERE study_id = ? AND status = 'running' ORDER BY number",
        (study_id,),
    ).fetchall()
    now = _dt.datetime.now(_dt.timezone.utc)
    dead: list[tuple[int, int]] = []
    for trial_id, number, their_host, their_pid, heartbeat in rows:
        if their_host == host and their_pid is not None:
            if their_pid != pid and not process_alive(their_pid):
                dead.append((trial_id, number))
        elif (
            heartbeat is None or (now - _dt.datetime.fromisoformat(heartbeat)).total_seconds() > lease_seconds
        ):
            dead.append((trial_id, number))
    if dead:
        conn.executemany(
            "UPDATE trials SET status = 'pending', host = NULL, pid = NULL WHERE id = ?",
            [(trial_id,) for trial_id, _ in dead],
        )
    return [number for _, number in dead]
