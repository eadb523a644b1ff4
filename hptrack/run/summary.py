"""What one run of a study did: :class:`RunSummary` (light: no scikit-learn, so a run that
finds nothing to do (:mod:`hptrack.run.unchanged`) can answer with one too).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RunSummary:
    """What one call of :func:`run_plan` did.

    Attributes
    ----------
    study : str
        The study name.
    created : bool
        This call created the study.
    n_trials, n_complete, n_failed, n_pending : int
        The study's trials after the run, by status (running ones count as pending).
    trials_finished, folds_fitted : int
        What this call finished and fitted.
    recovered : list of int
        Trials left running by dead workers, run again.
    elapsed : float
        Seconds.
    folds_reused, folds_refit : int
        Folds copied from the store; folds fitted although the store had a twin.
    refit_metrics : tuple of str
        The metrics those twins lacked.
    prefix_fitted, prefix_reused : int
        Pipeline steps before the final one that this call fitted, and that it took from
        the prefix cache instead of fitting them again (:mod:`hptrack.run.prefix`).
    """

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
    prefix_fitted: int = 0  # pipeline prefix steps fitted (hptrack.run.prefix)
    prefix_reused: int = 0  # pipeline prefix steps taken from the prefix cache instead

    @property
    def finished(self) -> bool:
        """True when no trial of the study is left to run."""
        return self.n_pending == 0
