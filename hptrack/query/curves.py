"""Learning curves as users read them (``hptrack curves``, the report): what an objective
reported through ``fold.report(step, **values)``, per fold, and their median over folds."""

from __future__ import annotations

import math
import sqlite3
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..store.curves import study_curves, unpack_curve


@dataclass(frozen=True)
class Curve:
    """One fold's learning curve: its steps and each reported value's series (NaN: not reported)."""

    trial: int
    fold: int
    steps: list[int]
    values: dict[str, list[float]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN as null): ``{trial, fold, steps, values: {name: [...]}}``."""
        return {
            "trial": self.trial,
            "fold": self.fold,
            "steps": list(self.steps),
            "values": {k: [None if math.isnan(v) else v for v in vs] for k, vs in self.values.items()},
        }


@dataclass(frozen=True)
class CurveBand:
    """One value's curve of one trial over its folds: per step the median, lowest and highest."""

    trial: int
    name: str
    steps: list[int]
    median: list[float]
    low: list[float]
    high: list[float]
    n_folds: int


def fold_bands(curves: Sequence[Curve]) -> list[CurveBand]:
    """Each (trial, value name)'s median over folds, with the folds' range, per step.

    A step some fold did not report (or reported as NaN) is summarised over the folds that
    did; a step no fold reported a number for is left out.
    """
    grouped: dict[tuple[int, str], dict[int, list[float]]] = {}
    folds: dict[tuple[int, str], set[int]] = {}
    for curve in curves:
        for name, series in curve.values.items():
            at = grouped.setdefault((curve.trial, name), {})
            folds.setdefault((curve.trial, name), set()).add(curve.fold)
            for step, value in zip(curve.steps, series):
                if not math.isnan(value):
                    at.setdefault(step, []).append(value)
    bands = []
    for (trial, name), at in sorted(grouped.items()):
        steps = sorted(at)
        bands.append(
            CurveBand(
                trial=trial,
                name=name,
                steps=steps,
                median=[float(statistics.median(at[s])) for s in steps],
                low=[min(at[s]) for s in steps],
                high=[max(at[s]) for s in steps],
                n_folds=len(folds[(trial, name)]),
            )
        )
    return bands


class StudyCurves:
    """The learning curves of a :class:`~hptrack.query.Study` (a mixin)."""

    _conn: sqlite3.Connection
    id: int

    if TYPE_CHECKING:  # provided by Study, which mixes this class in

        def trial(self, number: int) -> Any: ...

    def curves(self, number: int | None = None) -> list[Curve]:
        """The learning curves the study's objective reported, one per (trial, fold).

        Parameters
        ----------
        number : int, optional
            Only this trial's.

        Returns
        -------
        list of Curve
            By trial number, then fold; empty for a study that reported none (an estimator
            study, or an objective that never called ``fold.report``).

        Raises
        ------
        TrialNotFoundError
            ``number`` is not a trial of the study.

        Examples
        --------
        >>> study.curves(3)[0].values["val_loss"][:2]  # doctest: +SKIP
        [0.71, 0.52]
        """
        if number is not None:
            self.trial(number)  # a clear error for an unknown trial
        out = []
        for trial, fold, blob in study_curves(self._conn, self.id, number):
            steps, values = unpack_curve(blob)
            out.append(Curve(trial=trial, fold=fold, steps=steps, values=values))
        return out
