"""How values read on a report page: parameter values, times, durations, hashes, page names.

Scores go through :func:`hptrack._format.number`, the one number format shared with the
CLI; the report passes ``missing=MISSING`` (an en dash) where the terminal prints "-".
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from .._format import DECIMALS, short
from .context import Field, ParamValue

__all__ = [
    "DECIMALS",
    "MISSING",
    "duration",
    "hash_field",
    "page_names",
    "param_values",
    "parse_time",
    "timestamp",
    "value_text",
]

MISSING = "–"  # shown for a value that does not exist


def value_text(value: Any) -> str:
    """A parameter value as text: strings as they are, anything else as JSON.

    Examples
    --------
    >>> value_text("rbf"), value_text(0.1), value_text(None), value_text(True)
    ('rbf', '0.1', 'null', 'true')
    """
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if kind is int or (kind is float and math.isfinite(value)):
        return repr(value)  # what json.dumps writes, faster
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def param_values(params: Mapping[str, Any]) -> tuple[ParamValue, ...]:
    """A trial's params as page values, sorted by name."""
    return tuple(ParamValue(k, value_text(v)) for k, v in sorted(params.items()))


def parse_time(value: str | None) -> _dt.datetime | None:
    """A stored ISO-8601 time as an aware UTC datetime (naive means UTC); None if unreadable."""
    if not value:
        return None
    try:
        parsed = _dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_dt.timezone.utc)
    return parsed.astimezone(_dt.timezone.utc)


def timestamp(value: str | None) -> str:
    """``2024-05-01 12:30:05 UTC`` (the stored text if it is not ISO-8601).

    Examples
    --------
    >>> timestamp("2024-05-01T12:30:05+00:00"), timestamp(None)
    ('2024-05-01 12:30:05 UTC', '–')
    """
    parsed = parse_time(value)
    if parsed is None:
        return value or MISSING
    return parsed.strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(start: str | None, end: str | None) -> str:
    """Wall time from ``start`` to ``end``: ``4.2 s``, ``3 min 05 s``, ``2 h 07 min``.

    Examples
    --------
    >>> duration("2024-05-01T12:00:00", "2024-05-01T12:03:05")
    '3 min 05 s'
    """
    begin, finish = parse_time(start), parse_time(end)
    if begin is None or finish is None or finish < begin:
        return MISSING
    seconds = (finish - begin).total_seconds()
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    if whole < 86400:
        return f"{whole // 3600} h {whole % 3600 // 60:02d} min"
    return f"{whole // 86400} d {whole % 86400 // 3600:02d} h"


def hash_field(label: str, hash_value: str | None) -> Field:
    """A hash as a labelled field: 12 characters shown, the full digest kept in ``full``."""
    return Field(label, short(hash_value, missing=MISSING), hash_value or "")


def page_names(names: Iterable[str]) -> dict[str, str]:
    """A distinct, filesystem-safe page file name per study (case-insensitively distinct).

    Examples
    --------
    >>> page_names(["SVC v1", "svc-v1", "index"])
    {'SVC v1': 'svc-v1.html', 'svc-v1': 'svc-v1-2.html', 'index': 'index-2.html'}
    """
    taken = {"index"}
    pages: dict[str, str] = {}
    for name in names:
        slug = re.sub(r"[^a-z0-9_.-]+", "-", name.lower()).strip("-.")[:80] or "study"
        candidate, n = slug, 2
        while candidate in taken:
            candidate, n = f"{slug}-{n}", n + 1
        taken.add(candidate)
        pages[name] = f"{candidate}.html"
    return pages
