"""The one place hptrack touches scikit-learn's private search API (tested on 1.9.x).

scikit-learn's ``BaseSearchCV.fit`` runs unchanged. Its ``evaluate_candidates`` closure
calls the module global ``sklearn.model_selection._search._fit_and_score`` once per
(candidate, split), with ``caller=self``, then ``_warn_or_raise_about_fit_failures(out,
error_score)`` on the batch. :func:`install` replaces both globals, once, with wrappers
that delegate unchanged unless ``caller`` is an hptrack search with an active recording
(its ``_hptrack_recording`` attribute, a :class:`Recorder`):

- ``_fit_and_score``: returns the stored result of that fold instead of fitting, or
  fits and hands the result to the recorder (which commits it when this is the
  coordinating process and thread: a killed script loses only the fold in flight);
- ``_warn_or_raise_about_fit_failures``: hands the whole batch to the recorder of the
  batch being evaluated first (results that came back from joblib workers are committed
  there, before scikit-learn may raise "All the N fits failed").

Also private, and only read here: ``BaseSearchCV._checked_cv_orig`` (the checked ``cv``,
documented in ``_run_search``'s docstring). On another scikit-learn, :func:`check_version`
warns once at import; if a seam is missing, fitting an hptrack search raises
:class:`~hptrack.HptrackError` naming it, instead of silently recording nothing.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import warnings
from collections.abc import Callable
from typing import Any, Protocol

import sklearn
from sklearn.model_selection import _search

from ..errors import HptrackError
from ..run.prefix import fold_memory
from ..store import rounded_seconds

TESTED_VERSIONS = ("1.9",)  # scikit-learn minor versions whose private seams this module was tested on
_SEAMS = ("_fit_and_score", "_warn_or_raise_about_fit_failures")
_ORIGINALS: dict[str, Callable[..., Any]] = {}
# how ``_score`` starts the UserWarning of a scorer that failed on a fold whose fit succeeded
SCORING_FAILED = "Scoring failed. The score on this train-test partition for these parameters will be set to"
# the recorder of the batch ``evaluate_candidates`` is running in this thread, if any
CURRENT_BATCH: contextvars.ContextVar[Any] = contextvars.ContextVar("hptrack_batch", default=None)


class Recorder(Protocol):
    """What the wrappers ask of an hptrack search's active recording."""

    prefix: str | None  # the plan's pipeline prefix identity; None shares no fitted step
    prefix_fits: list[int]  # [fitted, reused] prefix steps of the folds fitted in this process

    def stored_result(self, kwargs: dict[str, Any]) -> dict[str, Any] | None:
        """The stored result of this (candidate, split), or None to fit it."""

    def fitted(self, kwargs: dict[str, Any], result: dict[str, Any], failures: list[str]) -> None:
        """A fold was fitted (committed now, or when its batch returns); ``failures`` are the
        messages of its scorers that failed (test rows first, then train rows)."""

    def failed(self, kwargs: dict[str, Any], error: str) -> None:
        """A fit raised with ``error_score="raise"`` (its traceback)."""

    def batch_done(self, out: list[dict[str, Any]]) -> None:
        """Every result of the batch, before scikit-learn checks them for failures."""


def check_version() -> None:
    """Warn once if this scikit-learn is not a version the private seams were tested on."""
    minor = ".".join(sklearn.__version__.split(".")[:2])
    if minor not in TESTED_VERSIONS:
        warnings.warn(
            f"hptrack's drop-in searches were tested with scikit-learn {', '.join(TESTED_VERSIONS)}; "
            f"with {sklearn.__version__}, recording relies on private names of "
            f"sklearn.model_selection._search ({', '.join(_SEAMS)}) that may have changed: if a "
            "fit raises or records nothing, use the scikit-learn version hptrack was tested with",
            UserWarning,
            stacklevel=3,
        )


def install() -> None:
    """Wrap scikit-learn's two search globals (idempotent; other callers are unaffected).

    Raises
    ------
    HptrackError
        This scikit-learn has no such globals, or ``_fit_and_score`` takes no ``caller``.
    """
    if _ORIGINALS:
        return
    missing = [name for name in _SEAMS if not callable(getattr(_search, name, None))]
    if not missing and "caller" not in inspect.signature(_search._fit_and_score).parameters:
        missing.append("_fit_and_score(caller=...)")
    if missing:
        raise HptrackError(
            f"scikit-learn {sklearn.__version__} lacks {', '.join(missing)} in "
            "sklearn.model_selection._search, which hptrack's drop-in searches hook into to "
            f"record folds (tested with {', '.join(TESTED_VERSIONS)}); install a tested scikit-learn"
        )
    _ORIGINALS.update({name: getattr(_search, name) for name in _SEAMS})
    _search._fit_and_score = _recording_fit_and_score  # type: ignore[attr-defined]
    _search._warn_or_raise_about_fit_failures = _recording_failure_check  # type: ignore[attr-defined]


def _recording_fit_and_score(estimator: Any, X: Any, y: Any, **kwargs: Any) -> dict[str, Any]:
    """scikit-learn's ``_fit_and_score``, served from or recorded to an hptrack store."""
    original = _ORIGINALS.get("_fit_and_score") or _search_attr("_fit_and_score")
    recorder = getattr(kwargs.get("caller"), "_hptrack_recording", None)
    if recorder is None:
        return original(estimator, X, y, **kwargs)
    stored = recorder.stored_result(kwargs)
    if stored is not None:
        _say_served(kwargs, stored)
        return stored
    memory = None
    if getattr(estimator, "memory", None) is None:  # a pipeline's own memory is left as scikit-learn uses it
        memory = fold_memory(recorder.prefix, estimator, kwargs.get("train"), kwargs.get("test"))
    if memory is not None:  # steps another candidate fitted on this split are shared, bit for bit
        estimator.set_params(memory=memory)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = original(estimator, X, y, **kwargs)
    except Exception:
        import traceback

        recorder.failed(kwargs, traceback.format_exc())
        raise
    for w in caught:  # as the user would have seen them (their filters apply now)
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    failures = [str(w.message) for w in caught if str(w.message).startswith(SCORING_FAILED)]
    # times as the store keeps them (microseconds): a re-run serves exactly what this fit reports
    for name in ("fit_time", "score_time"):
        if isinstance(result.get(name), float):
            result[name] = rounded_seconds(result[name])
    if memory is not None:
        recorder.prefix_fits[0] += memory.fitted
        recorder.prefix_fits[1] += memory.reused
    recorder.fitted(kwargs, result, failures)
    return result


def _say_served(kwargs: dict[str, Any], result: dict[str, Any]) -> None:
    """Print what scikit-learn's ``_fit_and_score`` prints at this ``verbose`` for a served fold.

    The START and END lines of a fold served from the store, from its stored scores and
    times, so that a resumed search prints what its first run printed.
    """
    verbose = kwargs.get("verbose") or 0
    if verbose <= 1:
        return
    from joblib import logger

    split, candidate, params = (
        kwargs.get("split_progress"),
        kwargs.get("candidate_progress"),
        kwargs.get("parameters"),
    )
    progress = ""
    if verbose > 2:
        progress = f" {split[0] + 1}/{split[1]}" if split is not None else ""
        if candidate and verbose > 9:
            progress += f"; {candidate[0] + 1}/{candidate[1]}"
    params_msg = "" if params is None else ", ".join(f"{k}={params[k]}" for k in sorted(params))
    if verbose > 9:
        start = f"[CV{progress}] START {params_msg}"
        print(f"{start}{(80 - len(start)) * '.'}")
    test, train, with_train = (
        result["test_scores"],
        result.get("train_scores"),
        kwargs.get("return_train_score"),
    )
    message = params_msg + (";" if params_msg else "")
    if verbose > 2 and isinstance(test, dict):
        for name in sorted(test):
            message += f" {name}: (" + (f"train={train[name]:.3f}, " if with_train else "")
            message += f"test={test[name]:.3f})"
    elif verbose > 2:
        message += f", score=(train={train:.3f}, test={test:.3f})" if with_train else f", score={test:.3f}"
    message += f" total time={logger.short_format_time(result['score_time'] + result['fit_time'])}"
    end = f"[CV{progress}] END "
    print(end + "." * (80 - len(end) - len(message)) + message)


def _recording_failure_check(out: list[dict[str, Any]], error_score: Any) -> None:
    """scikit-learn's check of a batch for failed fits, after the batch is recorded."""
    recorder = CURRENT_BATCH.get()
    if recorder is not None:
        recorder.batch_done(out)
    original = _ORIGINALS.get("_warn_or_raise_about_fit_failures") or _search_attr(
        "_warn_or_raise_about_fit_failures"
    )
    original(out, error_score)


def _search_attr(name: str) -> Callable[..., Any]:
    """A seam's original in a process where :func:`install` did not run (a joblib worker)."""
    from sklearn.model_selection import _validation

    return getattr(_validation, name)  # type: ignore[no-any-return]


def checked_cv(search: Any, cv: Any = None) -> Any:
    """The splitter ``evaluate_candidates(cv=...)`` uses: ``cv``, else the search's checked one."""
    return cv or search._checked_cv_orig


def evaluate_with(recorder: Any, evaluate_candidates: Callable[..., Any]) -> Callable[..., Any]:
    """``evaluate_candidates`` with ``recorder`` marked as the current batch's while it runs."""

    @functools.wraps(evaluate_candidates)
    def evaluate(*args: Any, **kwargs: Any) -> Any:
        token = CURRENT_BATCH.set(recorder)
        try:
            return evaluate_candidates(*args, **kwargs)
        finally:
            CURRENT_BATCH.reset(token)

    return evaluate
