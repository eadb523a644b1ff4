"""The data of one drop-in ``fit``, routed as scikit-learn routes it, its fingerprint and its splits."""

from __future__ import annotations

import copy
import numbers
import warnings
from dataclasses import dataclass, field
from typing import Any

import sklearn
from sklearn.utils import indexable
from sklearn.utils.metadata_routing import process_routing

from .._json import hash_value
from ..identity import fold_split_hash
from ..run import data_identity


@dataclass
class FitData:
    """The data of one ``fit`` as the splitter and the estimator see it, and its fingerprint."""

    X: Any
    y: Any
    split_params: dict[str, Any]
    fit_params: dict[str, Any]
    data_hash: str = ""
    data_info: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of(cls, search: Any, X: Any, y: Any, params: dict[str, Any]) -> FitData:
        """Route ``fit``'s params as scikit-learn does (groups to the splitter, the rest to fit)."""
        X, y = indexable(X, y)
        if sklearn.get_config().get("enable_metadata_routing"):
            routed = process_routing(search, "fit", **params)
            return cls(X, y, dict(routed.splitter.split), dict(routed.estimator.fit))
        fit_params = dict(params)
        groups = fit_params.pop("groups", None)
        return cls(X, y, {"groups": groups} if groups is not None else {}, fit_params)

    def fingerprint(self) -> None:
        """Compute the data fingerprint (X, y, groups, fit params)."""
        groups = self.split_params.get("groups")
        self.data_hash, self.data_info = data_identity(self.X, self.y, groups, self.fit_params)
        kinds = {k: type(v).__name__ for k, v in (("X", self.X), ("y", self.y)) if _plain_data(v)}
        if kinds:  # a list is not an array to scikit-learn (precomputed kernels must be arrays)
            self.data_hash = hash_value([self.data_hash, kinds])


def _plain_data(value: Any) -> bool:
    """Whether ``value`` is data that is not an array (a list, a tuple): scikit-learn may treat it apart."""
    return value is not None and not hasattr(value, "shape")


def reproducible_splits(cv: Any, data: FitData) -> tuple[str, list[Any] | None]:
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


class GivenSplits:
    """A splitter that yields splits already computed: scikit-learn's search is handed the splits
    :func:`reproducible_splits` took from a copy of its splitter instead of splitting again."""

    def __init__(self, splits: list[Any]) -> None:
        self.splits = splits

    def split(self, X: Any = None, y: Any = None, groups: Any = None, **params: Any) -> Any:
        return iter(self.splits)

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return len(self.splits)


def same_splits_again(cv: Any) -> bool:
    """Whether splitting ``cv`` again gives what :func:`reproducible_splits` took from a copy:
    one of scikit-learn's own splitters (no side effects), seeded with an int or not shuffling."""
    seeded = isinstance(getattr(cv, "random_state", 0), numbers.Integral) or not getattr(cv, "shuffle", True)
    return seeded and type(cv).__module__.startswith("sklearn.model_selection.")


def placeholder_splits(n_splits: int) -> list[Any]:
    """Empty folds standing for splits that cannot be reproduced (nothing is keyed on them)."""
    import numpy as np

    return [(np.arange(0), np.arange(0)) for _ in range(n_splits)]
