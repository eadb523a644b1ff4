"""Which trials are statistically tied with the best: the corrected resampled t-test per trial.

Every trial of a study uses the same splits, so fold ``i`` of one trial pairs with fold
``i`` of the best; :mod:`hptrack.query.stats` tests all the pairs in one vectorised pass.
:func:`ties_with_best` is pure computation on fold scores; :class:`StudyTies` (mixed into
:class:`~hptrack.query.Study`) gathers them from the store.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import SpecError
from ..spec.direction import MAXIMIZING, Direction
from ..store import json_safe, reads
from ..store.provenance import complete_data_hashes
from .stats import TEST_NAME, corrected_ttests

if TYPE_CHECKING:
    from .trials import Trial

ALPHA = 0.05  # significance level of the tied-with-best test


class _HasCV(Protocol):
    """What :func:`fold_size_ratio` reads of a study."""

    spec: dict[str, Any]
    n_folds: int


@dataclass(frozen=True)
class TiesWithBest:
    """Which complete trials of a study are statistically tied with its best.

    ``p_values`` maps each complete trial's number to its two-sided p-value against
    the best trial (1.0 for the best itself; None when a fold score is NaN). When no
    test is possible (one fold, no complete trial) ``reason`` says why and
    ``p_values`` is empty. Trials scored on other data than the best (another data
    fingerprint, after ``resume --allow-code-change``) are in ``not_comparable``: not
    tested, so neither tied nor not tied.
    """

    study: str
    metric: str
    alpha: float
    best: int | None
    n_folds: int
    test_train_ratio: float | None
    scheme: str
    reason: str | None
    p_values: dict[int, float | None]
    means: dict[int, float | None] = field(default_factory=dict)
    # complete trials scored on other data than the best (data hash): never paired with it
    not_comparable: tuple[int, ...] = ()
    best_data_hash: str | None = None
    direction: Direction = MAXIMIZING  # of ``metric``: which way "best" and the order go

    @property
    def tested(self) -> bool:
        """True when the test could run (two or more folds, a best trial)."""
        return self.reason is None

    @property
    def tied(self) -> list[int]:
        """Numbers of the trials tied with the best (the best first, then by mean, best first)."""
        numbers = [n for n, p in self.p_values.items() if p is not None and p >= self.alpha]
        best_first = self.direction.sort_key
        return sorted(numbers, key=lambda n: (n != self.best, best_first(self.means.get(n)), n))

    def is_tied(self, number: int) -> bool | None:
        """True/False for a tested complete trial; None when untested."""
        p = self.p_values.get(number)
        return None if p is None else p >= self.alpha

    def for_trial(self, number: int) -> dict[str, Any]:
        """The per-trial JSON keys ``tied_with_best`` and ``p_vs_best``."""
        return {"tied_with_best": self.is_tied(number), "p_vs_best": self.p_values.get(number)}

    def statement(self) -> str:
        """One line: the test, its parameters and assumptions (or why there is none)."""
        if self.reason is not None:
            return f"tied with best: no test ({self.reason})"
        ratio = _fraction(self.test_train_ratio)
        text = (
            f"tied: p >= {self.alpha:g} against best #{self.best} in a two-sided corrected resampled "
            f"t-test (Nadeau & Bengio 2003) of {self.metric} over {self.n_folds} paired folds, "
            f"n_test/n_train = {ratio} ({self.scheme}); assumes every trial used the same splits; "
            "approximate, as folds overlap"
        )
        if self.not_comparable:
            text += (
                f"; {len(self.not_comparable)} trial(s) ({numbers_text(self.not_comparable)}) were "
                f"scored on other data than the best (data {short_hash(self.best_data_hash)}): "
                "not comparable, not tested"
            )
        return text

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``tied --json``, the report)."""
        return json_safe(
            {
                "test": TEST_NAME,
                "metric": self.metric,
                "alpha": self.alpha,
                "best": self.best,
                "n_folds": self.n_folds,
                "test_train_ratio": self.test_train_ratio,
                "scheme": self.scheme,
                "tested": self.tested,
                "reason": self.reason,
                "tied": self.tied,
                "p_values": {str(n): p for n, p in sorted(self.p_values.items())},
                "not_comparable": list(self.not_comparable),
                "statement": self.statement(),
            }
        )


def _fraction(ratio: float | None) -> str:
    """A test/train ratio as ``1/k`` when it is one."""
    if ratio is None:
        return "-"
    if ratio > 0 and abs(1 / ratio - round(1 / ratio)) < 1e-9:
        return f"1/{round(1 / ratio)}"
    return f"{ratio:.4g}"


def short_hash(value: str | None) -> str:
    """The 12-character prefix a hash is shown as (``-`` for none)."""
    return value[:12] if value else "-"


def numbers_text(numbers: Iterable[int], limit: int = 6) -> str:
    """Trial numbers as ``#0-4, #7, #9`` (runs collapsed), at most ``limit`` runs then ``...``."""
    runs: list[list[int]] = []
    for n in sorted(numbers):
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    parts = [f"#{a}" if a == b else f"#{a}-{b}" for a, b in runs[:limit]]
    return ", ".join(parts) + (", ..." if len(runs) > limit else "")


# A trial with a recorded fold: finished ones have all theirs; only claimed or released


def nan_mean(values: Sequence[float]) -> float | None:
    """The mean, None when there is no value or one is NaN."""
    if not values or _has_nan(values):
        return None
    return math.fsum(values) / len(values)


def _has_nan(values: Sequence[float]) -> bool:
    """Whether a value is NaN (their plain sum is NaN first: one check per list, mostly)."""
    total = sum(values)
    return total != total and any(math.isnan(v) for v in values)


def fold_size_ratio(study: _HasCV) -> tuple[float | None, str]:
    """``n_test / n_train`` of a study's folds for the corrected t-test, and how it was derived.

    Exact fold sizes are not stored; they follow from the CV scheme: ``1/(k-1)`` for
    k-fold (stratified, group) splits, ``test_size/(1-test_size)`` for a holdout split,
    which has a single fold and so allows no paired test (the ratio is then None).
    """
    cv = study.spec.get("cv") if isinstance(study.spec.get("cv"), Mapping) else {}
    kind = cv.get("kind") if isinstance(cv, Mapping) else None
    k = study.n_folds
    if kind == "holdout" or k < 2:
        size = cv.get("test_size") if isinstance(cv, Mapping) else None
        what = f"a holdout split (test_size {size})" if kind == "holdout" else f"{k} fold"
        return None, f"{what} has one fold, so no paired test is possible"
    scheme = (
        f"{k}-fold" if kind in ("kfold", "stratified", "group", "default") else f"{k} folds, assumed k-fold"
    )
    return 1.0 / (k - 1), scheme


def ties_with_best(
    *,
    study: str,
    metric: str,
    alpha: float,
    n_folds: int,
    folds: Mapping[int, list[float]],
    best: int | None,
    ratio: float | None,
    scheme: str,
    data_of: Mapping[int, str | None],
    direction: Direction = MAXIMIZING,
) -> TiesWithBest:
    """Test each complete trial's fold scores against the best trial's.

    Parameters
    ----------
    study, metric : str
        What is tested (for the statement).
    alpha : float
        Significance level.
    n_folds : int
        Folds per trial.
    folds : dict of int -> list of float
        Fold scores of ``metric`` by trial number (NaN where missing).
    best : int or None
        The best trial's number; None: no complete trial yet.
    ratio : float or None
        ``n_test / n_train`` (:func:`fold_size_ratio`); None: no paired test possible.
    scheme : str
        How ``ratio`` was derived, or why there is none.
    data_of : dict of int -> str
        The data fingerprint each complete trial was scored under: trials scored on
        other data than the best are not comparable.
    direction : Direction, default maximize
        Which way ``metric`` is better: the order of :attr:`TiesWithBest.tied`. The test
        is two-sided, so the p-values do not depend on it; ``best`` does (the caller's).

    Returns
    -------
    TiesWithBest
    """
    reason: str | None = None
    if best is None:  # complete trials whose scorer failed on every fold have no rank either
        reason = f"no complete trial has a {metric} score" if folds else "no complete trial yet"
    elif ratio is None:
        reason = scheme
    p_values: dict[int, float | None] = {}
    not_comparable: list[int] = []
    best_data: str | None = None
    if reason is None and best is not None and ratio is not None:
        best_scores = folds[best]
        best_data = data_of.get(best)
        tested: list[int] = []
        best_has_nan = _has_nan(best_scores)
        for number, scores in folds.items():
            data = data_of.get(number)
            if data and best_data and data != best_data:  # fold i held other values
                not_comparable.append(number)
            elif best_has_nan or _has_nan(scores):
                p_values[number] = None
            else:
                p_values[number] = None  # keeps the trials' order; the p-value follows
                tested.append(number)
        results = corrected_ttests(((best_scores, folds[n]) for n in tested), test_train_ratio=ratio)
        p_values.update((n, result.p_value) for n, result in zip(tested, results))
    return TiesWithBest(
        study=study,
        metric=metric,
        alpha=alpha,
        best=best,
        n_folds=n_folds,
        test_train_ratio=ratio,
        scheme=scheme,
        reason=reason,
        p_values=p_values,
        means={n: nan_mean(v) for n, v in folds.items()},
        not_comparable=tuple(not_comparable),
        best_data_hash=best_data,
        direction=direction,
    )


def complete_fold_scores(trials: Iterable[Any], metric: str) -> dict[int, list[float]]:
    """The fold scores of ``metric`` per complete trial number, NaN where missing, from trials
    already read (:meth:`Study.trials`): what :func:`fold_scores_by_trial` gives from the store."""
    return {
        t.number: [math.nan if v is None else v for v in t.scores[metric]]
        for t in trials
        if t.status == "complete"
    }


def fold_scores_by_trial(
    rows: Iterable[tuple[int, int, float | None]], n_folds: int
) -> dict[int, list[float]]:
    """(number, fold, score) rows as fold scores per trial number, NaN where missing."""
    by_number: dict[int, list[float]] = {}
    for number, fold, test in rows:
        if 0 <= fold < n_folds:
            score = math.nan if test is None else float(test)
            by_number.setdefault(number, [math.nan] * n_folds)[fold] = score
    return by_number


# --------------------------------------------------------------------------- on a study


class StudyTies:
    """:class:`~hptrack.query.Study`'s tied-with-best test (mixed in)."""

    _conn: sqlite3.Connection
    id: int
    name: str
    metric: str
    n_folds: int
    spec: dict[str, Any]

    if TYPE_CHECKING:  # provided by Study, which mixes this class in

        def _check_metric(self, metric: str) -> str: ...

        def direction_of(self, metric: str) -> Direction: ...

    def tied_with_best(
        self, *, metric: str | None = None, alpha: float = ALPHA, trials: Sequence[Trial] | None = None
    ) -> TiesWithBest:
        """Which complete trials are statistically indistinguishable from the best.

        Each complete trial's fold scores are paired with the best trial's (every trial
        of a study uses the same splits) and compared with Nadeau and Bengio's corrected
        resampled t-test (:func:`hptrack.query.stats.corrected_ttest`), ``n_test/n_train``
        derived from the CV scheme (``1/(k-1)`` for k folds). A trial is tied with the
        best when its two-sided p-value is at least ``alpha``.

        Only trials scored on the same data as the best (same data fingerprint) are
        paired: after the data changed and the study was resumed with
        ``--allow-code-change``, fold ``i`` holds other values, so a trial scored on the
        other data is ``not_comparable`` (neither tied nor tested). A different code hash
        does not stop the pairing (the splits and data are what pairing needs; code that
        changes scores is reported by :meth:`provenance_warnings`).

        Parameters
        ----------
        metric : str, optional
            The metric to compare on; default the ranking metric.
        alpha : float, default=0.05
            Significance level.
        trials : sequence of Trial, optional
            The study's trials, when already read (:meth:`trials`): their fold scores and
            data fingerprints are not read again.

        Returns
        -------
        TiesWithBest
            p-values by trial number; ``reason`` says why there is no test (a holdout
            split has one fold: nothing to pair).
        """
        if not 0.0 < alpha < 1.0:
            raise SpecError(f"alpha = {alpha!r} must be between 0 and 1 (e.g. 0.05)")
        metric = self._check_metric(metric) if metric is not None else self.metric
        if trials is not None:
            folds = complete_fold_scores(trials, metric)
        else:
            folds = fold_scores_by_trial(reads.metric_fold_scores(self._conn, self.id, metric), self.n_folds)
        best = self._best_number(metric, folds)
        ratio, scheme = fold_size_ratio(self)
        data_of: Mapping[int, str | None] = {}
        if best is not None and ratio is not None:
            if trials is not None:
                data_of = {t.number: t.data_hash for t in trials if t.status == "complete"}
            else:
                data_of = complete_data_hashes(self._conn, self.id)
        return ties_with_best(
            study=self.name,
            metric=metric,
            alpha=alpha,
            n_folds=self.n_folds,
            folds=folds,
            best=best,
            ratio=ratio,
            scheme=scheme,
            data_of=data_of,
            direction=self.direction_of(metric),
        )

    def _best_number(self, metric: str, folds: Mapping[int, list[float]]) -> int | None:
        """The best complete trial by ``metric`` (as :meth:`best`: lowest number among ties)."""
        direction = self.direction_of(metric)
        if metric == self.metric:
            return reads.best_number(self._conn, self.id, direction, last_rung=self.halving)
        means = {n: nan_mean(v) for n, v in folds.items()}
        scored = [(direction.sort_key(m), n) for n, m in means.items() if m is not None]
        return min(scored)[1] if scored else None
