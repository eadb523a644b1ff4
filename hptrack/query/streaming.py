"""``hptrack export`` in pages: the same bytes as one big table, in memory bounded by a page.

A study is read :data:`PAGE` trials at a time, twice: the first pass learns the columns
(parameter names, which optional columns appear, in the order a one-shot export lists
them) and each metric's ranks; the second writes the rows. What stays in memory is a
page of trials plus one mean per complete trial and metric for the ranks.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from ..store import reads
from .export import ExportRow, export_columns
from .ranking import min_ranks

if TYPE_CHECKING:
    import sqlite3

    from ..spec.direction import Direction
    from .trials import Trial

PAGE = 2000  # trials read and written at a time


def trial_pages(study: StudyExport, page: int | None = None) -> Iterator[list[Trial]]:
    """The study's trials by number, ``page`` (default :data:`PAGE`) at a time."""
    page = page or PAGE
    after = -1
    while True:
        rows = reads.trial_rows(study._conn, study.id, after=after, limit=page)
        if not rows:
            return
        yield study._build(rows, whole_study=False)
        after = rows[-1][1]


def write_export(study: StudyExport, out: TextIO, fmt: str) -> int:
    """Write the study's export (``"csv"`` or ``"json"``) to ``out``; return the number of trials.

    Parameters
    ----------
    study : Study
    out : text stream
    fmt : {"csv", "json"}

    Returns
    -------
    int
        Trials written.
    """
    names, shapes, ranks = _first_pass(study)
    halving = bool(study.spec.get("halving"))  # type: ignore[attr-defined]
    columns = export_columns(names, study.metrics, study.n_folds, shapes, halving=halving)
    make_row = ExportRow(names, study.metrics, ranks)
    rows = (make_row(t) for trials in trial_pages(study) for t in trials)
    if fmt == "csv":
        return _write_csv(rows, columns, out)
    return _write_json(rows, out)


def _first_pass(study: StudyExport) -> tuple[list[str], list[tuple[bool, bool]], dict[str, dict[int, int]]]:
    """Parameter names, the optional-column shapes in order of first appearance, ranks by metric."""
    names: set[str] = set()
    shapes: list[tuple[bool, bool]] = []
    means: dict[str, list[tuple[int, float]]] = {m: [] for m in study.metrics}
    for trials in trial_pages(study):
        for t in trials:
            names.update(t.params)
            shape = (bool(t.train_scores), bool(t.origins))
            if shape not in shapes:
                shapes.append(shape)
            if t.status != "complete":
                continue
            for m in study.metrics:
                value = t.mean[m]
                if value is not None and math.isfinite(value):
                    means[m].append((t.number, value))
    ranks = {}
    for m, scored in means.items():
        ranked = min_ranks([value for _, value in scored], direction=study.direction_of(m))
        ranks[m] = {number: rank for (number, _), rank in zip(scored, ranked) if rank is not None}
    return sorted(names), shapes, ranks


def _write_csv(rows: Iterator[dict[str, Any]], columns: Sequence[str], out: TextIO) -> int:
    """Rows as CSV under ``columns`` (as :func:`hptrack._csv.csv_text` writes them)."""
    from .._csv import csv_writer

    writer = csv_writer(out, columns)
    n = 0
    for row in rows:
        writer(row)
        n += 1
    return n


def _write_json(rows: Iterator[dict[str, Any]], out: TextIO) -> int:
    """Rows as the JSON list ``json.dumps(rows, indent=2)`` gives, one row at a time."""
    n = 0
    for row in rows:
        text = json.dumps(row, indent=2, allow_nan=False)
        out.write(("[\n" if n == 0 else ",\n") + "\n".join("  " + line for line in text.splitlines()))
        n += 1
    out.write("\n]\n" if n else "[]\n")
    return n


class StudyExport:
    """:class:`~hptrack.query.Study`'s paged export (mixed in)."""

    _conn: sqlite3.Connection
    id: int
    metrics: list[str]
    n_folds: int

    if TYPE_CHECKING:  # provided by Study, which mixes this class in

        def _build(self, rows: list[tuple[Any, ...]], *, whole_study: bool) -> list[Trial]: ...

        def direction_of(self, metric: str) -> Direction: ...

    def write_export(self, out: TextIO, fmt: str = "csv") -> int:
        """Write :meth:`export_rows` as CSV or JSON to ``out``, a page of trials at a time.

        The bytes equal ``csv_text(export_rows())`` (or ``json.dumps(rows, indent=2)``), in
        memory bounded by a page of trials whatever the study's size
        (:mod:`hptrack.query.streaming`).

        Parameters
        ----------
        out : text stream
            Where to write.
        fmt : {"csv", "json"}, default "csv"

        Returns
        -------
        int
            The number of trials written.
        """
        if fmt not in ("csv", "json"):
            raise ValueError(f"format {fmt!r}: use 'csv' or 'json'")
        return write_export(self, out, fmt)
