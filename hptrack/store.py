"""The store: one SQLite file holding studies, trials, folds and scores.

:class:`Store` opens, creates, upgrades or refuses a file, and is the only writer:
trials are claimed atomically, each fold's scores commit in their own transaction,
and a trial turns ``complete`` in the same transaction as its last fold. Before any
write the file is checked (SQLite? an hptrack store? a newer schema?) so that a
refused file stays byte-identical. Reads (:mod:`hptrack.query`) run on a plain
``sqlite3`` connection, opened read-only for query commands.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shlex
import socket
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._json import canonical_json
from .errors import HptrackError, StoreError
from .schema import APPLICATION_TABLES, SCHEMA_VERSION, newer_error, upgrade

if TYPE_CHECKING:
    from .query import Study, StudySummary

DEFAULT_STORE = "hptrack.db"
_SQLITE_HEADER = b"SQLite format 3\x00"
BUSY_TIMEOUT_SECONDS = 60.0
_CANDIDATES_PER_KEY = 4  # stored folds offered per fold key (originals first)
QUICK_CHECK_MAX_BYTES = 16 * 2**20  # larger stores rely on the header check and query-time errors
HEARTBEAT_SECONDS = 30.0  # a coordinator refreshes its running trials this often
LEASE_SECONDS = 300.0  # a trial of another host with no heartbeat for this long is abandoned
_CHUNK = 500  # bound parameters per IN (...) list


def default_store_path() -> Path:
    """``$HPTRACK_STORE`` if set, else ``./hptrack.db``."""
    return Path(os.environ.get("HPTRACK_STORE") or DEFAULT_STORE)


def utcnow() -> str:
    """The current UTC time, ISO-8601 with microseconds."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class StudyRecord:
    """Everything written when a study is created."""

    name: str
    search: str
    n_folds: int
    metrics: list[str]
    seed: int
    spec: dict[str, Any]
    code_hash: str
    code: dict[str, Any]
    data_hash: str
    data: list[dict[str, Any]]
    split_hash: str
    provenance: dict[str, Any]
    trial_params: list[str]  # canonical JSON of each trial's params, by number
    trial_seeds: list[str]  # canonical JSON of each trial's seeds, by number
    scorers: dict[str, str | None] = field(default_factory=dict)  # metric -> scorer identity


@dataclass(frozen=True)
class StoredStudy:
    """The stored identity of a study: what a resume is checked against."""

    id: int
    name: str
    spec: dict[str, Any]
    code_hash: str
    code: dict[str, Any]
    data_hash: str
    split_hash: str
    n_trials: int
    n_folds: int
    metrics: list[str]
    provenance: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FoldRecord:
    """One fold's outcome, as the coordinator commits it."""

    fold: int
    test: dict[str, float]
    train: dict[str, float] | None
    fit_time: float
    score_time: float
    error: str | None = None
    fold_key: str | None = None  # content key (identity.fold_key): what reuse looks up
    origin: dict[str, Any] | None = None  # a reused result: {"study", "trial", "fold"} it copies
    # metric -> traceback of a scorer that failed on a fold whose fit succeeded: that metric
    # holds error_score, the fold is not failed (``folds.score_errors``, canonical JSON)
    score_errors: dict[str, str] | None = None


@dataclass(frozen=True)
class ReusableFold:
    """A successful stored fold found by its key: the scores a copy would carry."""

    fold_key: str
    study: str
    trial: int
    fold: int
    origin: dict[str, Any]  # where the result was fitted: this fold, or the one it copies
    fit_time: float | None
    score_time: float | None
    test: dict[str, float | None]
    train: dict[str, float | None]
    scorers: dict[str, str | None]  # the stored study's scorer identity per metric


class _Heartbeat(threading.Thread):
    """Refreshes the heartbeat of one process's running trials, on its own connection.

    Given ``run_id``, it refreshes that run's row in ``runs`` instead (the history's
    sign of life for a run on another host).
    """

    def __init__(self, path: Path, host: str, pid: int, interval: float, run_id: int | None = None) -> None:
        super().__init__(name="hptrack-heartbeat", daemon=True)
        self._path, self._host, self._pid, self._interval = path, host, pid, interval
        self._run_id = run_id
        self._stopped = threading.Event()

    def run(self) -> None:
        try:
            conn = sqlite3.connect(str(self._path), timeout=BUSY_TIMEOUT_SECONDS)
        except sqlite3.Error:
            return
        try:
            while not self._stopped.wait(self._interval):
                try:
                    with conn:
                        if self._run_id is not None:
                            beat = (utcnow(), self._run_id)
                            conn.execute("UPDATE runs SET heartbeat = ? WHERE id = ?", beat)
                            continue
                        conn.execute(
                            "UPDATE trials SET heartbeat = ? WHERE status = 'running' "
                            "AND host = ? AND pid = ?",
                            (utcnow(), self._host, self._pid),
                        )
                except sqlite3.Error:  # busy for a minute, or the store went away: skip a beat
                    continue
        finally:
            conn.close()

    def stop(self) -> None:
        self._stopped.set()
        self.join(timeout=5)


def _process_alive(pid: int) -> bool:
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
    """True when a process that left no end behind is dead (as :meth:`Store.recover_abandoned` decides).

    Dead: its pid is not alive on this host, or its heartbeat is older than the lease.
    """
    if host == socket.gethostname() and pid is not None and pid != os.getpid() and not _process_alive(pid):
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


def _current_user() -> str | None:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no USER/LOGNAME and no passwd entry (a bare container)
        uid = getattr(os, "getuid", None)
        return f"uid {uid()}" if uid is not None else None


def _hptrack_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hptrack")
    except PackageNotFoundError:  # run from a source tree
        from . import __version__

        return __version__


class RunHandle:
    """The run a :meth:`Store.run_record` block records; set ``exit`` for a failed check (1).

    ``id`` is None when the store was opened read-only: nothing is recorded.
    """

    def __init__(self, run_id: int | None) -> None:
        self.id = run_id
        self.exit = 0

    def __repr__(self) -> str:
        return f"RunHandle(id={self.id!r}, exit={self.exit!r})"


def _error_name(exc: sqlite3.Error) -> str:
    """SQLite's name for an error (``SQLITE_CORRUPT``...), guessed from the text before 3.11."""
    name = getattr(exc, "sqlite_errorname", None)
    if name:
        return str(name)
    text = str(exc)
    for fragment, guess in (
        ("malformed", "SQLITE_CORRUPT"),
        ("not a database", "SQLITE_NOTADB"),
        ("disk I/O error", "SQLITE_IOERR"),
        ("unable to open", "SQLITE_CANTOPEN"),
        ("readonly", "SQLITE_READONLY"),
        ("locked", "SQLITE_BUSY"),
    ):
        if fragment in text:
            return guess
    return "SQLITE_ERROR"


def _cannot_open_writably(exc: sqlite3.Error) -> bool:
    """True for the errors of read-only files, directories and media (not for a busy store)."""
    return _error_name(exc).startswith(("SQLITE_CANTOPEN", "SQLITE_READONLY", "SQLITE_IOERR"))


def _has_frames(wal: Path) -> bool:
    """True if a ``-wal`` file holds frames (more than its 32-byte header)."""
    try:
        return wal.stat().st_size > 32
    except OSError:
        return False


def _corrupt_error(path: Path, detail: object) -> StoreError:
    return StoreError(
        f"{path} is corrupt ({detail}); restore it from a backup or give another --store "
        "path; the file was not changed"
    )


def _translate(path: Path, exc: sqlite3.Error) -> StoreError | None:
    """A damaged file met in the middle of a query becomes a one-line StoreError."""
    name = _error_name(exc)
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        return StoreError(f"{path} is corrupt ({exc}); restore it from a backup or give another --store path")
    if name.startswith("SQLITE_IOERR"):
        return StoreError(f"cannot read store {path} ({exc}); check the disk and the file")
    return None


class _Cursor(sqlite3.Cursor):
    """A cursor whose corruption and I/O errors are StoreErrors naming the file.

    Other errors propagate unchanged (and with no reference cycle, which would keep the
    cursor, hence the connection, open and its ``-wal`` file on disk until a GC pass).
    """

    connection: _Connection

    def _translated(self, exc: sqlite3.Error) -> None:
        error = _translate(self.connection.store_path, exc)
        if error is not None:
            raise error from exc

    def execute(self, sql: str, parameters: Any = (), /) -> _Cursor:
        try:
            return super().execute(sql, parameters)  # type: ignore[return-value]
        except sqlite3.DatabaseError as exc:
            self._translated(exc)
            raise

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> _Cursor:
        try:
            return super().executemany(sql, seq_of_parameters)  # type: ignore[return-value]
        except sqlite3.DatabaseError as exc:
            self._translated(exc)
            raise

    def executescript(self, sql_script: str, /) -> _Cursor:
        try:
            return super().executescript(sql_script)  # type: ignore[return-value]
        except sqlite3.DatabaseError as exc:
            self._translated(exc)
            raise

    def fetchone(self) -> Any:
        try:
            return super().fetchone()
        except sqlite3.DatabaseError as exc:
            self._translated(exc)
            raise

    def fetchmany(self, size: int | None = None) -> list[Any]:
        try:
            return super().fetchmany(self.arraysize if size is None else size)
        except sqlite3.DatabaseError as exc:
            self._translated(exc)
            raise

    def fetchall(self) -> list[Any]:
        try:
            return super().fetchall()
        except sqlite3.DatabaseError as exc:
            self._translated(exc)
            raise

    def __next__(self) -> Any:
        try:
            return super().__next__()
        except sqlite3.DatabaseError as exc:
            self._translated(exc)
            raise


class _Connection(sqlite3.Connection):
    """A connection that remembers its store file and hands out :class:`_Cursor`\\ s."""

    store_path: Path

    def cursor(self, factory: Any = None) -> Any:  # type: ignore[override]
        return super().cursor(factory or _Cursor)

    def execute(self, sql: str, parameters: Any = (), /) -> Any:  # type: ignore[override]
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> Any:  # type: ignore[override]
        return self.cursor().executemany(sql, parameters)

    def executescript(self, sql_script: str, /) -> Any:  # type: ignore[override]
        return self.cursor().executescript(sql_script)


def _connect(path: Path, target: str, *, uri: bool) -> _Connection:
    conn = sqlite3.connect(target, uri=uri, timeout=BUSY_TIMEOUT_SECONDS, factory=_Connection)
    conn.store_path = path
    return conn


class Store:
    """An hptrack store: one SQLite file.

    Parameters
    ----------
    path : str or Path, optional
        The store file; default ``$HPTRACK_STORE``, else ``./hptrack.db``.
    readonly : bool, default=False
        Open for queries only: never creates, upgrades or writes the file, and works on
        read-only files and directories (falling back to SQLite's ``immutable=1``).

    Raises
    ------
    StoreError
        The file is not SQLite, not an hptrack store, corrupt, from a newer hptrack, or
        (read-only) does not exist. The file is left untouched, and no ``-wal`` or
        ``-shm`` file is left beside it.

    Examples
    --------
    >>> with Store("hptrack.db", readonly=True) as store:  # doctest: +SKIP
    ...     print(store.study("digits-svc").best().params)
    """

    def __init__(self, path: str | Path | None = None, *, readonly: bool = False) -> None:
        self.path = Path(path) if path is not None else default_store_path()
        self.readonly = readonly
        self._db: Any = None
        self._host = socket.gethostname()
        self._pid = os.getpid()
        self._run_id: int | None = None  # the run being recorded (run_record): claims and folds name it
        if readonly:
            self._conn = self._open_readonly()
        else:
            self._conn = self._open_writable()

    # ------------------------------------------------------------------ opening

    def _check_file(self) -> bytes:
        """Raise unless the path is absent, empty or an SQLite file; return its header.

        The header (the first 100 bytes; empty for an absent or zero-byte file) is
        checked for a sane page size and for truncation.
        """
        if self.path.is_dir():
            raise StoreError(
                f"store {str(self.path)!r} is a directory; give a file path such as "
                f"{str(self.path / DEFAULT_STORE)!r}"
            )
        if not self.path.exists():
            return b""
        try:
            with open(self.path, "rb") as handle:
                header = handle.read(100)
                size = os.fstat(handle.fileno()).st_size
        except OSError as exc:
            raise StoreError(
                f"cannot read store {str(self.path)!r}: {exc.strerror}; check its permissions"
            ) from exc
        if not header:
            return b""
        if not header.startswith(_SQLITE_HEADER):
            raise StoreError(
                f"{self.path} is not an SQLite file, so not an hptrack store; "
                "give another --store path; the file was not changed"
            )
        if len(header) < 100:
            raise _corrupt_error(self.path, f"truncated to {size} bytes")
        page_size = int.from_bytes(header[16:18], "big")
        page_size = 65536 if page_size == 1 else page_size
        if page_size < 512 or page_size & (page_size - 1):
            raise _corrupt_error(self.path, f"bad page size {page_size}")
        n_pages = int.from_bytes(header[28:32], "big")
        if n_pages and header[24:28] == header[92:96] and size < n_pages * page_size:
            raise _corrupt_error(
                self.path,
                f"{size} bytes, but its header records {n_pages} pages of {page_size} bytes: "
                "truncated or overwritten",
            )
        return header

    def _check_schema(self, conn: sqlite3.Connection) -> int:
        """Raise unless ``conn`` holds a sound hptrack store (or nothing); return its version."""
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            check = "ok"
            if self._size() <= QUICK_CHECK_MAX_BYTES:  # a full scan: ~5 ms per MB
                check = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            if _error_name(exc).startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB", "SQLITE_IOERR")):
                raise _corrupt_error(self.path, exc) from exc
            raise StoreError(
                f"cannot read store {self.path}: {exc}; try again; the file was not changed"
            ) from exc
        except StoreError as exc:  # a damaged file, translated by _Cursor
            raise _corrupt_error(self.path, exc.__cause__) from exc.__cause__
        if check != "ok":
            found = "; ".join(line.strip() for line in str(check).splitlines() if not line.startswith("***"))
            raise _corrupt_error(self.path, f"quick_check: {found}")
        if version == 0 and not tables:
            return 0  # an empty SQLite database: a new store
        if "studies" not in tables:
            raise self._foreign_error(tables)
        if version > SCHEMA_VERSION:
            raise newer_error(self.path, version)
        if version == 0 or not set(APPLICATION_TABLES) <= tables:
            raise self._foreign_error(tables)
        return version

    def _size(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def _foreign_error(self, tables: set[str]) -> StoreError:
        shown = sorted(tables)
        listed = ", ".join(shown[:8]) + (" ..." if len(shown) > 8 else "")
        return StoreError(
            f"{self.path} is an SQLite database but not an hptrack store (tables: "
            f"{listed or 'none'}); give another --store path; the file was not changed"
        )

    def _open_writable(self) -> sqlite3.Connection:
        header = self._check_file()
        if header:  # inspect read-only first: a refused file stays byte-identical
            probe = self._connect_readonly(header)
            try:
                self._check_schema(probe)
            finally:
                probe.close()
        elif not self.path.parent.is_dir():
            raise StoreError(
                f"cannot create store {str(self.path)!r}: directory "
                f"{str(self.path.parent)!r} does not exist; create it first or give "
                "another --store path"
            )
        from sqlite_utils import Database

        conn = None
        try:
            conn = _connect(self.path, str(self.path), uri=False)
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
            self._db = Database(conn, execute_plugins=False, recursive_triggers=False)
            self._db.enable_wal()
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            upgrade(self._db, self.path)
            # SQLite silently opens a file it may not write read-only: find out now, not
            # at the first trial
            conn.execute("BEGIN IMMEDIATE")
            try:  # rewrite the version as it is: a write that a read-only file refuses
                version = int(conn.execute("PRAGMA user_version").fetchone()[0])
                conn.execute(f"PRAGMA user_version = {version}")
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            hint = (
                "; check the permissions of the file and its directory (queries work read-only)"
                if _cannot_open_writably(exc)
                else ""
            )
            raise StoreError(f"cannot write store {self.path}: {exc}{hint}") from exc
        except BaseException:
            if conn is not None:
                conn.close()
            raise
        return conn

    def _connect_readonly(self, header: bytes) -> sqlite3.Connection:
        """A connection that never writes the file and leaves no new file beside it.

        A WAL-mode file with no ``-wal`` beside it has no open connection and holds
        every commit. Opened ``mode=ro`` SQLite would create ``-wal`` and ``-shm`` and,
        unable to checkpoint, leave them behind; so it is opened read-write with
        ``query_only``, whose close, as the last connection, removes them again. When
        the file or its directory is not writable it is read as ``immutable=1``. Any
        other file is opened ``mode=ro``, falling back to ``immutable=1`` on read-only
        media (where a ``-wal`` holding commits cannot be read: that is refused).
        """
        uri = self.path.resolve().as_uri()
        wal = Path(f"{self.path}-wal")
        wal_mode = header[18:20] == b"\x02\x02"
        if wal_mode and not wal.exists():
            writable = os.access(self.path, os.W_OK) and os.access(self.path.resolve().parent, os.W_OK)
            modes = ["mode=rw", "immutable=1"] if writable else ["immutable=1"]
        else:
            modes = ["mode=ro", "immutable=1"]
        for mode in modes:
            conn = _connect(self.path, f"{uri}?{mode}", uri=True)
            try:
                if mode == "mode=rw":
                    conn.execute("PRAGMA query_only = ON")
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except sqlite3.OperationalError as exc:
                conn.close()
                if mode == "immutable=1" or not _cannot_open_writably(exc):
                    raise StoreError(
                        f"cannot read store {self.path}: {exc}; check the file's permissions; "
                        "the file was not changed"
                    ) from exc
                if _has_frames(wal):
                    raise StoreError(
                        f"cannot read store {self.path}: its write-ahead log {wal.name} holds "
                        f"commits but cannot be opened here ({exc}); copy the store with its "
                        "-wal and -shm files to a writable directory"
                    ) from exc
                continue
            except StoreError as exc:  # a damaged file, translated by _Cursor
                conn.close()
                raise _corrupt_error(self.path, exc.__cause__) from exc.__cause__
            except BaseException:
                conn.close()
                raise
            return conn
        raise AssertionError("unreachable")  # pragma: no cover

    def _open_readonly(self) -> sqlite3.Connection:
        if not self.path.exists():
            raise StoreError(
                f"store {str(self.path)!r} does not exist; run `hptrack run SPEC --store "
                f"{self.path}` first, or pass --store / set HPTRACK_STORE"
            )
        header = self._check_file()
        if not header:
            raise StoreError(
                f"store {str(self.path)!r} is empty: it holds no studies yet; run "
                f"`hptrack run SPEC --store {self.path}` first"
            )
        conn = self._connect_readonly(header)
        try:
            version = self._check_schema(conn)
        except BaseException:
            conn.close()
            raise
        if version == 0:
            conn.close()
            raise StoreError(
                f"store {str(self.path)!r} is an empty SQLite database: it holds no "
                f"studies yet; run `hptrack run SPEC --store {self.path}` first"
            )
        # An older schema is read as it is (never upgraded by a query): the query layer
        # reads only columns that every schema version has.
        return conn

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "readonly" if self.readonly else "writable"
        return f"Store({str(self.path)!r}, {mode})"

    @property
    def connection(self) -> sqlite3.Connection:
        """The underlying ``sqlite3`` connection (for read-only SQL of your own)."""
        return self._conn

    def _writer(self) -> Any:
        if self._db is None:
            raise StoreError(f"store {self.path} was opened read-only")
        return self._db

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        """One write transaction that takes the write lock up front (``BEGIN IMMEDIATE``).

        A concurrent writer then makes it wait (busy timeout) rather than fail when a read
        in the transaction is followed by a write. Inside an open transaction it nests as
        a savepoint (``db.atomic()``).
        """
        db = self._writer()
        conn = db.conn
        if conn.in_transaction:
            with db.atomic():
                yield db
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield db
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    # ------------------------------------------------------------------ queries

    def studies(self) -> list[StudySummary]:
        """One summary per study, in creation order."""
        from .query import list_studies

        return list_studies(self._conn)

    def study(self, name: str) -> Study:
        """The study called ``name``.

        Raises
        ------
        StudyNotFoundError
            No such study (the message suggests close names).
        """
        from .query import Study

        return Study.load(self._conn, name, store_path=self.path)

    def stored_study(self, name: str) -> StoredStudy | None:
        """The stored identity of study ``name``, or None."""
        row = self._conn.execute(
            "SELECT id, name, spec, code_hash, code, data_hash, split_hash, n_trials, n_folds, "
            "metrics, provenance FROM studies WHERE name = ?",
            (name,),
        ).fetchone()
        if row is None:
            return None
        return StoredStudy(
            id=row[0],
            name=row[1],
            spec=json.loads(row[2]),
            code_hash=row[3],
            code=json.loads(row[4]),
            data_hash=row[5],
            split_hash=row[6],
            n_trials=row[7],
            n_folds=row[8],
            metrics=json.loads(row[9]),
            provenance=json.loads(row[10]),
        )

    def require_study(self, name: str) -> StoredStudy:
        """Like :meth:`stored_study`, raising :class:`StudyNotFoundError` when absent."""
        stored = self.stored_study(name)
        if stored is None:
            from .query import study_not_found

            raise study_not_found(self._conn, name, self.path)
        return stored

    # ------------------------------------------------------------------ writes

    def create_study(self, record: StudyRecord) -> StoredStudy:
        """Create a study and its pending trials in one transaction; return it.

        If another process created it first, the existing study is returned.
        """
        now = utcnow()
        with self._transaction() as db:
            if self.stored_study(record.name) is None:
                cursor = db.execute(
                    "INSERT INTO studies (name, search, n_trials, n_folds, metrics, seed, spec, "
                    "spec_hash, code_hash, code, data_hash, data, split_hash, provenance, created, "
                    "scorers) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        record.name,
                        record.search,
                        len(record.trial_params),
                        record.n_folds,
                        canonical_json(record.metrics),
                        record.seed,
                        canonical_json(record.spec),
                        _sha(canonical_json(record.spec)),
                        record.code_hash,
                        canonical_json(record.code),
                        record.data_hash,
                        canonical_json(record.data),
                        record.split_hash,
                        canonical_json(record.provenance),
                        now,
                        canonical_json(record.scorers),
                    ),
                )
                study_id = cursor.lastrowid
                db.conn.executemany(
                    "INSERT INTO trials (study_id, number, params, seed, status) "
                    "VALUES (?, ?, ?, ?, 'pending')",
                    (
                        (study_id, number, params, seeds)
                        for number, (params, seeds) in enumerate(zip(record.trial_params, record.trial_seeds))
                    ),
                )
        stored = self.stored_study(record.name)
        assert stored is not None
        return stored

    def recover_abandoned(self, study_id: int, *, lease_seconds: float = LEASE_SECONDS) -> list[int]:
        """Return trials left ``running`` by dead workers to ``pending``; list their numbers.

        A worker on this host is dead when its process is gone; a worker elsewhere when
        its heartbeat is older than ``lease_seconds``. Folds it committed are kept.
        """
        with self._transaction() as db:  # read and reset together: no live claim is lost
            rows = db.conn.execute(
                "SELECT id, number, host, pid, heartbeat FROM trials "
                "WHERE study_id = ? AND status = 'running' ORDER BY number",
                (study_id,),
            ).fetchall()
            now = _dt.datetime.now(_dt.timezone.utc)
            dead: list[tuple[int, int]] = []
            for trial_id, number, host, pid, heartbeat in rows:
                if host == self._host and pid is not None:
                    if pid != self._pid and not _process_alive(pid):
                        dead.append((trial_id, number))
                elif (
                    heartbeat is None
                    or (now - _dt.datetime.fromisoformat(heartbeat)).total_seconds() > lease_seconds
                ):
                    dead.append((trial_id, number))
            db.conn.executemany(
                "UPDATE trials SET status = 'pending', host = NULL, pid = NULL WHERE id = ?",
                [(trial_id,) for trial_id, _ in dead],
            )
        return [number for _, number in dead]

    def reset_failed(self, study_id: int) -> int:
        """Make failed trials pending again, dropping their failed folds; return how many."""
        with self._transaction() as db:
            failed = "SELECT id FROM trials WHERE study_id = ? AND status = 'failed'"
            db.execute(
                f"DELETE FROM scores WHERE (trial_id, fold) IN (SELECT trial_id, fold FROM folds "
                f"WHERE error IS NOT NULL AND trial_id IN ({failed}))",
                (study_id,),
            )
            db.execute(
                f"DELETE FROM folds WHERE error IS NOT NULL AND trial_id IN ({failed})",
                (study_id,),
            )
            cursor = db.execute(
                "UPDATE trials SET status = 'pending', score = NULL, finished = NULL "
                "WHERE study_id = ? AND status = 'failed'",
                (study_id,),
            )
        return int(cursor.rowcount)

    def claim(
        self, study_id: int, limit: int, *, code_hash: str, data_hash: str
    ) -> list[tuple[int, int, str, set[int]]]:
        """Atomically claim up to ``limit`` pending trials, lowest numbers first.

        Returns ``(trial_id, number, params_json, folds_done)`` per claimed trial.
        """
        now = utcnow()
        with self._transaction() as db:
            rows = list(
                db.query(
                    "UPDATE trials SET status = 'running', started = coalesce(started, :now), "
                    "heartbeat = :now, host = :host, pid = :pid, code_hash = :code, "
                    "data_hash = :data, run_id = :run "
                    "WHERE id IN (SELECT id FROM trials WHERE study_id = :study "
                    "AND status = 'pending' ORDER BY number LIMIT :limit) "
                    "RETURNING id, number, params",
                    {
                        "now": now,
                        "host": self._host,
                        "pid": self._pid,
                        "code": code_hash,
                        "data": data_hash,
                        "study": study_id,
                        "limit": int(limit),
                        "run": self._run_id,
                    },
                )
            )
        rows.sort(key=lambda row: row["number"])
        done = self._folds_done([row["id"] for row in rows])
        return [(row["id"], row["number"], row["params"], done.get(row["id"], set())) for row in rows]

    def _folds_done(self, trial_ids: Sequence[int]) -> dict[int, set[int]]:
        done: dict[int, set[int]] = {}
        for start in range(0, len(trial_ids), 500):
            chunk = list(trial_ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            for trial_id, fold in self._conn.execute(
                f"SELECT trial_id, fold FROM folds WHERE trial_id IN ({marks})", chunk
            ):
                done.setdefault(trial_id, set()).add(fold)
        return done

    def reusable_folds(self, keys: Iterable[str]) -> dict[str, list[ReusableFold]]:
        """Successful stored folds with these content keys, in any study; one indexed query.

        Failed folds, and folds where a scorer failed, are never offered (a failure may
        be transient). Per key, folds
        fitted here come before copies, then oldest first.
        """
        wanted = sorted(set(keys))
        found: dict[str, list[ReusableFold]] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            # at most a few candidates per key (a key repeated across many studies must not
            # make every lookup read all its copies)
            rows = self._conn.execute(
                "WITH picked AS (SELECT id, fold_key, trial_id, fold, origin, fit_time, score_time "
                "FROM (SELECT f.*, row_number() OVER (PARTITION BY f.fold_key "
                "ORDER BY f.origin IS NOT NULL, f.id) AS rn FROM folds f "
                f"WHERE f.fold_key IN ({','.join('?' * len(chunk))}) AND f.error IS NULL "
                "AND f.score_errors IS NULL) "
                f"WHERE rn <= {_CANDIDATES_PER_KEY}) "
                "SELECT p.id, p.fold_key, s.name, t.number, p.fold, p.origin, p.fit_time, "
                "p.score_time, s.scorers, sc.metric, sc.test, sc.train "
                "FROM picked p JOIN trials t ON t.id = p.trial_id "
                "JOIN studies s ON s.id = t.study_id "
                "LEFT JOIN scores sc ON sc.trial_id = p.trial_id AND sc.fold = p.fold "
                "ORDER BY p.origin IS NOT NULL, p.id",
                chunk,
            ).fetchall()
            by_id: dict[int, ReusableFold] = {}
            scorers_of: dict[str, dict[str, Any]] = {}
            for fold_id, key, study, number, fold, origin, fit, score, scorers, metric, test, train in rows:
                stored = by_id.get(fold_id)
                if stored is None:
                    stored = by_id[fold_id] = ReusableFold(
                        fold_key=key,
                        study=study,
                        trial=number,
                        fold=fold,
                        origin=(
                            json.loads(origin) if origin else {"study": study, "trial": number, "fold": fold}
                        ),
                        fit_time=fit,
                        score_time=score,
                        test={},
                        train={},
                        scorers=scorers_of.setdefault(study, json.loads(scorers) if scorers else {}),
                    )
                    found.setdefault(key, []).append(stored)
                if metric is not None:
                    stored.test[metric] = test
                    stored.train[metric] = train
        return found

    def commit_fold(self, trial_id: int, result: FoldRecord, *, n_folds: int, rank_metric: str) -> str | None:
        """Write one fold and its scores in one transaction.

        After the trial's last fold, the same transaction marks it ``complete`` (or
        ``failed`` if any fold failed) and stores its ranking score. Returns the trial's
        new status when it finished, else None. A fold already recorded is left as is.
        A fold whose fit succeeded but one scorer failed (``result.score_errors``) is not
        a failed fold: that metric holds ``error_score`` (NaN by default, so a failed
        ranking metric leaves the trial ``complete`` but unranked).
        """
        now = utcnow()
        with self._transaction() as db:
            conn = db.conn
            cursor = conn.execute(
                "INSERT OR IGNORE INTO folds (trial_id, fold, fit_time, score_time, error, "
                "finished, host, fold_key, origin, run_id, score_errors) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    trial_id,
                    result.fold,
                    result.fit_time,
                    result.score_time,
                    result.error,
                    now,
                    self._host,
                    result.fold_key,
                    None if result.origin is None else canonical_json(result.origin),
                    self._run_id,
                    canonical_json(result.score_errors) if result.score_errors else None,
                ),
            )
            if cursor.rowcount and self._run_id is not None:  # the run's counter, in the same commit
                conn.execute("UPDATE runs SET folds = folds + 1 WHERE id = ?", (self._run_id,))
            if cursor.rowcount == 0:  # committed before: leave a finished trial as it is
                (status,) = conn.execute("SELECT status FROM trials WHERE id = ?", (trial_id,)).fetchone()
                if status in ("complete", "failed"):
                    return None
            else:
                conn.executemany(
                    "INSERT INTO scores (trial_id, fold, metric, test, train) VALUES (?, ?, ?, ?, ?)",
                    [
                        (
                            trial_id,
                            result.fold,
                            metric,
                            value,
                            None if result.train is None else result.train.get(metric),
                        )
                        for metric, value in result.test.items()
                    ],
                )
            n_done, n_failed = conn.execute(
                "SELECT count(*), count(error) FROM folds WHERE trial_id = ?", (trial_id,)
            ).fetchone()
            if n_done < n_folds:  # (the heartbeat thread keeps the claim fresh meanwhile)
                return None
            status = "failed" if n_failed else "complete"
            score = None
            if status == "complete":
                fold_scores = [
                    row[0]
                    for row in conn.execute(
                        "SELECT test FROM scores WHERE trial_id = ? AND metric = ? ORDER BY fold",
                        (trial_id, rank_metric),
                    )
                ]
                score = _mean(fold_scores)
            conn.execute(
                "UPDATE trials SET status = ?, score = ?, finished = ?, heartbeat = ?, pid = NULL "
                "WHERE id = ?",
                (status, score, now, now, trial_id),
            )
            if self._run_id is not None:
                conn.execute("UPDATE runs SET trials = trials + 1 WHERE id = ?", (self._run_id,))
        return status

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
        now = utcnow()
        with self._transaction() as db:
            cursor = db.conn.execute(
                "UPDATE trials SET status = 'failed', score = NULL, finished = ?, heartbeat = ?, "
                "pid = NULL WHERE id = ? AND status = 'running'",
                (now, now, trial_id),
            )
            if cursor.rowcount and self._run_id is not None:
                db.conn.execute("UPDATE runs SET trials = trials + 1 WHERE id = ?", (self._run_id,))

    # ------------------------------------------------------------------ history

    def start_run(self, study_id: int, command: str) -> int:
        """Record that this process starts working on a study; return the run's id.

        The row names the command line, user, host, pid and hptrack version; it stays
        unfinished (``finished``/``exit`` NULL) until :meth:`finish_run`.
        """
        now = utcnow()
        with self._transaction() as db:
            cursor = db.conn.execute(
                "INSERT INTO runs (study_id, command, user, host, pid, version, started, heartbeat) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (study_id, command, _current_user(), self._host, self._pid, _hptrack_version(), now, now),
            )
        return int(cursor.lastrowid or 0)

    def finish_run(self, run_id: int, exit_code: int) -> None:
        """Record a run's end and exit code (0 success, 1 failed check or error, 2 bad input, 130)."""
        now = utcnow()
        with self._transaction() as db:
            db.conn.execute(
                "UPDATE runs SET finished = ?, exit = ?, heartbeat = ? WHERE id = ?",
                (now, int(exit_code), now, run_id),
            )

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
        >>> with store.run_record(study.id, "hptrack verify digits") as run:  # doctest: +SKIP
        ...     run.exit = 0 if verify_study(store, "digits").ok else 1
        """
        if self._db is None:
            yield RunHandle(None)
            return
        handle = RunHandle(self.start_run(study_id, command))
        previous, self._run_id = self._run_id, handle.id
        beat = _Heartbeat(self.path, self._host, self._pid, HEARTBEAT_SECONDS, run_id=handle.id)
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

    def heartbeat_thread(self, interval: float = HEARTBEAT_SECONDS) -> _Heartbeat:
        """A started daemon thread refreshing this process's claims every ``interval`` s.

        It keeps a long fold's trial from looking abandoned to coordinators on other
        hosts (which go by the heartbeat, not the process table). Call ``stop()``.
        """
        beat = _Heartbeat(self.path, self._host, self._pid, interval)
        beat.start()
        return beat

    def heartbeat(self) -> None:
        """Refresh the heartbeat of every trial this process is running."""
        db = self._writer()
        db.execute(
            "UPDATE trials SET heartbeat = ? WHERE status = 'running' AND host = ? AND pid = ?",
            (utcnow(), self._host, self._pid),
        )

    def counts(self, study_id: int) -> dict[str, int]:
        """Number of trials per status."""
        counts = dict.fromkeys(("pending", "running", "complete", "failed"), 0)
        for status, n in self._conn.execute(
            "SELECT status, count(*) FROM trials WHERE study_id = ? GROUP BY status", (study_id,)
        ):
            counts[status] = n
        return counts

    # ------------------------------------------------------------------ compare and merge

    def compare(self, a: str | Study, b: str | Study, **options: Any) -> Any:
        """Compare two studies (names in this store, or :class:`Study` objects of any store).

        Keyword options go to :func:`hptrack.compare.compare_studies` (``metric``,
        ``threshold``, ``alpha``). Returns its :class:`~hptrack.compare.Comparison`.
        """
        from .compare import compare_studies

        study_a = self.study(a) if isinstance(a, str) else a
        study_b = self.study(b) if isinstance(b, str) else b
        return compare_studies(study_a, study_b, **options)

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
        started = utcnow()
        with self._transaction() as db:
            conn = db.conn
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
                        _current_user(),
                        self._host,
                        self._pid,
                        _hptrack_version(),
                        started,
                        now,
                        1 if outcome.conflicts else 0,
                        now,
                        _n_finished(conn, study_id) - done_before,
                        outcome.folds_added,
                    ),
                )
        return outcome


def open_to_record(path: str | Path | None) -> tuple[Store, str | None]:
    """Open a store writable so that a command can record its run; else read-only, saying why.

    For commands that only read a study but belong in its history (``verify``): a store
    that cannot be written (read-only media, an archive) still serves them, unrecorded.
    A missing or empty file is never created: it gets the read-only open's error.
    """
    target = Path(path) if path is not None else default_store_path()
    if not target.is_file() or target.stat().st_size == 0:
        return Store(target, readonly=True), None  # raises: nothing to read
    try:
        return Store(target), None
    except StoreError as exc:
        store = Store(target, readonly=True)  # a file no hptrack can read raises here
        return store, f"{target} cannot be written ({exc}), so this command is not recorded in its history"


def _sha(text: str) -> str:
    from ._json import sha256_text

    return sha256_text(text)


def _mean(values: Sequence[float | None]) -> float | None:
    """Mean as scikit-learn computes it (numpy), None if any value is missing or NaN."""
    import numpy as np

    array = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    mean = float(np.average(array.reshape(1, -1), axis=1)[0])
    return None if np.isnan(mean) else mean


# --------------------------------------------------------------------------- merging


@dataclass(frozen=True)
class FoldConflict:
    """A trial or fold recorded differently here and in a merged source: never overwritten."""

    trial: int
    fold: int | None  # None: the trial's params differ
    metric: str | None
    kind: str  # "params", "test", "train" or "error"
    store_value: Any
    source_value: Any


@dataclass(frozen=True)
class MergeOutcome:
    """What :meth:`Store.merge_study` wrote."""

    created: bool
    trials_added: int
    folds_added: int
    trials_finished: int
    conflicts: tuple[FoldConflict, ...]
    runs_added: int = 0  # the source's runs copied into the history here


_RUN_IDENTITY = ("host", "pid", "started", "command")  # one run, in whichever store it is found


def _n_finished(conn: sqlite3.Connection, study_id: int) -> int:
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
                "trials = max(trials, ?), folds = max(folds, ?) WHERE id = ?",
                (run.get("finished"), run.get("exit"), run.get("trials") or 0, run.get("folds") or 0, found),
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


if TYPE_CHECKING:
    from .query import StudyDump, TrialDump


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM pragma_table_info(?)", (table,))}


def _insert(conn: sqlite3.Connection, table: str, row: dict[str, Any], columns: set[str]) -> int:
    """Insert the values of ``row`` whose keys are columns of ``table`` (our own table names)."""
    keys = [k for k in row if k in columns]
    names = ", ".join(f'"{k}"' for k in keys)
    cursor = conn.execute(
        f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(keys))})", [row[k] for k in keys]
    )
    return int(cursor.lastrowid or 0)


def _insert_folds(
    conn: sqlite3.Connection,
    trial_id: int,
    trial: TrialDump,
    folds: Iterable[int],
    tables: dict[str, set[str]],
) -> int:
    n = 0
    for fold in sorted(folds):
        _insert(conn, "folds", {**trial.folds[fold], "trial_id": trial_id}, tables["folds"])
        for score in trial.scores.get(fold, {}).values():
            _insert(conn, "scores", {**score, "trial_id": trial_id}, tables["scores"])
        n += 1
    return n


def _insert_trial(
    conn: sqlite3.Connection, study_id: int, trial: TrialDump, tables: dict[str, set[str]]
) -> tuple[int, int]:
    """Insert a trial with its folds; a ``running`` one becomes ``pending``. Return (id, folds)."""
    row = {**trial.row, "study_id": study_id}
    if row.get("status") == "running":  # its worker is elsewhere or gone: resumable here
        row.update(status="pending", host=None, pid=None, heartbeat=None)
    trial_id = _insert(conn, "trials", row, tables["trials"])
    return trial_id, _insert_folds(conn, trial_id, trial, trial.folds, tables)


def _tables(conn: sqlite3.Connection) -> dict[str, set[str]]:
    return {table: _columns(conn, table) for table in ("studies", "trials", "folds", "scores")}


def _copy_study(conn: sqlite3.Connection, dump: StudyDump, name: str) -> MergeOutcome:
    tables = _tables(conn)
    row = {**dump.row, "name": name}
    if name != dump.name:  # renamed: the stored spec names the study too (resume reads it)
        spec = {**json.loads(row["spec"]), "name": name}
        row["spec"] = canonical_json(spec)
        row["spec_hash"] = _sha(row["spec"])
    study_id = _insert(conn, "studies", row, tables["studies"])
    n_folds = 0
    for trial in dump.trials:
        n_folds += _insert_trial(conn, study_id, trial, tables)[1]
    return MergeOutcome(
        created=True, trials_added=len(dump.trials), folds_added=n_folds, trials_finished=0, conflicts=()
    )


def _same_value(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return bool(a == b or (a != a and b != b))  # NaN equals NaN here


def _fold_conflicts(
    number: int, fold: int, trial: TrialDump, error_here: str | None, scores_here: dict[str, tuple[Any, Any]]
) -> list[FoldConflict]:
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
    tables = _tables(conn)
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
            folds_added += _insert_trial(conn, study_id, trial, tables)[1]
            trials_added += 1
            continue
        trial_id, params, status = mine
        if canonical_json(json.loads(params)) != canonical_json(json.loads(trial.row["params"])):
            conflicts.append(FoldConflict(trial.number, None, None, "params", params, trial.row["params"]))
            continue
        errors_here = dict(
            conn.execute("SELECT fold, error FROM folds WHERE trial_id = ?", (trial_id,)).fetchall()
        )
        scores_here: dict[int, dict[str, tuple[Any, Any]]] = {}
        for fold, metric, test, train in conn.execute(
            "SELECT fold, metric, test, train FROM scores WHERE trial_id = ?", (trial_id,)
        ):
            scores_here.setdefault(fold, {})[metric] = (test, train)
        found = [
            conflict
            for fold in sorted(set(trial.folds) & set(errors_here))
            for conflict in _fold_conflicts(
                trial.number, fold, trial, errors_here[fold], scores_here.get(fold, {})
            )
        ]
        if found:  # the whole trial stays as it is here
            conflicts.extend(found)
            continue
        missing = set(trial.folds) - set(errors_here)
        if not missing:
            continue
        folds_added += _insert_folds(conn, trial_id, trial, missing, tables)
        source = trial.row
        conn.execute(
            "UPDATE trials SET code_hash = coalesce(code_hash, ?), data_hash = coalesce(data_hash, ?), "
            "started = coalesce(started, ?), host = coalesce(host, ?) WHERE id = ?",
            (
                source.get("code_hash"),
                source.get("data_hash"),
                source.get("started"),
                source.get("host"),
                trial_id,
            ),
        )
        n_done, n_failed, last = conn.execute(
            "SELECT count(*), count(error), max(finished) FROM folds WHERE trial_id = ?", (trial_id,)
        ).fetchone()
        if n_done >= n_folds:
            new_status = "failed" if n_failed else "complete"
            score = None
            if new_status == "complete":
                score = _mean(
                    [
                        row[0]
                        for row in conn.execute(
                            "SELECT test FROM scores WHERE trial_id = ? AND metric = ? ORDER BY fold",
                            (trial_id, metrics[0]),
                        )
                    ]
                )
            ended = source.get("finished") if source.get("status") in ("complete", "failed") else last
            finisher = source.get("run_id") if source.get("status") in ("complete", "failed") else None
            conn.execute(
                "UPDATE trials SET status = ?, score = ?, finished = ?, pid = NULL, "
                "run_id = coalesce(?, run_id) WHERE id = ?",
                (new_status, score, ended or last, finisher, trial_id),
            )
            finished += 1
        elif n_failed and status != "failed":
            conn.execute("UPDATE trials SET status = 'failed', score = NULL WHERE id = ?", (trial_id,))
    return MergeOutcome(
        created=False,
        trials_added=trials_added,
        folds_added=folds_added,
        trials_finished=finished,
        conflicts=tuple(conflicts),
    )
