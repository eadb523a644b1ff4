"""Run history helpers: timestamps, heartbeats, leases, exit codes, command lines, and the
pipeline prefix counters of runs (added to by the writer, summed for ``show``).

A coordinator's running trials and its run row (``runs``) carry a heartbeat, refreshed
by a :class:`Heartbeat` (one thread per process, a connection per beat). A worker that
left no end behind is dead when its process is gone from this host or its heartbeat is
older than the lease (:func:`worker_gone`): its trials are resumable and its run shows
as died.
"""

from __future__ import annotations

import datetime as _dt
import functools
import math
import os
import shlex
import socket
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from .._version import __version__
from ..errors import HptrackError
from ._sqlite import BUSY_TIMEOUT_SECONDS

HEARTBEAT_SECONDS = 30.0  # a coordinator refreshes its running trials this often
LEASE_SECONDS = 300.0  # a trial of another host with no heartbeat for this long is abandoned


def utcnow() -> str:
    """The current UTC time, ISO-8601 with microseconds."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")


class Heartbeat:
    """Refreshes the heartbeat of one process's running trials every ``interval`` seconds.

    Given ``run_id``, it refreshes that run's row in ``runs`` instead (the history's
    sign of life for a run on another host). All the heartbeats of a process share one
    daemon thread, which opens a connection to the store only to beat: starting and
    stopping one (once per drop-in fit) costs no thread and no connection.
    """

    def __init__(self, path: Path, host: str, pid: int, interval: float, run_id: int | None = None) -> None:
        self._path, self._host, self._pid, self._interval = path, host, pid, interval
        self._run_id = run_id

    def start(self) -> None:
        """Beat every ``interval`` seconds from now on, until :meth:`stop`."""
        _beats().add(self, self._interval)

    def stop(self) -> None:
        """Stop beating; a beat in progress finishes first (waiting up to 5 s for it)."""
        _beats().remove(self)

    def beat(self) -> None:
        """Refresh once, on a connection of its own; a busy or vanished store skips the beat."""
        try:
            conn = sqlite3.connect(str(self._path), timeout=BUSY_TIMEOUT_SECONDS)
        except sqlite3.Error:
            return
        try:
            with conn:
                if self._run_id is not None:
                    conn.execute("UPDATE runs SET heartbeat = ? WHERE id = ?", (utcnow(), self._run_id))
                else:
                    conn.execute(
                        "UPDATE trials SET heartbeat = ? WHERE status = 'running' AND host = ? AND pid = ?",
                        (utcnow(), self._host, self._pid),
                    )
        except sqlite3.Error:  # busy for a minute, or the store went away: skip a beat
            pass
        finally:
            conn.close()


class _Beats:
    """The one thread of a process that runs every started :class:`Heartbeat` when it is due."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.due: dict[Heartbeat, float] = {}  # started heartbeats: when each beats next
        self.beating: set[Heartbeat] = set()
        self.wake = threading.Condition()
        self.thread: threading.Thread | None = None
        self.asleep_until = math.inf  # when the thread wakes next, unless notified

    def add(self, beat: Heartbeat, interval: float) -> None:
        with self.wake:
            due = self.due[beat] = time.monotonic() + interval
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="hptrack-heartbeat", daemon=True)
                self.thread.start()
            elif due < self.asleep_until:  # else it wakes in time: no wake-up (and GIL hand-over)
                self.wake.notify()  # per fit of a nested search

    def remove(self, beat: Heartbeat) -> None:
        deadline = time.monotonic() + 5.0  # a beat waiting on a busy store does not hold its caller longer
        with self.wake:
            self.due.pop(beat, None)
            while beat in self.beating and (left := deadline - time.monotonic()) > 0:
                self.wake.wait(left)  # its last beat lands before the caller's next write

    def _run(self) -> None:
        while True:
            with self.wake:
                now = time.monotonic()
                ready = [beat for beat, due in self.due.items() if due <= now]
                if not ready:  # idle, it looks again every HEARTBEAT_SECONDS (a new beat is due no sooner)
                    self.asleep_until = min(self.due.values()) if self.due else now + HEARTBEAT_SECONDS
                    self.wake.wait(self.asleep_until - now)
                    continue
                for beat in ready:
                    self.due[beat] = now + beat._interval
                self.beating.update(ready)
            try:
                for beat in ready:
                    beat.beat()
            finally:
                with self.wake:
                    self.beating.difference_update(ready)
                    self.wake.notify_all()


_BEATS: _Beats | None = None


def _beats() -> _Beats:
    """This process's heartbeat thread (a forked child gets its own)."""
    global _BEATS
    if _BEATS is None or _BEATS.pid != os.getpid():
        _BEATS = _Beats()
    return _BEATS


def insert_run(conn: sqlite3.Connection, study_id: int, command: str, *, host: str, pid: int) -> int:
    """Add an unfinished run of ``study_id`` by this user and process; return its id.

    Runs inside the caller's transaction.
    """
    now = utcnow()
    cursor = conn.execute(
        "INSERT INTO runs (study_id, command, user, host, pid, version, started, heartbeat) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (study_id, command, current_user(), host, pid, hptrack_version(), now, now),
    )
    return int(cursor.lastrowid or 0)


def finish_run(conn: sqlite3.Connection, run_id: int, exit_code: int) -> None:
    """Record a run's end and exit code, now (inside the caller's transaction)."""
    now = utcnow()
    conn.execute(
        "UPDATE runs SET finished = ?, exit = ?, heartbeat = ? WHERE id = ?",
        (now, int(exit_code), now, run_id),
    )


def add_prefix_fits(conn: sqlite3.Connection, run_id: int, *, fitted: int, reused: int) -> None:
    """Add to run ``run_id``'s pipeline prefix counters, inside the caller's transaction."""
    conn.execute(
        "UPDATE runs SET prefix_fitted = prefix_fitted + ?, prefix_reused = prefix_reused + ? WHERE id = ?",
        (int(fitted), int(reused), run_id),
    )


def prefix_fit_totals(conn: sqlite3.Connection, study_id: int) -> tuple[int, int]:
    """The pipeline prefix fits a study's runs did and reused from the cache, summed (one indexed read)."""
    fitted, reused = conn.execute(
        "SELECT coalesce(sum(prefix_fitted), 0), coalesce(sum(prefix_reused), 0) FROM runs "
        "WHERE study_id = ?",
        (study_id,),
    ).fetchone()
    return int(fitted), int(reused)


def process_alive(pid: int) -> bool:
    """True unless process ``pid`` of this host has exited (a zombie counts as exited)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie has exited: it will never finish its trial
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def worker_gone(
    host: str | None, pid: int | None, heartbeat: str | None, *, lease_seconds: float = LEASE_SECONDS
) -> bool:
    """True when a process that left no end behind is dead (as :meth:`Writer.recover_abandoned` decides).

    Dead: its pid is not alive on this host, or its heartbeat is older than the lease.
    """
    if host == socket.gethostname() and pid is not None and pid != os.getpid() and not process_alive(pid):
        return True
    if heartbeat is None:
        return True
    age = _dt.datetime.now(_dt.timezone.utc) - _dt.datetime.fromisoformat(heartbeat)
    return age.total_seconds() > lease_seconds


def exit_code_of(exc: BaseException | None) -> int:
    """The exit code a command ends with: 0, 1 a failed check or error, 2 bad input, 130 interrupted."""
    if exc is None:
        return 0
    if isinstance(exc, KeyboardInterrupt):
        return 130
    if isinstance(exc, HptrackError):
        return 2
    if isinstance(exc, SystemExit):
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 1


def command_line(argv: Sequence[str]) -> str:
    """A command line as a shell would take it (``shlex.join``)."""
    return shlex.join(str(arg) for arg in argv)


def current_user() -> str | None:
    """The login name recorded with a run (``uid N`` in a bare container)."""
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no USER/LOGNAME and no passwd entry (a bare container)
        uid = getattr(os, "getuid", None)
        return f"uid {uid()}" if uid is not None else None


@functools.lru_cache(maxsize=1)
def hptrack_version() -> str:
    """The hptrack version recorded with a run (read from the metadata once per process)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hptrack")
    except PackageNotFoundError:  # run from a source tree
        return __version__
