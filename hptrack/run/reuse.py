"""Reuse: copy a fold that any study of the store evaluated under the same content key.

A fold's key covers the estimator, its params, the data, the split, the code and the
package versions (:meth:`StudyPlan.fold_key`); a stored fold with that key serves only if
it scored every metric of the plan with the same scorer (SPEC section 6).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from ..store import FoldRecord, ReusableFold
from .evaluate import FoldResult, FoldTask
from .plan import StudyPlan


@dataclass(frozen=True)
class ReuseChoice:
    """Which claimed folds are copied from the store, and which are fitted."""

    copies: list[tuple[FoldTask, ReusableFold]]  # folds to copy, and from where
    to_fit: list[FoldTask]
    n_refit: int  # of to_fit: a stored twin lacked a metric
    refit_metrics: set[str]


def choose_reused(
    tasks: list[FoldTask],
    keys: Mapping[tuple[int, int], str],
    found: Mapping[str, list[ReusableFold]],
    plan: StudyPlan,
) -> ReuseChoice:
    """Split ``tasks`` into folds copied from ``found`` and folds to fit.

    A stored fold serves only if it scored every metric of ``plan`` under the same
    scorer identity (the rest of its key matched already).

    Parameters
    ----------
    tasks : list of FoldTask
        The claimed folds.
    keys : mapping
        ``(number, fold) -> fold key`` of each task.
    found : mapping
        ``fold key -> stored folds`` (the writer's ``reusable_folds``).
    plan : StudyPlan
        Its metrics and scorer identities decide.

    Returns
    -------
    ReuseChoice
    """
    scorer_ids = plan.scorer_ids

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
    return ReuseChoice(copies, to_fit, n_refit, missing)


def copy_of(task: FoldTask, source: ReusableFold, plan: StudyPlan) -> tuple[FoldResult, FoldRecord]:
    """The result a reused fold reports, and the record that commits it with its origin."""

    def value(score: float | None) -> float:
        return math.nan if score is None else float(score)

    test = {m: value(source.test[m]) for m in plan.metrics}
    train = {m: value(source.train.get(m)) for m in plan.metrics} if plan.return_train_score else None
    fit_time, score_time = value(source.fit_time), value(source.score_time)
    result = FoldResult(
        task.trial_id, task.number, task.fold, test, train, fit_time, score_time, curve=source.curve
    )
    record = FoldRecord(
        fold=task.fold,
        test=test,
        train=train,
        fit_time=fit_time,
        score_time=score_time,
        fold_key=source.fold_key,
        origin=source.origin,
        curve=source.curve,
    )
    return result, record
