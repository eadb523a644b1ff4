"""hptrack: reproducible, auditable grid, random and halving search, recorded in one SQLite file.

The search classes are drop-ins for scikit-learn's and load it lazily, so
``import hptrack`` (and the query commands) stay fast; ``hptrack.search(fn, space,
data=(X, y), ...)`` runs any training code (an objective function) the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__ as __version__
from .errors import (
    ClusterError,
    DriftError,
    HptrackError,
    MergeRefusedError,
    MissingDependencyError,
    SpecError,
    SpecMismatchError,
    StoreError,
    StudyNotFoundError,
    TrialNotFoundError,
)

if TYPE_CHECKING:  # editors and mypy still see the real classes
    from .query import Store
    from .search import GridSearchCV, HalvingGridSearchCV, HalvingRandomSearchCV, RandomizedSearchCV

__all__ = [
    "ClusterError",
    "DriftError",
    "GridSearchCV",
    "HalvingGridSearchCV",
    "HalvingRandomSearchCV",
    "HptrackError",
    "MergeRefusedError",
    "MissingDependencyError",
    "RandomizedSearchCV",
    "SpecError",
    "SpecMismatchError",
    "Store",
    "StoreError",
    "StudyNotFoundError",
    "TrialNotFoundError",
    "search",
]


def __getattr__(name: str) -> Any:  # PEP 562: load scikit-learn only when asked
    if name == "Store":  # the query layer: a few dozen ms of imports that --help never needs
        from .query import Store

        return Store
    if name in {"GridSearchCV", "RandomizedSearchCV", "HalvingGridSearchCV", "HalvingRandomSearchCV"}:
        from . import search

        return getattr(search, name)
    if name == "search":  # the package, callable as search(fn, space, data=..., ...)
        import importlib

        return importlib.import_module(".search", __name__)
    raise AttributeError(f"module 'hptrack' has no attribute {name!r}")
