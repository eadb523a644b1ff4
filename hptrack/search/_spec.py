"""A spec's successive halving (``search = "halving"`` / ``"halving-random"``), run by
scikit-learn's own ``HalvingGridSearchCV`` loop through hptrack's drop-in.

``hptrack run`` and ``resume`` build the plan from the spec as for any study, create or
check the stored study and record the run; :func:`run_halving` then fits the drop-in on
the plan's data, with the plan's splits (the spec's ``[cv]``, seeded by the study seed),
its estimator (seeds applied) and its one metric, and with the study, store and run
already open (the recording's ``preset``). The candidates are the spec's: the grid
``[space]`` in ``ParameterGrid`` order, or random trials ``0..n_trials-1`` drawn as a
random search draws them, given to scikit-learn as a list of one-point grids (so its
order is theirs; ``min_resources`` defaults as scikit-learn's class for each kind).
Each (candidate, rung) is a trial, with its rung and resource.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ..errors import HptrackError
from ..run import OnFold, RunSummary, StudyPlan
from ..spec import HALVING_SEARCHES
from ..store import StoredStudy, Writer


@dataclass
class _Preset:
    """What the recording of a spec's halving run takes from its caller, and counts back."""

    writer: Writer
    stored: StoredStudy
    plan: StudyPlan
    on_fold: OnFold | None = None
    fitted: int = 0
    reused: int = 0
    finished: int = 0

    def __reduce__(self) -> Any:
        """A joblib worker gets the search without the store: the recording it sees writes nothing."""
        return (_detached, ())

    def finished_trials(self, statuses: list[str | None]) -> None:
        """Trials a commit finished: counted, and told to ``on_fold`` (the progress bar)."""
        for status in statuses:
            if status is not None:
                self.finished += 1
                if self.on_fold is not None:
                    self.on_fold(None, status)


def _detached() -> None:
    """What a :class:`_Preset` unpickles to in a joblib worker."""
    return None


def check_halving_options(plan: StudyPlan, *, max_trials: int | None, dask: str | None) -> None:
    """Refuse run options a halving study cannot honour (before the store is touched).

    Raises
    ------
    HptrackError
        ``--max-trials`` or ``--dask`` with ``search = "halving"``.
    """
    if plan.search not in HALVING_SEARCHES:
        return
    if max_trials is not None:
        raise HptrackError(
            f"--max-trials does not apply to study {plan.name!r} (search = {plan.search!r}: its rungs are "
            "decided as it runs); run it without --max-trials, stop it with Ctrl-C and resume it later"
        )
    if dask is not None:
        raise HptrackError(
            f"--dask does not apply to study {plan.name!r} (search = {plan.search!r}, scikit-learn's own "
            "loop); run it without --dask, with --n-jobs N for parallel folds"
        )


def run_halving(
    writer: Writer,
    plan: StudyPlan,
    *,
    n_jobs: int = 1,
    reuse: bool = True,
    on_fold: OnFold | None = None,
) -> RunSummary:
    """Run (or resume) a spec's halving study whose stored study and run ``writer`` holds.

    Parameters
    ----------
    writer : Writer
        The store, with the study created or checked (``open_study``) and this run recorded.
    plan : StudyPlan
        :func:`~hptrack.run.plan_from_spec` of a halving spec.
    n_jobs : int, default=1
        Folds fitted in parallel (joblib, as scikit-learn's ``n_jobs``).
    reuse : bool, default=True
        Copy folds the store already evaluated with the same key.
    on_fold : callable, optional
        Called with ``(None, status)`` as each trial finishes.

    Returns
    -------
    RunSummary
    """
    started = time.monotonic()
    stored = writer.stored_study(plan.name)
    assert stored is not None, "open_study creates the study first"
    recovered = writer.recover_abandoned(stored.id)
    preset = _Preset(writer, stored, plan, on_fold)
    search = _search(plan, n_jobs=n_jobs, reuse=reuse)
    search._hptrack_preset = preset
    try:
        search.fit(plan.X, plan.y, **plan.fit_params)
    finally:
        del search._hptrack_preset
    counts = writer.counts(stored.id)
    return RunSummary(
        study=plan.name,
        created=False,
        n_trials=sum(counts.values()),
        n_complete=counts["complete"],
        n_failed=counts["failed"],
        n_pending=counts["pending"] + counts["running"],
        trials_finished=preset.finished,
        folds_fitted=preset.fitted,
        recovered=list(recovered or []),
        elapsed=time.monotonic() - started,
        folds_reused=preset.reused,
    )


def _search(plan: StudyPlan, *, n_jobs: int, reuse: bool) -> Any:
    """The drop-in that runs the plan's halving: its candidates, splits, metric and settings."""
    from ._halving import HalvingGridSearchCV

    spec = plan.spec
    metric = spec["metrics"][0]
    # the plan's candidates in their order (a grid's is ParameterGrid's), as one-point grids
    grid = [{key: [value] for key, value in plan.candidates[i].items()} for i in range(len(plan.candidates))]
    return HalvingGridSearchCV(
        plan.estimator,
        grid,
        cv=list(plan.splits),
        scoring=None if metric == "score" else metric,
        refit=False,
        error_score=plan.error_score,
        return_train_score=plan.return_train_score,
        random_state=plan.seed,
        n_jobs=n_jobs,
        reuse=reuse,
        store=None,
        study=plan.name,
        **spec["halving"],
    )
