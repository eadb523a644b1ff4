"""A study's pending trials, paged: stored pending rows and numbers never claimed, computed from its space.

A lazy study (SPEC section 1) stores a trial only once it is claimed, so most of a large
grid's pending trials have no row. :func:`pending_rows` lists a page of them in number
order, each never-claimed one with the params its number gets when it is claimed (grid
point ``i``, random draw ``i``), without writing anything.
"""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING, Any

from .._json import canonical_json, describe
from ..errors import SpecError
from ..spec import base_search, space_candidates, stored_space, to_param
from ..store import reads
from ..store.claims import pending_numbers

if TYPE_CHECKING:
    from .trials import Trial


def pending_rows(
    conn: sqlite3.Connection, study: Any, *, offset: int = 0, limit: int = 100
) -> list[tuple[Any, ...]]:
    """Trial rows (as :func:`~hptrack.store.reads.trial_rows`) of pending trials ``offset..offset+limit``.

    A never-claimed trial gets a row with no id, its params computed from the stored
    spec's space and its seeds as a run would record them.
    """
    numbers = pending_numbers(conn, study.id, offset=offset, limit=limit)
    rows: list[tuple[Any, ...]] = []
    candidates = None
    for number in numbers:
        stored = reads.trial_rows(conn, study.id, number=number)
        if stored:
            rows.extend(stored)
            continue
        if candidates is None:
            spec = study.spec
            space = stored_space(spec.get("space", {}))
            candidates = space_candidates(
                base_search(study.search), space, study.seed, spec.get("n_trials"), convert=to_param
            )
        seed = {
            **study.provenance.get("seeds", {}),
            **({"sample": [study.seed, number]} if base_search(study.search) == "random" else {}),
        }
        params = json.loads(describe(candidates[number]).text)
        rows.append(
            (None, number, canonical_json(params), "pending", None, canonical_json(seed)) + (None,) * 8
        )
    return rows


class StudyPending:
    """:class:`~hptrack.query.Study`'s pages of pending trials (mixed in)."""

    _conn: sqlite3.Connection

    if TYPE_CHECKING:  # provided by Study, which mixes this class in

        def _build(self, rows: list[tuple[Any, ...]], *, whole_study: bool) -> list[Trial]: ...

    def pending(self, *, offset: int = 0, limit: int = 100) -> list[Trial]:
        """A page of the study's pending trials, in number order, whether stored or never claimed.

        A large grid's trials are stored only once claimed; the others are listed with the
        params their number gets (grid point ``i``, random draw ``i``), nothing written.

        Parameters
        ----------
        offset : int, default=0
            Skip this many pending trials.
        limit : int, default=100
            At most this many.

        Returns
        -------
        list of Trial
            Status ``pending``, no scores.

        Raises
        ------
        SpecError
            ``offset < 0`` or ``limit < 1``.
        """
        if offset < 0 or limit < 1:
            raise SpecError(f"offset = {offset!r} must be >= 0 and limit = {limit!r} >= 1")
        return self._build(pending_rows(self._conn, self, offset=offset, limit=limit), whole_study=False)
