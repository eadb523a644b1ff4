"""``GridSearchCV`` and ``RandomizedSearchCV``: scikit-learn's, recording every trial; and
``hptrack.search(fn, space, data=(X, y), ...)``, an objective study from Python.

The classes take scikit-learn's arguments plus ``store``, ``study`` and ``seed``, keep its
fitted attributes, and their ``cv_results_`` equal scikit-learn's on the same splits.
Every fold is committed to the store as it finishes, so re-running the same script
resumes where it stopped instead of starting over.

This package is callable: ``hptrack.search(...)`` is :func:`hptrack.search._objective.search`
(the package and the function share the name ``hptrack.search``).
"""

from __future__ import annotations

import inspect
import sys
import types
from typing import Any

from ._classes import GridSearchCV, RandomizedSearchCV
from ._objective import search as _search

__all__ = ["GridSearchCV", "RandomizedSearchCV"]


class _CallablePackage(types.ModuleType):
    """``hptrack.search`` as a package (the drop-ins) that is also the function ``search``."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _search(*args, **kwargs)


__signature__ = inspect.signature(_search)
__doc__ = f"{__doc__}\n{inspect.cleandoc(_search.__doc__ or '')}"
sys.modules[__name__].__class__ = _CallablePackage
