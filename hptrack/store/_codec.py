"""How schema 4 encodes values compactly: timestamps, fold times and fold keys (stdlib only).

- A trial's ``started``/``finished`` is an integer of microseconds since the Unix epoch
  (UTC); users and views see it as ISO-8601 text, as :func:`~hptrack.store.utcnow` writes it.
- A fold's fit and score times are integer microseconds (the drop-ins round the times
  they hand scikit-learn the same way, so a re-run serves exactly what the first run saw).
- A fold's content key (64 hex digits of sha256) is stored as its first 8 bytes, a signed
  64-bit integer; it is handed back as those 16 hex digits.
"""

from __future__ import annotations

import datetime as _dt
import time

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_ONE_SECOND = 1_000_000


def us_from_iso(text: str | None) -> int | None:
    """An ISO-8601 timestamp as integer microseconds since the epoch (None stays None)."""
    if text is None:
        return None
    moment = _dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.timezone.utc)
    delta = moment - _EPOCH
    return (delta.days * 86400 + delta.seconds) * _ONE_SECOND + delta.microseconds


def iso_from_us(us: int | None) -> str | None:
    """Integer microseconds since the epoch as ISO-8601 UTC text with microseconds."""
    if us is None:
        return None
    moment = _EPOCH + _dt.timedelta(microseconds=int(us))
    return moment.isoformat(timespec="microseconds")


def now_us() -> int:
    """The current UTC time in microseconds since the epoch."""
    return time.time_ns() // 1000


def us_from_seconds(seconds: float | None) -> int | None:
    """A duration in seconds as integer microseconds (None and NaN: None)."""
    if seconds is None or seconds != seconds:
        return None
    return round(seconds * _ONE_SECOND)


def seconds_from_us(us: int | None) -> float | None:
    """Integer microseconds as seconds, exactly as SQL ``us / 1e6`` computes it."""
    return None if us is None else us / 1e6


def rounded_seconds(seconds: float) -> float:
    """``seconds`` as the store gives it back: rounded to the microsecond."""
    us = us_from_seconds(seconds)
    return seconds if us is None else us / 1e6


def key_int(key: str | None) -> int | None:
    """A fold key (hex, 16 digits or more) as the signed 64-bit integer of its first 8 bytes."""
    if key is None:
        return None
    value = int(key[:16], 16)
    return value - (1 << 64) if value >= 1 << 63 else value


def key_hex(value: int | None) -> str | None:
    """A stored fold key as the 16 hex digits it was made from."""
    return None if value is None else format(value & ((1 << 64) - 1), "016x")


def iso_sql(column: str) -> str:
    """SQL that shows an integer-microseconds column as :func:`iso_from_us` text (views)."""
    return (
        f"CASE WHEN {column} IS NULL THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%S', {column} / 1000000, "
        f"'unixepoch') || printf('.%06d+00:00', {column} % 1000000) END"
    )
