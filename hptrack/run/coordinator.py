"""The coordinator: create or resume a study, claim trials, dispatch folds, commit.

:func:`run_plan` runs a :class:`~hptrack.run.plan.StudyPlan` against a store's writer:
only this process writes; executors return :class:`~hptrack.run.evaluate.FoldResult`
objects and each fold is committed as it arrives, through one routine
(:meth:`_Run.commit`) whether it was fitted or copied from the store.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import Any

from ..errors import DriftError, SpecError, SpecMismatchError
from ..identity import diff_code, legacy_code_match
from ..spec import diff_specs
from ..store import Claim, FoldRecord, StoredStudy, Writer
from .evaluate import FoldResult, FoldTask
from .executors import SerialExecutor, make_executor
from .plan import StudyPlan
from .reuse import choose_reused, copy_of
from .summary import RunSummary

logger = logging.getLogger(__name__)


# Spec fields whose change leaves every stored fold's key valid: a new study name reuses them.
_EXTENDING_FIELDS = frozenset({"space", "n_trials", "metrics", "direction"})


def check_compatible(plan: StudyPlan, stored: StoredStudy, *, allow_code_change: bool) -> StudyPlan:
    """Refuse to continue ``stored`` with ``plan`` if its spec, data or code differ.

    Parameters
    ----------
    plan : StudyPlan
        What this process would run.
    stored : StoredStudy
        The study as stored.
    allow_code_change : bool
        Accept changed code or data (never changed splits).

    Returns
    -------
    StudyPlan
        ``plan``, or ``plan`` under the stored code hash when the study was recorded by
        hptrack 0.1 and its recorded files and packages are unchanged.

    Raises
    ------
    SpecMismatchError
        The spec differs (the hint says when a new name would reuse its folds).
    DriftError
        The data, splits or code differ.
    """
    changed = [] if stored.spec == plan.spec else diff_specs(stored.spec, plan.spec)
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
        plan = plan.with_code(stored.code_hash, stored.code)  # an hptrack 0.1 study
    if stored.code_hash != plan.code_hash:
        what = diff_code(stored.code, plan.code_info) or ["code hash"]
        drift.append(f"code changed in {', '.join(what)}")
    if drift and stored.split_hash != plan.split_hash:  # refused even with allow_code_change
        if stored.data_hash != plan.data_hash:
            drift[0] += ", and with it the CV splits"
        raise DriftError(stored.name, drift, mixable=False)
    if drift and not allow_code_change:
        raise DriftError(stored.name, drift)
    return plan


def open_study(
    store: Writer, plan: StudyPlan, *, allow_code_change: bool = False
) -> tuple[StoredStudy, bool]:
    """Create the plan's study, or check the stored one is the same study.

    Parameters
    ----------
    store : Writer
        The writer (a writable store).
    plan : StudyPlan
        The study to open.
    allow_code_change : bool, default=False
        Accept changed code or data.

    Returns
    -------
    stored, created
        The stored study, and whether this call created it.

    Raises
    ------
    SpecMismatchError, DriftError
        As :func:`check_compatible`.
    """
    stored, created, _ = _open(store, plan, allow_code_change=allow_code_change)
    return stored, created


def _open(store: Writer, plan: StudyPlan, *, allow_code_change: bool) -> tuple[StoredStudy, bool, StudyPlan]:
    """:func:`open_study`, plus the plan to run (under the stored code hash if it still matches)."""
    stored = store.stored_study(plan.name)
    created = stored is None
    if stored is None:
        stored = store.create_study(plan.record())  # or the one a racing process created
    plan = check_compatible(plan, stored, allow_code_change=allow_code_change)
    return stored, created, plan


OnFold = Callable[[FoldResult, "str | None"], None]


def run_plan(
    store: Writer,
    plan: StudyPlan,
    *,
    n_jobs: int | None = 1,
    max_trials: int | None = None,
    retry_failed: bool = False,
    allow_code_change: bool = False,
    on_fold: OnFold | None = None,
    dask: Any = None,
    reuse: bool = True,
    cache_mem: int | None = None,
) -> RunSummary:
    """Run every pending trial of ``plan``'s study (creating it first if needed).

    Parameters
    ----------
    store : Writer
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
        records its origin. False fits every fold (the keys are still recorded), and
        shares no pipeline prefix between configurations either.
    cache_mem : int, optional
        The memory cap, in bytes, of each process's cache of fitted pipeline prefixes
        (:mod:`hptrack.run.prefix`; default 1 GiB). 0 turns the cache off.

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
    if not reuse or cache_mem is not None:
        plan = replace(plan, cache_bytes=0 if not reuse else int(cache_mem or 0))
    stored, created, plan = _open(store, plan, allow_code_change=allow_code_change)
    recovered = _prepare(store, stored, retry_failed=retry_failed)
    executor = make_executor(n_jobs, dask)
    run = _Run(store, plan, stored, on_fold=on_fold, reuse=reuse)
    beat = store.heartbeat_thread()
    try:
        for tasks in run.batches(_batch_size(executor, plan), max_trials):
            run.commit_fitted(executor.run(plan, run.commit_reused(tasks)))
            run.count_prefix_fits()
    finally:
        executor.close()
        beat.stop()
        run.release()
    return run.summary(created=created, recovered=recovered, elapsed=time.perf_counter() - start)


def _prepare(store: Writer, stored: StoredStudy, *, retry_failed: bool) -> list[int]:
    """Return abandoned trials to pending (and failed ones, with ``retry_failed``)."""
    recovered = store.recover_abandoned(stored.id)
    if recovered:
        logger.info("re-running %d trial(s) left running by dead workers", len(recovered))
    if retry_failed:
        store.reset_failed(stored.id)
    return recovered


def _batch_size(executor: SerialExecutor, plan: StudyPlan) -> int:
    """Trials claimed per transaction: a few in this process; enough for parallel workers
    that the idle tail at the end of each batch stays small, or for the configurations of
    a batch to share pipeline prefixes (:func:`~hptrack.run.prefix.schedule`)."""
    if executor.workers == 1:
        return 4 if plan.inputs.prefix is None else 32
    return executor.workers * 16


class _Run:
    """One call of :func:`run_plan`: claims, fold commits and what they add up to."""

    def __init__(
        self, store: Writer, plan: StudyPlan, stored: StoredStudy, *, on_fold: OnFold | None, reuse: bool
    ) -> None:
        self.store, self.plan, self.stored = store, plan, stored
        self.on_fold, self.reuse = on_fold, reuse
        self.n_folds, self.rank_metric = stored.n_folds, stored.metrics[0]
        self.claimed: dict[int, int] = {}  # trial_id -> folds still to commit
        self.keys: dict[tuple[int, int], str] = {}  # (number, fold) -> fold key, this batch
        self.finished = self.fitted = self.reused = self.refit = 0
        self.prefix_fitted = self.prefix_reused = 0  # pipeline prefix steps, this run
        self._prefix_counted = (0, 0)  # what count_prefix_fits has written so far
        self.refit_metrics: set[str] = set()

    def batches(self, size: int, max_trials: int | None) -> Iterator[list[FoldTask]]:
        """Claim trials ``size`` at a time (up to ``max_trials`` in all); yield their folds to do."""
        budget = math.inf if max_trials is None else max_trials
        while budget > 0:
            claims = self.store.claim(
                self.stored.id,
                int(min(size, budget)),
                code_hash=self.plan.code_hash,
                data_hash=self.plan.data_hash,
                params_of=self.plan.trial_row,  # trial i is written when it is first claimed
            )
            if not claims:
                return
            budget -= len(claims)
            yield self._tasks(claims)

    def _tasks(self, claims: Iterable[Claim]) -> list[FoldTask]:
        """The folds still to commit of each claimed trial; remembers their keys."""
        tasks: list[FoldTask] = []
        for claim in claims:
            todo = [fold for fold in range(self.n_folds) if fold not in claim.folds_done]
            self.claimed[claim.trial_id] = len(todo)
            params = self.plan.candidates[claim.number]
            tasks.extend(FoldTask(claim.trial_id, claim.number, fold, params) for fold in todo)
        self.keys = self.plan.fold_keys((t.number, t.fold) for t in tasks)
        return tasks

    def commit_reused(self, tasks: list[FoldTask]) -> list[FoldTask]:
        """Commit the folds the store already holds (one indexed query); return those to fit."""
        if not (self.reuse and self.keys):
            return tasks
        found = self.store.reusable_folds(self.keys.values())
        choice = choose_reused(tasks, self.keys, found, self.plan)
        self.refit += choice.n_refit
        self.refit_metrics.update(choice.refit_metrics)
        for task, source in choice.copies:
            result, record = copy_of(task, source, self.plan)
            self.commit(result, record)
            self.reused += 1
        return choice.to_fit

    def commit_fitted(self, results: Iterable[FoldResult]) -> None:
        """Commit each fitted fold as it arrives; re-raise an ``error_score="raise"`` failure."""
        for result in results:
            record = FoldRecord(
                fold=result.fold,
                test=result.test,
                train=result.train,
                fit_time=result.fit_time,
                score_time=result.score_time,
                error=result.error,
                fold_key=self.keys.get((result.number, result.fold)),
                score_errors=result.score_errors,
                curve=result.curve,
            )
            self.prefix_fitted += result.prefix_fitted
            self.prefix_reused += result.prefix_reused
            status = self.commit(result, record, fitted=True)
            if result.exception is not None:  # error_score="raise", now recorded
                if status is None:
                    self.store.fail(result.trial_id)
                    self.claimed.pop(result.trial_id, None)
                raise result.exception

    def commit(self, result: FoldResult, record: FoldRecord, *, fitted: bool = False) -> str | None:
        """Write one fold, fitted or copied; count it; report it. Returns the trial's final status."""
        status = self.store.commit_fold(
            result.trial_id, record, n_folds=self.n_folds, rank_metric=self.rank_metric
        )
        if fitted:
            self.fitted += 1
        self.claimed[result.trial_id] -= 1
        if status is not None:
            self.claimed.pop(result.trial_id, None)
            self.finished += 1
        if self.on_fold is not None:
            self.on_fold(result, status)
        return status

    def count_prefix_fits(self) -> None:
        """Add the prefix fits done and saved since the last call to the run's record."""
        fitted, reused = self.prefix_fitted, self.prefix_reused
        done_fitted, done_reused = self._prefix_counted
        if (fitted, reused) != (done_fitted, done_reused):
            self.store.count_prefix_fits(fitted - done_fitted, reused - done_reused)
            self._prefix_counted = (fitted, reused)

    def release(self) -> None:
        """Return the trials this run claimed but did not finish to pending."""
        if self.claimed:
            self.store.release(self.claimed)

    def summary(self, *, created: bool, recovered: list[int], elapsed: float) -> RunSummary:
        """What this run did, and where the study stands now."""
        counts = self.store.counts(self.stored.id)
        return RunSummary(
            study=self.stored.name,
            created=created,
            n_trials=self.stored.n_trials,
            n_complete=counts["complete"],
            n_failed=counts["failed"],
            n_pending=counts["pending"] + counts["running"],
            trials_finished=self.finished,
            folds_fitted=self.fitted,
            recovered=recovered,
            elapsed=elapsed,
            folds_reused=self.reused,
            folds_refit=self.refit,
            refit_metrics=tuple(sorted(self.refit_metrics)),
            prefix_fitted=self.prefix_fitted,
            prefix_reused=self.prefix_reused,
        )
