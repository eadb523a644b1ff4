"""The one ranking routine: scikit-learn's ``min`` ranks, greater is better unless the
direction says lower (``direction = "minimize"``, :class:`~hptrack.spec.Direction`).

A value's rank is 1 + the number of values that score strictly better, so ties share
the lowest rank (``rankdata(-values, method="min")``). Missing and NaN values get no
rank. The study's ranks, the export's ``rank_test_<metric>`` columns and the
``cv_results_`` layout all come from :func:`min_ranks`.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from typing import Any

from ..spec.direction import MAXIMIZING, Direction


def min_ranks(
    values: Sequence[float | None],
    *,
    among: Iterable[float | None] | None = None,
    direction: Direction = MAXIMIZING,
) -> list[int | None]:
    """``min`` ranks of ``values`` (greater is better); None for a missing or NaN value.

    Parameters
    ----------
    values : sequence of float or None
        The values to rank.
    among : iterable of float or None, optional
        The values ranked against (default ``values`` themselves), e.g. every complete
        trial of a study when only a few of them are ranked. Missing and NaN ones are
        ignored.
    direction : Direction, default maximize
        ``Direction(minimize=True)`` ranks the lowest value first (a loss).

    Returns
    -------
    list of int or None
        1 + how many values of ``among`` are strictly better (greater, or lower when minimizing).

    Examples
    --------
    >>> min_ranks([0.9, None, 0.95, 0.9])
    [2, None, 1, 2]
    >>> min_ranks([0.9, None, 0.95, 0.9], direction=Direction(minimize=True))
    [1, None, 3, 1]
    """
    population = values if among is None else among
    sign = -direction.sign  # best first when sorted ascending
    best_first = sorted(sign * float(v) for v in population if not _missing(v))  # type: ignore[arg-type]
    return [
        None if _missing(v) else 1 + bisect.bisect_left(best_first, sign * float(v))  # type: ignore[arg-type]
        for v in values
    ]


def min_rank(values: Any) -> Any:
    """scikit-learn's ``rank_test_*``: :func:`min_ranks`, NaN tied with the worst, as an int32 array.

    All-NaN input ranks every candidate 1, as scikit-learn does.
    """
    import numpy as np

    means = np.asarray(values, dtype=np.float64)
    if means.size == 0:
        return np.zeros(0, dtype=np.int32)
    if np.isnan(means).all():
        return np.ones_like(means, dtype=np.int32)
    filled = np.where(np.isnan(means), np.nanmin(means) - 1, means)
    return np.array(min_ranks(filled.tolist()), dtype=np.int32)


def _missing(value: float | None) -> bool:
    """None or NaN: a value with no rank."""
    return value is None or math.isnan(value)
