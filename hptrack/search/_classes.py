"""``GridSearchCV`` and ``RandomizedSearchCV``: scikit-learn's, recording every trial.

They take scikit-learn's arguments plus ``store``, ``study`` and ``seed``, keep its
fitted attributes, and their ``cv_results_`` equal scikit-learn's on the same splits.
"""

from __future__ import annotations

import numbers
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from sklearn import model_selection as _ms
from sklearn.model_selection import ParameterGrid, ParameterSampler

from ..spec import distinct_candidates, sample_candidate
from ._recording import _EXTRA_CONSTRAINTS, _RecordingSearch


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
    seed : int, default=0
        The study seed: the estimator's ``random_state`` params left at None get it.
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
        seed: int = 0,
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
        self.seed = seed
        self.allow_code_change = allow_code_change
        self.reuse = reuse

    def _candidates(self) -> tuple[str, Any, list[dict[str, Any]], int, list[dict[str, Any]]]:
        candidates = [dict(p) for p in ParameterGrid(self.param_grid)]
        return "grid", self.param_grid, candidates, int(self.seed), [{} for _ in candidates]


class RandomizedSearchCV(_RecordingSearch, _ms.RandomizedSearchCV):  # type: ignore[misc]
    """Random search, every trial recorded in an hptrack store.

    Takes scikit-learn's ``RandomizedSearchCV`` arguments plus ``store``, ``study``,
    ``seed``, ``allow_code_change`` and ``reuse`` (see :class:`GridSearchCV`). Candidate ``i`` is
    drawn from ``SeedSequence([random_state, i])`` alone (``seed`` when
    ``random_state`` is not an int), so candidates stay stable under resume; they differ
    from scikit-learn's ``ParameterSampler`` sequence.

    Parameters
    ----------
    store : str or Path, optional
        The store file; default ``$HPTRACK_STORE``, else ``./hptrack.db``.
    study : str, optional
        Study name; by default derived from the estimator, the search and the data.
    seed : int, default=0
        The study seed, used where ``random_state`` is not an int.
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
        seed: int = 0,
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
        self.seed = seed
        self.allow_code_change = allow_code_change
        self.reuse = reuse

    def _candidates(self) -> tuple[str, Any, list[dict[str, Any]], int, list[dict[str, Any]]]:
        if isinstance(self.random_state, numbers.Integral):
            seed = int(self.random_state)
        else:
            if self.random_state is not None:
                warnings.warn(
                    "random_state is not an int, so it cannot seed reproducible candidates; "
                    f"using seed={self.seed}",
                    UserWarning,
                    stacklevel=3,
                )
            seed = int(self.seed)
        distributions = self.param_distributions
        sampler = ParameterSampler(distributions, self.n_iter, random_state=0)  # validates
        spaces = sampler.param_distributions
        if all(not hasattr(v, "rvs") for space in spaces for v in space.values()):
            candidates = _distinct_candidates(distributions, seed, self.n_iter)
        else:
            candidates = [sample_candidate(distributions, seed, i) for i in range(self.n_iter)]
        return (
            "random",
            distributions,
            candidates,
            seed,
            [{"sample": [seed, i]} for i in range(len(candidates))],
        )


def _distinct_candidates(distributions: Any, seed: int, n_iter: int) -> list[dict[str, Any]]:
    """Lists only: sample without replacement, as ``ParameterSampler`` does (and warns)."""
    grid_size = len(ParameterGrid(distributions))
    if grid_size < n_iter:
        warnings.warn(
            f"The total space of parameters {grid_size} is smaller than n_iter={n_iter}. "
            f"Running {grid_size} iterations. For exhaustive searches, use GridSearchCV.",
            UserWarning,
            stacklevel=4,
        )
        n_iter = grid_size
    return distinct_candidates(distributions, seed, n_iter)
