"""The store file: open, check, refuse; SQLite errors become one-line StoreErrors.

Before anything is written the file is checked (SQLite? an hptrack store? a newer
schema?) on a read-only connection, so that a refused file stays byte-identical.
Read-only opening never creates a file beside the store (``-wal``/``-shm``) and falls
back to SQLite's ``immutable=1`` on read-only files, directories and media. The
header parsing here is the only one: :func:`header_user_version` serves the merge.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from ..errors import StoreError
from .schema import APPLICATION_TABLES, SCHEMA_VERSION, newer_error, upgrade

DEFAULT_STORE = "hptrack.db"
_SQLITE_HEADER = b"SQLite format 3\x00"
BUSY_TIMEOUT_SECONDS = 60.0
QUICK_CHECK_MAX_BYTES = 16 * 2**20  # larger stores rely on the header check and query-time errors


def default_store_path() -> Path:
    """``$HPTRACK_STORE`` if set, else ``./hptrack.db``."""
    return Path(os.environ.get("HPTRACK_STORE") or DEFAULT_STORE)


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


def _connect(path: Path, target: str, *, uri: bool, check_same_thread: bool = True) -> _Connection:
    conn = sqlite3.connect(
        target,
        uri=uri,
        timeout=BUSY_TIMEOUT_SECONDS,
        factory=_Connection,
        check_same_thread=check_same_thread,
    )
    conn.store_path = path
    return conn


def header_user_version(path: Path) -> int | None:
    """``PRAGMA user_version`` as the file header records it, without opening it in SQLite.

    None when the file cannot be read or does not start with a complete SQLite header.
    """
    try:
        header, _size = _read_header(path)
    except OSError:
        return None
    if len(header) < 100 or not header.startswith(_SQLITE_HEADER):
        return None
    return int.from_bytes(header[60:64], "big")


def _read_header(path: Path) -> tuple[bytes, int]:
    """The first 100 bytes of ``path`` (fewer if it is shorter) and its size."""
    with open(path, "rb") as handle:
        return handle.read(100), os.fstat(handle.fileno()).st_size


def check_file(path: Path) -> bytes:
    """Raise unless the path is absent, empty or an SQLite file; return its header.

    The header (the first 100 bytes; empty for an absent or zero-byte file) is
    checked for a sane page size and for truncation.
    """
    if path.is_dir():
        raise StoreError(
            f"store {str(path)!r} is a directory; give a file path such as {str(path / DEFAULT_STORE)!r}"
        )
    if not path.exists():
        return b""
    try:
        header, size = _read_header(path)
    except OSError as exc:
        raise StoreError(f"cannot read store {str(path)!r}: {exc.strerror}; check its permissions") from exc
    if not header:
        return b""
    if not header.startswith(_SQLITE_HEADER):
        raise StoreError(
            f"{path} is not an SQLite file, so not an hptrack store; "
            "give another --store path; the file was not changed"
        )
    if len(header) < 100:
        raise _corrupt_error(path, f"truncated to {size} bytes")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        raise _corrupt_error(path, f"bad page size {page_size}")
    n_pages = int.from_bytes(header[28:32], "big")
    if n_pages and header[24:28] == header[92:96] and size < n_pages * page_size:
        raise _corrupt_error(
            path,
            f"{size} bytes, but its header records {n_pages} pages of {page_size} bytes: "
            "truncated or overwritten",
        )
    return header


def check_schema(path: Path, conn: sqlite3.Connection) -> int:
    """Raise unless ``conn`` holds a sound hptrack store (or nothing); return its version."""
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        check = "ok"
        if _size(path) <= QUICK_CHECK_MAX_BYTES:  # a full scan: ~5 ms per MB
            check = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        if _error_name(exc).startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB", "SQLITE_IOERR")):
            raise _corrupt_error(path, exc) from exc
        raise StoreError(f"cannot read store {path}: {exc}; try again; the file was not changed") from exc
    except StoreError as exc:  # a damaged file, translated by _Cursor
        raise _corrupt_error(path, exc.__cause__) from exc.__cause__
    if check != "ok":
        found = "; ".join(line.strip() for line in str(check).splitlines() if not line.startswith("***"))
        raise _corrupt_error(path, f"quick_check: {found}")
    if version == 0 and not tables:
        return 0  # an empty SQLite database: a new store
    if "studies" not in tables:
        raise _foreign_error(path, tables)
    if version > SCHEMA_VERSION:
        raise newer_error(path, version)
    if version == 0 or not set(APPLICATION_TABLES) <= tables:
        raise _foreign_error(path, tables)
    return version


def _size(path: Path) -> int:
    """The file size, 0 when it cannot be read."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _foreign_error(path: Path, tables: set[str]) -> StoreError:
    """The refusal of an SQLite database that is not an hptrack store."""
    shown = sorted(tables)
    listed = ", ".join(shown[:8]) + (" ..." if len(shown) > 8 else "")
    return StoreError(
        f"{path} is an SQLite database but not an hptrack store (tables: "
        f"{listed or 'none'}); give another --store path; the file was not changed"
    )


def open_writable(path: Path) -> tuple[_Connection, Any]:
    """Open (creating or upgrading) a store for writing; return its connection and sqlite-utils Database.

    The file is checked on a read-only connection first, so a refused file stays
    byte-identical. Raises :class:`~hptrack.StoreError` for a refused, corrupt, newer or
    unwritable file.
    """
    checked = _checked_identity(path)
    header = b"" if checked else check_file(path)
    if header:  # inspect read-only first: a refused file stays byte-identical
        probe = connect_readonly(path, header)
        try:
            check_schema(path, probe)
        finally:
            probe.close()
    elif not checked and not path.parent.is_dir():
        raise StoreError(
            f"cannot create store {str(path)!r}: directory "
            f"{str(path.parent)!r} does not exist; create it first or give "
            "another --store path"
        )
    from sqlite_utils import Database

    conn = None
    try:
        # one thread at a time, but not always the one that opened it (a parked connection: _kept)
        conn = _connect(path, str(path), uri=False, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
        db = Database(conn, execute_plugins=False, recursive_triggers=False)
        db.enable_wal()
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        upgrade(db, path)
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
        raise StoreError(f"cannot write store {path}: {exc}{hint}") from exc
    except BaseException:
        if conn is not None:
            conn.close()
        raise
    _CHECKED[os.path.realpath(path)] = file_identity(path)
    return conn, db


# Stores this process already checked and opened for writing, by real path: the file's
# (device, inode) identity then. A drop-in fitted many times on one
# store (nested cross-validation) skips the read-only probe and its quick_check scan
# (~5 ms per MB) after the first fit; a file replaced since (another inode) is probed again.
_CHECKED: dict[str, tuple[int, int] | None] = {}


def file_identity(path: str | Path) -> tuple[int, int] | None:
    """``(st_dev, st_ino)`` of ``path``, None when it cannot be read."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino


def _checked_identity(path: Path) -> bool:
    """Whether this process already checked the very file now at ``path``."""
    known = _CHECKED.get(os.path.realpath(path))
    return known is not None and known == file_identity(path)


def connect_readonly(path: Path, header: bytes) -> _Connection:
    """A connection that never writes the file and leaves no new file beside it.

    A WAL-mode file with no ``-wal`` beside it has no open connection and holds
    every commit. Opened ``mode=ro`` SQLite would create ``-wal`` and ``-shm`` and,
    unable to checkpoint, leave them behind; so it is opened read-write with
    ``query_only``, whose close, as the last connection, removes them again. When
    the file or its directory is not writable it is read as ``immutable=1``. Any
    other file is opened ``mode=ro``, falling back to ``immutable=1`` on read-only
    media (where a ``-wal`` holding commits cannot be read: that is refused).
    """
    uri = path.resolve().as_uri()
    wal = Path(f"{path}-wal")
    wal_mode = header[18:20] == b"\x02\x02"
    if wal_mode and not wal.exists():
        writable = os.access(path, os.W_OK) and os.access(path.resolve().parent, os.W_OK)
        modes = ["mode=rw", "immutable=1"] if writable else ["immutable=1"]
    else:
        modes = ["mode=ro", "immutable=1"]
    for mode in modes:
        conn = _connect(path, f"{uri}?{mode}", uri=True)
        try:
            if mode == "mode=rw":
                conn.execute("PRAGMA query_only = ON")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError as exc:
            conn.close()
            if mode == "immutable=1" or not _cannot_open_writably(exc):
                raise StoreError(
                    f"cannot read store {path}: {exc}; check the file's permissions; the file was not changed"
                ) from exc
            if _has_frames(wal):
                raise StoreError(
                    f"cannot read store {path}: its write-ahead log {wal.name} holds "
                    f"commits but cannot be opened here ({exc}); copy the store with its "
                    "-wal and -shm files to a writable directory"
                ) from exc
            continue
        except StoreError as exc:  # a damaged file, translated by _Cursor
            conn.close()
            raise _corrupt_error(path, exc.__cause__) from exc.__cause__
        except BaseException:
            conn.close()
            raise
        return conn
    raise AssertionError("unreachable")  # pragma: no cover


def open_readonly(path: Path) -> _Connection:
    """Open an existing, non-empty store for queries only: never creates, upgrades or writes it.

    An older schema is read through a copy in memory, upgraded there (the file is never
    changed; a large archive costs its size in memory: open it writable once to upgrade
    it for good). Raises :class:`~hptrack.StoreError` when the file
    is missing, empty, not an hptrack store, corrupt or from a newer hptrack.
    """
    if not path.exists():
        raise StoreError(
            f"store {str(path)!r} does not exist; run `hptrack run SPEC --store "
            f"{path}` first, or pass --store / set HPTRACK_STORE"
        )
    header = check_file(path)
    if not header:
        raise StoreError(
            f"store {str(path)!r} is empty: it holds no studies yet; run "
            f"`hptrack run SPEC --store {path}` first"
        )
    conn = connect_readonly(path, header)
    try:
        version = check_schema(path, conn)
    except BaseException:
        conn.close()
        raise
    if version == 0:
        conn.close()
        raise StoreError(
            f"store {str(path)!r} is an empty SQLite database: it holds no "
            f"studies yet; run `hptrack run SPEC --store {path}` first"
        )
    if version < SCHEMA_VERSION:  # never upgraded by a query: the copy is
        return _upgraded_copy(path, conn)
    return conn


class _Migrating:
    """The ``db.conn`` a migration takes, for a copy with no sqlite-utils Database (queries load none)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn


def _upgraded_copy(path: Path, conn: _Connection) -> _Connection:
    """An in-memory copy of the store behind ``conn`` (closed), upgraded to the current schema."""
    memory = _connect(path, ":memory:", uri=False)
    try:
        conn.backup(memory)
        conn.close()
        upgrade(_Migrating(memory), path)  # type: ignore[arg-type]
    except BaseException:
        conn.close()
        memory.close()
        raise
    memory.execute("PRAGMA query_only = ON")
    return memory
