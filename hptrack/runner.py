"""The coordinator: create or resume a study, claim trials, dispatch folds, commit.

A :class:`StudyPlan` is everything needed to run a study (candidates, splits, scorers,
data, fingerprints); :func:`plan_from_spec` builds one from a TOML spec, and the search
classes build one from their arguments. :func:`run_plan` runs it against a store: only
this process writes, workers (joblib processes) return :class:`FoldResult` objects and
each fold is committed as it arrives.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._json import canonical_json, spec_identity
from .errors import ClusterError, DriftError, MissingDependencyError, SpecError, SpecMismatchError
from .evaluate import FoldResult, FoldTask, ScoreKey, evaluate_fold
from .identity import (
    code_fingerprint,
    data_fingerprint,
    diff_code,
    environment,
    fold_key,
    fold_key_base,
    fold_split_hashes,
    git_state,
    legacy_code_match,
    package_version,
    scorer_identity,
    split_fingerprint,
)
from .spec import (
    DEFAULT_METRIC,
    StudySpec,
    check_metrics,
    check_metrics_fit,
    distinct_candidates,
    grid_candidates,
    make_estimator,
    only_lists,
    random_candidates,
    resolve,
    to_param,
)
from .store import FoldRecord, ReusableFold, Store, StoredStudy, StudyRecord

logger = logging.getLogger(__name__)


@dataclass
class StudyPlan:
    """Everything needed to run (or resume) a study."""

    name: str
    search: str
    spec: dict[str, Any]
    estimator: Any
    candidates: list[dict[str, Any]]
    trial_seeds: list[dict[str, Any]]
    scorers: dict[str, Any]
    splits: list[tuple[np.ndarray, np.ndarray]]
    X: Any
    y: Any
    fit_params: dict[str, Any] = field(default_factory=dict)
    error_score: float | str = math.nan
    return_train_score: bool = False
    data_hash: str = ""
    data_info: list[dict[str, Any]] = field(default_factory=list)
    code_hash: str = ""
    code_info: dict[str, Any] = field(default_factory=dict)
    split_hash: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    user_modules: list[str] = field(default_factory=list)  # files a remote worker must import

    @property
    def metrics(self) -> list[str]:
        return list(self.scorers)

    def record(self) -> StudyRecord:
        """What the store writes when this study is created."""
        return StudyRecord(
            name=self.name,
            search=self.search,
            n_folds=len(self.splits),
            metrics=self.metrics,
            seed=self.seed,
            spec=self.spec,
            code_hash=self.code_hash,
            code=self.code_info,
            data_hash=self.data_hash,
            data=self.data_info,
            split_hash=self.split_hash,
            provenance=self.provenance,
            trial_params=[canonical_json(p) for p in self.candidates],
            trial_seeds=[canonical_json(s) for s in self.trial_seeds],
            scorers=self.scorer_identities(),
        )

    def scorer_identities(self) -> dict[str, str | None]:
        """Each metric's scorer identity (None: unknown, so its folds are never reused)."""
        return {metric: _scorer_identity(scorer) for metric, scorer in self.scorers.items()}

    def fold_keys(self) -> Callable[[int, int], str] | None:
        """``key(number, fold)``: the content key of a fold (:func:`hptrack.identity.fold_key`).

        None when the estimator holds a param that cannot be fingerprinted.
        """
        try:
            base = fold_key_base(
                estimator=self.estimator,
                estimator_version=package_version(type(self.estimator).__module__),
                code_hash=self.code_hash,
                data_hash=self.data_hash,
                train_scores=self.return_train_score,
                error_score=self.error_score,
            )
        except TypeError as exc:
            logger.info("folds of study %r get no content key, so no reuse: %s", self.name, exc)
            return None
        splits = fold_split_hashes(self.splits)
        return lambda number, fold: fold_key(base, self.candidates[number], splits[fold])


@dataclass(frozen=True)
class RunSummary:
    """What one call of :func:`run_plan` did."""

    study: str
    created: bool
    n_trials: int
    n_complete: int
    n_failed: int
    n_pending: int
    trials_finished: int
    folds_fitted: int
    recovered: list[int]
    elapsed: float
    folds_reused: int = 0  # copied from stored folds with the same key (SPEC section 6)
    folds_refit: int = 0  # had a stored twin, but it lacked a metric this study needs
    refit_metrics: tuple[str, ...] = ()  # those metrics

    @property
    def finished(self) -> bool:
        """True when no trial of the study is left to run."""
        return self.n_pending == 0


OnFold = Callable[[FoldResult, "str | None"], None]


# --------------------------------------------------------------------------- planning


def seed_params(estimator: Any, seed: int, fixed: Sequence[str] = ()) -> dict[str, int]:
    """``random_state`` params (top level or nested) left at None: set to the study seed."""
    params = estimator.get_params(deep=True)
    return {
        key: int(seed)
        for key, value in sorted(params.items())
        if (key == "random_state" or key.endswith("__random_state")) and value is None and key not in fixed
    }


def load_data(spec: StudySpec) -> tuple[Any, Any, Any]:
    """Call the spec's data loader; return ``(X, y, groups)``."""
    loader = resolve(spec.data, base_dir=spec.base_dir, key="data", source=spec.source)
    if not callable(loader):
        raise SpecError(f"{spec.source}: data = {spec.data!r} is not callable")
    try:
        loaded = loader()
    except Exception as exc:
        message = " ".join(str(exc).split())
        raise SpecError(
            f"{spec.source}: data = {spec.data!r}: calling it failed: {type(exc).__name__}: {message}"
        ) from exc
    groups = None
    if hasattr(loaded, "data") and hasattr(loaded, "target"):
        X, y = loaded.data, loaded.target
        groups = getattr(loaded, "groups", None)
    elif isinstance(loaded, tuple) and len(loaded) in (2, 3):
        X, y = loaded[0], loaded[1]
        groups = loaded[2] if len(loaded) == 3 else None
    else:
        raise SpecError(
            f"{spec.source}: data = {spec.data!r} returned an object of type "
            f"{type(loaded).__name__}; it must return (X, y), (X, y, groups) or a Bunch with "
            ".data and .target"
        )
    n = _n_samples(X, "X", spec)
    for label, value in (("y", y), ("groups", groups)):
        if value is not None and _n_samples(value, label, spec) != n:
            raise SpecError(
                f"{spec.source}: data = {spec.data!r}: X has {n} samples but {label} has "
                f"{_n_samples(value, label, spec)}"
            )
    if spec.cv.kind == "group" and groups is None:
        raise SpecError(
            f"{spec.source}: [cv] kind = 'group' needs groups: the data loader must return (X, y, groups)"
        )
    return X, y, groups


def _n_samples(value: Any, label: str, spec: StudySpec) -> int:
    try:
        shape = getattr(value, "shape", None)
        return int(shape[0]) if shape is not None else len(value)
    except (TypeError, IndexError) as exc:
        raise SpecError(
            f"{spec.source}: data = {spec.data!r} returned {label} of type "
            f"{type(value).__name__}; it must return array-likes (numpy arrays, lists, DataFrames)"
        ) from exc


def make_splitter(spec: StudySpec, estimator: Any, y: Any) -> Any:
    """The spec's CV splitter, its shuffle seeded with the study seed."""
    from sklearn.base import is_classifier
    from sklearn.model_selection import (
        GroupKFold,
        KFold,
        ShuffleSplit,
        StratifiedKFold,
        StratifiedShuffleSplit,
    )
    from sklearn.utils.multiclass import type_of_target

    cv = spec.cv
    classifier = is_classifier(estimator) and type_of_target(y) in ("binary", "multiclass")
    kind = resolved_cv_kind(spec, estimator, y)
    random_state = spec.seed if cv.shuffle else None
    if kind == "holdout":
        holdout = StratifiedShuffleSplit if classifier else ShuffleSplit
        return holdout(n_splits=1, test_size=cv.test_size, random_state=spec.seed)
    if kind == "group":
        return GroupKFold(n_splits=cv.folds)
    if kind == "stratified":
        return StratifiedKFold(n_splits=cv.folds, shuffle=cv.shuffle, random_state=random_state)
    return KFold(n_splits=cv.folds, shuffle=cv.shuffle, random_state=random_state)


def resolved_cv_kind(spec: StudySpec, estimator: Any, y: Any) -> str:
    """``[cv] kind``, or scikit-learn's default: stratified for classifiers."""
    if spec.cv.kind is not None:
        return spec.cv.kind
    from sklearn.base import is_classifier
    from sklearn.utils.multiclass import type_of_target

    if is_classifier(estimator) and type_of_target(y) in ("binary", "multiclass"):
        return "stratified"
    return "kfold"


def check_cv_target(spec: StudySpec, estimator: Any, y: Any) -> None:
    """Refuse stratified folds for a regressor, or on a target without classes.

    Raises
    ------
    SpecError
        Naming the target's type and ``[cv] kind = "kfold"`` as the fix.
    """
    if resolved_cv_kind(spec, estimator, y) != "stratified" or y is None:
        return
    from sklearn.base import is_regressor
    from sklearn.utils.multiclass import type_of_target

    fix = 'use [cv] kind = "kfold"'
    if is_regressor(estimator):
        raise SpecError(
            f"{spec.source}: [cv] kind = 'stratified' keeps class proportions, but estimator = "
            f"{spec.estimator!r} is a regressor; {fix}"
        )
    try:
        target = type_of_target(y)
    except (ValueError, TypeError):  # the splitter reports it
        return
    if target not in ("binary", "multiclass"):
        what = f"{target} (a regression target)" if target.startswith("continuous") else target
        raise SpecError(f"{spec.source}: [cv] kind = 'stratified' needs class labels but y is {what}; {fix}")


def compute_splits(
    splitter: Any, X: Any, y: Any, groups: Any, where: str, hint: str = ""
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The folds as index arrays; a splitter that cannot split this data is a SpecError."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # e.g. a class smaller than n_splits
            return [(np.asarray(train), np.asarray(test)) for train, test in splitter.split(X, y, groups)]
    except (ValueError, UserWarning) as exc:
        message = " ".join(str(exc).split())
        raise SpecError(f"{where}: the CV splitter cannot split this data: {message}{hint}") from exc


def build_scorers(metrics: Sequence[str], estimator: Any) -> dict[str, Any]:
    """Scorer callables by metric name; ``score`` is the estimator's own score method."""
    from sklearn.metrics import check_scoring, get_scorer

    return {
        metric: check_scoring(estimator) if metric == DEFAULT_METRIC else get_scorer(metric)
        for metric in metrics
    }


def _forget_user_modules(spec: StudySpec) -> None:
    """Drop the user's modules under the spec's directory from ``sys.modules``.

    They are imported afresh, so the code that runs is the code that is hashed, even in a
    long-lived process where the user edited the module (or a helper it imports) since
    the last run.
    """
    from .identity.code import _is_user_module

    base = spec.base_dir.resolve()
    for path in (spec.estimator, spec.data):
        top = path.partition(":")[0].split(".")[0]
        loaded = sys.modules.get(top)
        file = getattr(loaded, "__file__", None)
        if loaded is None or not file or top == "hptrack":
            continue
        if Path(file).resolve().is_relative_to(base):
            for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
                del sys.modules[name]
    for name, module in list(sys.modules.items()):  # helpers those modules import
        file = getattr(module, "__file__", None)
        if name == "__main__" or name.split(".")[0] == "hptrack" or not file:
            continue
        if Path(file).resolve().is_relative_to(base) and _is_user_module(module):
            del sys.modules[name]


def plan_from_spec(spec: StudySpec) -> StudyPlan:
    """Validate a spec against its estimator, data and metrics, and build its plan.

    Raises
    ------
    SpecError
        Anything about the spec that cannot run (before the store is touched).
    """
    _forget_user_modules(spec)
    before = set(sys.modules)
    estimator = make_estimator(spec)
    check_metrics(spec)
    X, y, groups = load_data(spec)
    imported = [name for name in sys.modules if name not in before]  # `import helper` at import time
    check_metrics_fit(spec, estimator, y)
    check_cv_target(spec, estimator, y)
    splitter = make_splitter(spec, estimator, y)
    hint = (
        "; use a larger [cv] test_size"
        if spec.cv.kind == "holdout"
        else f"; use fewer [cv] folds (now {spec.cv.folds})"
    )
    splits = compute_splits(splitter, X, y, groups, spec.source, hint)

    fixed_seeds = seed_params(estimator, spec.seed, fixed=[*spec.fixed, *spec.space])
    if fixed_seeds:
        estimator.set_params(**fixed_seeds)

    if spec.search == "grid":
        grid = {k: [to_param(v) for v in values] for k, values in spec.space.items()}
        candidates = grid_candidates(grid)  # type: ignore[arg-type]
    else:
        assert spec.n_trials is not None
        space = {
            k: [to_param(v) for v in values] if isinstance(values, list) else values
            for k, values in spec.space.items()
        }
        if only_lists(space):
            size = math.prod(len(v) for v in space.values())
            if spec.n_trials > size:
                raise SpecError(
                    f"{spec.source}: n_trials = {spec.n_trials} is more than the {size} distinct "
                    "configurations of [space]; lower n_trials, or use search = 'grid'"
                )
            candidates = distinct_candidates(space, spec.seed, spec.n_trials)
        else:
            candidates = random_candidates(space, spec.seed, spec.n_trials)
        candidates = [{k: to_param(v) for k, v in c.items()} for c in candidates]
    trial_seeds = [
        {**fixed_seeds, **({"sample": [spec.seed, i]} if spec.search == "random" else {})}
        for i in range(len(candidates))
    ]

    factory = resolve(spec.estimator, base_dir=spec.base_dir, key="estimator", source=spec.source)
    loader = resolve(spec.data, base_dir=spec.base_dir, key="data", source=spec.source)
    scorers = build_scorers(spec.metrics, estimator)
    code_hash, code_info = code_fingerprint(
        [factory, loader, estimator, *scorers.values()], base_dir=spec.base_dir, modules=imported
    )
    data_hash, data_info = data_fingerprint({"X": X, "y": y, "groups": groups})
    user_modules = [
        str(spec.base_dir / relative)
        for relative in code_info["sources"]
        if (spec.base_dir / relative).is_file()
    ]
    spec_dict = spec_identity(spec.to_dict())
    spec_dict["cv"] = {**spec_dict["cv"], "kind": resolved_cv_kind(spec, estimator, y)}
    provenance = {
        "base_dir": str(spec.base_dir),
        "spec_file": spec.source,
        "git": git_state(spec.base_dir),
        "environment": environment(type(estimator).__module__),
        "estimator": repr(estimator),
        "cv": repr(splitter),
        "seeds": fixed_seeds,
        # [fixed] params left out of the spec's identity; `hptrack resume` still sets them
        "process_local": {k: v for k, v in spec.fixed.items() if k not in spec_dict["fixed"]},
    }
    return StudyPlan(
        name=spec.name,
        search=spec.search,
        spec=spec_dict,
        estimator=estimator,
        candidates=candidates,
        trial_seeds=trial_seeds,
        scorers=scorers,
        splits=splits,
        X=X,
        y=y,
        error_score=spec.error_score,
        return_train_score=spec.train_scores,
        data_hash=data_hash,
        data_info=data_info,
        code_hash=code_hash,
        code_info=code_info,
        split_hash=split_fingerprint(splits),
        provenance=provenance,
        seed=spec.seed,
        user_modules=user_modules,
    )


def spec_from_store(stored: StoredStudy) -> StudySpec:
    """Rebuild the spec a study was created with (for ``hptrack resume``).

    Raises
    ------
    SpecError
        The study was recorded by a Python drop-in (``hptrack.GridSearchCV``): it has
        no spec to rebuild, as its estimator and data live in the user's script.
    """
    api = stored.provenance.get("api")
    if api and not stored.provenance.get("spec_file"):
        raise SpecError(
            f"study {stored.name!r} was recorded by {api} from Python, so the store holds no spec "
            "to resume it from; resume it by running the same script again (its fit() continues "
            f"the study); hptrack trials/best/report {stored.name} work on it as they are"
        )
    base_dir = Path(stored.provenance.get("base_dir") or ".")
    raw = dict(stored.spec)
    process_local = stored.provenance.get("process_local") or {}
    if process_local:
        raw["fixed"] = {**raw.get("fixed", {}), **process_local}
    if raw.get("error_score") in ("NaN", "Infinity", "-Infinity"):  # canonical JSON's spelling
        raw["error_score"] = float(raw["error_score"])
    if raw.get("n_trials") is None:
        raw.pop("n_trials", None)
    cv = dict(raw.get("cv", {}))
    if cv.get("kind") == "holdout":
        cv.pop("folds", None)
    raw["cv"] = cv
    source = stored.provenance.get("spec_file") or stored.name
    return StudySpec.from_dict(raw, base_dir=base_dir, source=source)


# --------------------------------------------------------------------------- running


# Spec fields whose change leaves every stored fold's key valid: a new study name reuses them.
_EXTENDING_FIELDS = frozenset({"space", "n_trials", "metrics"})


def check_compatible(plan: StudyPlan, stored: StoredStudy, *, allow_code_change: bool) -> None:
    """Refuse to continue ``stored`` with ``plan`` if its spec, data or code differ."""
    from .spec import diff_specs

    changed = diff_specs(stored.spec, plan.spec)
    if changed:
        error = SpecMismatchError(stored.name, changed)
        if all(f.split(".")[0] in _EXTENDING_FIELDS for f in changed):
            hint = "; a study under a new name reuses the folds this one evaluated"
            if not any(f.split(".")[0] == "metrics" for f in changed):
                hint += ", so only the new configurations are fit"
            error.args = (f"{error}{hint}",)
        raise error
    drift: list[str] = []
    if stored.data_hash != plan.data_hash:
        drift.append(f"data changed (fingerprint {stored.data_hash[:12]} -> {plan.data_hash[:12]})")
    elif stored.split_hash != plan.split_hash:
        drift.append("the CV splits changed")
    if stored.code_hash != plan.code_hash and legacy_code_match(
        stored.code, stored.code_hash, plan.code_info
    ):
        plan.code_hash, plan.code_info = stored.code_hash, dict(stored.code)  # an hptrack 0.1 study
    if stored.code_hash != plan.code_hash:
        what = diff_code(stored.code, plan.code_info) or ["code hash"]
        drift.append(f"code changed in {', '.join(what)}")
    if drift and stored.split_hash != plan.split_hash:  # refused even with allow_code_change
        if stored.data_hash != plan.data_hash:
            drift[0] += ", and with it the CV splits"
        raise DriftError(stored.name, drift, mixable=False)
    if drift and not allow_code_change:
        raise DriftError(stored.name, drift)


def open_study(store: Store, plan: StudyPlan, *, allow_code_change: bool = False) -> tuple[StoredStudy, bool]:
    """Create the plan's study, or check the stored one is the same study."""
    stored = store.stored_study(plan.name)
    created = stored is None
    if stored is None:
        stored = store.create_study(plan.record())  # or the one a racing process created
    check_compatible(plan, stored, allow_code_change=allow_code_change)
    return stored, created


def run_plan(
    store: Store,
    plan: StudyPlan,
    *,
    n_jobs: int | None = 1,
    max_trials: int | None = None,
    retry_failed: bool = False,
    allow_code_change: bool = False,
    on_fold: OnFold | None = None,
    dask: Any = None,
    reuse: bool = True,
) -> RunSummary:
    """Run every pending trial of ``plan``'s study (creating it first if needed).

    Parameters
    ----------
    store : Store
        A writable store.
    plan : StudyPlan
        The study to run.
    n_jobs : int, optional
        Parallel worker processes (joblib); 1 runs in this process, -1 all cores; None
        follows an active ``joblib.parallel_backend`` (e.g. dask), else 1.
    max_trials : int, optional
        Stop after this many more trials; the study stays resumable.
    retry_failed : bool
        Run failed trials again (their failed folds only).
    allow_code_change : bool
        Continue a study whose code or data fingerprint changed.
    on_fold : callable, optional
        Called as ``on_fold(result, status)`` after each fold is committed; ``status``
        is the trial's final status after its last fold, else None.
    dask : str or distributed.Client, optional
        Run folds on this Dask cluster (scheduler address or client); this process
        still does all the store writes, as results arrive.
    reuse : bool, default=True
        Copy a fold's result from any study of the store that already evaluated the
        same content key (:meth:`StudyPlan.fold_keys`) instead of fitting it; the copy
        records its origin. False fits every fold (the keys are still recorded).

    Raises
    ------
    SpecMismatchError, DriftError
        The stored study differs from ``plan``.
    KeyboardInterrupt
        After releasing unfinished trials; committed folds are kept.
    """
    if max_trials is not None and max_trials < 0:
        raise SpecError(f"max_trials = {max_trials!r} must be >= 0")
    start = time.perf_counter()
    stored, created = open_study(store, plan, allow_code_change=allow_code_change)
    recovered = store.recover_abandoned(stored.id)
    if recovered:
        logger.info("re-running %d trial(s) left running by dead workers", len(recovered))
    if retry_failed:
        store.reset_failed(stored.id)

    executor = make_executor(n_jobs, dask)
    # trials claimed per transaction: a few in this process; enough for parallel workers
    # that the idle tail at the end of each batch stays small
    batch = 4 if executor.workers == 1 else executor.workers * 16
    budget = math.inf if max_trials is None else max_trials
    finished = fitted = reused = refit = 0
    refit_metrics: set[str] = set()
    rank_metric = stored.metrics[0]
    n_folds = stored.n_folds
    claimed: dict[int, int] = {}  # trial_id -> folds still to commit
    key_of = plan.fold_keys()
    scorer_ids = plan.scorer_identities()
    beat = store.heartbeat_thread()
    try:
        while budget > 0:
            claims = store.claim(
                stored.id,
                int(min(batch, budget)),
                code_hash=plan.code_hash,
                data_hash=plan.data_hash,
            )
            if not claims:
                break
            budget -= len(claims)
            tasks: list[FoldTask] = []
            for trial_id, number, _params_json, done in claims:
                params = plan.candidates[number]
                todo = [fold for fold in range(n_folds) if fold not in done]
                claimed[trial_id] = len(todo)
                tasks.extend(FoldTask(trial_id, number, fold, params) for fold in todo)
            keys = {} if key_of is None else {(t.number, t.fold): key_of(t.number, t.fold) for t in tasks}
            if reuse and keys:  # one indexed query per claimed batch
                choice = _choose_reused(tasks, keys, store.reusable_folds(keys.values()), plan, scorer_ids)
                tasks = choice.to_fit
                refit += choice.n_refit
                refit_metrics.update(choice.refit_metrics)
                for task, source in choice.copies:
                    result, record = _copy_of(task, source, plan)
                    status = store.commit_fold(
                        task.trial_id, record, n_folds=n_folds, rank_metric=rank_metric
                    )
                    reused += 1
                    claimed[task.trial_id] -= 1
                    if status is not None:
                        claimed.pop(task.trial_id, None)
                        finished += 1
                    if on_fold is not None:
                        on_fold(result, status)
            for result in executor.run(plan, tasks):
                status = store.commit_fold(
                    result.trial_id,
                    FoldRecord(
                        fold=result.fold,
                        test=result.test,
                        train=result.train,
                        fit_time=result.fit_time,
                        score_time=result.score_time,
                        error=result.error,
                        fold_key=keys.get((result.number, result.fold)),
                        score_errors=result.score_errors,
                    ),
                    n_folds=n_folds,
                    rank_metric=rank_metric,
                )
                fitted += 1
                claimed[result.trial_id] -= 1
                if status is not None:
                    claimed.pop(result.trial_id, None)
                    finished += 1
                if on_fold is not None:
                    on_fold(result, status)
                if result.exception is not None:  # error_score="raise", now recorded
                    if status is None:
                        store.fail(result.trial_id)
                        claimed.pop(result.trial_id, None)
                    raise result.exception
    finally:
        executor.close()
        beat.stop()
        if claimed:
            store.release(claimed)
    counts = store.counts(stored.id)
    return RunSummary(
        study=stored.name,
        created=created,
        n_trials=stored.n_trials,
        n_complete=counts["complete"],
        n_failed=counts["failed"],
        n_pending=counts["pending"] + counts["running"],
        trials_finished=finished,
        folds_fitted=fitted,
        recovered=recovered,
        elapsed=time.perf_counter() - start,
        folds_reused=reused,
        folds_refit=refit,
        refit_metrics=tuple(sorted(refit_metrics)),
    )


# --------------------------------------------------------------------------- reuse


def _scorer_identity(scorer: Any) -> str | None:
    if isinstance(scorer, ScoreKey):  # one key of a dict-returning callable
        inner = scorer_identity(scorer.scorer)
        return None if inner is None else f"{inner}[{scorer.key!r}]"
    return scorer_identity(scorer)


@dataclass(frozen=True)
class _ReuseChoice:
    copies: list[tuple[FoldTask, ReusableFold]]  # folds to copy, and from where
    to_fit: list[FoldTask]
    n_refit: int  # of to_fit: a stored twin lacked a metric
    refit_metrics: set[str]


def _choose_reused(
    tasks: list[FoldTask],
    keys: Mapping[tuple[int, int], str],
    found: Mapping[str, list[ReusableFold]],
    plan: StudyPlan,
    scorer_ids: Mapping[str, str | None],
) -> _ReuseChoice:
    """Split ``tasks`` into folds copied from ``found`` and folds to fit.

    A stored fold serves only if it scored every metric of ``plan`` under the same
    scorer identity (the rest of its key matched already).
    """

    def serves(source: ReusableFold, metric: str) -> bool:
        wanted = scorer_ids.get(metric)
        return wanted is not None and metric in source.test and source.scorers.get(metric) == wanted

    copies: list[tuple[FoldTask, ReusableFold]] = []
    to_fit: list[FoldTask] = []
    n_refit = 0
    missing: set[str] = set()
    for task in tasks:
        candidates = found.get(keys[(task.number, task.fold)], [])
        source = next((c for c in candidates if all(serves(c, m) for m in plan.metrics)), None)
        if source is not None:
            copies.append((task, source))
            continue
        to_fit.append(task)
        if candidates:
            n_refit += 1
            missing.update(m for m in plan.metrics if not any(serves(c, m) for c in candidates))
    return _ReuseChoice(copies, to_fit, n_refit, missing)


def _copy_of(task: FoldTask, source: ReusableFold, plan: StudyPlan) -> tuple[FoldResult, FoldRecord]:
    """The result a reused fold reports, and the record that commits it with its origin."""

    def value(score: float | None) -> float:
        return math.nan if score is None else float(score)

    test = {m: value(source.test[m]) for m in plan.metrics}
    train = {m: value(source.train.get(m)) for m in plan.metrics} if plan.return_train_score else None
    fit_time, score_time = value(source.fit_time), value(source.score_time)
    result = FoldResult(task.trial_id, task.number, task.fold, test, train, fit_time, score_time)
    record = FoldRecord(
        fold=task.fold,
        test=test,
        train=train,
        fit_time=fit_time,
        score_time=score_time,
        fold_key=source.fold_key,
        origin=source.origin,
    )
    return result, record


def _effective_jobs(n_jobs: int | None) -> int:
    if n_jobs is None or n_jobs == 0:
        return 1
    if n_jobs < 0:
        import os

        return max(1, (os.cpu_count() or 1) + 1 + n_jobs)
    return int(n_jobs)


def _evaluate_on_split(
    task: FoldTask, estimator: Any, X: Any, y: Any, splits: Any, scorers: Any, kwargs: Any
) -> FoldResult:
    """``evaluate_fold`` on fold ``task.fold`` of ``splits`` (what remote workers run)."""
    train, test = splits[task.fold]
    return evaluate_fold(task, estimator, X, y, train, test, scorers, **kwargs)


class _Executor:
    """Runs fold tasks in this process; subclasses fan them out."""

    workers = 1

    def run(self, plan: StudyPlan, tasks: list[FoldTask]) -> Iterator[FoldResult]:
        kwargs = _fold_kwargs(plan)
        for task in tasks:
            yield _evaluate_on_split(task, plan.estimator, plan.X, plan.y, plan.splits, plan.scorers, kwargs)

    def close(self) -> None:
        """Release what the executor holds."""


class _JoblibExecutor(_Executor):
    """joblib processes (or the active ``joblib.parallel_backend``, e.g. dask)."""

    def __init__(self, n_jobs: int | None) -> None:
        self.n_jobs = n_jobs
        if n_jobs is None:
            from joblib.parallel import get_active_backend

            backend, backend_jobs = get_active_backend()
            self.workers = max(1, backend.effective_n_jobs(backend_jobs))
        else:
            self.workers = _effective_jobs(n_jobs)

    def run(self, plan: StudyPlan, tasks: list[FoldTask]) -> Iterator[FoldResult]:
        if len(tasks) <= 1:
            yield from super().run(plan, tasks)
            return
        from joblib import Parallel, delayed

        kwargs = _fold_kwargs(plan)
        parallel = Parallel(n_jobs=self.n_jobs, return_as="generator_unordered")
        yield from parallel(
            delayed(evaluate_fold)(
                task,
                plan.estimator,
                plan.X,
                plan.y,
                plan.splits[task.fold][0],
                plan.splits[task.fold][1],
                plan.scorers,
                **kwargs,
            )
            for task in tasks
        )


class _DaskExecutor(_Executor):
    """Trials on an existing dask.distributed cluster; results come back as they finish."""

    def __init__(self, cluster: Any) -> None:
        if isinstance(cluster, str):
            self.client, self._own = connect_dask(cluster), True
        else:
            self.client, self._own = cluster, False
        self.workers = max(1, sum(self.client.nthreads().values()))
        self._shared: tuple[int, list[Any]] | None = None

    def _share(self, plan: StudyPlan) -> list[Any]:
        """Send the estimator, data, splits and scorers to every worker once per plan."""
        if self._shared is None or self._shared[0] != id(plan):
            for path in plan.user_modules:
                self.client.upload_file(path)  # workers can import the user's own classes
            futures = self.client.scatter(
                [plan.estimator, plan.X, plan.y, plan.splits, plan.scorers], broadcast=True
            )
            self._shared = (id(plan), list(futures))
        return self._shared[1]

    def run(self, plan: StudyPlan, tasks: list[FoldTask]) -> Iterator[FoldResult]:
        from distributed import as_completed

        if not tasks:  # every fold of the batch was reused from the store
            return
        estimator, X, y, splits, scorers = self._share(plan)
        kwargs = _fold_kwargs(plan)
        futures = [
            self.client.submit(_evaluate_on_split, task, estimator, X, y, splits, scorers, kwargs, pure=False)
            for task in tasks
        ]
        try:
            for future in as_completed(futures, loop=self.client.loop):
                yield future.result()
        finally:
            self.client.cancel(futures)

    def close(self) -> None:
        if self._own:
            self.client.close()


def connect_dask(address: str, *, timeout: str = "10s") -> Any:
    """A ``distributed.Client`` of the scheduler at ``address``; a clear error if unreachable."""
    try:
        from distributed import Client
    except ImportError as exc:
        raise MissingDependencyError(
            "--dask needs dask.distributed: pip install 'hptrack[dask]' (or 'dask[distributed]')"
        ) from exc
    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        message = " ".join(str(exc).split())
        raise ClusterError(f"cannot reach the Dask scheduler at {address!r}: {message}") from exc


def _fold_kwargs(plan: StudyPlan) -> dict[str, Any]:
    return {
        "error_score": plan.error_score,
        "return_train_score": plan.return_train_score,
        "fit_params": plan.fit_params,
    }


def make_executor(n_jobs: int | None = 1, dask: Any = None) -> _Executor:
    """Where folds run: this process, joblib workers, or a Dask cluster (address or Client)."""
    if dask is not None:
        return _DaskExecutor(dask)
    if n_jobs == 1:
        return _Executor()
    executor = _JoblibExecutor(n_jobs)
    return executor if executor.workers > 1 else _Executor()
