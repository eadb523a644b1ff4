"""``GridSearchCV`` and ``RandomizedSearchCV``: scikit-learn's, recording every trial.

They take scikit-learn's arguments plus ``store``, ``study`` and ``seed``, keep its
fitted attributes, and their ``cv_results_`` equal scikit-learn's on the same splits.
Every fold is committed to the store as it finishes, so re-running the same script
resumes where it stopped instead of starting over.
"""

from __future__ import annotations

import numbers
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from sklearn import model_selection as _ms
from sklearn.base import clone, is_classifier
from sklearn.exceptions import FitFailedWarning
from sklearn.metrics import check_scoring, get_scorer
from sklearn.model_selection import ParameterGrid, check_cv
from sklearn.utils import indexable
from sklearn.utils._param_validation import Interval

from .errors import HptrackError
from .fingerprint import (
    canonical_json,
    code_fingerprint,
    data_fingerprint,
    environment,
    git_state,
    hash_value,
    split_fingerprint,
)
from .query import cv_results_layout
from .runner import StudyPlan, modules_of, run_plan, seed_params
from .space import sample_candidate
from .spec import check_study_name
from .store import Store

_EXTRA_CONSTRAINTS: dict[str, list[Any]] = {
    "store": [str, Path, None],
    "study": [str, None],
    "seed": [Interval(numbers.Integral, 0, 2**32 - 1, closed="both")],
    "allow_code_change": ["boolean"],
}


def _describe_cv(cv: Any, n_splits: int) -> Any:
    if cv is None or isinstance(cv, numbers.Integral):
        return {"kind": "default", "folds": n_splits}
    if hasattr(cv, "split"):
        return {"class": f"{type(cv).__module__}.{type(cv).__qualname__}", "repr": repr(cv)}
    return {"kind": "explicit splits", "folds": n_splits}


def _describe_scorer(scorer: Any) -> str:
    name = getattr(scorer, "__qualname__", None)
    if name and "<" not in name:
        return f"{getattr(scorer, '__module__', '?')}.{name}"
    return repr(scorer)


class _RecordingSearch:
    """What both search classes add to scikit-learn's: record, resume, query."""

    store: Any
    study: Any
    seed: Any
    allow_code_change: bool

    def _scorers(self) -> tuple[dict[str, Any], dict[str, str], str | Any, bool]:
        """(scorers by metric, key name by metric, refit metric, multimetric)."""
        scoring: Any = self.scoring  # type: ignore[attr-defined]
        estimator = self.estimator  # type: ignore[attr-defined]
        if scoring is None:
            return {"score": check_scoring(estimator)}, {"score": "score"}, "score", False
        if isinstance(scoring, str):
            return {scoring: get_scorer(scoring)}, {scoring: "score"}, "score", False
        if callable(scoring):
            return {"score": scoring}, {"score": "score"}, "score", False
        if isinstance(scoring, (list, tuple, set)):
            names = list(scoring)
            if (
                not names
                or len(set(names)) != len(names)
                or not all(isinstance(n, str) for n in names)
            ):
                raise ValueError(
                    f"scoring={scoring!r} must be a non-empty list of distinct scorer names"
                )
            scorers = {name: get_scorer(name) for name in names}
        elif isinstance(scoring, Mapping):
            if not scoring:
                raise ValueError("scoring={} is empty; give at least one scorer")
            scorers = {
                str(name): get_scorer(s) if isinstance(s, str) else s for name, s in scoring.items()
            }
        else:
            raise ValueError(f"scoring={scoring!r} is not a scorer name, callable, list or dict")
        self._check_refit_for_multimetric(scorers)  # type: ignore[attr-defined]
        return scorers, {m: m for m in scorers}, self.refit, True  # type: ignore[attr-defined]

    def fit(self, X: Any, y: Any = None, **params: Any) -> Any:
        """Run (or resume) the search, recording every fold in the store.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), optional
        **params : dict
            ``groups`` for the CV splitter; everything else is passed to the estimator's
            ``fit`` (arrays of length ``n_samples`` are split with the folds).

        Returns
        -------
        self

        Raises
        ------
        hptrack.SpecMismatchError
            ``study=`` names a study stored with another search or other data.
        hptrack.DriftError
            The stored study ran under other code (package versions, own modules).
        """
        self._validate_params()  # type: ignore[attr-defined]
        if self.study is not None:
            check_study_name(self.study, where="study")
        scorers, key_names, refit_metric, multimetric = self._scorers()
        groups = params.pop("groups", None)
        X, y = indexable(X, y)
        fit_params = dict(params)

        base = clone(self.estimator)  # type: ignore[attr-defined]
        seeds = seed_params(base, int(self.seed))
        if seeds:
            base.set_params(**seeds)
        cv = check_cv(self.cv, y, classifier=is_classifier(base))  # type: ignore[attr-defined]
        splits = [(np.asarray(tr), np.asarray(te)) for tr, te in cv.split(X, y, groups)]
        self.n_splits_ = len(splits)
        if not splits:
            raise ValueError("the CV splitter produced no splits")

        search, space, candidates, seed, trial_seeds = self._candidates()  # type: ignore[attr-defined]
        if not candidates:
            raise ValueError("No fits were performed: there are no candidates to evaluate")
        arrays = {"X": X, "y": y, "groups": groups}
        arrays.update({f"fit:{k}": v for k, v in fit_params.items()})
        data_hash, data_info = data_fingerprint(arrays)
        code_hash, code_info = code_fingerprint(
            modules_of(base, *[v for c in candidates for v in c.values() if hasattr(v, "fit")])
        )
        spec = {
            "search": search,
            "estimator": base,
            "space": space,
            "n_trials": len(candidates),
            "seed": seed,
            "cv": _describe_cv(self.cv, len(splits)),  # type: ignore[attr-defined]
            "metrics": {m: _describe_scorer(s) for m, s in scorers.items()},
            "error_score": self.error_score,  # type: ignore[attr-defined]
            "train_scores": bool(self.return_train_score),  # type: ignore[attr-defined]
        }
        spec = _jsonable(spec)
        name = self.study or f"{type(base).__name__}-{hash_value([spec, data_hash])[:12]}"
        plan = StudyPlan(
            name=name,
            search=search,
            spec=spec,
            estimator=base,
            candidates=candidates,
            trial_seeds=[{**seeds, **s} for s in trial_seeds],
            scorers=scorers,
            splits=splits,
            X=X,
            y=y,
            fit_params=fit_params,
            error_score=self.error_score,  # type: ignore[attr-defined]
            return_train_score=bool(self.return_train_score),  # type: ignore[attr-defined]
            data_hash=data_hash,
            data_info=data_info,
            code_hash=code_hash,
            code_info=code_info,
            split_hash=split_fingerprint(splits),
            provenance={
                "base_dir": str(Path.cwd()),
                "spec_file": None,
                "api": f"hptrack.{type(self).__name__}",
                "git": git_state(Path.cwd()),
                "environment": environment(type(base).__module__),
                "estimator": repr(base),
                "cv": repr(cv),
                "seeds": seeds,
            },
            seed=seed,
        )
        with Store(self.store) as store:
            summary = run_plan(
                store,
                plan,
                n_jobs=self.n_jobs,  # type: ignore[attr-defined]
                allow_code_change=self.allow_code_change,
            )
            if not summary.finished:
                raise HptrackError(
                    f"study {name!r} still has {summary.n_pending} trial(s) running in another "
                    "process; fit again when they finish"
                )
            trials = store.study(name).trials()
        self.study_ = name
        self.store_ = str(store.path)
        self._set_results(trials, candidates, scorers, key_names, multimetric)
        self._finish(X, y, base, fit_params, refit_metric, scorers)
        return self

    def _set_results(
        self,
        trials: list[Any],
        candidates: list[dict[str, Any]],
        scorers: dict[str, Any],
        key_names: dict[str, str],
        multimetric: bool,
    ) -> None:
        n_failed = sum(1 for t in trials for _ in t.errors)
        if n_failed:
            first = next(e for t in trials for e in t.errors.values())
            warnings.warn(
                f"\n{n_failed} fits failed out of a total of {len(trials) * self.n_splits_}.\n"
                f"The score on these train-test partitions for these parameters will be set to "
                f"{self.error_score}.\n"  # type: ignore[attr-defined]
                "The failures are recorded in the store (hptrack show STUDY NUMBER).\n"
                f"First failure:\n{first}",
                FitFailedWarning,
                stacklevel=3,
            )

        def fold_array(values: list[float | None]) -> list[float]:
            return [np.nan if v is None else v for v in values]

        train = None
        if self.return_train_score:  # type: ignore[attr-defined]
            train = {m: [fold_array((t.train_scores or {})[m]) for t in trials] for m in scorers}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            results = cv_results_layout(
                candidates,
                n_splits=self.n_splits_,
                test_scores={m: [fold_array(t.scores[m]) for t in trials] for m in scorers},
                train_scores=train,
                fit_time=[fold_array(t.fit_time) for t in trials],
                score_time=[fold_array(t.score_time) for t in trials],
                key_names=key_names,
            )
        for key, value in results.items():
            if key.startswith(("mean_test_", "mean_train_")) and np.any(~np.isfinite(value)):
                warnings.warn(
                    f"One or more of the {key.split('_')[1]} scores are non-finite: {value}",
                    UserWarning,
                    stacklevel=3,
                )
        self.cv_results_ = results
        self.multimetric_ = multimetric

    def _finish(
        self,
        X: Any,
        y: Any,
        base: Any,
        fit_params: dict[str, Any],
        refit_metric: Any,
        scorers: dict[str, Any],
    ) -> None:
        refit = self.refit  # type: ignore[attr-defined]
        results = self.cv_results_
        if refit or not self.multimetric_:
            self.best_index_ = int(self._select_best_index(refit, refit_metric, results))  # type: ignore[attr-defined]
            if not callable(refit):
                self.best_score_ = float(results[f"mean_test_{refit_metric}"][self.best_index_])
            self.best_params_ = results["params"][self.best_index_]
        if refit:
            self.best_estimator_ = clone(base).set_params(**clone(self.best_params_, safe=False))
            start = time.time()
            if y is not None:
                self.best_estimator_.fit(X, y, **fit_params)
            else:
                self.best_estimator_.fit(X, **fit_params)
            self.refit_time_ = time.time() - start
            if hasattr(self.best_estimator_, "feature_names_in_"):
                self.feature_names_in_ = self.best_estimator_.feature_names_in_
        self.scorer_ = scorers if self.multimetric_ else next(iter(scorers.values()))


def _jsonable(value: Any) -> Any:
    import json

    return json.loads(canonical_json(value))


class GridSearchCV(_RecordingSearch, _ms.GridSearchCV):
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

    _parameter_constraints: dict = {**_ms.GridSearchCV._parameter_constraints, **_EXTRA_CONSTRAINTS}

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

    def _candidates(self) -> tuple[str, Any, list[dict[str, Any]], int, list[dict[str, Any]]]:
        candidates = [dict(p) for p in ParameterGrid(self.param_grid)]
        return "grid", self.param_grid, candidates, int(self.seed), [{} for _ in candidates]


class RandomizedSearchCV(_RecordingSearch, _ms.RandomizedSearchCV):
    """Random search, every trial recorded in an hptrack store.

    Takes scikit-learn's ``RandomizedSearchCV`` arguments plus ``store``, ``study``,
    ``seed`` and ``allow_code_change`` (see :class:`GridSearchCV`). Candidate ``i`` is
    drawn from ``SeedSequence([random_state, i])`` alone (``seed`` when
    ``random_state`` is not an int), so candidates stay stable under resume; they differ
    from scikit-learn's ``ParameterSampler`` sequence.
    """

    _parameter_constraints: dict = {
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
        _check_distributions(distributions)
        candidates = [sample_candidate(distributions, seed, i) for i in range(self.n_iter)]
        return (
            "random",
            distributions,
            candidates,
            seed,
            [{"sample": [seed, i]} for i in range(self.n_iter)],
        )


def _check_distributions(distributions: Any) -> None:
    spaces = [distributions] if isinstance(distributions, Mapping) else list(distributions)
    for space in spaces:
        for key, dist in space.items():
            if not (hasattr(dist, "rvs") or isinstance(dist, (list, tuple, np.ndarray))):
                raise TypeError(
                    f"param_distributions[{key!r}] = {dist!r} must be a list of values or a "
                    "distribution with an rvs method (e.g. scipy.stats.loguniform(1e-3, 1e2))"
                )
            if not hasattr(dist, "rvs") and len(dist) == 0:
                raise ValueError(f"param_distributions[{key!r}] is an empty list")
