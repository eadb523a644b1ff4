"""The pieces of a recording that hold no state: what a joblib worker sees, each candidate's
rung, and scikit-learn's ``_fit_and_score`` results turned into stored values and back (the
splits a batch will use are :mod:`hptrack.search._data`'s)."""

from __future__ import annotations

import math
from typing import Any


class RemoteView:
    """A recording as a joblib worker sees it: serves the batch's stored results, writes nothing."""

    def __init__(self, served: dict[tuple[int, int], dict[str, Any]], prefix: str | None = None) -> None:
        self.served, self.prefix, self.prefix_fits = served, prefix, [0, 0]

    def stored_result(self, kwargs: dict[str, Any]) -> dict[str, Any] | None:
        """The stored result of this (candidate, split), or None to fit it."""
        return served_result(self.served, kwargs)

    def fitted(self, kwargs: dict[str, Any], result: dict[str, Any], failures: list[str]) -> None:
        """Workers write nothing: the coordinator commits the batch when it returns."""

    def failed(self, kwargs: dict[str, Any], error: str) -> None:
        """Workers write nothing."""

    def batch_done(self, out: list[dict[str, Any]]) -> None:
        """Workers write nothing."""


def rungs_of(more_results: Any, n_candidates: int) -> list[tuple[int, int]] | None:
    """Each candidate's ``(rung, resource)`` from successive halving's ``more_results``, else None."""
    if not isinstance(more_results, dict) or "iter" not in more_results or "n_resources" not in more_results:
        return None
    rungs = [(int(r), int(n)) for r, n in zip(more_results["iter"], more_results["n_resources"])]
    return rungs if len(rungs) == n_candidates else None


def served_result(
    served: dict[tuple[int, int], dict[str, Any]], kwargs: dict[str, Any]
) -> dict[str, Any] | None:
    """The stored result of the (candidate, split) of a ``_fit_and_score`` call, or None."""
    result = served.get((kwargs["candidate_progress"][0], kwargs["split_progress"][0]))
    if result is None:
        return None
    return {**result, "n_test_samples": len(kwargs["test"])}


def score_errors(test: dict[str, float], failures: list[str], error_score: Any) -> dict[str, str] | None:
    """Which metric each "Scoring failed" warning of a fold was about: scikit-learn warns once
    per failed scorer, in scorer order, on the test rows first; those metrics hold ``error_score``."""
    if not failures:
        return None

    def is_error_score(value: float) -> bool:
        return bool(math.isnan(value)) if math.isnan(float(error_score)) else value == error_score

    failed = [m for m, value in test.items() if is_error_score(value)]
    details = [message.split("Details: \n", 1)[-1] for message in failures]
    return dict(zip(failed, details)) or None


def by_metric(scores: Any, metrics: list[str]) -> dict[str, float]:
    """A result's scores (a number or a dict) by metric."""
    if isinstance(scores, dict):
        return {m: float_or_nan(scores.get(m)) for m in metrics}
    return {metrics[0]: float_or_nan(scores)}


def float_or_nan(value: Any) -> float:
    """A stored or returned number as a float (None: NaN)."""
    return math.nan if value is None else float(value)
