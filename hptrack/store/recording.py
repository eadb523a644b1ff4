"""Opening a store to record a command's run, falling back to read-only when it cannot be written."""

from __future__ import annotations

from pathlib import Path

from ..errors import StoreError
from ._sqlite import default_store_path
from .writer import Writer


def open_to_record(path: str | Path | None) -> tuple[Writer, str | None]:
    """Open a store writable so that a command can record its run; else read-only, saying why.

    For commands that only read a study but belong in its history (``verify``): a store
    that cannot be written (read-only media, an archive) still serves them, unrecorded.
    A missing or empty file is never created: it gets the read-only open's error.

    Returns
    -------
    (Writer, str or None)
        The writer (``readonly`` when it cannot write), and why nothing will be recorded.
    """
    target = Path(path) if path is not None else default_store_path()
    if not target.is_file() or target.stat().st_size == 0:
        return Writer(target, readonly=True), None  # raises: nothing to read
    try:
        return Writer(target), None
    except StoreError as exc:
        writer = Writer(target, readonly=True)  # a file no hptrack can read raises here
        return writer, f"{target} cannot be written ({exc}), so this command is not recorded in its history"
