"""``GridSearchCV`` and ``RandomizedSearchCV``: scikit-learn's, recording every trial.

They take scikit-learn's arguments plus ``store``, ``study``, ``allow_code_change`` and
``reuse``; everything else (candidates, fitted attributes, ``cv_results_``, verbose output,
warnings, errors, callbacks, metadata routing) is scikit-learn's own code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sklearn import model_selection as _ms

from ._recording import _EXTRA_CONSTRAINTS, _RecordingSearch, recording_run_search


class GridSearchCV(_RecordingSearch, _ms.GridSearchCV):  # type: ignore[misc]
    """Exhaustive search over a grid, every trial recorded in an hptrack store.

    Takes scikit-learn's ``GridSearchCV`` arguments, plus:

    Parameters
    ----------
    store : str or Path, optional
        The store file; default ``$HPTRACK_STORE``, else ``./hptrack.db``.
    study : str, optional
        Study name. By default, the estimator's class plus a hash of the search and the
        data: fitting the same search on the same data again resumes it.
    allow_code_change : bool, default=False
        Resume a stored study although package versions or own modules changed.
    reuse : bool, default=True
        Copy the result of a fold that any study of the store already evaluated with
        the same estimator, params, data, split, scorers, code and package versions,
        instead of fitting it again (the copy records where it came from). False
        fits every fold.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.svm import SVC
    >>> import hptrack
    >>> X, y = load_iris(return_X_y=True)
    >>> search = hptrack.GridSearchCV(SVC(), {"C": [1, 10]}, store="runs.db")  # doctest: +SKIP
    >>> search.fit(X, y).best_params_  # doctest: +SKIP
    {'C': 1}
    """

    _parameter_constraints: dict[str, Any] = {**_ms.GridSearchCV._parameter_constraints, **_EXTRA_CONSTRAINTS}

    def __init__(
        self,
        estimator: Any,
        param_grid: Any,
        *,
        scoring: Any = None,
        n_jobs: int | None = None,
        refit: Any = True,
        cv: Any = None,
        verbose: int = 0,
        pre_dispatch: Any = "2*n_jobs",
        error_score: Any = np.nan,
        return_train_score: bool = False,
        store: str | Path | None = None,
        study: str | None = None,
        allow_code_change: bool = False,
        reuse: bool = True,
    ) -> None:
        super().__init__(
            estimator,
            param_grid,
            scoring=scoring,
            n_jobs=n_jobs,
            refit=refit,
            cv=cv,
            verbose=verbose,
            pre_dispatch=pre_dispatch,
            error_score=error_score,
            return_train_score=return_train_score,
        )
        self.store = store
        self.study = study
        self.allow_code_change = allow_code_change
        self.reuse = reuse

    _run_search = recording_run_search(_ms.GridSearchCV._run_search)


class RandomizedSearchCV(_RecordingSearch, _ms.RandomizedSearchCV):  # type: ignore[misc]
    """Random search, every trial recorded in an hptrack store.

    Takes scikit-learn's ``RandomizedSearchCV`` arguments plus ``store``, ``study``,
    ``allow_code_change`` and ``reuse`` (see :class:`GridSearchCV`). Candidates are
    scikit-learn's own ``ParameterSampler`` draws from ``random_state``: with an int, a
    re-run draws the same ones and resumes the study; with None, each fit draws others
    (another study; the ``hptrack`` logger says so).

    Parameters
    ----------
    store : str or Path, optional
        The store file; default ``$HPTRACK_STORE``, else ``./hptrack.db``.
    study : str, optional
        Study name; by default derived from the estimator, the search and the data.
    allow_code_change : bool, default=False
        Resume a stored study although package versions or own modules changed.
    reuse : bool, default=True
        Copy folds the store already evaluated with the same key instead of refitting.

    Examples
    --------
    >>> from scipy.stats import loguniform
    >>> search = hptrack.RandomizedSearchCV(  # doctest: +SKIP
    ...     SVC(), {"C": loguniform(1e-2, 1e2)}, n_iter=20, random_state=0, store="runs.db")
    """

    _parameter_constraints: dict[str, Any] = {
        **_ms.RandomizedSearchCV._parameter_constraints,
        **_EXTRA_CONSTRAINTS,
    }

    def __init__(
        self,
        estimator: Any,
        param_distributions: Any,
        *,
        n_iter: int = 10,
        scoring: Any = None,
        n_jobs: int | None = None,
        refit: Any = True,
        cv: Any = None,
        verbose: int = 0,
        pre_dispatch: Any = "2*n_jobs",
        random_state: Any = None,
        error_score: Any = np.nan,
        return_train_score: bool = False,
        store: str | Path | None = None,
        study: str | None = None,
        allow_code_change: bool = False,
        reuse: bool = True,
    ) -> None:
        super().__init__(
            estimator,
            param_distributions,
            n_iter=n_iter,
            scoring=scoring,
            n_jobs=n_jobs,
            refit=refit,
            cv=cv,
            verbose=verbose,
            pre_dispatch=pre_dispatch,
            random_state=random_state,
            error_score=error_score,
            return_train_score=return_train_score,
        )
        self.store = store
        self.study = study
        self.allow_code_change = allow_code_change
        self.reuse = reuse

    _run_search = recording_run_search(_ms.RandomizedSearchCV._run_search)
