"""``hptrack.search(fn, space, data=(X, y), ...)``: an objective study from Python (SPEC section 11).

The arguments become a spec (validated by the spec parser, so a bad value gets the same
one-line error as in TOML) and a plan (:func:`~hptrack.run.from_spec.build_objective_plan`,
shared with ``objective = "module:fn"`` specs), run by the one coordinator.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._json import hash_value
from ..identity import code_fingerprint
from ..run import data_identity, load_data, open_study, run_plan
from ..run.from_spec import build_objective_plan
from ..spec import StudySpec
from ..store import Writer, command_line, default_store_path

if TYPE_CHECKING:
    from ..query import Study



def search(
    fn: Callable[[dict[str, Any], Any], Mapping[str, float]],
    space: Mapping[str, Any],
    *,
    data: tuple[Any, ...],
    metrics: Sequence[str],
    cv: int | Mapping[str, Any] = 5,
    search: str = "grid",
    n_trials: int | None = None,
    seed: int = 0,
    direction: str | None = None,
    fixed: Mapping[str, Any] | None = None,
    error_score: float | str = math.nan,
    store: str | Path | None = None,
    study: str | None = None,
    n_jobs: int | None = 1,
    max_trials: int | None = None,
    dask: Any = None,
    reuse: bool = True,
    allow_code_change: bool = False,
) -> Study:
    """Run (or resume) an objective study: ``fn(params, fold)`` per configuration and fold.

    Parameters
    ----------
    fn : callable
        ``fn(params, fold) -> {metric: float}``; ``fold`` has ``index``, ``seed``, ``train``,
        ``val``, ``X_train``, ``y_train``, ``X_val``, ``y_val`` and ``report(step, **values)``.
    space : mapping
        The ``[space]`` of a spec: lists of values, or (random search) distributions such as
        ``{"dist": "loguniform", "low": 1e-4, "high": 1e-1}``.
    data : tuple
        ``(X, y)`` or ``(X, y, groups)``.
    metrics : sequence of str
        Keys of the dict ``fn`` returns that are recorded; the first ranks.
    cv : int or mapping, default=5
        The number of k-fold folds, or a spec's ``[cv]`` table (``{"kind": "stratified",
        "folds": 5, "shuffle": True}``).
    search : {"grid", "random"}, default="grid"
        Every combination, or ``n_trials`` draws.
    n_trials : int, optional
        Required for a random search.
    seed : int, default=0
        The study seed (the CV shuffle, random draws, ``fold.seed``).
    direction : {"maximize", "minimize"}, optional
        How the first metric ranks, stored in the spec (default maximize).
    fixed : mapping, optional
        Params held constant, in every call's ``params``.
    error_score : float or "raise", default=NaN
        What the metrics of a fold whose ``fn`` failed score.
    store : str or Path, optional
        The store file (default ``$HPTRACK_STORE``, else ``./hptrack.db``).
    study : str, optional
        The study's name; default the function's name and a hash of the search and data,
        so running the same search on the same data again resumes it.
    n_jobs : int, default=1
        joblib worker processes.
    max_trials : int, optional
        Stop after this many more trials (the study stays resumable).
    dask : str or distributed.Client, optional
        Run the folds on this Dask cluster.
    reuse : bool, default=True
        Serve folds already evaluated in the store under the same key.
    allow_code_change : bool, default=False
        Continue a study whose code or data changed.

    Returns
    -------
    Study
        The study, opened read-only on the store (``.trials()``, ``.best()``, ``.curves()``).

    Raises
    ------
    SpecError, SpecMismatchError, DriftError
        A bad argument (one line, nothing written), a study of that name with another
        search, or changed code or data.

    Examples
    --------
    >>> study = hptrack.search(objective, {"lr": [0.01, 0.1]}, data=(X, y),
    ...                        metrics=["val_accuracy"], store="runs.db")  # doctest: +SKIP
    """
    if not callable(fn):
        raise TypeError(f"fn must be a function fn(params, fold), not {type(fn).__name__}")
    spec = _spec(fn, space, search=search, metrics=metrics, cv=cv, n_trials=n_trials, seed=seed,
                 direction=direction, fixed=fixed, error_score=error_score, study=study)
    X, y, groups = load_data(spec, lambda: tuple(data))
    if study is None:  # the same search on the same data is the same study
        digest = hash_value([spec.to_dict(), data_identity(X, y, groups)[0]])
        spec = replace(spec, name=f"{getattr(fn, '__name__', 'objective')}-{digest[:12]}")
    code = code_fingerprint([fn], base_dir=spec.base_dir)
    plan = build_objective_plan(spec, fn, (X, y, groups), code=code, origin={"api": "hptrack.search"})
    path = Path(store) if store is not None else default_store_path()
    with Writer(path) as writer:
        stored, _ = open_study(writer, plan, allow_code_change=allow_code_change)
        with writer.run_record(stored.id, command_line(sys.argv)):
            run_plan(writer, plan, n_jobs=n_jobs, max_trials=max_trials, dask=dask, reuse=reuse,
                     allow_code_change=allow_code_change)
    from ..query import Store

    return Store(path, readonly=True).study(plan.name)


def _spec(
    fn: Any, space: Mapping[str, Any], *, study: str | None, direction: str | None, **options: Any
) -> StudySpec:
    """The arguments as a validated spec (the spec parser's checks and messages)."""
    metrics = options["metrics"]
    cv = options["cv"]
    raw: dict[str, Any] = {
        "name": study if study is not None else "objective",
        "search": options["search"],
        "seed": options["seed"],
        "objective": f"{getattr(fn, '__module__', None) or 'python'}:{getattr(fn, '__qualname__', 'fn')}",
        "data": "python:data",
        "metrics": [metrics] if isinstance(metrics, str) else list(metrics),
        "error_score": options["error_score"],
        "fixed": dict(options["fixed"] or {}),
        "cv": {"kind": "kfold", "folds": cv} if isinstance(cv, int) and not isinstance(cv, bool) else cv,
        "space": {k: list(v) if isinstance(v, (tuple, range)) else v for k, v in dict(space).items()},
    }
    if options["n_trials"] is not None:
        raw["n_trials"] = options["n_trials"]
    if direction is not None:  # validated by the spec parser, with its message
        raw["direction"] = direction
    return StudySpec.from_dict(raw, base_dir=Path.cwd(), source="hptrack.search")
