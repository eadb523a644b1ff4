"""The public read API: :class:`Store` (``hptrack.Store``), and study references across stores.

A :class:`Store` opens a store file for queries and hands out :class:`Study` objects;
it has no write method (the coordinator writes through :class:`hptrack.store.Writer`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SpecError, StoreError
from ..store import StoredStudy, Writer, default_store_path, open_readonly, open_writable, reads
from .compare import StudyComparison, compare_studies
from .study import Study
from .summary import StudySummary, list_studies


class Store:
    """An hptrack store, for queries: one SQLite file.

    Parameters
    ----------
    path : str or Path, optional
        The store file; default ``$HPTRACK_STORE``, else ``./hptrack.db``.
    readonly : bool, default=False
        Open for queries only: never creates, upgrades or writes the file, and works on
        read-only files and directories (falling back to SQLite's ``immutable=1``).
        Without it, a missing file is created as an empty store and an older schema is
        upgraded, as ``hptrack run`` would.

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
        self._owns_connection = True
        if readonly:
            self._conn: sqlite3.Connection = open_readonly(self.path)
        else:
            self._conn, _db = open_writable(self.path)

    @classmethod
    def from_writer(cls, writer: Writer) -> Store:
        """The read API over a :class:`~hptrack.store.Writer`'s connection.

        For a coordinator that reads what it writes (``hptrack run`` shows the best
        trials it ran). Closing this store leaves the writer open.

        Parameters
        ----------
        writer : Writer
            An open writer.

        Returns
        -------
        Store
        """
        store = cls.__new__(cls)
        store.path = writer.path
        store.readonly = writer.readonly
        store._owns_connection = False
        store._conn = writer.connection
        return store

    def close(self) -> None:
        """Close the connection (unless it belongs to a writer: :meth:`from_writer`)."""
        if self._owns_connection:
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

    def studies(self) -> list[StudySummary]:
        """One summary per study, in creation order.

        Returns
        -------
        list of StudySummary
        """
        return list_studies(self._conn)

    def study(self, name: str) -> Study:
        """The study called ``name``.

        Parameters
        ----------
        name : str
            The study's name.

        Returns
        -------
        Study

        Raises
        ------
        StudyNotFoundError
            No such study (the message suggests close names).
        """
        return Study.load(self._conn, name, store_path=self.path)

    def require_study(self, name: str) -> StoredStudy:
        """The stored identity of study ``name`` (its spec, hashes, provenance), as a resume reads it.

        Parameters
        ----------
        name : str
            The study's name.

        Returns
        -------
        StoredStudy
            A frozen snapshot of its ``studies`` row (spec, code and data hashes, provenance).

        Raises
        ------
        StudyNotFoundError
            No such study (the message suggests close names).
        """
        stored = reads.stored_study(self._conn, name)
        if stored is None:
            raise reads.study_not_found(self._conn, name, self.path)
        return stored

    def compare(self, a: str | Study, b: str | Study, **options: Any) -> StudyComparison:
        """Compare two studies (names in this store, or :class:`Study` objects of any store).

        Parameters
        ----------
        a, b : str or Study
            Study A and study B; deltas are B - A.
        **options
            ``metric``, ``threshold``, ``alpha``: see :func:`~hptrack.query.compare_studies`.

        Returns
        -------
        StudyComparison

        Examples
        --------
        >>> with Store("runs.db", readonly=True) as store:  # doctest: +SKIP
        ...     store.compare("svc-v1", "svc-v2").regressed
        """
        study_a = self.study(a) if isinstance(a, str) else a
        study_b = self.study(b) if isinstance(b, str) else b
        return compare_studies(study_a, study_b, **options)


@dataclass(frozen=True)
class StudyRef:
    """A study named on the command line: ``name`` (in ``--store``) or ``path.db:name``."""

    store: Path
    name: str

    @classmethod
    def parse(cls, text: str, default_store: Path) -> StudyRef:
        """Read ``name`` or ``path:name`` (study names never hold ``:``)."""
        if ":" not in text:
            if not text:
                raise SpecError("a study reference is empty; give NAME or STORE.db:NAME")
            return cls(Path(default_store), text)
        path, _, name = text.rpartition(":")
        if not path or not name:
            raise SpecError(
                f"study reference {text!r} needs both parts: STORE.db:NAME (e.g. other.db:digits-svc)"
            )
        return cls(Path(path), name)

    def __str__(self) -> str:
        return f"{self.store}:{self.name}"


@contextmanager
def open_refs(a: StudyRef, b: StudyRef) -> Iterator[tuple[Study, Study]]:
    """Open the stores of two references read-only (once if they are the same file)."""
    with ExitStack() as stack:
        stores: dict[Path, Store] = {}
        studies = []
        for ref in (a, b):
            if not ref.store.exists():
                raise StoreError(
                    f"study reference {str(ref)!r}: store {str(ref.store)!r} does not exist; "
                    "give an existing store file (STORE.db:NAME) or --store"
                )
            key = ref.store.resolve()
            if key not in stores:
                stores[key] = stack.enter_context(Store(ref.store, readonly=True))
            studies.append(stores[key].study(ref.name))
        yield studies[0], studies[1]
