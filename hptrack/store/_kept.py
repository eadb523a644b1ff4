"""Stores a process writes many times: a held connection, parked writer connections, a deferred checkpoint.

A drop-in search inside nested cross-validation opens a :class:`~hptrack.store.Writer`
per small fit. Three costs would repeat on every fit:

- the last connection to close a WAL-mode file checkpoints it and deletes its ``-wal``,
  and the next writer recreates and syncs it;
- a new connection sets its pragmas and parses the schema before its first statement;
- the checkpoint that puts a writer's commits into the store file itself (an ``fsync``
  of the file) would run on every close, on the caller's thread.

:func:`keep_wal_open` holds one idle connection to such a store until the process exits.
A closing writer then parks its connection (:func:`park`) for the next writer of the
process to take up (:func:`reopen`), and its closing checkpoint (:func:`checkpoint`) runs
on a background thread once writers have been quiet for :data:`CHECKPOINT_DELAY` seconds
(and at exit, when the held connections close). Commits are durable in the WAL from the
moment they are made, and every SQLite reader sees them; the store file alone holds them
all a fraction of a second after the last fit. A store file replaced since it was kept
(another inode at the path) is kept afresh: nothing parked on the old file is handed out.
"""

from __future__ import annotations

import atexit
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from ._sqlite import file_identity

CHECKPOINT_DELAY = 0.25
"""Seconds without a writer closing before a kept store is checkpointed in the background."""
MAX_PARKED = 2
"""Writer connections parked per kept store (more are closed): nested searches open at most a few at once."""


class _Kept:
    """The held connection of one store and the thread that checkpoints it when writers go quiet."""

    def __init__(self, path: str) -> None:
        self.conn: sqlite3.Connection | None = sqlite3.connect(path, check_same_thread=False)
        self.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # opens the file and its WAL index
        self.pid = os.getpid()
        self.identity = file_identity(path)
        self.parked: list[tuple[Any, Any]] = []  # writer connections and their sqlite-utils Databases
        self.due: float | None = None
        self.wake = threading.Condition()
        self.using = threading.Lock()  # the held connection: one thread at a time
        self.thread: threading.Thread | None = None

    def request(self) -> None:
        """Checkpoint after :data:`CHECKPOINT_DELAY` seconds with no further request."""
        with self.wake:
            idle, self.due = self.due is None, time.monotonic() + CHECKPOINT_DELAY
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="hptrack-checkpoint", daemon=True)
                self.thread.start()
            elif idle:  # else the thread wakes at the earlier due time and waits for the rest:
                self.wake.notify()  # no wake-up (and GIL hand-over) per fit of a nested search

    def _run(self) -> None:
        while True:
            with self.wake:
                if self.conn is None:
                    return
                if self.due is None or (delay := self.due - time.monotonic()) > 0:
                    self.wake.wait(None if self.due is None else delay)
                    continue
                self.due = None
            with self.using:  # not under ``wake``: a writer closing meanwhile does not wait for the fsync
                if self.conn is not None:
                    _passive_checkpoint(self.conn)

    def live(self, path: str) -> bool:
        """Whether this is the kept store of this process and still the file at ``path``."""
        return self.pid == os.getpid() and self.conn is not None and self.identity == file_identity(path)

    def close(self) -> None:
        """Close the parked connections, then the held one, checkpointing what is still due."""
        with self.wake:
            conn, self.conn = self.conn, None
            due, self.due = self.due, None
            parked, self.parked = self.parked, []
            self.wake.notify()
        for writer_conn, _ in parked:
            writer_conn.close()
        if conn is not None:
            with self.using:
                if due is not None:
                    _passive_checkpoint(conn)
                conn.close()


_KEPT: dict[str, _Kept] = {}


def keep_wal_open(path: Path) -> None:
    """Hold one idle connection to the store at ``path`` until this process exits.

    The held connection never holds a transaction, so it blocks no checkpoint.
    """
    if _live(path) is None:  # a forked child does not share its parent's thread; a new file is kept anew
        key = os.path.realpath(path)
        stale = _KEPT.get(key)
        if stale is not None and stale.pid == os.getpid():
            stale.close()
        _KEPT[key] = _Kept(key)


def reopen(path: Path) -> tuple[Any, Any] | None:
    """A writer connection (and its sqlite-utils Database) parked on the kept store at ``path``, or None.

    It was opened and checked by :func:`~hptrack.store._sqlite.open_writable` on this very
    file, with its pragmas set and its schema read; it is outside any transaction.
    """
    kept = _live(path)
    if kept is None:
        return None
    with kept.wake:
        return kept.parked.pop() if kept.parked else None


def park(path: Path, conn: sqlite3.Connection, db: Any) -> bool:
    """Park a closing writer's connection on the kept store at ``path``; False if it must be closed.

    A parked connection's commits are checkpointed as :func:`checkpoint` does.
    """
    kept = _live(path)
    if kept is None or conn.in_transaction:
        return False
    with kept.wake:
        if len(kept.parked) >= MAX_PARKED:
            return False
        kept.parked.append((conn, db))
    kept.request()
    return True


def checkpoint(conn: sqlite3.Connection, path: Path) -> None:
    """Put ``conn``'s commits into the store file: now, or soon on a kept store's own thread."""
    kept = _live(path)
    if kept is not None:
        kept.request()
    else:
        _passive_checkpoint(conn)


def _live(path: Path) -> _Kept | None:
    """The kept store of this process at ``path``, if it is still the file there."""
    key = os.path.realpath(path)
    kept = _KEPT.get(key)
    return kept if kept is not None and kept.live(key) else None


def _passive_checkpoint(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    except sqlite3.Error:  # another process is checkpointing: it will finish the job
        pass


@atexit.register
def _close_kept() -> None:
    for kept in _KEPT.values():
        if kept.pid == os.getpid():
            kept.close()
    _KEPT.clear()
