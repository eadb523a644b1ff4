"""Whether an estimator's unseeded ``random_state`` is actually drawn from: a documented table.

scikit-learn has no public flag saying that an estimator uses its ``random_state``; most
use it only in some configurations (``SVC`` only with ``probability=True``, ``Ridge`` only
with the ``sag``/``saga`` solvers). hptrack warns about unseeded randomness
(``random_state=None``, or a ``RandomState`` for prefix sharing) unless the table below
shows, from the estimator's own params, that the randomness plays no part in its fit.

The rule is conservative:

- only scikit-learn's own classes are in the table, matched by exact class (a subclass
  may draw where its parent does not), and any class not in it is taken to draw;
- each entry names the params its condition reads, and a search that varies one of them
  (or replaces the whole estimator) is taken to draw;
- each condition is what scikit-learn documents for ``random_state`` ("Ignored when
  probability is False", "Used when solver == 'sag' or 'saga'", ...).

Splitters are read from ``shuffle``: a splitter with ``shuffle=False`` does not draw
(``KFold``, ``StratifiedKFold``, ``GroupKFold``, ``StratifiedGroupKFold``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

Condition = Callable[[Mapping[str, Any]], bool]

# class name (in scikit-learn) -> (params the condition reads, random_state unused when true)
UNUSED_WHEN: dict[str, tuple[tuple[str, ...], Condition]] = {
    # "Ignored when probability is False." (1.9 deprecates it: the default is "deprecated", off)
    "SVC": (("probability",), lambda p: p.get("probability") in (False, "deprecated")),
    "NuSVC": (("probability",), lambda p: p.get("probability") in (False, "deprecated")),
    # "for the dual coordinate descent (if dual=True). When dual=False ... is not random"
    "LinearSVC": (("dual",), lambda p: p.get("dual") is False),
    # "Used when solver == 'sag' or 'saga' to shuffle the data." (auto never picks sag)
    "Ridge": (("solver",), lambda p: p.get("solver") not in ("sag", "saga")),
    "RidgeClassifier": (("solver",), lambda p: p.get("solver") not in ("sag", "saga")),
    # "Used when solver == 'sag', 'saga' or 'liblinear' to shuffle the data."
    "LogisticRegression": (
        ("solver",),
        lambda p: p.get("solver") in ("lbfgs", "newton-cg", "newton-cholesky"),
    ),
    # "Used when the 'arpack' or 'randomized' solvers are used." ('auto' may pick randomized)
    "PCA": (("svd_solver",), lambda p: p.get("svd_solver") in ("full", "covariance_eigh")),
}


def random_state_unused(estimator: Any, searched: Iterable[str] = (), prefix: str = "") -> bool:
    """Whether the table shows that ``estimator``'s ``random_state`` plays no part in its fit.

    Parameters
    ----------
    estimator : object
        The estimator (or splitter) that owns the ``random_state``.
    searched : iterable of str, optional
        Parameter names a search varies (``svc__probability``); if one is a param the
        condition reads, or replaces the estimator itself, the answer is False.
    prefix : str, optional
        ``estimator``'s path in the searched estimator (``"svc"``; ``""`` for the root).

    Returns
    -------
    bool
        True only when a table entry (or ``shuffle=False``) says the randomness is unused.
    """
    if getattr(estimator, "shuffle", None) is False and hasattr(estimator, "split"):
        return True
    cls = type(estimator)
    entry = UNUSED_WHEN.get(cls.__name__) if cls.__module__.startswith("sklearn.") else None
    if entry is None:
        return False
    reads, condition = entry
    path = f"{prefix}__" if prefix else ""
    searched = set(searched)
    parts = prefix.split("__") if prefix else []
    replaced = any("__".join(parts[: i + 1]) in searched for i in range(len(parts)))  # it, or a parent
    if replaced or any(f"{path}{name}" in searched for name in reads):
        return False
    try:
        params = estimator.get_params(deep=False)
    except Exception:  # params that cannot be read: taken to draw
        return False
    return bool(condition(params))


def unseeded_params(
    estimator: Any, params: Mapping[str, Any], searched: Iterable[str] = (), *, instances: bool = False
) -> list[str]:
    """The ``random_state`` params of ``estimator`` (and its sub-estimators) left unseeded and used.

    Parameters
    ----------
    estimator : object
        The estimator searched.
    params : mapping
        Its ``get_params(deep=True)``.
    searched : iterable of str, optional
        Parameter names the search varies (see :func:`random_state_unused`).
    instances : bool, default=False
        Also count a ``RandomState``/``Generator`` instance as unseeded (it changes with
        each draw: a fitted step that holds one cannot be shared).

    Returns
    -------
    list of str
        ``"svc__random_state=None"``-style entries, sorted by name.
    """
    import numpy as np

    searched = list(searched)
    found = []
    for name, value in sorted(params.items()):
        if not (name == "random_state" or name.endswith("__random_state")):
            continue
        if value is None:
            shown = "None"
        elif instances and isinstance(value, (np.random.RandomState, np.random.Generator)):
            shown = type(value).__name__
        else:
            continue
        prefix = name[: -len("__random_state")] if name != "random_state" else ""
        owner = params.get(prefix, None) if prefix else estimator
        if owner is None or not random_state_unused(owner, searched, prefix):
            found.append(f"{name}={shown}")
    return found
