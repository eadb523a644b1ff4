"""Pure fold work: fit and score one configuration on one fold.

Inputs and outputs are picklable, so the same function runs in-process, in joblib
workers or on a Dask cluster; nothing here touches the store. The fit is
``sklearn.model_selection.cross_validate`` on the single ``(train, test)`` split; each
metric's scorer is then called on its own on the fitted estimator (as scikit-learn's
searches do), so scores equal ``GridSearchCV``'s ``split{k}_test_<metric>`` exactly and a
failing scorer fails only its own metric.
"""

from __future__ import annotations

import inspect
import math
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_validate

# scikit-learn >= 1.9 passes a ``sample_weight`` fit param on to the scorers that accept
# it (``BaseSearchCV._get_routed_params_for_fit``); older versions score unweighted.
SEARCH_WEIGHTS_SCORES = hasattr(GridSearchCV, "_check_scorers_accept_sample_weight")


@dataclass(frozen=True)
class FoldTask:
    """One (trial, fold) to evaluate."""

    trial_id: int
    number: int
    fold: int
    params: dict[str, Any]


@dataclass(frozen=True)
class FoldResult:
    """What a worker returns for one fold: scores, times, or the error's traceback.

    ``error`` is set when the fit failed (the fold failed); ``score_errors`` when only
    some scorers failed: those metrics hold ``error_score``, the fold did not fail.
    """

    trial_id: int
    number: int
    fold: int
    test: dict[str, float]
    train: dict[str, float] | None
    fit_time: float
    score_time: float
    error: str | None = None
    exception: BaseException | None = None  # with error_score="raise": re-raised after recording
    score_errors: dict[str, str] | None = None  # metric -> traceback of its failing scorer


@dataclass(frozen=True)
class ScoreKey:
    """Metric ``key`` of a callable ``scoring`` that returns a dict of scores.

    Each metric of such a search holds one ``ScoreKey`` of the same callable;
    :func:`evaluate_fold` calls the callable once per fold, as scikit-learn does.
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


def evaluate_fold(
    task: FoldTask,
    estimator: Any,
    X: Any,
    y: Any,
    train: Any,
    test: Any,
    scorers: Mapping[str, Any],
    *,
    error_score: float | str = math.nan,
    return_train_score: bool = False,
    fit_params: Mapping[str, Any] | None = None,
) -> FoldResult:
    """Fit ``clone(estimator).set_params(**task.params)`` on ``train``; score on ``test``.

    A failing fit is returned as a failed fold: its traceback in ``error``, every score
    ``error_score`` (NaN with ``"raise"``, where ``exception`` holds the error for the
    coordinator to re-raise once the failure is recorded). A failing scorer fails only
    its own metric, as in scikit-learn's searches: that metric scores ``error_score``,
    its traceback goes to ``score_errors``, the other metrics keep their scores and the
    fold is not failed (with ``error_score="raise"`` it is, as scikit-learn raises). As
    in scikit-learn's searches, a ``sample_weight`` fit param also weights the scorers
    that accept one.
    """
    start = time.perf_counter()
    fit_params = dict(fit_params) if fit_params else {}
    weights = fit_params.get("sample_weight") if SEARCH_WEIGHTS_SCORES else None
    weighted = {m for m, s in scorers.items() if weights is not None and accepts_sample_weight(s)}
    try:
        model = clone(estimator).set_params(**clone(task.params, safe=False))
        out = cross_validate(
            model,
            X,
            y,
            cv=[(train, test)],
            scoring=_unscored,
            error_score="raise",
            return_estimator=True,
            params=fit_params or None,
        )
    except Exception as raised:
        return _failed(task, scorers, raised, error_score, return_train_score, time.perf_counter() - start)
    fitted = out["estimator"][0]
    score = _FoldScorer(fitted, X, y, scorers, weighted, weights, error_score)
    score_start = time.perf_counter()
    test_scores, score_errors = score(test, train)
    score_time = time.perf_counter() - score_start
    train_scores = None
    if return_train_score:
        train_scores, train_errors = score(train, None)
        score_errors = {**train_errors, **score_errors}  # the test scorer's traceback first
    if score_errors and error_score == "raise":
        return _failed(
            task, scorers, score.raised, error_score, return_train_score, time.perf_counter() - start
        )
    return FoldResult(
        trial_id=task.trial_id,
        number=task.number,
        fold=task.fold,
        test=test_scores,
        train=train_scores,
        fit_time=float(out["fit_time"][0]),
        score_time=score_time,
        score_errors=score_errors or None,
    )


def _failed(
    task: FoldTask,
    scorers: Mapping[str, Any],
    raised: Any,
    error_score: float | str,
    return_train_score: bool,
    elapsed: float,
) -> FoldResult:
    """A failed fold: every score ``error_score`` (NaN with "raise"), the error's traceback."""
    exc = _estimator_error(raised)
    value = math.nan if error_score == "raise" else float(error_score)
    return FoldResult(
        trial_id=task.trial_id,
        number=task.number,
        fold=task.fold,
        test=dict.fromkeys(scorers, value),
        train=dict.fromkeys(scorers, value) if return_train_score else None,
        fit_time=elapsed,
        score_time=0.0,
        error=_format_error(exc),
        exception=exc if error_score == "raise" else None,
    )


class _FoldScorer:
    """Scores a fitted estimator on some rows, each metric on its own (a failure stays there)."""

    def __init__(
        self,
        fitted: Any,
        X: Any,
        y: Any,
        scorers: Mapping[str, Any],
        weighted: set[str],
        weights: Any,
        error_score: float | str,
    ) -> None:
        self.fitted, self.X, self.y = fitted, X, y
        self.scorers, self.weighted, self.weights = scorers, weighted, weights
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
        for metric, scorer in self.scorers.items():
            use = kwargs if metric in self.weighted else {}
            try:
                if isinstance(scorer, ScoreKey):
                    if id(scorer.scorer) not in shared:
                        try:
                            shared[id(scorer.scorer)] = _call(scorer.scorer, self.fitted, X_part, y_part, use)
                        except Exception as exc:
                            shared[id(scorer.scorer)] = exc
                    everything = shared[id(scorer.scorer)]
                    if isinstance(everything, Exception):
                        raise everything
                    scores[metric] = _float(everything[scorer.key])
                else:
                    scores[metric] = _float(_call(scorer, self.fitted, X_part, y_part, use))
            except Exception as exc:
                if self.raised is None:
                    self.raised = exc
                scores[metric] = self.value
                errors[metric] = _format_scorer_error(exc)
        return scores, errors


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


def _unscored(estimator: Any, X: Any, y: Any = None) -> float:
    return 0.0


def _split(estimator: Any, X: Any, y: Any, indices: Any, train: Any) -> tuple[Any, Any]:
    """Rows ``indices`` of X and y (columns ``train`` too for a pairwise estimator)."""
    from sklearn.utils import _safe_indexing, get_tags

    if get_tags(estimator).input_tags.pairwise:
        X_part = np.asarray(X)[np.ix_(indices, indices if train is None else train)]
    else:
        X_part = _safe_indexing(X, indices)
    return X_part, None if y is None else _safe_indexing(y, indices)


def _fit_and_score_frame(exc: BaseException) -> Any:
    """The traceback entry of scikit-learn's ``_fit_and_score`` in ``exc``'s, if any."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_name != "_fit_and_score":
        tb = tb.tb_next
    return tb


def _estimator_error(exc: Exception) -> Exception:
    """The error the fit raised, as scikit-learn's search would raise it.

    ``cross_validate``'s parameter validation re-raises an estimator's
    ``InvalidParameterError`` renamed after itself ("The 'C' parameter of
    cross_validate ..."); ``GridSearchCV`` raises the estimator's original.
    """
    cause = exc.__cause__
    if (
        _fit_and_score_frame(exc) is None
        and isinstance(cause, Exception)
        and _fit_and_score_frame(cause) is not None
    ):
        return cause
    return exc


def _format_error(exc: BaseException) -> str:
    """The traceback from scikit-learn's ``_fit_and_score`` down, as its ``fit_error``."""
    tb = _fit_and_score_frame(exc) or exc.__traceback__
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _float(value: Any) -> float:
    return float(np.asarray(value, dtype=np.float64))


def score_keys(
    scoring: Any,
    estimator: Any,
    X: Any,
    y: Any,
    split: tuple[Any, Any],
    candidates: list[dict[str, Any]],
    fit_params: Mapping[str, Any] | None = None,
    *,
    tries: int = 10,
) -> list[str] | None:
    """The keys of the dict a callable ``scoring`` returns; None if it returns a number.

    Fits the first candidates that fit (up to ``tries``) on ``split`` to call it once;
    None as well when none of them fits or the scorer fails.
    """
    train, test = split
    for params in candidates[:tries]:
        try:
            model = clone(estimator).set_params(**clone(params, safe=False))
            out = cross_validate(
                model,
                X,
                y,
                cv=[(train, test)],
                scoring=_unscored,
                error_score="raise",
                return_estimator=True,
                params=dict(fit_params) if fit_params else None,
            )
        except Exception:
            continue
        fitted = out["estimator"][0]
        X_test, y_test = _split(fitted, X, y, test, train)
        try:
            value = scoring(fitted, X_test, y_test)
        except Exception:
            return None
        return [str(key) for key in value] if isinstance(value, Mapping) else None
    return None
