"""One idle connection per store a process writes many times, and its deferred checkpoint.

A drop-in search inside nested cross-validation opens a :class:`~hptrack.store.Writer`
per small fit. Two costs would repeat on every fit:

- the last connection to close a WAL-mode file checkpoints it and deletes its ``-wal``,
  and the next writer recreates and syncs it;
- the checkpoint that puts a writer's commits into the store file itself (an ``fsync``
  of the file) would run on every close, on the caller's thread.

:func:`keep_wal_open` holds one idle connection to such a store until the process exits,
and :func:`checkpoint` then defers a writer's closing checkpoint to a background thread
that runs it once writers have been quiet for :data:`CHECKPOINT_DELAY` seconds (and at
exit, when the held connection closes). Commits are durable in the WAL from the moment
they are made, and every SQLite reader sees them; the store file alone holds them all a
fraction of a second after the last fit.
"""

from __future__ import annotations

import atexit
import os
import sqlite3
import threading
import time
from pathlib import Path

CHECKPOINT_DELAY = 0.25
"""Seconds without a writer closing before a kept store is checkpointed in the background."""


class _Kept:
    """The held connection of one store and the thread that checkpoints it when writers go quiet."""

    def __init__(self, path: str) -> None:
        self.conn: sqlite3.Connection | None = sqlite3.connect(path, check_same_thread=False)
        self.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # opens the file and its WAL index
        self.pid = os.getpid()
        self.due: float | None = None
        self.wake = threading.Condition()
        self.using = threading.Lock()  # the held connection: one thread at a time
        self.thread: threading.Thread | None = None

    def request(self) -> None:
        """Checkpoint after :data:`CHECKPOINT_DELAY` seconds with no further request."""
        with self.wake:
            self.due = time.monotonic() + CHECKPOINT_DELAY
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="hptrack-checkpoint", daemon=True)
                self.thread.start()
            self.wake.notify()

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

    def close(self) -> None:
        """Close the held connection, checkpointing what is still due."""
        with self.wake:
            conn, self.conn = self.conn, None
            due, self.due = self.due, None
            self.wake.notify()
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
    key = os.path.realpath(path)
    kept = _KEPT.get(key)
    if kept is None or kept.pid != os.getpid():  # a forked child does not share its parent's thread
        _KEPT[key] = _Kept(key)


def checkpoint(conn: sqlite3.Connection, path: Path) -> None:
    """Put ``conn``'s commits into the store file: now, or soon on a kept store's own thread."""
    kept = _KEPT.get(os.path.realpath(path))
    if kept is not None and kept.pid == os.getpid() and kept.conn is not None:
        kept.request()
    else:
        _passive_checkpoint(conn)


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
