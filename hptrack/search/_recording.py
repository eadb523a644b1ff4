"""What the drop-ins add to scikit-learn's searches: a recording around its own ``fit``.

``fit`` is scikit-learn's, unchanged: hptrack only wraps ``evaluate_candidates`` where
``_run_search`` receives it (in its own classes and in any subclass that overrides
``_run_search``), and scikit-learn's per-fold ``_fit_and_score`` through
:mod:`._sklearn_shim`.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from sklearn.exceptions import NotFittedError

from ..query.store import Store
from ._recorder import Recording
from ._sklearn_shim import check_version, install

_EXTRA_CONSTRAINTS: dict[str, list[Any]] = {
    "store": [str, Path, None],
    "study": [str, None],
    "allow_code_change": ["boolean"],
    "reuse": ["boolean"],
}

check_version()
install()


def recording_run_search(run_search: Any) -> Any:
    """``run_search`` handing scikit-learn's ``evaluate_candidates`` on through the recording.

    The signature is kept (``functools.wraps``): scikit-learn passes ``callback_ctx`` only
    to a ``_run_search`` that declares it.
    """

    @functools.wraps(run_search)
    def _run_search(self: Any, evaluate_candidates: Any, *args: Any, **kwargs: Any) -> Any:
        recording = getattr(self, "_hptrack_recording", None)
        if recording is not None:
            evaluate_candidates = recording.wrap(evaluate_candidates)
        return run_search(self, evaluate_candidates, *args, **kwargs)

    _run_search._hptrack_wraps = True  # type: ignore[attr-defined]
    return _run_search


class _RecordingSearch:
    """What both search classes add to scikit-learn's: record, resume, reuse."""

    store: Any
    study: Any
    allow_code_change: bool
    reuse: bool

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A subclass's own ``_run_search`` records too (custom candidate scheduling)."""
        super().__init_subclass__(**kwargs)
        run_search = cls.__dict__.get("_run_search")
        if run_search is not None and not getattr(run_search, "_hptrack_wraps", False):
            cls._run_search = recording_run_search(run_search)  # type: ignore[attr-defined]

    def fit(self, X: Any, y: Any = None, **params: Any) -> Any:
        """Run (or resume) the search with scikit-learn's ``fit``, recording every fold.

        Folds the store already holds for this study (or, with ``reuse``, for any study
        with the same estimator, params, data, split, scorers and code) are not fitted
        again: their recorded results are used, so the ``cv_results_`` of a re-run equal
        the first run's.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), optional
        **params : dict
            As scikit-learn's ``fit``: ``groups`` for the splitter, the rest routed to the
            estimator's ``fit`` (and to scorers) as scikit-learn routes them.

        Returns
        -------
        self

        Raises
        ------
        hptrack.SpecMismatchError
            ``study=`` names a study stored with another search.
        hptrack.DriftError
            The stored study ran on other data, splits or code (package versions, own modules).
        ValueError, TypeError
            scikit-learn's own errors, with its messages.

        Notes
        -----
        When the search, the estimator or the splitter has ``random_state=None``, or a value
        has no stable fingerprint, the study records it, and the ``hptrack`` logger says
        once per store and process, at WARNING level, that the study cannot be verified bit
        for bit (``hptrack show`` says so too). These are log records, not Python warnings,
        so the warnings ``fit`` raises are exactly scikit-learn's.
        """
        recording = Recording(self, X, y, params)
        self._hptrack_recording = recording
        error: BaseException | None = None
        try:
            super().fit(X, y, **params)  # type: ignore[misc]
        except BaseException as exc:
            error = exc
            raise
        finally:
            del self._hptrack_recording
            recording.close(error)
        if recording.plan is not None:
            self._hptrack_recorded = (
                recording.writer.path if recording.writer is not None else None,
                recording.plan.name,
            )
        return self

    def recorded_study(self) -> Any:
        """The study the last ``fit`` recorded, to query: ``search.recorded_study().trials()``.

        Returns
        -------
        hptrack.Study
            Opened on the store the fit wrote (its ``name`` and ``store.path`` say which).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before ``fit``, or after a ``fit`` that failed before it recorded anything.
        """
        path, name = getattr(self, "_hptrack_recorded", (None, None))
        if path is None:
            raise NotFittedError(
                f"This {type(self).__name__} instance has not recorded a study yet; call fit first"
            )
        return Store(path, readonly=True).study(name)  # for queries: no write lock taken
