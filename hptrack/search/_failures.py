"""scikit-learn's warnings and errors about failed fits and scorers, raised from what
the store recorded (so a resumed ``fit`` warns exactly as the first one did).
"""

from __future__ import annotations

import warnings
from collections import Counter
from typing import Any

import numpy as np
from sklearn.exceptions import FitFailedWarning


def _warn_about_scorer_failures(trials: list[Any], error_score: Any, *, train: bool) -> None:
    """scikit-learn's "Scoring failed" UserWarning, once per failed scorer call.

    As ``sklearn.model_selection._validation._score``, in its order: per trial and fold,
    each metric whose scorer failed on the test rows, then again on the train rows when
    train scores are asked for and that metric's train score is ``error_score`` too.
    """
    for trial in trials:
        for fold, failed in sorted(trial.score_errors.items()):
            calls = [m for m in trial.scores if m in failed]
            if train and trial.train_scores is not None:
                calls += [
                    m
                    for m in trial.scores
                    if m in failed and _is_error_score(trial.train_scores.get(m, [])[fold:][:1], error_score)
                ]
            for metric in calls:
                warnings.warn(
                    "Scoring failed. The score on this train-test partition for these "
                    f"parameters will be set to {error_score}. Details: \n{failed[metric]}",
                    UserWarning,
                    stacklevel=4,
                )


def _is_error_score(values: list[float | None], error_score: Any) -> bool:
    """Whether the one recorded value in ``values`` is ``error_score`` (NaN: missing)."""
    if not values:
        return False
    value = values[0]
    if value is None or np.isnan(value):
        return bool(np.isnan(error_score))
    return bool(value == error_score)


def _warn_or_raise_about_fit_failures(
    errors: list[str], n_fits: int, error_score: Any, *, where: str
) -> None:
    """scikit-learn's FitFailedWarning, or its ValueError when every fit failed."""
    delimiter = "-" * 80 + "\n"
    summary = "\n".join(
        f"{delimiter}{n} fits failed with the following error:\n{error}"
        for error, n in Counter(errors).items()
    )
    recorded = f"\nThe failures are recorded in {where} (hptrack show STUDY NUMBER).\n"
    if len(errors) == n_fits:
        raise ValueError(
            f"\nAll the {n_fits} fits failed.\n"
            "It is very likely that your model is misconfigured.\n"
            "You can try to debug the error by setting error_score='raise'.\n\n"
            f"Below are more details about the failures:\n{summary}{recorded}"
        )
    warnings.warn(
        f"\n{len(errors)} fits failed out of a total of {n_fits}.\n"
        "The score on these train-test partitions for these parameters"
        f" will be set to {error_score}.\n"
        "If these failures are not expected, you can try to debug them "
        "by setting error_score='raise'.\n\n"
        f"Below are more details about the failures:\n{summary}{recorded}",
        FitFailedWarning,
        stacklevel=4,
    )
