"""Pure fold work: fit and score one configuration on one fold.

:class:`FoldInputs` holds what every fold of a plan reads; ``inputs.evaluate(task)``
(:func:`evaluate_task` for workers) is the one evaluation path, used by every executor,
by ``verify`` and by the drop-ins. Inputs and outputs are picklable, so the same function
runs in-process, in joblib workers or on a Dask cluster; nothing here touches the store. The fit is
``sklearn.model_selection.cross_validate`` on the single ``(train, test)`` split; each
metric's scorer is then called on its own on the fitted estimator (as scikit-learn's
searches do; :class:`~hptrack.run.scoring.FoldScorer`), so scores equal ``GridSearchCV``'s
``split{k}_test_<metric>`` exactly and a failing scorer fails only its own metric.
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sklearn.base import clone
from sklearn.model_selection import cross_validate

from .prefix import DEFAULT_CACHE_BYTES, FoldMemory, fold_root, pipeline_steps, shared_cache, shared_prefix
from .scoring import FoldScorer


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
    prefix_fitted: int = 0  # pipeline prefix steps fitted (and cached) by this fold
    prefix_reused: int = 0  # pipeline prefix steps taken from the prefix cache
    curve: bytes | None = None  # an objective's reported points (hptrack.store.curves.pack_curve)


@dataclass(frozen=True)
class FoldInputs:
    """Everything a fold evaluation reads, apart from its task: sent once to each worker.

    Parameters
    ----------
    estimator : estimator
        The unfitted estimator; each task's params are set on a clone.
    X, y : array-like
        The whole data; folds index into it.
    splits : list of (train, test)
        The plan's folds, as index arrays.
    scorers : dict
        Scorer callables by metric name.
    error_score : float or "raise"
        What a failed fit or scorer scores.
    return_train_score : bool
        Also score the training rows.
    fit_params : dict
        Passed to the estimator's ``fit`` (fold-split as scikit-learn does).
    prefix : str, optional
        The plan's prefix identity (:func:`~hptrack.run.prefix.plan_prefix`): a pipeline's
        fitted steps before its final one are shared between configurations through this
        process's :class:`~hptrack.run.prefix.PrefixCache`. None fits every step every time.
    cache_bytes : int
        The prefix cache's memory cap in this process.
    """

    estimator: Any
    X: Any
    y: Any
    splits: Sequence[tuple[Any, Any]]
    scorers: Mapping[str, Any]
    error_score: float | str = math.nan
    return_train_score: bool = False
    fit_params: Mapping[str, Any] = field(default_factory=dict)
    prefix: str | None = None
    cache_bytes: int = DEFAULT_CACHE_BYTES

    def evaluate(
        self,
        task: FoldTask,
        *,
        error_score: float | str | None = None,
        return_train_score: bool | None = None,
    ) -> FoldResult:
        """Evaluate ``task`` on its fold of :attr:`splits` (the one evaluation path).

        Parameters
        ----------
        task : FoldTask
            The trial's params and the fold to evaluate.
        error_score : float or "raise", optional
            Instead of :attr:`error_score` (``verify`` scores failures NaN).
        return_train_score : bool, optional
            Instead of :attr:`return_train_score`.

        Returns
        -------
        FoldResult
            As :func:`evaluate_fold`.
        """
        train, test = self.splits[task.fold]
        memory = None
        if self.prefix is not None:
            memory = FoldMemory(shared_cache(self.cache_bytes), fold_root(self.prefix, task.fold))
        return evaluate_fold(
            task,
            self.estimator,
            self.X,
            self.y,
            train,
            test,
            self.scorers,
            error_score=self.error_score if error_score is None else error_score,
            return_train_score=self.return_train_score if return_train_score is None else return_train_score,
            fit_params=self.fit_params,
            memory=memory,
        )


def evaluate_task(inputs: FoldInputs, task: FoldTask) -> FoldResult:
    """``inputs.evaluate(task)`` as a plain function: what joblib and Dask workers run.

    Parameters
    ----------
    inputs : FoldInputs
        The plan's fold inputs (a Dask future of them on a cluster).
    task : FoldTask
        The trial and fold to evaluate.

    Returns
    -------
    FoldResult
    """
    return inputs.evaluate(task)


def evaluate_tasks(inputs: FoldInputs, tasks: list[FoldTask]) -> list[FoldResult]:
    """``inputs.evaluate(task)`` for each task in turn, in one process (a scheduled chunk).

    Parameters
    ----------
    inputs : FoldInputs
        The plan's fold inputs.
    tasks : list of FoldTask
        Tasks that share a pipeline prefix (:func:`~hptrack.run.prefix.schedule`).

    Returns
    -------
    list of FoldResult
        In the order of ``tasks``; an ``error_score="raise"`` failure ends the chunk there.
    """
    results = []
    for task in tasks:
        results.append(inputs.evaluate(task))
        if results[-1].exception is not None:
            break
    return results


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
    memory: FoldMemory | None = None,
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

    Parameters
    ----------
    task : FoldTask
        Trial id, number, fold and params.
    estimator : estimator
        Unfitted; a clone is fitted.
    X, y : array-like
        The whole data.
    train, test : array-like of int
        The fold's row indices.
    scorers : mapping
        Scorer callables by metric name.
    error_score : float or "raise", default=NaN
        What a failed fit or scorer scores.
    return_train_score : bool, default=False
        Also score the ``train`` rows.
    fit_params : mapping, optional
        Passed to the estimator's ``fit``.
    memory : FoldMemory, optional
        A pipeline's ``memory`` for this fold: its prefix steps come from (and go to) the
        prefix cache, and so do their transforms of the fold's test (and train) rows.

    Returns
    -------
    FoldResult
        Scores by metric, times, and the errors if any.
    """
    start = time.perf_counter()
    fit_params = dict(fit_params) if fit_params else {}
    try:
        fitted, fit_time = _fit(task.params, estimator, X, y, (train, test), fit_params, memory)
    except Exception as raised:
        return _failed(task, scorers, raised, error_score, return_train_score, time.perf_counter() - start)
    score = FoldScorer(fitted, X, y, scorers, fit_params, error_score, shared_prefix(fitted, memory))
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
        fit_time=fit_time,
        score_time=score_time,
        score_errors=score_errors or None,
        prefix_fitted=memory.fitted if memory is not None else 0,
        prefix_reused=memory.reused if memory is not None else 0,
    )


def _fit(
    params: Mapping[str, Any],
    estimator: Any,
    X: Any,
    y: Any,
    split: tuple[Any, Any],
    fit_params: Mapping[str, Any],
    memory: FoldMemory | None = None,
) -> tuple[Any, float]:
    """``(fitted clone, fit time)``: ``cross_validate`` on the one split; a failing fit raises."""
    model = clone(estimator).set_params(**clone(dict(params), safe=False))
    if memory is not None and pipeline_steps(model):
        model.set_params(memory=memory)
    out = cross_validate(
        model,
        X,
        y,
        cv=[split],
        scoring=_unscored,
        error_score="raise",
        return_estimator=True,
        params=dict(fit_params) or None,
    )
    return out["estimator"][0], float(out["fit_time"][0])


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


def _unscored(estimator: Any, X: Any, y: Any = None) -> float:
    """A scorer for ``cross_validate`` that scores nothing (each metric is scored after)."""
    return 0.0


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
