"""Frozen snapshots the store writes and returns: studies, folds, claims, dumps, merge outcomes.

The store hands out these dataclasses, never its rows or tuples (optuna's snapshot
rule): changing one changes nothing in the file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

STATUSES = ("pending", "running", "complete", "failed")  # a trial's status, in lifecycle order


@dataclass(frozen=True)
class StudyRecord:
    """Everything written when a study is created.

    ``n_trials`` is the study's size; trials exist as rows once claimed
    (:meth:`Writer.claim` with ``params_of``), except those of ``trial_params``, written
    up front (the drop-ins' batches). Default: ``len(trial_params)``.
    """

    name: str
    search: str
    n_folds: int
    metrics: list[str]
    seed: int
    spec: dict[str, Any]
    code_hash: str
    code: dict[str, Any]
    data_hash: str
    data: list[dict[str, Any]]
    split_hash: str
    provenance: dict[str, Any]
    trial_params: list[str]  # canonical JSON of each trial's params, by number
    trial_seeds: list[str]  # canonical JSON of each trial's seeds, by number
    scorers: dict[str, str | None] = field(default_factory=dict)  # metric -> scorer identity
    n_trials: int | None = None  # the number of trials, claimed or not; None: len(trial_params)
    trial_seed: str | None = None  # the seeds its trials share, stored once; None: trial_seeds[0]


@dataclass(frozen=True)
class StoredStudy:
    """The stored identity of a study: what a resume is checked against."""

    id: int
    name: str
    spec: dict[str, Any]
    code_hash: str
    code: dict[str, Any]
    data_hash: str
    split_hash: str
    n_trials: int
    n_folds: int
    metrics: list[str]
    provenance: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FoldRecord:
    """One fold's outcome, as the coordinator commits it."""

    fold: int
    test: dict[str, float]
    train: dict[str, float] | None
    fit_time: float
    score_time: float
    error: str | None = None
    fold_key: str | None = None  # content key (identity.fold_key): what reuse looks up
    origin: dict[str, Any] | None = None  # a reused result: {"study", "trial", "fold"} it copies
    # metric -> traceback of a scorer that failed on a fold whose fit succeeded: that metric
    # holds error_score, the fold is not failed (``folds.score_errors``, canonical JSON)
    score_errors: dict[str, str] | None = None
    curve: bytes | None = None  # an objective's learning curve (hptrack.store.curves.pack_curve)


@dataclass(frozen=True)
class ReusableFold:
    """A successful stored fold found by its key: the scores a copy would carry."""

    fold_key: str
    study: str
    trial: int
    fold: int
    origin: dict[str, Any]  # where the result was fitted: this fold, or the one it copies
    fit_time: float | None
    score_time: float | None
    test: dict[str, float | None]
    train: dict[str, float | None]
    scorers: dict[str, str | None]  # the stored study's scorer identity per metric
    curve: bytes | None = None  # an objective's learning curve, copied with the scores


@dataclass(frozen=True)
class Claim:
    """A trial this process claimed (:meth:`Writer.claim`): it is ``running`` under its host and pid.

    Attributes
    ----------
    trial_id : int
        The trial's row id (what :meth:`Writer.commit_fold`, ``release`` and ``fail`` take).
    number : int
        The trial's number in its study (0..N-1).
    params_json : str
        Its params, as stored (canonical JSON).
    folds_done : frozenset of int
        Folds already recorded (a resumed trial re-runs only the others).
    """

    trial_id: int
    number: int
    params_json: str
    folds_done: frozenset[int]


class RunHandle:
    """The run a :meth:`Writer.run_record` block records; set ``exit`` for a failed check (1).

    ``id`` is None when the store was opened read-only: nothing is recorded.
    """

    def __init__(self, run_id: int | None) -> None:
        self.id = run_id
        self.exit = 0

    def __repr__(self) -> str:
        return f"RunHandle(id={self.id!r}, exit={self.exit!r})"


@dataclass(frozen=True)
class TrialDump:
    """A trial's stored rows, as :func:`hptrack.store.merge_stores` copies them."""

    number: int
    row: dict[str, Any]  # trials columns but id and study_id
    folds: dict[int, dict[str, Any]]  # fold -> folds columns but id and trial_id
    scores: dict[int, dict[str, dict[str, Any]]]  # fold -> metric -> scores columns but trial_id


@dataclass(frozen=True)
class StudyDump:
    """A study's stored rows: its ``studies`` row (but id), its trials and its runs (history)."""

    name: str
    row: dict[str, Any]
    trials: list[TrialDump]
    runs: list[dict[str, Any]] = field(default_factory=list)  # runs columns, id included


@dataclass(frozen=True)
class FoldConflict:
    """A trial or fold recorded differently here and in a merged source: never overwritten."""

    trial: int
    fold: int | None  # None: the trial's params differ
    metric: str | None
    kind: str  # "params", "test", "train" or "error"
    store_value: Any
    source_value: Any


@dataclass(frozen=True)
class MergeOutcome:
    """What :meth:`Writer.merge_study` wrote."""

    created: bool
    trials_added: int
    folds_added: int
    trials_finished: int
    conflicts: tuple[FoldConflict, ...]
    runs_added: int = 0  # the source's runs copied into the history here


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, infinities) replaced by None, for JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value
