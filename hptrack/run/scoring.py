"""Scoring a fitted estimator on some rows, each metric on its own, as scikit-learn's searches do.

:class:`FoldScorer` is the scoring half of :func:`~hptrack.run.evaluate.evaluate_fold`: each
metric's scorer is called on its own, so a failing scorer fails only its metric (its
traceback kept, as scikit-learn's "Scoring failed" details); a ``sample_weight`` fit param
weights the scorers that accept one (scikit-learn >= 1.9, :data:`SEARCH_WEIGHTS_SCORES`); a
dict-returning callable is called once for all its keys (:class:`ScoreKey`); a pairwise
estimator gets its kernel rows; scikit-learn's own scorers of a pipeline whose prefix is
shared score the prefix's cached transform (:class:`~hptrack.run.prefix.SharedPrefix`).
"""

from __future__ import annotations

import inspect
import math
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.model_selection import GridSearchCV

from .prefix import SharedPrefix, plain_scorer

# scikit-learn >= 1.9 passes a ``sample_weight`` fit param on to the scorers that accept
# it (``BaseSearchCV._get_routed_params_for_fit``); older versions score unweighted.
SEARCH_WEIGHTS_SCORES = hasattr(GridSearchCV, "_check_scorers_accept_sample_weight")


@dataclass(frozen=True)
class ScoreKey:
    """Metric ``key`` of a callable ``scoring`` that returns a dict of scores.

    Each metric of such a search holds one ``ScoreKey`` of the same callable;
    :class:`FoldScorer` calls the callable once per fold, as scikit-learn does.
    """

    scorer: Any
    key: str

    def __call__(self, estimator: Any, X: Any, y: Any = None, **kwargs: Any) -> Any:
        return self.scorer(estimator, X, y, **kwargs)[self.key]


def accepts_sample_weight(scorer: Any) -> bool:
    """Whether scikit-learn's search would pass ``sample_weight`` to this scorer."""
    if isinstance(scorer, ScoreKey):
        scorer = scorer.scorer
    accept = getattr(scorer, "_accept_sample_weight", None)  # sklearn's scorer objects
    if accept is not None:
        return bool(accept())
    try:
        return "sample_weight" in inspect.signature(scorer).parameters
    except (TypeError, ValueError):
        return False


class FoldScorer:
    """Scores a fitted estimator on some rows, each metric on its own (a failure stays there).

    ``scorer(indices, other)`` returns ``(score by metric, traceback by failed metric)`` on
    rows ``indices`` (``other``: the training rows when scoring the test rows, for a
    pairwise estimator's kernel columns; None when scoring the training rows). A failed
    metric scores ``error_score`` (NaN with ``"raise"``, where :attr:`raised` keeps the first
    error for the caller to fail the fold).

    Parameters
    ----------
    fitted : estimator
        The fold's fitted clone.
    X, y : array-like
        The whole data; rows are taken by index.
    scorers : mapping
        Scorer callables (or :class:`ScoreKey`) by metric name.
    fit_params : mapping
        The fit params; their ``sample_weight`` weights the scorers that accept one.
    error_score : float or "raise"
        What a failing scorer scores.
    prefix : SharedPrefix, optional
        The fitted pipeline's shared prefix: scikit-learn's own scorers score its cached
        transform of the rows with the final step.
    """

    def __init__(
        self,
        fitted: Any,
        X: Any,
        y: Any,
        scorers: Mapping[str, Any],
        fit_params: Mapping[str, Any],
        error_score: float | str,
        prefix: SharedPrefix | None = None,
    ) -> None:
        self.fitted, self.X, self.y, self.scorers, self.prefix = fitted, X, y, scorers, prefix
        self.weights = fit_params.get("sample_weight") if SEARCH_WEIGHTS_SCORES else None
        self.weighted = {
            m for m, s in scorers.items() if self.weights is not None and accepts_sample_weight(s)
        }
        self.value = math.nan if error_score == "raise" else float(error_score)
        self.raised: Exception | None = None  # the first scorer error, for error_score="raise"

    def __call__(self, indices: Any, other: Any) -> tuple[dict[str, float], dict[str, str]]:
        """(score by metric, traceback by failed metric) on rows ``indices``."""
        from sklearn.utils import _safe_indexing

        X_part, y_part = _split(self.fitted, self.X, self.y, indices, other)
        kwargs = {} if self.weights is None else {"sample_weight": _safe_indexing(self.weights, indices)}
        scores: dict[str, float] = {}
        errors: dict[str, str] = {}
        shared: dict[int, Any] = {}  # a dict-returning callable is called once for all its keys
        transformed: list[Any] = []  # the shared prefix's transform of X_part, computed once
        for metric, scorer in self.scorers.items():
            use = kwargs if metric in self.weighted else {}
            estimator, X_scored = self.fitted, X_part
            try:
                if self.prefix is not None and plain_scorer(scorer):
                    if not transformed:
                        rows = "test" if other is not None else "train"
                        transformed.append(self.prefix.transform(X_part, rows))
                    estimator, X_scored = self.prefix.final, transformed[0]
                scores[metric] = self._score(scorer, estimator, X_scored, y_part, use, shared)
            except Exception as exc:
                if self.raised is None:
                    self.raised = exc
                scores[metric] = self.value
                errors[metric] = _format_scorer_error(exc)
        return scores, errors

    def _score(
        self, scorer: Any, estimator: Any, X: Any, y: Any, kwargs: Mapping[str, Any], shared: dict[int, Any]
    ) -> float:
        """One metric's score; a :class:`ScoreKey` reuses its callable's one call in ``shared``."""
        if not isinstance(scorer, ScoreKey):
            return _float(_call(scorer, estimator, X, y, kwargs))
        if id(scorer.scorer) not in shared:
            try:
                shared[id(scorer.scorer)] = _call(scorer.scorer, estimator, X, y, kwargs)
            except Exception as exc:
                shared[id(scorer.scorer)] = exc
        everything = shared[id(scorer.scorer)]
        if isinstance(everything, Exception):
            raise everything
        return _float(everything[scorer.key])


def _call(scorer: Any, estimator: Any, X: Any, y: Any, kwargs: Mapping[str, Any]) -> Any:
    """``scorer(estimator, X, y, **kwargs)``; without ``y`` when there is none, as scikit-learn."""
    if y is None:
        return scorer(estimator, X, **kwargs)
    return scorer(estimator, X, y, **kwargs)


def _format_scorer_error(exc: BaseException) -> str:
    """The traceback from the scorer's call down (as scikit-learn's "Scoring failed" details)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__))


def _split(estimator: Any, X: Any, y: Any, indices: Any, train: Any) -> tuple[Any, Any]:
    """Rows ``indices`` of X and y (columns ``train`` too for a pairwise estimator)."""
    from sklearn.utils import _safe_indexing, get_tags

    if get_tags(estimator).input_tags.pairwise:
        X_part = np.asarray(X)[np.ix_(indices, indices if train is None else train)]
    else:
        X_part = _safe_indexing(X, indices)
    return X_part, None if y is None else _safe_indexing(y, indices)


def _float(value: Any) -> float:
    """A score as a Python float (numpy scalars and 0-d arrays too)."""
    return float(np.asarray(value, dtype=np.float64))
