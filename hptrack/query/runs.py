"""Run history as users read it (``hptrack history``): one :class:`Run` per invocation, and
:class:`PrefixFits`, what the pipeline prefix cache did over a study's runs."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from ..store import history, reads, worker_gone

RUN_STATUSES = ("finished", "running", "died")


@dataclass(frozen=True)
class Run:
    """One invocation that touched a study (``hptrack history``): who ran what, when, with what end.

    ``status`` is ``finished`` (it recorded its exit code), ``running``, or ``died``: it
    left no end and its process is gone from this host, or (elsewhere) its heartbeat is
    older than the lease, as for abandoned trials. ``trials`` and ``folds`` count what it
    finished and committed; ``numbers`` are the trials it finished that no later run took
    over. ``origin`` names the store it was merged from (None: recorded here).
    ``prefix_fitted`` and ``prefix_reused`` count the fits of pipeline steps before the
    final estimator it did, and those it took from the prefix cache instead (0 when the
    estimator is no pipeline, the cache was off, or the run was recorded before schema 5).
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
    prefix_fitted: int = 0
    prefix_reused: int = 0

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
            "prefix_fitted": self.prefix_fitted,
            "prefix_reused": self.prefix_reused,
        }


@dataclass(frozen=True)
class PrefixFits:
    """What the pipeline prefix cache did over a study's runs (``hptrack show``, the report).

    ``fitted`` counts the fits of pipeline steps before the final estimator that the runs
    did, ``reused`` those the cache saved: another configuration with the same prefix had
    fitted it on that fold earlier in the same process (in memory). True when either is not 0.
    """

    fitted: int = 0
    reused: int = 0

    def __bool__(self) -> bool:
        return bool(self.fitted or self.reused)

    def to_dict(self) -> dict[str, int]:
        """JSON-ready dict (``hptrack show STUDY --json``: ``prefix_fits``)."""
        return {"fitted": self.fitted, "reused": self.reused}

    def describe(self) -> str:
        """``80 pipeline prefix fits reused from the cache, 20 fitted``, as show and the report say it."""
        plural = "s" if self.reused != 1 else ""
        return f"{self.reused} pipeline prefix fit{plural} reused from the cache, {self.fitted} fitted"


def study_prefix_fits(conn: sqlite3.Connection, study_id: int) -> PrefixFits:
    """The prefix counters of a study's runs, summed."""
    fitted, reused = history.prefix_fit_totals(conn, study_id)
    return PrefixFits(fitted=fitted, reused=reused)


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
                prefix_fitted=row["prefix_fitted"],
                prefix_reused=row["prefix_reused"],
            )
        )
    return runs


class StudyHistory:
    """:class:`~hptrack.query.Study`'s run history and prefix cache counters (mixed in)."""

    _conn: sqlite3.Connection
    id: int

    def history(self) -> list[Run]:
        """Every run that touched the study (run, resume, verify, merge, drop-in ``fit``), oldest first.

        A store written before history was recorded (schema 2 or older, opened
        read-only) has none: the list is empty.

        Returns
        -------
        list of Run
            One snapshot per invocation: command, user, host, pid, version, start, finish
            (None for a run still going or a process that died), exit code, trials and
            folds it completed, its status (``finished``, ``running`` or ``died``), and the
            pipeline prefix fits it did and reused from the cache (``prefix_fitted``,
            ``prefix_reused``).

        Examples
        --------
        >>> [(r.command, r.status, r.trials) for r in study.history()]  # doctest: +SKIP
        [('hptrack run digits.toml', 'finished', 12)]
        """
        return study_runs(self._conn, self.id)

    def prefix_fits(self) -> PrefixFits:
        """How many pipeline prefix fits the study's runs did, and how many the cache saved.

        When the estimator is a pipeline, a run fits the steps before its final estimator
        once per fold and prefix, and the configurations that differ only after them reuse
        that fit (in memory, in the same process).

        Returns
        -------
        PrefixFits
            ``fitted`` and ``reused`` summed over the study's runs (:meth:`history` lists
            them per run); both 0 when no run used the cache, or the runs predate it.

        Examples
        --------
        >>> study.prefix_fits().to_dict()  # doctest: +SKIP
        {'fitted': 20, 'reused': 80}
        """
        return study_prefix_fits(self._conn, self.id)
