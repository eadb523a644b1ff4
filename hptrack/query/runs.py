"""Run history as users read it (``hptrack history``): one :class:`Run` per invocation."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from ..store import reads, worker_gone

RUN_STATUSES = ("finished", "running", "died")


@dataclass(frozen=True)
class Run:
    """One invocation that touched a study (``hptrack history``): who ran what, when, with what end.

    ``status`` is ``finished`` (it recorded its exit code), ``running``, or ``died``: it
    left no end and its process is gone from this host, or (elsewhere) its heartbeat is
    older than the lease, as for abandoned trials. ``trials`` and ``folds`` count what it
    finished and committed; ``numbers`` are the trials it finished that no later run took
    over. ``origin`` names the store it was merged from (None: recorded here).
    """

    id: int
    command: str
    user: str | None
    host: str | None
    pid: int | None
    version: str | None
    started: str
    finished: str | None
    exit: int | None
    status: str
    trials: int
    folds: int
    numbers: tuple[int, ...]
    last_seen: str  # its end, else its last sign of life (heartbeat or last fold committed)
    origin: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (SPEC section 3 ``history --json``)."""
        return {
            "command": self.command,
            "user": self.user,
            "host": self.host,
            "pid": self.pid,
            "version": self.version,
            "started": self.started,
            "finished": self.finished,
            "exit": self.exit,
            "status": self.status,
            "trials": self.trials,
            "folds": self.folds,
            "trial_numbers": list(self.numbers),
            "last_seen": self.last_seen,
            "origin": self.origin,
        }


def study_runs(conn: sqlite3.Connection, study_id: int) -> list[Run]:
    """Every run that touched a study, oldest first (empty before history was recorded)."""
    rows = reads.run_rows(conn, study_id)
    if not rows:
        return []
    numbers = reads.finished_numbers_by_run(conn, study_id)
    last_fold = reads.last_fold_by_run(conn, study_id)
    runs = []
    for row in rows:
        if row["finished"] is not None:
            status = "finished"
        else:
            status = "died" if worker_gone(row["host"], row["pid"], row["heartbeat"]) else "running"
        seen = [t for t in (row["started"], row["heartbeat"], last_fold.get(row["id"])) if t]
        runs.append(
            Run(
                id=row["id"],
                command=row["command"],
                user=row["user"],
                host=row["host"],
                pid=row["pid"],
                version=row["version"],
                started=row["started"],
                finished=row["finished"],
                exit=row["exit"],
                status=status,
                trials=row["trials"],
                folds=row["folds"],
                numbers=tuple(numbers.get(row["id"], ())),
                last_seen=row["finished"] or max(seen),
                origin=row["origin"],
            )
        )
    return runs
