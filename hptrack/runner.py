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
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DriftError, SpecError, SpecMismatchError
from .evaluate import FoldResult, FoldTask, evaluate_fold
from .fingerprint import (
    canonical_json,
    code_fingerprint,
    data_fingerprint,
    diff_code,
    environment,
    git_state,
    split_fingerprint,
)
from .space import distinct_candidates, grid_candidates, only_lists, random_candidates
from .spec import (
    DEFAULT_METRIC,
    StudySpec,
    check_metrics,
    make_estimator,
    resolve,
    to_param,
)
from .store import FoldRecord, Store, StoredStudy, StudyRecord

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
        )


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


def modules_of(*objects: Any) -> list[str]:
    """Module names of the given objects and of any estimators nested in their params."""
    names: list[str] = []
    for obj in objects:
        if obj is None:
            continue
        module = getattr(obj, "__module__", None)
        if module:
            names.append(module)
        if isinstance(obj, type) or callable(obj) and not hasattr(obj, "get_params"):
            continue  # a class or a function: its own module is what matters
        names.append(type(obj).__module__)
        if hasattr(obj, "get_params"):
            for value in obj.get_params(deep=True).values():
                if hasattr(value, "get_params") and hasattr(value, "fit"):
                    names.append(type(value).__module__)
    return names


def _forget_user_modules(spec: StudySpec) -> None:
    """Drop the spec's own modules (beside the spec) from ``sys.modules``.

    They are imported afresh, so the code that runs is the code that is hashed, even in a
    long-lived process where the user edited the module since the last run.
    """
    import sys

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


def plan_from_spec(spec: StudySpec) -> StudyPlan:
    """Validate a spec against its estimator, data and metrics, and build its plan.

    Raises
    ------
    SpecError
        Anything about the spec that cannot run (before the store is touched).
    """
    _forget_user_modules(spec)
    estimator = make_estimator(spec)
    check_metrics(spec)
    X, y, groups = load_data(spec)
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
    code_hash, code_info = code_fingerprint(modules_of(factory, loader, estimator), base_dir=spec.base_dir)
    data_hash, data_info = data_fingerprint({"X": X, "y": y, "groups": groups})
    spec_dict = spec.to_dict()
    spec_dict["cv"] = {**spec_dict["cv"], "kind": resolved_cv_kind(spec, estimator, y)}
    provenance = {
        "base_dir": str(spec.base_dir),
        "spec_file": spec.source,
        "git": git_state(spec.base_dir),
        "environment": environment(type(estimator).__module__),
        "estimator": repr(estimator),
        "cv": repr(splitter),
        "seeds": fixed_seeds,
    }
    return StudyPlan(
        name=spec.name,
        search=spec.search,
        spec=spec_dict,
        estimator=estimator,
        candidates=candidates,
        trial_seeds=trial_seeds,
        scorers=build_scorers(spec.metrics, estimator),
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
    )


def spec_from_store(stored: StoredStudy) -> StudySpec:
    """Rebuild the spec a study was created with (for ``hptrack resume``)."""
    base_dir = Path(stored.provenance.get("base_dir") or ".")
    raw = dict(stored.spec)
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


def check_compatible(plan: StudyPlan, stored: StoredStudy, *, allow_code_change: bool) -> None:
    """Refuse to continue ``stored`` with ``plan`` if its spec, data or code differ."""
    from .spec import diff_specs

    changed = diff_specs(stored.spec, plan.spec)
    if changed:
        raise SpecMismatchError(stored.name, changed)
    drift: list[str] = []
    if stored.data_hash != plan.data_hash:
        drift.append(f"data changed (fingerprint {stored.data_hash[:12]} -> {plan.data_hash[:12]})")
    elif stored.split_hash != plan.split_hash:
        drift.append("the CV splits changed")
    if stored.code_hash != plan.code_hash:
        what = diff_code(stored.code, plan.code_info) or ["code hash"]
        drift.append(f"code changed in {', '.join(what)}")
    if drift and not allow_code_change:
        raise DriftError(stored.name, drift)
    if drift and stored.split_hash != plan.split_hash:
        raise DriftError(stored.name, [*drift, "(different CV splits cannot be mixed)"])


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
) -> RunSummary:
    """Run every pending trial of ``plan``'s study (creating it first if needed).

    Parameters
    ----------
    store : Store
        A writable store.
    plan : StudyPlan
        The study to run.
    n_jobs : int, optional
        Parallel worker processes (joblib); None or 1 runs in this process, -1 all cores.
    max_trials : int, optional
        Stop after this many more trials; the study stays resumable.
    retry_failed : bool
        Run failed trials again (their failed folds only).
    allow_code_change : bool
        Continue a study whose code or data fingerprint changed.
    on_fold : callable, optional
        Called as ``on_fold(result, status)`` after each fold is committed; ``status``
        is the trial's final status after its last fold, else None.

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

    workers = _effective_jobs(n_jobs)
    batch = 1 if workers == 1 else workers * 4
    budget = math.inf if max_trials is None else max_trials
    finished = fitted = 0
    rank_metric = stored.metrics[0]
    n_folds = stored.n_folds
    claimed: dict[int, int] = {}  # trial_id -> folds still to commit
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
            for result in _execute(plan, tasks, workers):
                status = store.commit_fold(
                    result.trial_id,
                    FoldRecord(
                        fold=result.fold,
                        test=result.test,
                        train=result.train,
                        fit_time=result.fit_time,
                        score_time=result.score_time,
                        error=result.error,
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
    )


def _effective_jobs(n_jobs: int | None) -> int:
    if n_jobs is None or n_jobs == 0:
        return 1
    if n_jobs < 0:
        import os

        return max(1, (os.cpu_count() or 1) + 1 + n_jobs)
    return int(n_jobs)


def _execute(plan: StudyPlan, tasks: list[FoldTask], workers: int) -> Iterator[FoldResult]:
    """Evaluate fold tasks, yielding each result as soon as it is ready."""
    kwargs: Mapping[str, Any] = {
        "error_score": plan.error_score,
        "return_train_score": plan.return_train_score,
        "fit_params": plan.fit_params,
    }
    if workers == 1 or len(tasks) <= 1:
        for task in tasks:
            train, test = plan.splits[task.fold]
            yield evaluate_fold(task, plan.estimator, plan.X, plan.y, train, test, plan.scorers, **kwargs)
        return
    from joblib import Parallel, delayed

    parallel = Parallel(n_jobs=workers, return_as="generator_unordered")
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
