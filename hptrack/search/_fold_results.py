"""The pieces of a recording that hold no state: what a joblib worker sees, the splits a batch
will use, and scikit-learn's ``_fit_and_score`` results turned into stored values and back."""

from __future__ import annotations

import copy
import math
import numbers
import warnings
from typing import Any

from ..identity import fold_split_hash
from ._data import FitData


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


def splits_of(cv: Any, data: FitData) -> tuple[str, list[Any] | None]:
    """``("ok", splits)`` as scikit-learn will compute them, ``("unseeded", None)`` if they are
    not reproducible, ``("error", None)`` if splitting raises (scikit-learn raises it then).

    Splits copies of ``cv`` (a ``RandomState`` in it is left as scikit-learn will find it),
    warnings silenced (scikit-learn's own split warns); a splitter drawing from the global
    random state is not called at all (that would change scikit-learn's draw).
    """
    if getattr(cv, "random_state", 0) is None and getattr(cv, "shuffle", True):
        return "unseeded", None
    # an int seed, or no shuffling: one split; else (a RandomState) split twice and compare
    seeded = isinstance(getattr(cv, "random_state", 0), numbers.Integral) or not getattr(cv, "shuffle", True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            first = list(copy.deepcopy(cv).split(data.X, data.y, **data.split_params))  # a one-time
            # splitter or a RandomState is left for scikit-learn's own call
            again = first if seeded else list(copy.deepcopy(cv).split(data.X, data.y, **data.split_params))
    except Exception:
        return "error", None
    if again is not first and [fold_split_hash(*s) for s in first] != [fold_split_hash(*s) for s in again]:
        return "unseeded", None
    return "ok", first


def rungs_of(more_results: Any, n_candidates: int) -> list[tuple[int, int]] | None:
    """Each candidate's ``(rung, resource)`` from successive halving's ``more_results``, else None."""
    if not isinstance(more_results, dict) or "iter" not in more_results or "n_resources" not in more_results:
        return None
    rungs = [(int(r), int(n)) for r, n in zip(more_results["iter"], more_results["n_resources"])]
    return rungs if len(rungs) == n_candidates else None


def placeholder_splits(n_splits: int) -> list[Any]:
    """Empty folds standing for splits that cannot be reproduced (nothing is keyed on them)."""
    import numpy as np

    return [(np.arange(0), np.arange(0)) for _ in range(n_splits)]


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
