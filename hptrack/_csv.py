"""Export rows as CSV text: the one writer behind ``hptrack export``, ``trials --csv`` and
the report's download link (stdlib only, so the CLI imports it without jinja2).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TextIO

__all__ = ["csv_table", "csv_text", "csv_writer"]


def csv_text(rows: Sequence[Mapping[str, Any]]) -> str:
    """Flat rows (``Study.export_rows()``, ``cv_results_`` naming) as CSV text.

    Columns are the union of the rows' keys in order of first appearance; a key a row
    lacks, and None, are empty cells; lists and dicts are written as JSON.

    Parameters
    ----------
    rows : sequence of mappings
        One mapping per trial, as :meth:`hptrack.query.Study.export_rows` returns them.

    Returns
    -------
    str
        A header line and one line per row, each ending in ``\\n``.

    Examples
    --------
    >>> print(csv_text([{"number": 0, "param_C": 0.1, "seed": None}]), end="")
    number,param_C,seed
    0,0.1,
    """
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    buffer = io.StringIO()
    write = csv_writer(buffer, columns)
    for row in rows:
        write(row)
    return buffer.getvalue()


def csv_writer(out: TextIO, columns: Sequence[str]) -> Callable[[Mapping[str, Any]], None]:
    """Write the header of ``columns`` to ``out``; return a function writing one row there.

    Parameters
    ----------
    out : text stream
    columns : sequence of str

    Returns
    -------
    callable
        ``write(row)``: a key the row lacks, and None, are empty cells; lists and dicts JSON.
    """
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()

    def write(row: Mapping[str, Any]) -> None:
        writer.writerow({k: _cell(v) for k, v in row.items()})

    return write


def csv_table(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A header and value lists as CSV text, written as :func:`csv_text` writes dict rows.

    Parameters
    ----------
    columns : sequence of str
    rows : iterable of sequences
        One value per column; None is an empty cell; lists and dicts are written as JSON.

    Returns
    -------
    str
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([_cell(v) for v in row] for row in rows)
    return buffer.getvalue()


def _cell(value: Any) -> Any:
    """A value as a CSV cell: lists and dicts as JSON, anything else as the csv module writes it."""
    return json.dumps(value) if isinstance(value, (list, dict)) else value
