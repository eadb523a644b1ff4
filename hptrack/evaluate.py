"""Pure fold work: fit and score one configuration on one fold.

Inputs and outputs are picklable, so the same function runs in-process, in joblib
workers or on a Dask cluster; nothing here touches the store. Scores come from
``sklearn.model_selection.cross_validate`` on the single ``(train, test)`` split, so
they equal ``GridSearchCV``'s ``split{k}_test_<metric>`` exactly.
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
    """What a worker returns for one fold: scores, times, or the error's traceback."""

    trial_id: int
    number: int
    fold: int
    test: dict[str, float]
    train: dict[str, float] | None
    fit_time: float
    score_time: float
    error: str | None = None
    exception: BaseException | None = None  # with error_score="raise": re-raised after recording


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

    A failing fit or scorer is returned as a result: its traceback in ``error``, every
    score ``error_score`` (NaN with ``"raise"``, where ``exception`` holds the error for
    the coordinator to re-raise once the failure is recorded). As in scikit-learn's
    searches, a ``sample_weight`` fit param also weights the scorers that accept one.
    """
    start = time.perf_counter()
    fit_params = dict(fit_params) if fit_params else {}
    weights = fit_params.get("sample_weight") if SEARCH_WEIGHTS_SCORES else None
    weighted = {m for m, s in scorers.items() if weights is not None and accepts_sample_weight(s)}
    try:
        model = clone(estimator).set_params(**clone(task.params, safe=False))
        if weighted:
            test_scores, train_scores, fit_time, score_time = _fit_and_score_weighted(
                model, X, y, train, test, scorers, weighted, weights, return_train_score, fit_params
            )
        else:
            out = cross_validate(
                model,
                X,
                y,
                cv=[(train, test)],
                scoring=_scoring(scorers),
                error_score="raise",
                return_train_score=return_train_score,
                params=fit_params or None,
            )
            test_scores = {m: _float(out[f"test_{_key(m, s)}"][0]) for m, s in scorers.items()}
            train_scores = (
                {m: _float(out[f"train_{_key(m, s)}"][0]) for m, s in scorers.items()}
                if return_train_score
                else None
            )
            fit_time, score_time = float(out["fit_time"][0]), float(out["score_time"][0])
    except Exception as raised:
        exc = _estimator_error(raised)
        elapsed = time.perf_counter() - start
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
    return FoldResult(
        trial_id=task.trial_id,
        number=task.number,
        fold=task.fold,
        test=test_scores,
        train=train_scores,
        fit_time=fit_time,
        score_time=score_time,
    )


def _scoring(scorers: Mapping[str, Any]) -> Any:
    """What ``cross_validate`` gets: a dict-returning callable once, else the dict."""
    first = next(iter(scorers.values()), None)
    if isinstance(first, ScoreKey) and all(
        isinstance(s, ScoreKey) and s.scorer is first.scorer for s in scorers.values()
    ):
        return first.scorer
    return dict(scorers)


def _key(metric: str, scorer: Any) -> str:
    return scorer.key if isinstance(scorer, ScoreKey) else metric


def _fit_and_score_weighted(
    model: Any,
    X: Any,
    y: Any,
    train: Any,
    test: Any,
    scorers: Mapping[str, Any],
    weighted: set[str],
    weights: Any,
    return_train_score: bool,
    fit_params: dict[str, Any],
) -> tuple[dict[str, float], dict[str, float] | None, float, float]:
    """Fit through ``cross_validate``, then score with the fold's sample weights."""
    from sklearn.utils import _safe_indexing

    out = cross_validate(
        model,
        X,
        y,
        cv=[(train, test)],
        scoring=_unscored,
        error_score="raise",
        return_estimator=True,
        params=fit_params,
    )
    fitted = out["estimator"][0]
    scoring = _scoring(scorers)
    start = time.perf_counter()

    def score(indices: Any, other: Any) -> dict[str, float]:
        X_part, y_part = _split(fitted, X, y, indices, other)
        kwargs = {"sample_weight": _safe_indexing(weights, indices)}
        if not isinstance(scoring, dict):  # one callable returning a dict of scores
            everything = scoring(fitted, X_part, y_part, **kwargs)
            return {m: _float(everything[_key(m, s)]) for m, s in scorers.items()}
        return {
            m: _float(s(fitted, X_part, y_part, **(kwargs if m in weighted else {})))
            for m, s in scorers.items()
        }

    test_scores = score(test, train)
    score_time = time.perf_counter() - start
    train_scores = score(train, None) if return_train_score else None
    return test_scores, train_scores, float(out["fit_time"][0]), score_time


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
