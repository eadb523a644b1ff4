"""Plans from TOML specs: validate a spec against its estimator, data and metrics.

:func:`plan_from_spec` checks everything that can be checked before the store is
touched and hands the result to the shared builder (:func:`~hptrack.run.plan.build_plan`);
:func:`spec_from_store` rebuilds the spec of a stored study, for ``hptrack resume``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

from .._json import spec_identity
from ..errors import SpecError
from ..identity import code_fingerprint
from ..spec import (
    DEFAULT_METRIC,
    Candidates,
    StudySpec,
    base_search,
    check_metrics,
    check_metrics_fit,
    make_estimator,
    make_objective,
    only_lists,
    resolve,
    space_candidates,
    to_param,
)
from ..store import StoredStudy
from .data import (
    check_cv_groups,
    check_cv_target,
    compute_splits,
    data_identity,
    forget_user_modules,
    load_data,
    make_splitter,
    resolve_loader,
    resolved_cv_kind,
)
from .objective import Objective, ObjectiveMetric
from .plan import StudyPlan, apply_seeds, build_plan


def build_scorers(metrics: Sequence[str], estimator: Any) -> dict[str, Any]:
    """Scorer callables by metric name; ``score`` is the estimator's own score method."""
    from sklearn.metrics import check_scoring, get_scorer

    return {
        metric: check_scoring(estimator) if metric == DEFAULT_METRIC else get_scorer(metric)
        for metric in metrics
    }


def plan_from_spec(spec: StudySpec) -> StudyPlan:
    """Validate a spec against its estimator, data and metrics, and build its plan.

    Parameters
    ----------
    spec : StudySpec
        A loaded spec (:func:`hptrack.spec.load_spec`).

    Returns
    -------
    StudyPlan

    Raises
    ------
    SpecError
        Anything about the spec that cannot run (before the store is touched).
    """
    if spec.objective is not None:
        return objective_plan(spec)
    forget_user_modules(spec)
    before = set(sys.modules)
    estimator = make_estimator(spec)
    check_halving(spec, estimator)
    check_metrics(spec)
    loader = resolve_loader(spec)
    X, y, groups = load_data(spec, loader)
    imported = [name for name in sys.modules if name not in before]  # `import helper` at import time
    check_metrics_fit(spec, estimator, y)
    splitter, splits, candidates, samples, identity = _folds_and_identity(spec, estimator, X, y, groups)
    seeds = apply_seeds(estimator, spec.seed, fixed=[*spec.fixed, *spec.space])
    factory = resolve(spec.estimator, base_dir=spec.base_dir, key="estimator", source=spec.source)
    scorers = build_scorers(spec.metrics, estimator)
    code = code_fingerprint(
        [factory, loader, estimator, *scorers.values()], base_dir=spec.base_dir, modules=imported
    )
    return build_plan(
        spec.name,
        search=spec.search,
        spec=identity,
        estimator=estimator,
        candidates=candidates,
        samples=samples,
        seeds=seeds,
        seed=spec.seed,
        scorers=scorers,
        cv=splitter,
        splits=splits,
        X=X,
        y=y,
        data=data_identity(X, y, groups),
        code=code,
        base_dir=spec.base_dir,
        origin={
            "spec_file": spec.source,
            # [cv] kind as written (None: resolved from the estimator and y): lets a run with
            # nothing to do compare specs without importing either (hptrack.run.unchanged)
            "spec_cv_kind": spec.cv.kind,
            # [fixed] params left out of the spec's identity; `hptrack resume` still sets them
            "process_local": {k: v for k, v in spec.fixed.items() if k not in identity["fixed"]},
        },
        error_score=spec.error_score,
        return_train_score=spec.train_scores,
    )


def objective_plan(spec: StudySpec) -> StudyPlan:
    """:func:`plan_from_spec` of a spec that names an ``objective`` (SPEC section 11)."""
    forget_user_modules(spec)
    before = set(sys.modules)
    fn = make_objective(spec)
    loader = resolve_loader(spec)
    X, y, groups = load_data(spec, loader)
    imported = [name for name in sys.modules if name not in before]
    code = code_fingerprint([fn, loader], base_dir=spec.base_dir, modules=imported)
    origin = {"spec_file": spec.source, "spec_cv_kind": spec.cv.kind, "process_local": {}}
    return build_objective_plan(spec, fn, (X, y, groups), code=code, origin=origin)


def build_objective_plan(
    spec: StudySpec,
    fn: Any,
    data: tuple[Any, Any, Any],
    *,
    code: tuple[str, dict[str, Any]],
    origin: dict[str, Any],
) -> StudyPlan:
    """The plan of an objective study: the same checks and builder as for an estimator.

    The objective takes the estimator's place (:class:`~hptrack.run.objective.Objective`),
    the metrics name the keys ``fn`` returns, and ``fold.seed`` is the study seed (recorded
    as the trials' ``seed``). Shared by specs and :func:`hptrack.search`.

    Parameters
    ----------
    spec : StudySpec
        The validated spec (``spec.objective`` names ``fn``).
    fn : callable
        The objective.
    data : (X, y, groups)
        The loaded data.
    code : (str, dict)
        :func:`hptrack.identity.code_fingerprint` of ``fn`` (and the data loader).
    origin : dict
        Provenance that says where the plan came from.

    Returns
    -------
    StudyPlan
    """
    X, y, groups = data
    fixed = {k: to_param(v) for k, v in spec.fixed.items()}
    objective = Objective(fn, spec.objective or "", spec.seed, fixed)
    splitter, splits, candidates, samples, identity = _folds_and_identity(spec, objective, X, y, groups)
    return build_plan(
        spec.name,
        search=spec.search,
        spec=identity,
        estimator=objective,
        candidates=candidates,
        samples=samples,
        seeds={"seed": spec.seed},
        seed=spec.seed,
        scorers={m: ObjectiveMetric(m) for m in spec.metrics},
        cv=splitter,
        splits=splits,
        X=X,
        y=y,
        data=data_identity(X, y, groups),
        code=code,
        base_dir=spec.base_dir,
        origin=origin,
        error_score=spec.error_score,
    )


def _folds_and_identity(
    spec: StudySpec, estimator: Any, X: Any, y: Any, groups: Any
) -> tuple[Any, list[Any], Any, Candidates, dict[str, Any]]:
    """What an estimator's and an objective's plans share: the CV checks, the splitter and its
    splits, the candidates and their seeds, and the spec's stored identity."""
    check_cv_target(spec, estimator, y)
    check_cv_groups(spec, estimator, y, groups)
    splitter = make_splitter(spec, estimator, y)
    splits = compute_splits(splitter, X, y, groups, spec.source, _split_hint(spec))
    candidates = spec_candidates(spec)
    random = base_search(spec.search) == "random"
    samples = Candidates(len(candidates), partial(_sample_seed, spec.seed) if random else _no_seed)
    identity = spec_identity(spec.to_dict())
    identity["cv"] = {**identity["cv"], "kind": resolved_cv_kind(spec, estimator, y)}
    return splitter, splits, candidates, samples, identity


def check_halving(spec: StudySpec, estimator: Any) -> None:
    """A halving spec's resource against its estimator (the rest was checked when it was loaded).

    Raises
    ------
    SpecError
        The resource is neither ``"n_samples"`` nor a parameter of the estimator, or it is
        in ``[space]`` or ``[fixed]`` (halving sets it per rung).
    """
    if spec.halving is None or spec.halving.resource == "n_samples":
        return
    import difflib

    resource, params = spec.halving.resource, estimator.get_params()
    if resource not in params:
        close = difflib.get_close_matches(resource, ["n_samples", *params], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise SpecError(
            f"{spec.source}: [halving] resource = {resource!r} is neither \"n_samples\" nor a parameter "
            f"of {type(estimator).__name__}{hint}"
        )
    for table, keys in (("[space]", spec.space), ("[fixed]", spec.fixed)):
        if resource in keys:
            raise SpecError(
                f"{spec.source}: {table} {resource} is the [halving] resource, which halving sets per "
                f"rung; remove it from {table}"
            )


def _split_hint(spec: StudySpec) -> str:
    """How to fix a spec whose splitter cannot split its data."""
    if spec.cv.kind == "holdout":
        return "; use a larger [cv] test_size"
    return f"; use fewer [cv] folds (now {spec.cv.folds})"


def _sample_seed(seed: int, number: int) -> dict[str, Any]:
    """Random trial ``number``'s own seed: it is drawn from ``SeedSequence([seed, number])``."""
    return {"sample": [seed, number]}


def _no_seed(number: int) -> dict[str, Any]:
    """A grid trial has no seed of its own."""
    return {}


def spec_candidates(spec: StudySpec) -> Candidates:
    """Trial ``i``'s params: the grid's ``i``-th point, or random draw ``i``, computed when asked.

    Raises
    ------
    SpecError
        A random search asks for more trials than its all-list space holds.
    """
    search = base_search(spec.search)  # halving starts from a grid or random candidates
    if search == "random" and only_lists(spec.space):  # type: ignore[arg-type]
        size = math.prod(len(v) for v in spec.space.values())  # type: ignore[arg-type]
        assert spec.n_trials is not None
        if spec.n_trials > size:
            raise SpecError(
                f"{spec.source}: n_trials = {spec.n_trials} is more than the {size} distinct "
                "configurations of [space]; lower n_trials, or use search = 'grid'"
            )
    return space_candidates(search, spec.space, spec.seed, spec.n_trials, convert=to_param)


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
        again = "its hptrack.search(...) call" if api == "hptrack.search" else "its fit()"
        raise SpecError(
            f"study {stored.name!r} was recorded by {api} from Python, so the store holds no spec "
            f"to resume it from; resume it by running the same script again ({again} continues "
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
