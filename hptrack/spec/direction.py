"""Which way a study's ranking metric is better (SPEC section 11): ``direction = "maximize"``
(the default, scikit-learn's greater-is-better scores) or ``"minimize"`` (a loss).

:class:`Direction` is the one place that knows the order: rankings, ``best``, sorting,
ties, ``compare``'s regression gate, the store's best-first SQL and the report's "best so
far" and colours all ask it, instead of comparing scores themselves. Only the ranking (first)
metric has a direction; every other metric stays greater-is-better
(``Study.direction_of``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import SpecError

MAXIMIZE = "maximize"
MINIMIZE = "minimize"
DIRECTIONS = (MAXIMIZE, MINIMIZE)


@dataclass(frozen=True)
class Direction:
    """Greater-is-better (``minimize=False``) or lower-is-better (``minimize=True``).

    Parameters
    ----------
    minimize : bool, default=False
        Whether lower values are better (a loss).

    Examples
    --------
    >>> loss = Direction(minimize=True)
    >>> loss.better(0.1, 0.3), sorted([0.3, None, 0.1], key=loss.sort_key)
    (True, [0.1, 0.3, None])
    """

    minimize: bool = False

    @classmethod
    def named(cls, name: str) -> Direction:
        """The direction called ``name`` (``"maximize"`` or ``"minimize"``)."""
        return MINIMIZING if name == MINIMIZE else MAXIMIZING

    @classmethod
    def of_spec(cls, spec: Mapping[str, Any]) -> Direction:
        """The direction of a stored spec dict; one without ``direction`` (every spec written
        before it existed) maximizes."""
        return cls.named(spec.get("direction", MAXIMIZE))

    @property
    def name(self) -> str:
        """``"maximize"`` or ``"minimize"``."""
        return MINIMIZE if self.minimize else MAXIMIZE

    @property
    def better_word(self) -> str:
        """``"higher"`` or ``"lower"``: which way is better, for messages and captions."""
        return "lower" if self.minimize else "higher"

    @property
    def sign(self) -> float:
        """``1.0``, or ``-1.0`` when minimizing: ``sign * value`` is greater-is-better."""
        return -1.0 if self.minimize else 1.0

    @property
    def worse_word(self) -> str:
        """``"below"`` or ``"above"``: where a worse value lies, for messages."""
        return "above" if self.minimize else "below"

    def key(self, value: float | None) -> float:
        """A greater-is-better key: the value, negated when minimizing; -inf for None or NaN."""
        if value is None or math.isnan(value):
            return -math.inf
        return -value if self.minimize else value

    def sort_key(self, value: float | None) -> float:
        """A key that sorts best first (missing and NaN last): ``sorted(values, key=sort_key)``."""
        return -self.key(value)

    def better(self, a: float | None, b: float | None) -> bool:
        """Whether ``a`` is strictly better than ``b`` (a missing or NaN value never is)."""
        return self.key(a) > self.key(b)

    def best(self, values: Iterable[float]) -> float:
        """The best of (non-empty, NaN-free) ``values``."""
        return min(values) if self.minimize else max(values)

    def worst(self, values: Iterable[float]) -> float:
        """The worst of (non-empty, NaN-free) ``values``."""
        return max(values) if self.minimize else min(values)

    def gain(self, new: float, old: float) -> float:
        """How much better ``new`` is than ``old`` (negative: worse): ``new - old`` when
        maximizing, ``old - new`` when minimizing."""
        return old - new if self.minimize else new - old

    def goodness(self, value: float, lo: float, hi: float) -> float:
        """``value``'s place in ``[lo, hi]`` from worst (0) to best (1); 0.5 when ``lo == hi``."""
        if hi == lo:
            return 0.5
        t = (value - lo) / (hi - lo)
        return 1.0 - t if self.minimize else t

    @property
    def sql_order(self) -> str:
        """``ORDER BY score <this>``: best first, NULL scores last."""
        return "ASC NULLS LAST" if self.minimize else "DESC"

    @property
    def sql_best(self) -> str:
        """The SQL aggregate of the best score (``min`` or ``max``)."""
        return "min" if self.minimize else "max"

    @property
    def sql_at_least(self) -> str:
        """The SQL operator for "at least as good as" (``<=`` or ``>=``)."""
        return "<=" if self.minimize else ">="


MAXIMIZING = Direction(minimize=False)
MINIMIZING = Direction(minimize=True)


def parse_direction(value: object, where: str) -> str:
    """``value`` if it is ``"maximize"`` or ``"minimize"``, else a one-line :class:`SpecError`."""
    if not isinstance(value, str) or value not in DIRECTIONS:
        import difflib

        close = difflib.get_close_matches(str(value), DIRECTIONS, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise SpecError(
            f"{where}direction = {value!r} must be 'maximize' or 'minimize'{hint} "
            "(default 'maximize'; 'minimize' ranks the first metric lowest-first)"
        )
    return value
