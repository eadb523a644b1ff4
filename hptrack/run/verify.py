"""Re-run recorded trials with the current code and data, and compare fold scores.

A drift is a result, not an error: :func:`verify_study` returns a
:class:`VerifyReport` whose ``ok`` is False when any fold score moved by more than the
tolerance (the CLI exits 1). ``verify`` always refits; it never writes the store.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import HptrackError, SpecError
from ..query import Store
from ..store import StoredStudy
from .evaluate import FoldTask
from .from_spec import plan_from_spec, spec_from_store
from .plan import StudyPlan


@dataclass(frozen=True)
class FoldCheck:
    """One fold of one metric: the recorded and the new score."""

    trial: int
    fold: int
    metric: str
    recorded: float | None
    new: float | None
    delta: float | None
    ok: bool


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of re-running some trials of a study."""

    study: str
    trials: list[int]
    tolerance: float
    checks: list[FoldCheck] = field(default_factory=list)
    code_hash_then: str = ""
    code_hash_now: str = ""
    data_hash_then: str = ""
    data_hash_now: str = ""

    @property
    def ok(self) -> bool:
        """True when every fold score matched within the tolerance."""
        return all(check.ok for check in self.checks)

    @property
    def drifted(self) -> list[FoldCheck]:
        return [check for check in self.checks if not check.ok]

    def to_dict(self) -> dict[str, Any]:
        return {
            "study": self.study,
            "ok": self.ok,
            "trials": self.trials,
            "tolerance": self.tolerance,
            "code_hash": {"recorded": self.code_hash_then, "now": self.code_hash_now},
            "data_hash": {"recorded": self.data_hash_then, "now": self.data_hash_now},
            "checks": [check.__dict__ for check in self.checks],
        }


def _same(recorded: float | None, new: float | None, tolerance: float) -> tuple[bool, float | None]:
    if recorded is None or new is None or math.isnan(new):
        both_missing = recorded is None and (new is None or math.isnan(new))
        return both_missing, None
    delta = new - recorded
    return abs(delta) <= tolerance, delta


def choose_trials(numbers: Sequence[int], *, n: int | None, seed: int) -> list[int]:
    """A seeded random sample of ``n`` trial numbers (all when ``n`` is None or larger)."""
    if n is None or n >= len(numbers):
        return sorted(numbers)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x7E21F1]))
    return sorted(int(x) for x in rng.choice(np.asarray(numbers), size=n, replace=False))


def verify_study(
    store: Store,
    name: str,
    *,
    n_trials: int | None = 3,
    trial: int | None = None,
    tolerance: float = 0.0,
    on_trial: Callable[[int], None] | None = None,
) -> VerifyReport:
    """Re-run recorded trials of study ``name`` and compare every fold score.

    Parameters
    ----------
    store : Store
        The store holding the study (read only).
    name : str
        The study.
    n_trials : int or None, default=3
        How many complete trials to re-run, sampled with the study seed; None for all.
    trial : int, optional
        Re-run exactly this trial instead.
    tolerance : float, default=0.0
        Largest accepted absolute difference per fold score (0: exact).

    Raises
    ------
    StudyNotFoundError, TrialNotFoundError, SpecError
        Unknown study or trial; a study recorded through the Python API (its data is not
        in the store, so it can only be verified by fitting it again in Python).
    """
    if tolerance < 0 or math.isnan(tolerance):
        raise SpecError(f"tolerance = {tolerance!r} must be >= 0")
    if n_trials is not None and n_trials < 1:
        raise SpecError(f"--trials {n_trials!r} must be >= 1")
    stored = store.require_study(name)
    _check_verifiable(stored)
    study = store.study(name)
    chosen = _chosen_trials(study, stored, trial=trial, n_trials=n_trials)
    plan = plan_from_spec(spec_from_store(stored))
    checks: list[FoldCheck] = []
    for number in chosen:
        recorded = study.trial(number)
        # a halving study's trial is a (candidate, rung): its params are the recorded ones
        params = recorded.params if stored.spec.get("halving") else plan.candidates[number]
        checks.extend(_check_trial(plan, number, recorded.scores, tolerance, params))
        if on_trial is not None:
            on_trial(number)
    return VerifyReport(
        study=name,
        trials=chosen,
        tolerance=tolerance,
        checks=checks,
        code_hash_then=stored.code_hash,
        code_hash_now=plan.code_hash,
        data_hash_then=stored.data_hash,
        data_hash_now=plan.data_hash,
    )


def _check_verifiable(stored: StoredStudy) -> None:
    """Refuse a study recorded through the Python API: its data loader is not known."""
    if not stored.provenance.get("spec_file") and stored.provenance.get("api"):
        raise SpecError(
            f"study {stored.name!r} was recorded by {stored.provenance['api']}, so its data loader is not "
            "known; verify it by fitting the same search again in Python"
        )
    halving = stored.spec.get("halving") or {}
    if halving.get("resource") == "n_samples":  # its trials were fitted on subsamples of the folds
        raise SpecError(
            f"study {stored.name!r} halves over n_samples, whose rungs fit subsamples of the folds that "
            "verify does not rebuild yet; verify it by running its spec again into another store "
            "(hptrack run SPEC --store other.db) and comparing (hptrack compare)"
        )


def _chosen_trials(study: Any, stored: StoredStudy, *, trial: int | None, n_trials: int | None) -> list[int]:
    """The trial asked for, or a seeded sample of the complete ones."""
    if trial is not None:
        return [study.trial(trial).number]
    complete = [t.number for t in study.trials(status="complete")]
    if not complete:
        raise HptrackError(f"study {stored.name!r} has no complete trial to verify")
    return choose_trials(complete, n=n_trials, seed=stored.spec.get("seed", 0))


def _check_trial(
    plan: StudyPlan,
    number: int,
    recorded: Mapping[str, list[float | None]],
    tolerance: float,
    params: Mapping[str, Any],
) -> list[FoldCheck]:
    """Fit trial ``number`` (``params``) again on every fold (failures score NaN); compare each score."""
    checks: list[FoldCheck] = []
    for fold in range(len(plan.splits)):
        result = plan.evaluate(
            FoldTask(-1, number, fold, dict(params)),
            error_score=math.nan,
            return_train_score=False,
        )
        for metric in plan.metrics:
            then = recorded.get(metric, [None] * len(plan.splits))[fold]
            now = result.test.get(metric)
            ok, delta = _same(then, now, tolerance)
            checks.append(FoldCheck(number, fold, metric, then, now, delta, ok))
    return checks
