"""``HalvingGridSearchCV`` and ``HalvingRandomSearchCV``: scikit-learn's, every rung recorded.

scikit-learn's successive-halving loop (``BaseSuccessiveHalving._run_search``) runs
unchanged: it calls ``evaluate_candidates`` once per rung (``iter``), with the rung's
candidates, its splitter (subsampled for ``resource="n_samples"``) and ``more_results``
giving the rung and its ``n_resources``. The recording numbers each rung's candidates on
from the previous rung's, as the rows of ``cv_results_``: a trial per (candidate, rung),
stored with its rung and resource. A re-run serves the stored folds, so its scores, and
therefore the candidates scikit-learn promotes, are the first run's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import _search_successive_halving as _sh

from ._recording import _EXTRA_CONSTRAINTS, _RecordingSearch, recording_run_search

_EXTRA_DOC = """
    Takes scikit-learn's ``{base}`` arguments, plus:

    Parameters
    ----------
    store : str or Path, optional
        The store file; default ``$HPTRACK_STORE``, else ``./hptrack.db``.
    study : str, optional
        Study name; by default derived from the estimator, the search and the data.
    allow_code_change : bool, default=False
        Resume a stored study although package versions or own modules changed.
    reuse : bool, default=True
        Copy folds the store already evaluated with the same key (params, resource, data,
        split, scorers, code) instead of refitting.

    Every (candidate, rung) is a trial, numbered as the rows of ``cv_results_``, with its
    rung (``iter``) and resource (``n_resources``); each of its folds is committed as it
    finishes. With ``resource="n_samples"``, ``random_state`` must be an int for a re-run
    to resume (else the subsamples differ on every fit: another study).
"""


class HalvingGridSearchCV(_RecordingSearch, _sh.HalvingGridSearchCV):  # type: ignore[misc]
    __doc__ = (
        "Successive halving over a grid, every (candidate, rung, fold) recorded in an hptrack store.\n"
        + _EXTRA_DOC.format(base="HalvingGridSearchCV")
        + """
    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.svm import SVC
    >>> import hptrack
    >>> X, y = load_iris(return_X_y=True)
    >>> search = hptrack.HalvingGridSearchCV(  # doctest: +SKIP
    ...     SVC(), {"C": [0.1, 1, 10]}, random_state=0, store="runs.db")
    >>> search.fit(X, y).n_resources_  # doctest: +SKIP
    [50, 150]
    """
    )

    _parameter_constraints: dict[str, Any] = {
        **_sh.HalvingGridSearchCV._parameter_constraints,
        **_EXTRA_CONSTRAINTS,
    }

    def __init__(
        self,
        estimator: Any,
        param_grid: Any,
        *,
        factor: Any = 3,
        resource: str = "n_samples",
        max_resources: Any = "auto",
        min_resources: Any = "exhaust",
        aggressive_elimination: bool = False,
        cv: Any = 5,
        scoring: Any = None,
        refit: Any = True,
        error_score: Any = np.nan,
        return_train_score: bool = True,
        random_state: Any = None,
        n_jobs: int | None = None,
        verbose: int = 0,
        store: str | Path | None = None,
        study: str | None = None,
        allow_code_change: bool = False,
        reuse: bool = True,
    ) -> None:
        super().__init__(
            estimator,
            param_grid,
            factor=factor,
            resource=resource,
            max_resources=max_resources,
            min_resources=min_resources,
            aggressive_elimination=aggressive_elimination,
            cv=cv,
            scoring=scoring,
            refit=refit,
            error_score=error_score,
            return_train_score=return_train_score,
            random_state=random_state,
            n_jobs=n_jobs,
            verbose=verbose,
        )
        self.store = store
        self.study = study
        self.allow_code_change = allow_code_change
        self.reuse = reuse

    _run_search = recording_run_search(_sh.BaseSuccessiveHalving._run_search)


class HalvingRandomSearchCV(_RecordingSearch, _sh.HalvingRandomSearchCV):  # type: ignore[misc]
    __doc__ = (
        "Successive halving over random candidates, every (candidate, rung, fold) recorded.\n"
        + _EXTRA_DOC.format(base="HalvingRandomSearchCV")
        + """
    Candidates are scikit-learn's own ``ParameterSampler`` draws from ``random_state``.

    Examples
    --------
    >>> from scipy.stats import loguniform
    >>> search = hptrack.HalvingRandomSearchCV(  # doctest: +SKIP
    ...     SVC(), {"C": loguniform(1e-2, 1e2)}, n_candidates=27, random_state=0, store="runs.db")
    """
    )

    _parameter_constraints: dict[str, Any] = {
        **_sh.HalvingRandomSearchCV._parameter_constraints,
        **_EXTRA_CONSTRAINTS,
    }

    def __init__(
        self,
        estimator: Any,
        param_distributions: Any,
        *,
        n_candidates: Any = "exhaust",
        factor: Any = 3,
        resource: str = "n_samples",
        max_resources: Any = "auto",
        min_resources: Any = "smallest",
        aggressive_elimination: bool = False,
        cv: Any = 5,
        scoring: Any = None,
        refit: Any = True,
        error_score: Any = np.nan,
        return_train_score: bool = True,
        random_state: Any = None,
        n_jobs: int | None = None,
        verbose: int = 0,
        store: str | Path | None = None,
        study: str | None = None,
        allow_code_change: bool = False,
        reuse: bool = True,
    ) -> None:
        super().__init__(
            estimator,
            param_distributions,
            n_candidates=n_candidates,
            factor=factor,
            resource=resource,
            max_resources=max_resources,
            min_resources=min_resources,
            aggressive_elimination=aggressive_elimination,
            cv=cv,
            scoring=scoring,
            refit=refit,
            error_score=error_score,
            return_train_score=return_train_score,
            random_state=random_state,
            n_jobs=n_jobs,
            verbose=verbose,
        )
        self.store = store
        self.study = study
        self.allow_code_change = allow_code_change
        self.reuse = reuse

    _run_search = recording_run_search(_sh.BaseSuccessiveHalving._run_search)
