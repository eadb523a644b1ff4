"""What the two drop-ins share: a ``fit`` that records every fold in the store, resumes
the study on the next ``fit``, and sets scikit-learn's fitted attributes from the store.
"""

from __future__ import annotations

import inspect
import numbers
import sys
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.metrics import check_scoring
from sklearn.model_selection import check_cv
from sklearn.utils import indexable
from sklearn.utils._param_validation import Interval

from .._json import describe, hash_value, sha256_text
from ..errors import HptrackError
from ..identity import code_fingerprint
from ..query import Store, cv_results_layout
from ..run import (
    FoldTask,
    ScoreKey,
    StudyPlan,
    apply_seeds,
    build_plan,
    data_identity,
    open_study,
    run_plan,
    score_keys,
    unstable_values,
)
from ..spec import check_study_name
from ..store import Writer, command_line
from ._failures import _warn_about_scorer_failures, _warn_or_raise_about_fit_failures

_EXTRA_CONSTRAINTS: dict[str, list[Any]] = {
    "store": [str, Path, None],
    "study": [str, None],
    "seed": [Interval(numbers.Integral, 0, 2**32 - 1, closed="both")],
    "allow_code_change": ["boolean"],
    "reuse": ["boolean"],
}


def _describe_cv(cv: Any, n_splits: int) -> Any:
    if cv is None or isinstance(cv, numbers.Integral):
        return {"kind": "default", "folds": n_splits}
    if hasattr(cv, "split"):
        return {"class": f"{type(cv).__module__}.{type(cv).__qualname__}", "repr": repr(cv)}
    return {"kind": "explicit splits", "folds": n_splits}


def _describe_scorer(scorer: Any) -> str:
    name = getattr(scorer, "__qualname__", None)
    if not name:
        return repr(scorer)
    module = getattr(scorer, "__module__", "?")
    described = f"{module}.{name}"
    if "<" in name or module == "__main__":  # a lambda, a local or a script's function:
        # its source tells them apart (an edit elsewhere in the script does not count)
        try:
            source = inspect.getsource(scorer)
        except (OSError, TypeError):
            code = getattr(scorer, "__code__", None)
            source = repr(code.co_code if code is not None else scorer)
        described += f"#{sha256_text(source)[:12]}"
    return described


def _multimetric_scorers(estimator: Any, scoring: Any) -> dict[str, Any]:
    """A list or dict ``scoring`` as scorers by name, with scikit-learn's messages."""
    if isinstance(scoring, (list, tuple, set)):
        err_msg = "The list/tuple elements must be unique strings of predefined scorers. "
        try:
            keys = set(scoring)
        except TypeError as exc:
            raise ValueError(err_msg) from exc
        if len(keys) != len(scoring):
            raise ValueError(f"{err_msg} Duplicate elements were found in the given list. {scoring!r}")
        if not keys:
            raise ValueError(f"{err_msg} Empty list was given. {scoring!r}")
        if not all(isinstance(k, str) for k in keys):
            if any(callable(k) for k in keys):
                raise ValueError(
                    f"{err_msg} One or more of the elements were callables. Use a dict of "
                    f"score name mapped to the scorer callable. Got {scoring!r}"
                )
            raise ValueError(f"{err_msg} Non-string types were found in the given list. Got {scoring!r}")
        return {name: check_scoring(estimator, scoring=name) for name in scoring}
    if not all(isinstance(k, str) for k in scoring):
        raise ValueError(f"Non-string types were found in the keys of the given dict. scoring={scoring!r}")
    if not scoring:
        raise ValueError(f"An empty dict was passed. {scoring!r}")
    return {key: check_scoring(estimator, scoring=s) for key, s in scoring.items()}


class _RecordingSearch:
    """What both search classes add to scikit-learn's: record, resume, query."""

    store: Any
    study: Any
    seed: Any
    allow_code_change: bool
    reuse: bool

    def _scorers(self) -> tuple[dict[str, Any], dict[str, str], Any, bool]:
        """(scorers by metric, key name by metric, refit metric, multimetric).

        A callable ``scoring`` is one metric, ``score``, until :meth:`_callable_scorers`
        finds that it returns a dict.
        """
        scoring: Any = self.scoring  # type: ignore[attr-defined]
        estimator = self.estimator  # type: ignore[attr-defined]
        if callable(scoring):
            return {"score": scoring}, {"score": "score"}, "score", False
        if scoring is None or isinstance(scoring, str):
            return {"score": check_scoring(estimator, scoring)}, {"score": "score"}, "score", False
        scorers = _multimetric_scorers(estimator, scoring)
        self._check_refit_for_multimetric(scorers)  # type: ignore[attr-defined]
        return scorers, {m: m for m in scorers}, self.refit, True  # type: ignore[attr-defined]

    def _callable_scorers(
        self, store: Writer, name: str, probe: Any
    ) -> tuple[dict[str, Any], dict[str, str], Any, bool]:
        """Scorers for a callable ``scoring``: several metrics if it returns a dict.

        The stored study knows its metrics; a new study scores one fit to find out.
        """
        scoring: Any = self.scoring  # type: ignore[attr-defined]
        stored = store.stored_study(name)
        keys = (list(stored.metrics) if stored.metrics != ["score"] else None) if stored else probe()
        if keys is None:
            return {"score": scoring}, {"score": "score"}, "score", False
        scorers = {key: ScoreKey(scoring, key) for key in keys}
        self._check_refit_for_multimetric(scorers)  # type: ignore[attr-defined]
        return scorers, {k: k for k in keys}, self.refit, True  # type: ignore[attr-defined]

    def fit(self, X: Any, y: Any = None, **params: Any) -> Any:
        """Run (or resume) the search, recording every fold in the store.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), optional
        **params : dict
            ``groups`` for the CV splitter; everything else is passed to the estimator's
            ``fit`` (arrays of length ``n_samples`` are split with the folds), and
            ``sample_weight`` also to the scorers that accept it, as scikit-learn does.

        Returns
        -------
        self

        Raises
        ------
        hptrack.SpecMismatchError
            ``study=`` names a study stored with another search.
        hptrack.DriftError
            The stored study ran on other data or under other code (package versions,
            own modules).
        ValueError
            Every fit failed (as scikit-learn); the failures are recorded first.
        """
        self._validate_params()  # type: ignore[attr-defined]
        if self.study is not None:
            check_study_name(self.study, where="study")
        scorers, key_names, refit_metric, multimetric = self._scorers()
        X, y, groups, fit_params = self._fit_inputs(X, y, params)
        base, seeds, cv, splits = self._splits(X, y, groups)
        search, space, candidates, seed, samples = self._candidates()  # type: ignore[attr-defined]
        if not candidates or not splits:
            raise ValueError("No fits were performed. Was the CV iterator empty? Were there no candidates?")
        data = data_identity(X, y, groups, fit_params)
        code = self._code_identity(base, candidates, scorers)
        spec = self._spec(search, base, space, len(candidates), seed, len(splits), scorers)
        name = self.study or _derived_name(base, spec, data[0], unstable_values(base, candidates, data[1]))

        scoring: Any = self.scoring  # type: ignore[attr-defined]
        with Writer(self.store) as store:
            if callable(scoring):  # its metrics: the stored study's, or one fit's dict keys
                scorers, key_names, refit_metric, multimetric = self._callable_scorers(
                    store, name, lambda: score_keys(scoring, base, X, y, splits[0], candidates, fit_params)
                )
            plan = build_plan(
                name,
                search=search,
                spec=spec,
                estimator=base,
                candidates=candidates,
                samples=samples,
                seeds=seeds,
                seed=seed,
                scorers=scorers,
                cv=cv,
                splits=splits,
                X=X,
                y=y,
                data=data,
                code=code,
                base_dir=Path.cwd(),
                origin={"spec_file": None, "api": f"hptrack.{type(self).__name__}"},
                fit_params=fit_params,
                error_score=self.error_score,  # type: ignore[attr-defined]
                return_train_score=bool(self.return_train_score),  # type: ignore[attr-defined]
            )
            _warn_if_unstable(plan)
            self._record(store, plan)
            trials = Store.from_writer(store).study(name).trials()
        self.study_ = name
        self.store_ = str(store.path)
        if self.error_score == "raise":  # type: ignore[attr-defined]
            self._raise_recorded_failure(trials, plan)
        self._set_results(trials, candidates, scorers, key_names, multimetric)
        self._finish(X, y, base, fit_params, refit_metric, scorers)
        return self

    def _fit_inputs(self, X: Any, y: Any, params: dict[str, Any]) -> tuple[Any, Any, Any, dict[str, Any]]:
        """``(X, y, groups, fit_params)`` from ``fit``'s arguments, as scikit-learn reads them."""
        fit_params = dict(params)
        groups = fit_params.pop("groups", None)
        X, y = indexable(X, y)
        if fit_params.get("sample_weight") is not None and hasattr(
            self, "_check_scorers_accept_sample_weight"
        ):
            self._check_scorers_accept_sample_weight()  # scikit-learn's warning, if any
        return X, y, groups, fit_params

    def _splits(self, X: Any, y: Any, groups: Any) -> tuple[Any, dict[str, int], Any, list[Any]]:
        """``(estimator, seeds, cv, splits)``: the seeded clone, scikit-learn's splitter, its folds."""
        base = clone(self.estimator)  # type: ignore[attr-defined]
        seeds = apply_seeds(base, int(self.seed))
        cv = check_cv(self.cv, y, classifier=is_classifier(base))  # type: ignore[attr-defined]
        splits = [(np.asarray(tr), np.asarray(te)) for tr, te in cv.split(X, y, groups)]
        self.n_splits_ = len(splits)
        return base, seeds, cv, splits

    def _code_identity(
        self, base: Any, candidates: list[dict[str, Any]], scorers: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        """The code fingerprint: the estimator, estimator/callable params, the scorers."""
        scoring: Any = self.scoring  # type: ignore[attr-defined]
        return code_fingerprint(
            [
                base,
                *[v for c in candidates for v in c.values() if hasattr(v, "fit") or callable(v)],
                *([scoring] if callable(scoring) else scorers.values()),
            ]
        )

    def _spec(
        self,
        search: str,
        base: Any,
        space: Any,
        n_trials: int,
        seed: int,
        n_splits: int,
        scorers: dict[str, Any],
    ) -> dict[str, Any]:
        """The study's identity as stored (JSON-able): what the search was asked to do."""
        scoring: Any = self.scoring  # type: ignore[attr-defined]
        spec = {
            "search": search,
            "estimator": base,
            "space": space,
            "n_trials": n_trials,
            "seed": seed,
            "cv": _describe_cv(self.cv, n_splits),  # type: ignore[attr-defined]
            "metrics": (
                {"score": _describe_scorer(scoring)}
                if callable(scoring)
                else {m: _describe_scorer(s) for m, s in scorers.items()}
            ),
            "error_score": self.error_score,  # type: ignore[attr-defined]
            "train_scores": bool(self.return_train_score),  # type: ignore[attr-defined]
        }
        return dict(_jsonable(spec))

    def _record(self, store: Writer, plan: StudyPlan) -> None:
        """Run (or resume) the plan's study in ``store``, as one recorded run of this script."""
        # a refused fit (another search under this name, changed code) is not recorded
        stored, _ = open_study(store, plan, allow_code_change=self.allow_code_change)
        with store.run_record(stored.id, command_line(sys.argv)):  # the script's command line
            summary = run_plan(
                store,
                plan,
                n_jobs=self.n_jobs,  # type: ignore[attr-defined]
                allow_code_change=self.allow_code_change,
                reuse=self.reuse,
            )
            if not summary.finished:
                raise HptrackError(
                    f"study {plan.name!r} still has {summary.n_pending} trial(s) running in another "
                    "process; fit again when they finish"
                )

    def _raise_recorded_failure(self, trials: list[Any], plan: StudyPlan) -> None:
        """With ``error_score="raise"``, a failure recorded by an earlier fit raises again.

        The failed fold is fitted once more (nothing is recorded) to raise its real error.
        """
        failed = [(t, fold) for t in trials for fold in sorted(t.errors)]
        if not failed:
            return
        trial, fold = failed[0]
        task = FoldTask(-1, trial.number, fold, plan.candidates[trial.number])
        result = plan.evaluate(task, error_score="raise", return_train_score=False)
        if result.exception is not None:
            raise result.exception
        raise HptrackError(
            f"trial {trial.number} of study {plan.name!r} failed on fold {fold} when it was "
            f"recorded, and error_score='raise'; it fits now, so the failure was not "
            f"deterministic. The recorded error:\n{trial.errors[fold]}"
        )

    def _set_results(
        self,
        trials: list[Any],
        candidates: list[dict[str, Any]],
        scorers: dict[str, Any],
        key_names: dict[str, str],
        multimetric: bool,
    ) -> None:
        _warn_about_scorer_failures(
            trials,
            self.error_score,  # type: ignore[attr-defined]
            train=bool(self.return_train_score),  # type: ignore[attr-defined]
        )
        errors = [e for t in trials for _, e in sorted(t.errors.items())]
        if errors:
            _warn_or_raise_about_fit_failures(
                errors,
                len(trials) * self.n_splits_,
                self.error_score,  # type: ignore[attr-defined]
                where=f"study {self.study_!r} of {self.store_}",
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
            self.best_index_ = self._select_best_index(refit, refit_metric, results)  # type: ignore[attr-defined]
            if not callable(refit):
                self.best_score_ = results[f"mean_test_{refit_metric}"][self.best_index_]
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
        scoring: Any = self.scoring  # type: ignore[attr-defined]
        if callable(scoring):
            self.scorer_ = scoring
        else:
            self.scorer_ = scorers if self.multimetric_ else next(iter(scorers.values()))


def _derived_name(base: Any, spec: dict[str, Any], data_hash: str, unstable: list[str]) -> str:
    """The study name when ``study=None``: the class and a hash of the search and the data.

    A search holding a value with no stable identity gets a new name on every fit: its
    stored results could not be told apart from another value's, so they are not resumed.
    """
    nonce = [uuid.uuid4().hex] if unstable else []
    return f"{type(base).__name__}-{hash_value([spec, data_hash, *nonce])[:12]}"


def _warn_if_unstable(plan: StudyPlan) -> None:
    """One UserWarning when the plan holds values with no stable identity (recorded, no reuse)."""
    if not plan.unstable:
        return
    shown = "; ".join(plan.unstable[:3]) + ("; ..." if len(plan.unstable) > 3 else "")
    warnings.warn(
        f"study {plan.name!r}: {shown} cannot be fingerprinted; results are recorded but will "
        "not be reused or verified bit for bit",
        UserWarning,
        stacklevel=3,
    )


def _jsonable(value: Any) -> Any:
    """``value`` as JSON data (a value with no stable identity as its description)."""
    import json

    return json.loads(describe(value).text)
