"""An estimator's ``repr`` for the study's provenance, kept per process for each class and params."""

from __future__ import annotations

from typing import Any

from .._json import shallow_params

_SCALARS = (bool, int, float, str, type(None))
_REPRS: dict[tuple[Any, ...], str] = {}  # (class, print_changed_only, params) -> repr


def estimator_repr(estimator: Any) -> str:
    """``repr(estimator)``, computed once per process for each class and set of plain params.

    scikit-learn's ``__repr__`` inspects the ``__init__`` signature to show the params that
    differ from their defaults (~70 us, once per drop-in fit). Its text is a function of
    the class, the ``print_changed_only`` setting and the params; it is kept only for
    scikit-learn's own ``__repr__`` and params that are all ``bool``/``int``/``float``/
    ``str``/None (anything else is asked each time). A class defined again (a notebook) is
    another class: its repr is computed anew.
    """
    cls = type(estimator)
    if getattr(cls.__repr__, "__qualname__", None) != "BaseEstimator.__repr__" or not hasattr(estimator, "get_params"):
        return repr(estimator)
    params = shallow_params(estimator)
    if not all(type(v) in _SCALARS for v in params.values()):
        return repr(estimator)
    import sklearn

    key = (cls, sklearn.get_config()["print_changed_only"], tuple((k, type(v), v) for k, v in params.items()))
    text = _REPRS.get(key)
    if text is None:
        if len(_REPRS) >= 1024:  # many classes or params in one process: start again
            _REPRS.clear()
        text = _REPRS[key] = repr(estimator)
    return text
