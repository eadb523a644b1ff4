"""Which hyperparameters matter: functional ANOVA of the mean test score (SPEC section 10).

The importance of a parameter is the share of the variance of the mean test score across
configurations that its main effect explains; a pair's importance is its interaction share
(Hooker 2007; Hutter, Hoos & Leyton-Brown 2014).

- **Exact**, when the complete trials form a full factorial design (every combination of
  the parameters' values exactly once, as a complete grid does): the decomposition is
  computed from the scores themselves, no model is fitted.
- **Estimated** otherwise: a random forest (scikit-learn, seeded by the study seed) is
  fitted to the complete trials, and the same decomposition is computed over its
  predictions on a product design (each parameter's observed values, or quantiles of them).

Intervals come from resampling folds. Each configuration's mean test score is an average
over the same ``k`` folds; drawing ``k`` folds with replacement (the same draw for every
configuration, so the pairing across configurations is kept) and recomputing the shares
from those means shows how much the shares move with fold-to-fold variation. The
interval is the 2.5th to 97.5th percentile over the resamples. For the forest, the trees'
partitions are kept and only their leaf values are recomputed per resample, so the
interval reflects the folds, not the forest's own randomness. A study with one fold
(holdout) has no interval: ``low`` and ``high`` are None (``null`` in JSON).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..errors import SpecError
from .surrogate import ABSENT, N_TREES, Surrogate, category

RESAMPLES_EXACT = 200
RESAMPLES_SURROGATE = 50
CONFIDENCE = 0.95
MAX_SURROGATE_TRIALS = 2000  # a larger study's surrogate is fitted to a seeded sample of its trials


@dataclass(frozen=True)
class Share:
    """The importance of one parameter or one pair of parameters.

    Parameters
    ----------
    params : tuple of str
        One name (a main effect) or two (an interaction).
    share : float
        Share of the variance of the mean test score, in [0, 1].
    low, high : float or None
        The interval over fold resamples (:data:`CONFIDENCE`); None with one fold, which
        has nothing to resample.
    """

    params: tuple[str, ...]
    share: float
    low: float | None
    high: float | None

    def to_dict(self) -> dict[str, Any]:
        """``{"params": [...], "share", "low", "high"}``.

        Returns
        -------
        dict
        """
        return {"params": list(self.params), "share": self.share, "low": self.low, "high": self.high}


@dataclass(frozen=True)
class Importance:
    """Parameter importance of one study and metric (:meth:`Study.importance`).

    Parameters
    ----------
    study, metric : str
    method : {"exact", "surrogate"}
        Exact functional ANOVA of a full factorial design, or of a random-forest surrogate.
    n_trials, n_folds : int
        The complete trials used, and their folds.
    resamples : int
        Fold resamples behind the intervals (0 with one fold).
    params : tuple of Share
        One per parameter, most important first.
    pairs : tuple of Share
        One per pair of parameters that both vary, largest interaction first.
    note : str
        How the shares were computed, in a sentence.
    """

    study: str
    metric: str
    method: str
    n_trials: int
    n_folds: int
    resamples: int
    params: tuple[Share, ...]
    pairs: tuple[Share, ...]
    note: str

    def share(self, name: str) -> float:
        """The share of parameter ``name``.

        Parameters
        ----------
        name : str

        Returns
        -------
        float
        """
        for item in self.params:
            if item.params == (name,):
                return item.share
        raise KeyError(name)

    def ranking(self) -> list[str]:
        """Parameter names, most important first.

        Returns
        -------
        list of str
        """
        return [item.params[0] for item in self.params]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: what ``hptrack importance --json`` prints.

        Returns
        -------
        dict
        """
        return {
            "study": self.study,
            "metric": self.metric,
            "method": self.method,
            "n_trials": self.n_trials,
            "n_folds": self.n_folds,
            "resamples": self.resamples,
            "confidence": CONFIDENCE,
            "params": [item.to_dict() for item in self.params],
            "pairs": [item.to_dict() for item in self.pairs],
            "note": self.note,
        }


def compute_importance(
    *,
    study: str,
    metric: str,
    seed: int,
    params: Mapping[int, Mapping[str, Any]],
    folds: Mapping[int, Sequence[float]],
    log_scaled: Sequence[str] = (),
) -> Importance:
    """Importance from complete trials: ``params`` and fold ``folds`` scores by trial number.

    Parameters
    ----------
    study, metric : str
        Named in the result.
    seed : int
        Seeds the fold resamples and the surrogate forest.
    params : mapping of int to dict
        Each complete trial's params.
    folds : mapping of int to list of float
        Each complete trial's test scores, one per fold.
    log_scaled : sequence of str
        Parameters sampled on a log scale (their values are read as logarithms).

    Returns
    -------
    Importance

    Raises
    ------
    SpecError
        Fewer than two complete trials with every fold scored.
    """
    import numpy as np

    numbers = [n for n in sorted(params) if n in folds and all(math.isfinite(s) for s in folds[n])]
    if len(numbers) < 2:
        raise SpecError(
            f"study {study!r} has {len(numbers)} complete trial(s) with every fold of {metric} "
            "scored; importance needs at least 2"
        )
    names = sorted({key for n in numbers for key in params[n]})
    scores = np.array([list(folds[n]) for n in numbers], dtype=float)  # trials x folds
    values = [[category(params[n].get(name, ABSENT)) for name in names] for n in numbers]
    rng = np.random.default_rng(seed)
    k = scores.shape[1]
    resamples = 0 if k < 2 else None
    cube = _full_factorial(values, len(names))
    if cube is not None:
        levels, index = cube
        resamples = RESAMPLES_EXACT if resamples is None else 0
        weights = _fold_weights(rng, k, resamples)
        means = _cell_array(scores @ weights.T, levels, index)  # levels... x (1 + resamples)
        mains, pairs = _decompose(means)
        method = "exact"
        note = f"exact functional ANOVA of a full factorial design ({len(numbers)} configurations)"
    else:
        resamples = RESAMPLES_SURROGATE if resamples is None else 0
        weights = _fold_weights(rng, k, resamples)
        fitted = numbers
        if len(numbers) > MAX_SURROGATE_TRIALS:  # a seeded sample: the forest needs no more
            rows = np.sort(rng.choice(len(numbers), MAX_SURROGATE_TRIALS, replace=False))
            fitted, scores = [numbers[i] for i in rows], scores[rows]
        design = Surrogate(names, fitted, params, set(log_scaled), seed)
        means = design.predict_cells(scores @ weights.T)
        mains, pairs = _decompose(means)
        method = "surrogate"
        sample = f" (a seeded sample of {len(fitted)})" if len(fitted) < len(numbers) else ""
        note = (
            f"functional ANOVA of a random-forest surrogate ({N_TREES} trees, seed {seed}) fitted "
            f"to {len(numbers)} complete trials{sample}"
        )
    main_shares = [_share((names[i],), mains[i]) for i in range(len(names))]
    pair_shares = [_share((names[i], names[j]), v) for (i, j), v in pairs.items()]
    return Importance(
        study=study,
        metric=metric,
        method=method,
        n_trials=len(numbers),
        n_folds=k,
        resamples=resamples,
        params=tuple(sorted(main_shares, key=lambda s: (-s.share, s.params))),
        pairs=tuple(sorted(pair_shares, key=lambda s: (-s.share, s.params))),
        note=note,
    )


# --------------------------------------------------------------------------- the decomposition


def _full_factorial(values: list[list[Any]], d: int) -> tuple[list[list[Any]], list[tuple[int, ...]]] | None:
    """Levels per parameter and each trial's cell, when the trials are every cell exactly once."""
    if any(ABSENT in row for row in values):
        return None
    distinct = [{row[i] for row in values} for i in range(d)]
    if math.prod(len(found) for found in distinct) != len(values):  # before sorting thousands of floats
        return None
    levels = [sorted(found, key=_order) for found in distinct]
    positions = [{v: j for j, v in enumerate(lv)} for lv in levels]
    index = [tuple(positions[i][row[i]] for i in range(d)) for row in values]
    if len(set(index)) != len(index):
        return None
    return levels, index


def _order(value: Any) -> tuple[int, Any]:
    """Sort numbers numerically and the rest (JSON text) after them."""
    return (0, value) if isinstance(value, (int, float)) else (1, str(value))


def _cell_array(columns: Any, levels: list[list[Any]], index: list[tuple[int, ...]]) -> Any:
    """``columns`` (trials x resamples) placed in an array of shape (levels..., resamples)."""
    import numpy as np

    out = np.empty([len(lv) for lv in levels] + [columns.shape[1]])
    for row, cell in enumerate(index):
        out[cell] = columns[row]
    return out


def _fold_weights(rng: Any, k: int, resamples: int) -> Any:
    """Row 0 weighs every fold equally; each further row is a draw of ``k`` folds with replacement."""
    import numpy as np

    weights = np.full((1 + resamples, k), 1.0 / k)
    for r in range(1, 1 + resamples):
        weights[r] = np.bincount(rng.integers(0, k, size=k), minlength=k) / k
    return weights


def _decompose(cells: Any) -> tuple[list[Any], dict[tuple[int, int], Any]]:
    """Main-effect and pairwise-interaction variance shares of a full factorial array.

    ``cells`` has one axis per parameter (its levels, equally weighted) and a last axis of
    resamples; each returned value is an array over resamples.
    """
    import numpy as np

    d = cells.ndim - 1
    axes = tuple(range(d))
    mu = cells.mean(axis=axes)
    total = ((cells - mu) ** 2).mean(axis=axes)
    safe = np.where(total > 0, total, 1.0)
    effects = []
    for i in range(d):
        others = tuple(a for a in axes if a != i)
        effects.append(cells.mean(axis=others) - mu)  # (levels_i, resamples)
    mains = [np.where(total > 0, (e**2).mean(axis=0) / safe, 0.0) for e in effects]
    pairs: dict[tuple[int, int], Any] = {}
    for i in range(d):
        for j in range(i + 1, d):
            if cells.shape[i] < 2 or cells.shape[j] < 2:
                continue
            others = tuple(a for a in axes if a not in (i, j))
            joint = cells.mean(axis=others) - mu - effects[i][:, None, :] - effects[j][None, :, :]
            pairs[(i, j)] = np.where(total > 0, (joint**2).mean(axis=(0, 1)) / safe, 0.0)
    return mains, pairs


def _share(names: tuple[str, ...], values: Any) -> Share:
    """The point estimate (resample 0) and the percentile interval over the other resamples."""
    import numpy as np

    values = np.clip(np.where(np.abs(values) < 1e-12, 0.0, values), 0.0, 1.0)  # rounding noise is 0
    share = float(values[0])
    if len(values) < 2:  # one fold: no resamples, no interval
        return Share(names, share, None, None)
    tail = (1.0 - CONFIDENCE) / 2
    low, high = np.quantile(values[1:], [tail, 1.0 - tail])
    return Share(names, share, float(min(low, share)), float(max(high, share)))


# --------------------------------------------------------------------------- two studies

MATTERS = 0.05  # a parameter whose main effect explains at least 5% of the variance matters


@dataclass(frozen=True)
class ImportanceAgreement:
    """Whether two studies agree on which parameters matter (``hptrack compare``).

    Parameters
    ----------
    agree : bool
        The same parameters matter (share >= :data:`MATTERS`) in both, and the most
        important one is the same.
    matters_a, matters_b : tuple of str
        Parameters that matter in A and in B, most important first.
    rank_correlation : float or None
        Spearman's correlation of the shares of the parameters both studies vary (None
        with fewer than two).
    shares : dict of str to tuple
        Per parameter of either study, ``(share in A, share in B)`` (None where absent).
    """

    agree: bool
    matters_a: tuple[str, ...]
    matters_b: tuple[str, ...]
    rank_correlation: float | None
    shares: dict[str, tuple[float | None, float | None]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict.

        Returns
        -------
        dict
        """
        return {
            "agree": self.agree,
            "matters_a": list(self.matters_a),
            "matters_b": list(self.matters_b),
            "rank_correlation": self.rank_correlation,
            "shares": {k: list(v) for k, v in self.shares.items()},
        }


def agreement(a: Importance, b: Importance) -> ImportanceAgreement:
    """Compare the importances of two studies.

    Parameters
    ----------
    a, b : Importance

    Returns
    -------
    ImportanceAgreement
    """
    share_a = {item.params[0]: item.share for item in a.params}
    share_b = {item.params[0]: item.share for item in b.params}
    matters_a = tuple(n for n in a.ranking() if share_a[n] >= MATTERS)
    matters_b = tuple(n for n in b.ranking() if share_b[n] >= MATTERS)
    common = sorted(set(share_a) & set(share_b))
    correlation = None
    if len(common) >= 2:
        correlation = _spearman([share_a[n] for n in common], [share_b[n] for n in common])
    agree = set(matters_a) == set(matters_b) and matters_a[:1] == matters_b[:1]
    names = [*a.ranking(), *(n for n in b.ranking() if n not in share_a)]
    shares = {n: (share_a.get(n), share_b.get(n)) for n in names}
    return ImportanceAgreement(agree, matters_a, matters_b, correlation, shares)


def _spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rank correlation (average ranks for ties); None when a side is constant."""
    rx, ry = _ranks(x), _ranks(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    return None if sxx == 0 or syy == 0 else sxy / math.sqrt(sxx * syy)


def _ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties sharing their average rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


# --------------------------------------------------------------------------- on a study


class StudyImportance:
    """:class:`~hptrack.query.Study`'s importance method (mixed in)."""

    _conn: Any
    id: int
    name: str
    seed: int
    n_folds: int
    metric: str
    spec: dict[str, Any]

    if TYPE_CHECKING:  # provided by Study, which mixes this class in

        def _check_metric(self, metric: str) -> str: ...

    def importance(self, metric: str | None = None, *, trials: Sequence[Any] | None = None) -> Importance:
        """Which parameters matter: each one's share of the variance of the mean test score.

        Exact functional ANOVA when the complete trials form a full factorial design (a
        complete grid); otherwise estimated with a random-forest surrogate seeded by the
        study seed. Each share has an interval from resampling the folds (see
        :mod:`hptrack.query.importance`).

        Parameters
        ----------
        metric : str, optional
            Default: the ranking metric.
        trials : sequence of Trial, optional
            The study's trials, when already read (:meth:`trials`): not read again.

        Returns
        -------
        Importance

        Raises
        ------
        SpecError
            An unknown metric, or fewer than two complete trials.

        Examples
        --------
        >>> study.importance().ranking()  # doctest: +SKIP
        ['gamma', 'C']
        """
        from ..store import reads
        from .ties import complete_fold_scores, fold_scores_by_trial

        metric = self._check_metric(metric) if metric is not None else self.metric
        reason = None
        if self.spec.get("halving"):  # one rung's trials: their scores share one resource
            from .halving import one_rung

            trials, reason = one_rung(self, trials)
        if trials is not None:
            params = {t.number: t.params for t in trials if t.status == "complete"}
            folds = complete_fold_scores(trials, metric)
        else:
            folds = fold_scores_by_trial(reads.metric_fold_scores(self._conn, self.id, metric), self.n_folds)
            params = {number: json.loads(text) for number, text in reads.complete_params(self._conn, self.id)}
        result = compute_importance(
            study=self.name,
            metric=metric,
            seed=self.seed,
            params=params,
            folds=folds,
            log_scaled=log_scaled(self.spec),
        )
        return result if reason is None else replace(result, note=f"{result.note}; {reason}")


def log_scaled(spec: Mapping[str, Any]) -> list[str]:
    """Parameters a spec samples from a ``loguniform`` distribution."""
    space = spec.get("space")
    if not isinstance(space, dict):
        return []
    return sorted(k for k, v in space.items() if isinstance(v, dict) and v.get("dist") == "loguniform")
