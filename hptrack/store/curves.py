"""Learning curves (schema 6): what an objective reported per fold, one packed row per fold.

A fold's points (``fold.report(step, **values)``) are one ``curves`` row: a BLOB holding
the value names once, then the steps and a steps x values table of float64 (NaN where a
point did not report a name). Steps that go up evenly (0, 1, 2, ... or 5, 10, 15, ...)
are stored as their first step and stride. 100 points of 2 values take 1.6 kB, against
about 100 bytes per value as one row per (step, name) would. Stdlib only: the query
commands read it without numpy.

Layout: a header ``<B I I q q`` (format 1: explicit steps, 2: even steps; the names'
JSON length; the number of points; the first step and stride, 0 for format 1), the names
as UTF-8 JSON, format 1's int64 steps, then the float64 values point by point.
"""

from __future__ import annotations

import json
import math
import sqlite3
import sys
from array import array
from collections.abc import Mapping, Sequence
from struct import Struct
from typing import Any

_HEAD = Struct("<BIIqq")
_EXPLICIT, _EVEN = 1, 2


def pack_curve(points: Sequence[tuple[int, Mapping[str, float]]]) -> bytes:
    """``(step, {name: value})`` points (steps increasing) as one BLOB.

    Examples
    --------
    >>> blob = pack_curve([(0, {"loss": 1.0}), (1, {"loss": 0.5, "acc": 0.9})])
    >>> unpack_curve(blob)
    ([0, 1], {'loss': [1.0, 0.5], 'acc': [nan, 0.9]})
    """
    names = list(dict.fromkeys(name for _, values in points for name in values))
    header = json.dumps(names, separators=(",", ":")).encode()
    steps = [step for step, _ in points]
    nan = math.nan
    values = array("d", [v.get(name, nan) for _, v in points for name in names])
    stride = steps[1] - steps[0] if len(steps) > 1 else 1
    even = all(b - a == stride for a, b in zip(steps, steps[1:]))
    body = b"" if even else _little(array("q", steps)).tobytes()
    head = _HEAD.pack(_EVEN if even else _EXPLICIT, len(header), len(steps), steps[0] if even else 0,
                      stride if even else 0)
    return head + header + body + _little(values).tobytes()


def unpack_curve(blob: bytes) -> tuple[list[int], dict[str, list[float]]]:
    """The steps and each name's values (NaN where not reported) of :func:`pack_curve`'s BLOB."""
    kind, n_header, n_points, first, stride = _HEAD.unpack_from(blob)
    offset = _HEAD.size
    names = json.loads(blob[offset : offset + n_header].decode())
    offset += n_header
    if kind == _EVEN:
        steps = [first + i * stride for i in range(n_points)]
    else:
        raw = array("q")
        raw.frombytes(blob[offset : offset + 8 * n_points])
        steps = list(_little(raw))
        offset += 8 * n_points
    values = array("d")
    values.frombytes(blob[offset : offset + 8 * n_points * len(names)])
    flat = list(_little(values))
    width = len(names)
    return steps, {name: flat[i::width] for i, name in enumerate(names)}


def _little(values: array[Any]) -> array[Any]:
    """``values`` in little-endian byte order (the file's), whatever this machine's."""
    if sys.byteorder == "big":  # pragma: no cover
        values.byteswap()
    return values


def study_curves(
    conn: sqlite3.Connection, study_id: int, number: int | None = None
) -> list[tuple[int, int, bytes]]:
    """``(trial number, fold, blob)`` of a study's curves (of trial ``number`` only when given)."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'curves'").fetchone() is None:
        return []  # a store older than schema 6 has none
    where, args = ("", [study_id]) if number is None else (" AND t.number = ?", [study_id, number])
    return [
        (int(n), int(f), bytes(blob))
        for n, f, blob in conn.execute(
            "SELECT t.number, c.fold, c.points FROM curves c JOIN trials t ON t.id = c.trial_id "
            f"WHERE t.study_id = ?{where} ORDER BY t.number, c.fold",
            args,
        )
    ]


def fold_curves(conn: sqlite3.Connection, trial_ids: Sequence[int]) -> dict[tuple[int, int], bytes]:
    """``(trial_id, fold) -> blob`` of these trials' curves (reuse and merges copy them)."""
    found: dict[tuple[int, int], bytes] = {}
    ids = sorted(set(trial_ids))
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for trial_id, fold, blob in conn.execute(
            f"SELECT trial_id, fold, points FROM curves WHERE trial_id IN ({','.join('?' * len(chunk))})",
            chunk,
        ):
            found[(int(trial_id), int(fold))] = bytes(blob)
    return found
