"""Pure fold work: fit and score one configuration on one fold.

Inputs and outputs are picklable, so the same function runs in-process, in joblib
workers or on a Dask cluster; nothing here touches the store. Scores come from
``sklearn.model_selection.cross_validate`` on the single ``(train, test)`` split, so
they equal ``GridSearchCV``'s ``split{k}_test_<metric>`` exactly.
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import cross_validate


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
    the coordinator to re-raise once the failure is recorded).
    """
    start = time.perf_counter()
    try:
        model = clone(estimator).set_params(**clone(task.params, safe=False))
        out = cross_validate(
            model,
            X,
            y,
            cv=[(train, test)],
            scoring=dict(scorers),
            error_score="raise",
            return_train_score=return_train_score,
            params=dict(fit_params) if fit_params else None,
        )
    except Exception as exc:
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
            error=traceback.format_exc(),
            exception=exc if error_score == "raise" else None,
        )
    test_scores = {m: _float(out[f"test_{m}"][0]) for m in scorers}
    train_scores = (
        {m: _float(out[f"train_{m}"][0]) for m in scorers} if return_train_score else None
    )
    return FoldResult(
        trial_id=task.trial_id,
        number=task.number,
        fold=task.fold,
        test=test_scores,
        train=train_scores,
        fit_time=float(out["fit_time"][0]),
        score_time=float(out["score_time"][0]),
    )


def _float(value: Any) -> float:
    return float(np.asarray(value, dtype=np.float64))
