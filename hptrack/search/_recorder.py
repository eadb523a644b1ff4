"""The recording of one drop-in ``fit``: per batch of candidates, serve stored folds, record new ones.

scikit-learn's ``fit`` runs unchanged; :class:`Recording` is the ``Recorder`` its
``_fit_and_score`` calls reach through :mod:`._sklearn_shim`. Per ``evaluate_candidates``
batch it numbers the candidates (numbers continue across batches), computes each
(candidate, split)'s fold key, reads what the store holds for them (the study's own folds,
then folds of other studies with the same key), and serves those results instead of
fitting. Folds fitted in this process and thread are committed at once; results that come
back from joblib workers are committed when their batch returns. Only this process writes.
Successive halving calls ``evaluate_candidates`` once per rung, with ``more_results``
naming the rung (``iter``) and its ``n_resources``: each trial is stored with both.
A spec's halving run (:mod:`._spec`) gives a ``preset``: the plan, store, study and run
are its caller's, so the recording only claims, serves and commits.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from typing import Any

from .._json import deep_params, describe
from ..errors import SpecMismatchError
from ..identity import fold_split_hash
from ..run import FoldTask, StudyPlan, choose_reused, copy_of, open_study, unstable_values
from ..spec import check_study_name
from ..store import FoldRecord, StoredStudy, Writer, command_line, keep_wal_open
from . import _study
from ._data import FitData, GivenSplits, placeholder_splits, reproducible_splits, same_splits_again
from ._fold_results import RemoteView, by_metric, float_or_nan, rungs_of, score_errors, served_result
from ._sklearn_shim import checked_cv, evaluate_with

# Quick folds share a commit: one is written once FLUSH_SECONDS passed since the last write, or,
# where a commit costs more than COMMIT_SHARE of that (a slow disk, a slowed interpreter such
# as valgrind's), once the last commit's own CPU time is at most COMMIT_SHARE of the time
# since; never later than FLUSH_MAX_SECONDS. A kill loses at most that much work (and the
# fold in flight). A commit of a few folds takes ~0.3 ms of CPU here: 0.3% of FLUSH_SECONDS.
FLUSH_SECONDS = 0.1
COMMIT_SHARE = 0.003
FLUSH_MAX_SECONDS = 1.0
_interval = [FLUSH_SECONDS]  # the last commit's interval in this process: the next fit starts from it


@dataclass
class _Batch:
    """One ``evaluate_candidates`` call: its trial numbers, stored results and trial ids."""

    offset: int
    candidates: list[dict[str, Any]]
    n_splits: int
    keys: dict[tuple[int, int], str]
    rungs: list[tuple[int, int]] | None = None  # successive halving: (rung, resource) per candidate
    served: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    trial_ids: dict[int, int] = field(default_factory=dict)
    done: set[tuple[int, int]] = field(default_factory=set)  # served or committed


class Recording:
    """The active recording of one hptrack search ``fit`` (see the module docstring)."""

    def __init__(self, search: Any, X: Any, y: Any, params: dict[str, Any]) -> None:
        self.search = search
        self.data = FitData.of(search, X, y, params)
        self.pid, self.thread = os.getpid(), threading.get_ident()
        self.writer: Writer | None = None
        self.stored: StoredStudy | None = None
        self.plan: StudyPlan | None = None
        self.metrics: list[str] | None = None
        self.keyed = False  # folds get content keys (reuse, serving)
        self.offset = 0
        self.batch: _Batch | None = None
        self.claimed: set[int] = set()
        self.pending: list[tuple[int, FoldRecord]] = []  # committed by :meth:`flush`
        self.flushed = time.monotonic()
        self.flush_after = _interval[0]  # seconds from one write of queued folds to the next
        self.unseeded: list[str] = []
        self.unstable: list[str] = []
        self.observed: list[str] = []  # what calls back or prints in fits: every fold fitted, none served
        self.unseeded_split: str | None = None  # repr of a splitter whose split is drawn afresh
        self.prefix: str | None = None  # set with the plan (when reuse is on)
        self.prefix_fits = [0, 0]  # pipeline prefix steps fitted, reused (hptrack.run.prefix)
        self.preset = getattr(search, "_hptrack_preset", None)  # a spec's halving run (._spec)
        self._exit = ExitStack()

    # ------------------------------------------------------------------ around scikit-learn's fit

    def wrap(self, evaluate_candidates: Callable[..., Any]) -> Callable[..., Any]:
        """``evaluate_candidates`` recording each batch (``_run_search``'s one argument)."""
        if getattr(evaluate_candidates, "_hptrack_recording", None) is self:
            return evaluate_candidates  # a subclass's _run_search calling ours
        inner = evaluate_with(self, evaluate_candidates)

        def evaluate(candidate_params: Any, cv: Any = None, more_results: Any = None, **kwargs: Any) -> Any:
            candidates = list(candidate_params)
            splits = self._prepare(
                candidates, checked_cv(self.search, cv), rungs_of(more_results, len(candidates))
            )
            given = GivenSplits(splits) if splits is not None else cv  # split once, not twice
            try:
                return inner(candidates, cv=given, more_results=more_results, **kwargs)
            finally:
                self.offset += len(candidates)
                self.batch = None

        evaluate._hptrack_recording = self  # type: ignore[attr-defined]
        return evaluate

    def close(self, error: BaseException | None) -> None:
        """Release unfinished trials, end the recorded run, close the store."""
        try:
            self.flush()  # what was computed is kept, whatever ended the fit
            if self.writer is not None and self.claimed:
                self.writer.release(self.claimed)
            if self.writer is not None and any(self.prefix_fits):
                self.writer.count_prefix_fits(*self.prefix_fits)
        finally:
            if error is None:
                self._exit.close()
            else:
                self._exit.__exit__(type(error), error, error.__traceback__)

    def __reduce__(self) -> Any:
        """What a joblib worker gets with the search: the current batch's stored results only."""
        batch = self.batch
        served = batch.served if batch is not None and not self.observed else {}
        return (RemoteView, (served, self.prefix))

    # ------------------------------------------------------------------ per batch

    def _prepare(
        self, candidates: list[dict[str, Any]], cv: Any, rungs: list[tuple[int, int]] | None = None
    ) -> list[Any] | None:
        """Number the batch, open the study on the first one, and find its stored folds.

        Returns the splits scikit-learn's own split of ``cv`` would give (:func:`same_splits_again`),
        to hand it rather than split twice, or None.
        """
        n_splits = self.search.n_splits_
        outcome, splits = reproducible_splits(cv, self.data)
        self.unseeded_split = repr(cv) if outcome == "unseeded" else None
        if outcome == "error" or not candidates or (splits is not None and len(splits) != n_splits):
            self.batch = None  # scikit-learn raises its own error, the store untouched
            return None
        if self.plan is None and self.preset is not None:
            self._start_preset(splits)
        if self.plan is None:
            self._start(candidates, splits)
        assert self.plan is not None
        keys: dict[tuple[int, int], str] = {}
        if self.keyed and splits is not None:
            split_hashes = [fold_split_hash(train, test) for train, test in splits]
            for c, params in enumerate(candidates):
                keys.update(
                    ((c, s), key) for s, key in enumerate(self.plan.fold_keys_for(params, split_hashes) or [])
                )
        self.batch = _Batch(self.offset, candidates, n_splits, keys, rungs)
        if self.stored is not None:
            self._claim()
        elif self.writer is not None and self.metrics is not None:  # the scorers are known
            self._open()
        return splits if splits is not None and same_splits_again(cv) else None

    def _start_preset(self, splits: list[Any] | None) -> None:
        """A spec's halving run: the plan, the store and its open study and run are the caller's."""
        preset = self.preset
        self.writer, self.stored, self.plan = preset.writer, preset.stored, preset.plan
        self.metrics = list(preset.stored.metrics)
        self.keyed = splits is not None and not self.plan.unstable and self.plan.has_fold_keys
        self.prefix = self.plan.inputs.prefix if self.search.reuse else None

    def _start(self, candidates: list[dict[str, Any]], splits: list[Any] | None) -> None:
        """The first batch: the study's identity, the store, the stored study if any."""
        search = self.search
        if search.study is not None:
            check_study_name(search.study, where="study")
        self.data.fingerprint()
        fixed = None if callable(search.scoring) else _study.scorers_by_metric(search)
        spec, self.unstable = _study.study_spec(search, search.n_splits_, fixed)
        params = deep_params(search.estimator)
        self.unseeded = _study.unseeded(search, checked_cv(search), params, candidates)
        self.observed = _study.observed_fits(search, candidates, params)
        values = unstable_values(search.estimator, candidates, self.data.data_info)
        split_hash = _study.splits_hash(splits)
        name = _study.study_name(
            search, spec, self.data.data_hash, split_hash, candidates, unstable=bool(self.unstable or values)
        )
        self.writer = self._exit.enter_context(Writer(search.store))
        keep_wal_open(self.writer.path)  # many small fits in one process: no WAL rebuilt per fit
        stored = self.writer.stored_study(name)
        self.metrics = stored.metrics if stored is not None else None
        scorers = fixed if fixed is not None else _study.scorers_by_metric(search, self.metrics)
        if scorers is not None:
            self.metrics = list(scorers)
        provenance = {k: v for k, v in (("unseeded", self.unseeded), ("unstable", self.unstable)) if v}
        self.plan = _study.make_plan(
            search,
            name=name,
            spec=spec,
            candidates=candidates,
            scorers=scorers or {"score": search.scoring},
            splits=splits if splits is not None else placeholder_splits(search.n_splits_),
            data=self.data,
            provenance=provenance,
            unstable=values,
        )
        self.unstable = [*self.unstable, *(u for u in self.plan.unstable if u not in self.unstable)]
        if self.unseeded:
            _study.say_once(
                self.writer.path,
                f"{type(search).__name__} draws on unseeded randomness ({'; '.join(self.unseeded)}): "
                f"study {name!r} is recorded, but cannot be verified bit for bit; set random_state "
                "to an int to make it so",
            )
        if self.unstable:  # recorded by description: never reused, never verified bit for bit
            shown = "; ".join(self.unstable[:3]) + ("; ..." if len(self.unstable) > 3 else "")
            _study.say_once(
                self.writer.path,
                f"study {name!r}: {shown} cannot be fingerprinted; results are recorded but will "
                "not be reused or verified bit for bit",
            )
        if self.observed:  # a served fold would not call back or print what its fit does
            _study.say_once(
                self.writer.path,
                f"{'; '.join(self.observed[:3])}{'; ...' if len(self.observed) > 3 else ''}: study "
                f"{name!r} fits every fold again rather than serve stored ones, sharing no fitted "
                "pipeline step, so that its fits do what scikit-learn's do",
            )
        self.keyed = splits is not None and not self.unstable and self.plan.has_fold_keys
        self.prefix = self.plan.inputs.prefix if search.reuse and not self.observed else None

    def _open(self) -> None:
        """Create or check the stored study, record this fit as one run of it, claim the batch.

        A study this creates is created, run and claimed in one transaction (nothing to
        recover, and its candidates are the batch's); a stored one is checked and its run
        recorded in one (nothing is written when it is refused), then claimed in another.
        """
        writer, plan = self.writer, self.plan
        assert writer is not None and plan is not None
        with writer.transaction():
            self.stored, created = open_study(writer, plan, allow_code_change=self.search.allow_code_change)
            self._exit.enter_context(writer.run_record(self.stored.id, command_line(sys.argv)))
            if created:
                self._claim()
                return
            writer.recover_abandoned(self.stored.id)
        self._claim()

    def _claim(self) -> None:
        """Add the batch's trials, claim the pending ones, read the stored folds, serve them."""
        writer, stored, batch, plan = self.writer, self.stored, self.batch, self.plan
        assert writer is not None and stored is not None and batch is not None and plan is not None
        candidates = batch.candidates
        stop = batch.offset + len(candidates)
        params = [describe(c).text for c in candidates]  # as the study record writes them
        with writer.transaction():  # one commit; other candidates than the stored ones claim nothing
            writer.add_trials(stored.id, batch.offset, params, ["{}"] * len(candidates), batch.rungs)
            claims = writer.claim(
                stored.id, len(candidates), code_hash=plan.code_hash, data_hash=plan.data_hash
            )
            trials, folds = writer.trials_between(stored.id, batch.offset, stop)
            changed = [n for n, p in enumerate(params, batch.offset) if trials[n][1] != p]
            if changed:
                raise SpecMismatchError(stored.name, [f"candidates (trial {changed[0]})"])
        self.claimed.update(claim.trial_id for claim in claims)
        batch.trial_ids = {number: row[0] for number, row in trials.items()}
        self._serve_own(folds)
        if self.search.reuse and self.keyed and not self.observed:
            self._serve_reused()

    def _serve_own(self, folds: dict[tuple[int, int], FoldRecord]) -> None:
        """Serve the study's own folds (refit: failed ones if error_score="raise", ones keyed otherwise)."""
        batch, writer = self.batch, self.writer
        assert batch is not None and writer is not None
        ids = batch.trial_ids
        keys = {(ids[n], s): k for n, s in folds if (k := batch.keys.get((n - batch.offset, s))) is not None}
        keyed = writer.keyed_folds(keys) if self.keyed else set()
        for (number, split), record in folds.items():
            cand = number - batch.offset
            if split >= batch.n_splits or (record.error is not None and self.search.error_score == "raise"):
                continue
            if self.keyed and record.error is None and (ids[number], split) not in keyed:
                continue
            batch.served[(cand, split)] = self._result(record.test, record.train, record)
            batch.done.add((cand, split))
        if batch.served and self.unseeded_split is not None:  # a split drawn afresh each fit
            _study.say_served_unseeded(writer.path, self.plan.name, len(batch.served), self.unseeded_split)

    def _serve_reused(self) -> None:
        """Copy folds other studies evaluated under the same key (one query), commit, serve."""
        batch, writer, plan = self.batch, self.writer, self.plan
        assert batch is not None and writer is not None and plan is not None
        candidates = batch.candidates
        todo = {k: key for k, key in batch.keys.items() if k not in batch.done}
        if not todo:
            return
        tasks = [
            FoldTask(batch.trial_ids[batch.offset + c], batch.offset + c, s, candidates[c]) for c, s in todo
        ]
        keys = {(batch.offset + c, s): key for (c, s), key in todo.items()}
        choice = choose_reused(tasks, keys, writer.reusable_folds(keys.values()), plan)
        if self.preset is not None:
            self.preset.reused += len(choice.copies)
        for task, source in choice.copies:
            result, record = copy_of(task, source, plan)
            self._commit(task.number, record)
            cand = task.number - batch.offset
            batch.served[(cand, task.fold)] = self._result(result.test, result.train, record)
            batch.done.add((cand, task.fold))

    # ------------------------------------------------------------------ the Recorder protocol

    def stored_result(self, kwargs: dict[str, Any]) -> dict[str, Any] | None:
        """The stored result of this (candidate, split), or None to fit it."""
        batch = self.batch
        return None if batch is None or self.observed else served_result(batch.served, kwargs)

    def fitted(self, kwargs: dict[str, Any], result: dict[str, Any], failures: list[str]) -> None:
        """Commit a fitted fold now when this is the coordinating process and thread."""
        if self.batch is not None and self._coordinating():
            cand, split = kwargs["candidate_progress"][0], kwargs["split_progress"][0]
            if (cand, split) not in self.batch.done:  # a stored fold fitted again (callbacks): kept
                self._commit_result(cand, split, result, failures)

    def failed(self, kwargs: dict[str, Any], error: str) -> None:
        """With ``error_score="raise"``: record the failed fold, fail its trial (the fit raises)."""
        batch = self.batch
        if batch is None or not self._coordinating() or self.metrics is None or self.stored is None:
            return
        cand, split = kwargs["candidate_progress"][0], kwargs["split_progress"][0]
        nan = {m: math.nan for m in self.metrics}
        record = FoldRecord(split, nan, None, 0.0, 0.0, error=error, fold_key=batch.keys.get((cand, split)))
        self._commit(batch.offset + cand, record)
        self.flush()
        trial_id = batch.trial_ids.get(batch.offset + cand)
        if trial_id is not None and self.writer is not None:
            self.writer.fail(trial_id)

    def batch_done(self, out: list[dict[str, Any]]) -> None:
        """Commit the batch's results that came back from workers (or before the study existed)."""
        batch = self.batch
        if batch is None:
            return
        for index, result in enumerate(out):
            cand, split = divmod(index, batch.n_splits)
            if (cand, split) not in batch.done:
                self._commit_result(cand, split, result)
        self.flush()

    # ------------------------------------------------------------------ commits

    def _coordinating(self) -> bool:
        """Whether this is the process and thread that holds the store."""
        return os.getpid() == self.pid and threading.get_ident() == self.thread

    def _commit_result(
        self, cand: int, split: int, result: dict[str, Any], failures: list[str] | None = None
    ) -> None:
        """Commit one scikit-learn result dict (opening a callable-scored study on its first)."""
        batch = self.batch
        assert batch is not None
        if self.stored is None:
            if self.writer is None or self.plan is None:
                return
            scores = result["test_scores"]
            self.metrics = list(scores) if isinstance(scores, dict) else ["score"]
            self._open_with_metrics()
        assert self.metrics is not None
        test = by_metric(result["test_scores"], self.metrics)
        train = by_metric(result["train_scores"], self.metrics) if "train_scores" in result else None
        record = FoldRecord(
            fold=split,
            test=test,
            train=train,
            fit_time=float(result["fit_time"]),
            score_time=float(result["score_time"]),
            error=result["fit_error"],
            fold_key=batch.keys.get((cand, split)),
            score_errors=score_errors(test, failures or [], self.search.error_score),
        )
        self._commit(batch.offset + cand, record)
        batch.done.add((cand, split))
        if self.preset is not None:
            self.preset.fitted += 1

    def _open_with_metrics(self) -> None:
        """A callable ``scoring``'s study, opened once a first result names its metrics."""
        assert self.plan is not None and self.metrics is not None
        scorers = _study.scorers_by_metric(self.search, self.metrics)
        self.plan = replace(self.plan, scorers=scorers)
        self._open()

    def _commit(self, number: int, record: FoldRecord) -> None:
        """Queue one fold of trial ``number``; write the queue if the last write is old enough.

        A fold that took ``flush_after`` seconds or more (``FLUSH_SECONDS``; more where a
        commit is slow, see :meth:`flush`) is written as soon as it is done; quicker ones share
        a transaction, so a killed script loses at most that much work (or the fold in flight)
        while near-free fits do not pay one commit each.
        """
        batch = self.batch
        assert batch is not None
        self.pending.append((batch.trial_ids[number], record))
        if time.monotonic() - self.flushed >= self.flush_after:
            self.flush()

    def flush(self) -> None:
        """Write the queued folds in one transaction; finished trials are no longer ours to release."""
        writer, stored, pending = self.writer, self.stored, self.pending
        self.flushed = time.monotonic()
        if not pending or writer is None or stored is None:
            return
        self.pending = []
        cpu = time.thread_time()
        statuses = writer.commit_folds(pending, n_folds=stored.n_folds, rank_metric=stored.metrics[0])
        # the commit's CPU time (not a wait for another writer's lock) sets the next interval
        self.flush_after = min(max(FLUSH_SECONDS, (time.thread_time() - cpu) / COMMIT_SHARE), FLUSH_MAX_SECONDS)
        _interval[0] = self.flush_after
        self.claimed.difference_update(t for (t, _), status in zip(pending, statuses) if status is not None)
        if self.preset is not None:
            self.preset.finished_trials(statuses)

    def _result(self, test: dict[str, Any], train: dict[str, Any] | None, record: Any) -> dict[str, Any]:
        """A stored fold as scikit-learn's ``_fit_and_score`` returns it."""
        search, metrics = self.search, self.metrics or ["score"]
        failed = getattr(record, "error", None) is not None
        if callable(search.scoring):
            multimetric = metrics != ["score"]
        else:
            multimetric = not (search.scoring is None or isinstance(search.scoring, str))

        def scores(values: dict[str, Any] | None) -> Any:
            if failed:
                error_score = search.error_score
                return {m: error_score for m in metrics} if multimetric else error_score
            floats = {m: float_or_nan((values or {}).get(m)) for m in metrics}
            return floats if multimetric else floats[metrics[0]]

        result: dict[str, Any] = {"test_scores": scores(test)}
        if search.return_train_score:
            result["train_scores"] = scores(train)
        result["n_test_samples"] = 0  # set from the split when served (:func:`served_result`)
        result["fit_time"] = float_or_nan(record.fit_time)
        result["score_time"] = float_or_nan(record.score_time)
        result["fit_error"] = getattr(record, "error", None)
        return result
