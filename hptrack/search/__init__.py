"""hptrack's drop-in searches, scikit-learn's recording every trial; and
``hptrack.search(fn, space, data=(X, y), ...)``, an objective study from Python.

``GridSearchCV``, ``RandomizedSearchCV``, ``HalvingGridSearchCV`` and
``HalvingRandomSearchCV`` take scikit-learn's arguments plus ``store``, ``study`` and
``reuse``, keep its fitted attributes, and their ``cv_results_`` equal scikit-learn's on
the same splits. Every fold is committed to the store as it finishes, so re-running the
same script resumes where it stopped instead of starting over. The halving classes load
``sklearn.experimental.enable_halving_search_cv`` when first asked for.

This package is callable: ``hptrack.search(...)`` is :func:`hptrack.search._objective.search`
(the package and the function share the name ``hptrack.search``).
"""

from __future__ import annotations

import inspect
import sys
import types
from typing import TYPE_CHECKING, Any

from ._classes import GridSearchCV, RandomizedSearchCV
from ._objective import search as _search

if TYPE_CHECKING:
    from ._halving import HalvingGridSearchCV, HalvingRandomSearchCV
    from ._spec import check_halving_options, run_halving

__all__ = [
    "GridSearchCV",
    "HalvingGridSearchCV",
    "HalvingRandomSearchCV",
    "RandomizedSearchCV",
    "check_halving_options",
    "run_halving",
]


def __getattr__(name: str) -> Any:  # PEP 562: scikit-learn's experimental halving only when asked
    if name in {"HalvingGridSearchCV", "HalvingRandomSearchCV"}:
        from . import _halving

        return getattr(_halving, name)
    if name in {"check_halving_options", "run_halving"}:  # a spec's halving (hptrack run)
        from . import _spec

        return getattr(_spec, name)
    raise AttributeError(f"module 'hptrack.search' has no attribute {name!r}")


class _CallablePackage(types.ModuleType):
    """``hptrack.search`` as a package (the drop-ins) that is also the function ``search``."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _search(*args, **kwargs)


__signature__ = inspect.signature(_search)
__doc__ = f"{__doc__}\n{inspect.cleandoc(_search.__doc__ or '')}"
sys.modules[__name__].__class__ = _CallablePackage
