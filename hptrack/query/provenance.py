"""Which code and data trials were scored under: hash uses, and warnings when they are mixed."""

from __future__ import annotations

import shlex
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..store import reads
from .ties import numbers_text, short_hash
from .trials import Trial


@dataclass(frozen=True)
class HashUse:
    """A code or data hash that trials of a study were scored under."""

    hash: str
    n_trials: int
    first_started: str | None
    last_started: str | None


def hashes_in_order(conn: sqlite3.Connection, study_id: int, kind: str) -> list[str]:
    """The distinct ``kind`` (``"code"``/``"data"``) hashes of scored trials, in order of first use."""
    distinct = reads.distinct_hashes(conn, study_id, kind)
    return distinct if len(distinct) < 2 else [use.hash for use in hash_uses(conn, study_id, kind)]


def hash_uses(conn: sqlite3.Connection, study_id: int, kind: str) -> list[HashUse]:
    """The ``kind`` hashes that trials with a recorded fold ran under, in order of first use."""
    return [HashUse(*row) for row in reads.hash_use_rows(conn, study_id, kind)]


def provenance_warnings(
    conn: sqlite3.Connection,
    *,
    study_id: int,
    name: str,
    created: Mapping[str, str],
    best: Callable[[], Trial | None],
    store_option: str,
) -> list[str]:
    """The warnings of :meth:`Study.provenance_warnings`.

    ``created`` holds the code and data hash the study was created with; ``best`` gives
    its best trial (looked up once, only when hashes are mixed); ``store_option`` is the
    `` --store PATH`` of the hint it gives.
    """
    warnings: list[str] = []
    found: list[Trial | None] = []
    for kind, label in (("code", "code hashes"), ("data", "data fingerprints")):
        distinct = reads.distinct_hashes(conn, study_id, kind)
        if len(distinct) == 1 and created[kind] and distinct[0] != created[kind]:
            warnings.append(
                f"study {name!r}: every trial was scored under {kind} {short_hash(distinct[0])}, "
                f"not the {kind} the study was created with ({short_hash(created[kind])})"
            )
        if len(distinct) < 2:
            continue
        if not found:
            found.append(best())
        text = _mixed_text(conn, study_id, name, kind, label, found[0])
        show = f"hptrack show {shlex.quote(name)} NUMBER{store_option}"
        warnings.append(f"{text} (`{show}` gives a trial's hashes)")
    return warnings


def _mixed_text(
    conn: sqlite3.Connection, study_id: int, name: str, kind: str, label: str, best: Trial | None
) -> str:
    """How many trials were scored under each ``kind`` hash, and whether the best is under an old one."""
    uses = hash_uses(conn, study_id, kind)
    numbers = reads.numbers_by_hash(conn, study_id, kind)
    listed = "; ".join(
        f"{short_hash(u.hash)}: {u.n_trials} trial(s) ({numbers_text(numbers.get(u.hash, []))})" for u in uses
    )
    text = (
        f"study {name!r}: trials were scored under {len(uses)} different {label} ({listed}); "
        f"scores from different {kind} may not be comparable"
    )
    current = max(uses, key=lambda u: (u.last_started or "", u.n_trials)).hash
    best_hash = None if best is None else getattr(best, f"{kind}_hash")
    if best is not None and best_hash and best_hash != current:
        text += (
            f"; the best trial #{best.number} was scored under {kind} {short_hash(best_hash)}, "
            f"not the current {short_hash(current)}"
        )
    return text
