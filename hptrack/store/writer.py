"""The coordinator's private writer: claims, fold commits, leases, run history, merges.

Only the coordinating process writes the store, through one :class:`Writer`. Trials
are claimed atomically (one ``UPDATE ... RETURNING``), each fold's scores commit in
their own transaction, and a trial turns ``complete`` in the same transaction as its
last fold (:func:`~hptrack.store.commits.finish_trials`). Users read through
:class:`hptrack.Store` instead, which has none of these methods.
"""

from __future__ import annotations

import os
import socket
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .._json import canonical_json, sha256_text
from ..errors import StoreError
from . import fold_keys, history, reads
from ._codec import now_us
from ._kept import checkpoint, park, reopen
from ._sqlite import default_store_path, open_readonly, open_writable
from .claims import ParamsOf, add_trials, claim_pending, materialise, recover_abandoned
from .commits import ensure_metrics
from .history import (
    HEARTBEAT_SECONDS,
    LEASE_SECONDS,
    Heartbeat,
    exit_code_of,
    utcnow,
)
from .records import (
    Claim,
    FoldRecord,
    MergeOutcome,
    ReusableFold,
    RunHandle,
    StoredStudy,
    StudyDump,
    StudyRecord,
)
from .rows import commit_fold_batch, insert_trials, merge_study_rows


class Writer:
    """The write protocol of one store file, for the coordinating process only.

    Parameters
    ----------
    path : str or Path, optional
        The store file; default ``$HPTRACK_STORE``, else ``./hptrack.db``. Created (and
        an older schema upgraded) when opened for writing.
    readonly : bool, default=False
        Open for reading only (:func:`open_to_record` does, for a store it cannot
        write): :meth:`run_record` then records nothing and every write raises
        :class:`~hptrack.StoreError`.

    Raises
    ------
    StoreError
        The file is not SQLite, not an hptrack store, corrupt, from a newer hptrack, or
        cannot be written. The file is left untouched.

    Examples
    --------
    >>> with Writer("hptrack.db") as writer:  # doctest: +SKIP
    ...     stored = writer.create_study(record)
    ...     for claim in writer.claim(stored.id, 4, code_hash=code, data_hash=data):
    ...         ...
    """

    def __init__(self, path: str | Path | None = None, *, readonly: bool = False) -> None:
        self.path = Path(path) if path is not None else default_store_path()
        self.readonly = readonly
        self._db: Any = None
        self._host = socket.gethostname()
        self._pid = os.getpid()
        self._run_id: int | None = None  # the run being recorded (run_record): claims and folds name it
        self._scanned: set[int] = set()  # studies whose trial numbers were checked for holes
        if readonly:
            self._conn: sqlite3.Connection = open_readonly(self.path)
        else:  # a kept store's parked connection, else a new one
            self._conn, self._db = reopen(self.path) or open_writable(self.path)

    def close(self) -> None:
        """Close the connection, with the store file holding every commit (a WAL checkpoint).

        On a store the process keeps (:func:`~hptrack.store.keep_wal_open`) the connection is
        parked for the next writer instead, and the checkpoint runs soon after, in the background.
        """
        conn, self._conn = self._conn, _CLOSED
        if self._db is not None and park(self.path, conn, self._db):
            self._db = None
            return
        if self._db is not None:
            checkpoint(conn, self.path)
        conn.close()

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "readonly" if self.readonly else "writable"
        return f"Writer({str(self.path)!r}, {mode})"

    @property
    def connection(self) -> sqlite3.Connection:
        """The underlying ``sqlite3`` connection (the query layer reads through it)."""
        return self._conn

    def _writer(self) -> Any:
        """sqlite-utils' Database, or a StoreError when closed or opened read-only."""
        if self._db is None:
            state = "closed" if self._conn is _CLOSED else "opened read-only"
            raise StoreError(f"store {self.path}: this writer was {state}")
        return self._db

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Make the writes inside the block one transaction: all of them are kept, or none.

        The methods called inside it nest as savepoints; the block costs one commit instead
        of one per method. An exception leaving the block rolls every write in it back.

        Examples
        --------
        >>> with writer.transaction():  # doctest: +SKIP
        ...     writer.add_trials(study_id, 0, params, seeds)
        ...     claims = writer.claim(study_id, len(params), code_hash=code, data_hash=data)
        """
        with self._transaction():
            yield

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        """One write transaction that takes the write lock up front (``BEGIN IMMEDIATE``).

        A concurrent writer then makes it wait (busy timeout) rather than fail when a read
        in the transaction is followed by a write. Inside an open transaction it nests as
        a savepoint (``db.atomic()``).
        """
        db = self._writer()
        conn = db.conn
        if conn.in_transaction:  # one savepoint name: nested ones release the innermost, and
            # its statements stay in the connection's cache (sqlite-utils names each anew)
            conn.execute("SAVEPOINT hptrack")
            try:
                yield db
            except BaseException:
                if conn.in_transaction:  # an error may have ended the whole transaction
                    conn.execute("ROLLBACK TO SAVEPOINT hptrack")
                    conn.execute("RELEASE SAVEPOINT hptrack")
                raise
            conn.execute("RELEASE SAVEPOINT hptrack")
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield db
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    # ------------------------------------------------------------------ studies

    def stored_study(self, name: str) -> StoredStudy | None:
        """The stored identity of study ``name`` (what a resume is checked against), or None."""
        return reads.stored_study(self._conn, name)

    def require_study(self, name: str) -> StoredStudy:
        """Like :meth:`stored_study`, raising :class:`~hptrack.StudyNotFoundError` when absent."""
        stored = self.stored_study(name)
        if stored is None:
            raise reads.study_not_found(self._conn, name, self.path)
        return stored

    def counts(self, study_id: int) -> dict[str, int]:
        """Number of trials per status."""
        return reads.status_counts(self._conn, study_id)

    def create_study(self, record: StudyRecord) -> StoredStudy:
        """Create a study and its pending trials in one transaction; return it.

        If another process created it first, the existing study is returned.
        """
        now = utcnow()
        with self._transaction() as db:
            if self.stored_study(record.name) is None:
                spec = canonical_json(record.spec)
                cursor = db.execute(
                    "INSERT INTO studies (name, search, n_trials, n_folds, metrics, seed, spec, "
                    "spec_hash, code_hash, code, data_hash, data, split_hash, provenance, created, "
                    "scorers, trial_seed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        record.name,
                        record.search,
                        max(record.n_trials or 0, len(record.trial_params)),
                        record.n_folds,
                        canonical_json(record.metrics),
                        record.seed,
                        spec,
                        sha256_text(spec),
                        record.code_hash,
                        canonical_json(record.code),
                        record.data_hash,
                        canonical_json(record.data),
                        record.split_hash,
                        canonical_json(record.provenance),
                        now,
                        canonical_json(record.scorers),
                        _shared_seed(record),
                    ),
                )
                ensure_metrics(db.conn, cursor.lastrowid, record.metrics)
                insert_trials(db.conn, cursor.lastrowid, 0, record.trial_params, record.trial_seeds)
        stored = self.stored_study(record.name)
        assert stored is not None
        return stored

    # ------------------------------------------------------------------ trials

    def recover_abandoned(self, study_id: int, *, lease_seconds: float = LEASE_SECONDS) -> list[int]:
        """Return trials left ``running`` by dead workers to ``pending``; list their numbers.

        A worker on this host is dead when its process is gone; a worker elsewhere when
        its heartbeat is older than ``lease_seconds``. Folds it committed are kept.
        """
        with self._transaction() as db:  # read and reset together: no live claim is lost
            return recover_abandoned(
                db.conn, study_id, host=self._host, pid=self._pid, lease_seconds=lease_seconds
            )

    def reset_failed(self, study_id: int) -> int:
        """Make failed trials pending again, dropping their failed folds; return how many."""
        with self._transaction() as db:
            failed = (
                "SELECT trial_id, fold FROM fold_notes WHERE error IS NOT NULL AND trial_id IN "
                "(SELECT id FROM trials WHERE study_id = ? AND status = 'failed')"
            )
            pairs = db.conn.execute(failed, (study_id,)).fetchall()
            for table in ("scores", "fold_notes", "folds"):  # notes before the folds they refer to
                db.conn.executemany(f"DELETE FROM {table} WHERE trial_id = ? AND fold = ?", pairs)
            cursor = db.execute(
                "UPDATE trials SET status = 'pending', score = NULL, finished = NULL "
                "WHERE study_id = ? AND status = 'failed'",
                (study_id,),
            )
        return int(cursor.rowcount)

    def claim(
        self, study_id: int, limit: int, *, code_hash: str, data_hash: str, params_of: ParamsOf | None = None
    ) -> list[Claim]:
        """Atomically claim up to ``limit`` trials by number: stored pending ones, then new ones.

        Parameters
        ----------
        study_id : int
            The study (:attr:`StoredStudy.id`).
        limit : int
            At most this many trials.
        code_hash, data_hash : str
            Recorded on each claimed trial: what it is scored under.
        params_of : callable, optional
            ``number -> (params, seeds)`` (canonical JSON) of trials not yet stored
            (:mod:`~hptrack.store.claims`); without it only stored trials are claimed.

        Returns
        -------
        list of Claim
            By number; each with the folds already recorded (a resumed trial).
        """
        with self._transaction() as db:
            if params_of is not None:
                materialise(db.conn, study_id, limit, params_of, scan_gaps=study_id not in self._scanned)
                self._scanned.add(study_id)
            rows = claim_pending(
                db.conn,
                study_id,
                limit,
                host=self._host,
                pid=self._pid,
                run_id=self._run_id,
                code_hash=code_hash,
                data_hash=data_hash,
            )
        done = reads.folds_done(self._conn, [trial_id for trial_id, _, _ in rows])
        return [
            Claim(trial_id, number, params, frozenset(done.get(trial_id, ())))
            for trial_id, number, params in rows
        ]

    def trials_between(
        self, study_id: int, first: int, stop: int
    ) -> tuple[dict[int, tuple[int, str, str]], dict[tuple[int, int], FoldRecord]]:
        """Trials ``first <= number < stop``: ``number -> (id, params, status)``, and their
        recorded folds, ``(number, fold) -> FoldRecord`` (failed ones too; two queries)."""
        return reads.trials_between(self._conn, study_id, first, stop)

    def add_trials(
        self,
        study_id: int,
        first: int,
        params: list[str],
        seeds: list[str],
        rungs: list[tuple[int, int]] | None = None,
    ) -> None:
        """Add pending trials numbered from ``first`` (canonical JSON params and seeds); numbers
        already stored are left as they are (a search that asks for more candidates).
        ``rungs``: each trial's ``(rung, resource)`` in a successive-halving study."""
        with self._transaction() as db:
            add_trials(db.conn, study_id, first, params, seeds, rungs)

    def reusable_folds(self, keys: Iterable[str]) -> dict[str, list[ReusableFold]]:
        """Successful stored folds with these content keys, in any study (:mod:`.fold_keys`)."""
        return fold_keys.reusable_folds(self._conn, keys)

    def keyed_folds(self, keys: Mapping[tuple[int, int], str]) -> set[tuple[int, int]]:
        """Of these ``(trial_id, fold) -> content key`` pairs, those stored under that very key."""
        return fold_keys.keyed_folds(self._conn, keys)

    def commit_fold(self, trial_id: int, result: FoldRecord, *, n_folds: int, rank_metric: str) -> str | None:
        """Write one fold and its scores in one transaction.

        After the trial's last fold, the same transaction marks it ``complete`` (or
        ``failed`` if any fold failed) and stores its ranking score. Returns the trial's
        new status when it finished, else None. A fold already recorded is left as is.
        A fold whose fit succeeded but one scorer failed (``result.score_errors``) is not
        a failed fold: that metric holds ``error_score`` (NaN by default, so a failed
        ranking metric leaves the trial ``complete`` but unranked).
        """
        return self.commit_folds([(trial_id, result)], n_folds=n_folds, rank_metric=rank_metric)[0]

    def commit_folds(
        self, folds: list[tuple[int, FoldRecord]], *, n_folds: int, rank_metric: str
    ) -> list[str | None]:
        """:meth:`commit_fold` for ``(trial_id, fold)`` pairs, in one transaction.

        Returns, per pair, the trial's new status at its last pair when the batch finished
        it, else None. The folds go in first, then each trial they touched is finished
        once, and the run's counters move once: a batch of quick folds costs one write of a
        few statements (:func:`~hptrack.store.commits.commit_fold_batch`). ``rank_metric``
        is the study's first metric, whose scores the fold rows hold.
        """
        if not folds:
            return []
        with self._transaction() as db:
            return commit_fold_batch(db.conn, folds, now=now_us(), run_id=self._run_id, n_folds=n_folds)

    def release(self, trial_ids: Iterable[int]) -> None:
        """Return this process's unfinished claims to ``pending`` (Ctrl-C, errors)."""
        ids = list(trial_ids)
        if not ids:
            return
        with self._transaction() as db:
            db.conn.executemany(
                "UPDATE trials SET status = 'pending', host = NULL, pid = NULL "
                "WHERE id = ? AND status = 'running'",
                [(trial_id,) for trial_id in ids],
            )

    def fail(self, trial_id: int) -> None:
        """Mark a running trial ``failed`` now (``error_score="raise"``: the run stops).

        Its recorded folds are kept; ``--retry-failed`` re-runs the failed ones.
        """
        with self._transaction() as db:
            cursor = db.conn.execute(
                "UPDATE trials SET status = 'failed', score = NULL, finished = ?, heartbeat = NULL, "
                "pid = NULL WHERE id = ? AND status = 'running'",
                (now_us(), trial_id),
            )
            if cursor.rowcount and self._run_id is not None:
                db.conn.execute("UPDATE runs SET trials = trials + 1 WHERE id = ?", (self._run_id,))

    def heartbeat_thread(self, interval: float = HEARTBEAT_SECONDS) -> Heartbeat:
        """A started :class:`Heartbeat` refreshing this process's claims every ``interval`` s.

        It keeps a long fold's trial from looking abandoned to coordinators on other
        hosts (which go by the heartbeat, not the process table). Call ``stop()``.
        """
        beat = Heartbeat(self.path, self._host, self._pid, interval)
        beat.start()
        return beat

    def heartbeat(self) -> None:
        """Refresh the heartbeat of every trial this process is running."""
        db = self._writer()
        db.execute(
            "UPDATE trials SET heartbeat = ? WHERE status = 'running' AND host = ? AND pid = ?",
            (utcnow(), self._host, self._pid),
        )

    # ------------------------------------------------------------------ history

    def start_run(self, study_id: int, command: str) -> int:
        """Record that this process starts working on a study; return the run's id.

        The row names the command line, user, host, pid and hptrack version; it stays
        unfinished (``finished``/``exit`` NULL) until :meth:`finish_run`.
        """
        with self._transaction() as db:
            return history.insert_run(db.conn, study_id, command, host=self._host, pid=self._pid)

    def finish_run(self, run_id: int, exit_code: int) -> None:
        """Record a run's end and exit code (0 success, 1 failed check or error, 2 bad input, 130)."""
        with self._transaction() as db:
            history.finish_run(db.conn, run_id, exit_code)

    def count_prefix_fits(self, fitted: int, reused: int) -> None:
        """Add pipeline prefix step fits done (``fitted``) and saved by the cache (``reused``) to the
        counters of the run being recorded; a no-op outside :meth:`run_record`, read-only, or for 0, 0."""
        if self._run_id is not None and self._db is not None and (fitted or reused):
            with self._transaction() as db:
                history.add_prefix_fits(db.conn, self._run_id, fitted=fitted, reused=reused)

    @contextmanager
    def run_record(self, study_id: int, command: str) -> Iterator[RunHandle]:
        """Record the work done inside the block as one run of study ``study_id``.

        Trials claimed and folds committed inside it name the run, which counts them; a
        heartbeat thread keeps its row fresh. On leaving, the run is finished with the
        exit code of the exception that ended it (:func:`exit_code_of`: 2 for an
        :class:`~hptrack.HptrackError`, 130 for ``KeyboardInterrupt``, 1 for anything
        else), or with ``handle.exit`` (0 unless set, e.g. to 1 for a failed check). A
        process that dies inside the block leaves the run unfinished: the history shows
        it as died. On a read-only store nothing is recorded (``handle.id`` is None).

        Examples
        --------
        >>> with writer.run_record(study.id, "hptrack verify digits") as run:  # doctest: +SKIP
        ...     run.exit = 0 if verify_study(store, "digits").ok else 1
        """
        if self._db is None:
            yield RunHandle(None)
            return
        handle = RunHandle(self.start_run(study_id, command))
        previous, self._run_id = self._run_id, handle.id
        beat = Heartbeat(self.path, self._host, self._pid, HEARTBEAT_SECONDS, run_id=handle.id)
        beat.start()
        ended: BaseException | None = None
        try:
            yield handle
        except BaseException as exc:
            ended = exc
            raise
        finally:
            beat.stop()
            self._run_id = previous
            assert handle.id is not None
            code = exit_code_of(ended) if ended is not None else handle.exit
            try:
                self.finish_run(handle.id, code)
            except (sqlite3.Error, StoreError):
                if ended is None:
                    raise
                # the store failed along with the work: keep the original error; the run
                # shows as died

    # ------------------------------------------------------------------ merging

    def merge_study(
        self, dump: StudyDump, *, name: str, source: str | None = None, command: str | None = None
    ) -> MergeOutcome:
        """Merge another store's rows of a study (``Study.dump()``) into study ``name`` here.

        All in one transaction. A study absent here is copied whole under ``name``
        (``running`` trials become ``pending``, their finished folds kept). Into a present
        study (the caller has checked it is the same study: same spec, data and splits)
        each trial gains the folds it lacks, and turns ``complete`` (or ``failed``) when
        its last fold arrives. A fold recorded on both sides with different results is a
        conflict: it is returned, and that trial is left exactly as it is here. Nothing
        already here is ever overwritten, so merging again changes nothing.

        The source's runs (its history) are copied once, ``origin`` naming ``source``
        (a run is the same run when its host, pid, start and command are), and the
        copied trials and folds name their runs here. With ``command``, a merge that
        wrote anything (or found a conflict: exit 1) is itself recorded as a run.
        """
        with self._transaction() as db:
            return merge_study_rows(
                db.conn, dump, name=name, source=source, command=command, host=self._host, pid=self._pid
            )


_CLOSED = sqlite3.connect(":memory:", check_same_thread=False)
_CLOSED.close()  # what a closed writer holds: any use raises ProgrammingError, as a closed connection does


def _shared_seed(record: StudyRecord) -> str | None:
    """The seeds a study's trials share (its first trial's), stored once in ``studies.trial_seed``."""
    if record.trial_seed is not None:
        return record.trial_seed
    return record.trial_seeds[0] if record.trial_seeds else None
