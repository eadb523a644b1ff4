"""A spec's ``[halving]`` table: successive halving's settings, validated up front.

``search = "halving"`` halves over the grid ``[space]``; ``search = "halving-random"``
over ``n_trials`` random draws of it (trial ``i`` drawn as a random search draws it).
The table holds scikit-learn's ``HalvingGridSearchCV`` arguments: ``factor``,
``resource`` (``"n_samples"`` or an estimator param such as ``"max_iter"``),
``min_resources``, ``max_resources`` and ``aggressive_elimination``. What needs the
estimator (is the resource one of its params?) is checked when the plan is built.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

HALVING_SEARCHES = ("halving", "halving-random")
HALVING_KEYS = ("factor", "resource", "min_resources", "max_resources", "aggressive_elimination")
_EXAMPLE = '[halving] factor = 3, resource = "n_samples"'


@dataclass(frozen=True)
class HalvingSpec:
    """The ``[halving]`` table: scikit-learn's defaults where a key is left out.

    ``min_resources`` defaults as scikit-learn's classes: ``"exhaust"`` for a grid,
    ``"smallest"`` for random candidates.
    """

    factor: float = 3
    resource: str = "n_samples"
    min_resources: int | str = "exhaust"
    max_resources: int | str = "auto"
    aggressive_elimination: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The table as stored (every key, defaults spelled out)."""
        return {key: getattr(self, key) for key in HALVING_KEYS}


def base_search(search: str) -> str:
    """The search whose candidates a halving search starts from: ``grid`` or ``random``."""
    return {"halving": "grid", "halving-random": "random"}.get(search, search)


def parse_halving(
    raw: object, search: str, fail: Any, *, cv_kind: str | None, metrics: tuple[str, ...]
) -> HalvingSpec | None:
    """The ``[halving]`` table of a spec whose ``search`` is ``search`` (its ``[cv] kind`` and
    ``metrics`` too); ``fail(message)`` makes the :class:`~hptrack.errors.SpecError` to raise."""
    if search not in HALVING_SEARCHES:
        if raw is not None:
            raise fail(f"[halving] applies only to search = 'halving' or 'halving-random', not {search!r}; "
                       "remove the table, or set search = 'halving'")
        return None
    if cv_kind == "holdout":
        raise fail(f"search = {search!r} needs cross-validation folds, not kind = 'holdout' (one split); "
                   "set [cv] kind = \"stratified\" (or \"kfold\") and folds")
    if len(metrics) > 1:
        raise fail(f"search = {search!r} ranks by one metric (scikit-learn's halving takes one scorer), "
                   f"not {len(metrics)}; keep metrics = [{metrics[0]!r}]")
    raw = {} if raw is None else raw
    if not isinstance(raw, Mapping):
        raise fail(f"halving = {raw!r} must be a table, e.g. {_EXAMPLE}")
    for key in raw:
        if key not in HALVING_KEYS:
            raise fail(f"[halving] unknown key {key!r}; the keys are {', '.join(HALVING_KEYS)}")
    factor = raw.get("factor", 3)
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not factor > 1:
        raise fail(f"[halving] factor = {factor!r} must be a number > 1 (the share of candidates kept "
                   "per rung is 1/factor), e.g. factor = 3")
    resource = raw.get("resource", "n_samples")
    if not isinstance(resource, str) or not resource:
        raise fail(f"[halving] resource = {resource!r} must be \"n_samples\" or the name of an "
                   "estimator parameter, e.g. resource = \"max_iter\"")
    default_min = "exhaust" if search == "halving" else "smallest"
    min_resources = _resources(raw.get("min_resources", default_min), "min_resources",
                               ("exhaust", "smallest"), fail)
    max_resources = _resources(raw.get("max_resources", "auto"), "max_resources", ("auto",), fail)
    if resource != "n_samples" and max_resources == "auto":
        if difflib.get_close_matches(resource, ["n_samples"], n=1, cutoff=0.7):
            raise fail(f"[halving] resource = {resource!r} is not a resource; did you mean 'n_samples'? "
                       "(or an estimator parameter, with max_resources)")
        raise fail(f"[halving] resource = {resource!r} needs max_resources (\"auto\" is the number of "
                   "samples); add e.g. max_resources = 100")
    aggressive = raw.get("aggressive_elimination", False)
    if not isinstance(aggressive, bool):
        raise fail(f"[halving] aggressive_elimination = {aggressive!r} must be true or false")
    return HalvingSpec(float(factor) if isinstance(factor, float) else factor, resource,
                       min_resources, max_resources, aggressive)


def _resources(value: object, key: str, words: tuple[str, ...], fail: Any) -> int | str:
    """``min_resources`` / ``max_resources``: a whole number >= 1, or one of ``words``."""
    if isinstance(value, str) and value in words:
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        spelled = " or ".join(repr(w) for w in words)
        raise fail(f"[halving] {key} = {value!r} must be a whole number >= 1 or {spelled}")
    return value
