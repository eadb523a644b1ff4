"""What a drop-in search records as its study: the spec, the name, scorers, seeds, the plan.

Everything here reads the search's arguments and the data; nothing changes them.
"""

from __future__ import annotations

import copy
import inspect
import json
import logging
import numbers
import uuid
from pathlib import Path
from typing import Any

from sklearn.metrics import check_scoring
from sklearn.model_selection import ParameterGrid

from .._json import canonical_json, sha256_text, shallow_params
from ..identity import code_fingerprint, split_fingerprint
from ..run import ScoreKey, StudyPlan, build_plan
from ..run.randomness import random_state_unused, unseeded_params

logger = logging.getLogger("hptrack")
_SAID: set[tuple[Path, str]] = set()  # (store, text) already logged by this process

# Search params that do not change what a fold computes: never part of the study's identity.
PROCESS_PARAMS = frozenset(
    {"n_jobs", "pre_dispatch", "verbose", "refit", "store", "study", "allow_code_change", "reuse"}
)

# The two successive-halving search kinds, and the search params that decide their rungs.
HALVING_SEARCHES = ("halving", "halving-random")
HALVING_PARAMS = ("factor", "resource", "min_resources", "max_resources", "aggressive_elimination")


def describe_cv(cv: Any, n_splits: int) -> Any:
    """The ``cv`` argument as recorded in the spec."""
    if cv is None or isinstance(cv, numbers.Integral):
        return {"kind": "default", "folds": n_splits}
    if hasattr(cv, "split"):
        return {"class": f"{type(cv).__module__}.{type(cv).__qualname__}", "repr": repr(cv)}
    return {"kind": "explicit splits", "folds": n_splits}


def describe_scorer(scorer: Any) -> str:
    """A scorer as recorded in the spec: its qualified name (a script's: plus its source hash)."""
    name = getattr(scorer, "__qualname__", None)
    if not name:
        return repr(scorer)
    module = getattr(scorer, "__module__", "?")
    described = f"{module}.{name}"
    if "<" in name or module == "__main__":  # a lambda, a local or a script's function:
        # its source tells them apart (an edit elsewhere in the script does not count)
        try:
            source = inspect.getsource(scorer)
        except (OSError, TypeError):
            code = getattr(scorer, "__code__", None)
            source = repr(code.co_code if code is not None else scorer)
        described += f"#{sha256_text(source)[:12]}"
    return described


def scorers_by_metric(search: Any, metrics: list[str] | None = None) -> dict[str, Any] | None:
    """Scorer callables by metric name (scikit-learn validated ``scoring`` already).

    A callable ``scoring`` has metric ``score``, or one :class:`~hptrack.run.ScoreKey` per
    key of the dict it returns: ``metrics`` (the stored study's, or a first result's);
    None while they are unknown.
    """
    scoring, estimator = search.scoring, search.estimator
    if callable(scoring):
        if metrics is None:
            return None
        if metrics == ["score"]:
            return {"score": scoring}
        return {key: ScoreKey(scoring, key) for key in metrics}
    if scoring is None or isinstance(scoring, str):
        return {"score": check_scoring(estimator, scoring)}
    if isinstance(scoring, dict):
        return {key: check_scoring(estimator, s) for key, s in scoring.items()}
    return {name: check_scoring(estimator, scoring=name) for name in scoring}


def say_once(store: Path, text: str) -> None:
    """Log ``text`` on the ``hptrack`` logger at WARNING level, once per store and process.

    A log record, not a Python warning: the drop-ins raise exactly scikit-learn's
    warnings (SPEC section 4), and many small fits on one store (nested CV) say it once.
    """
    if (store, text) not in _SAID:
        _SAID.add((store, text))
        logger.warning("hptrack: %s", text)


def say_served_unseeded(store: Path, study: str, n_served: int, cv: str) -> None:
    """Log that stored folds were served although the splitter draws a new split each fit.

    They were scored on an earlier fit's split; scikit-learn, fitting now, would have drawn
    another one and not reproduced them. Served all the same (the study is resumed, and its
    stored trials are never overwritten), and said, like the other drop-in notices.
    """
    say_once(
        store,
        f"study {study!r}: served {n_served} stored fold result(s) although cv={cv} shuffles "
        "without a seed: they were scored on an earlier fit's split, which this fit's new split "
        "would not have reproduced; set the splitter's random_state to an int (or fit a new "
        "study) to score the split scikit-learn draws now",
    )


def unseeded(search: Any, cv: Any, params: dict[str, Any], candidates: list[dict[str, Any]]) -> list[str]:
    """Where this search draws from unseeded randomness (``random_state=None``) that is used.

    ``params`` are the estimator's ``get_params(deep=True)``; ``candidates`` the first batch,
    whose names (with the search space's) are what the search varies. An unseeded
    ``random_state`` that :mod:`hptrack.run.randomness` shows unused (``SVC`` without
    ``probability``, ``Ridge`` with its default solver, an unshuffled splitter) is not listed.
    """
    found = []
    if "random_state" in shallow_params(search) and search.random_state is None:
        found.append(f"{type(search).__name__}(random_state=None)")
    searched = {key for candidate in candidates for key in candidate} | _space_names(search)
    found += [f"estimator param {entry}" for entry in unseeded_params(search.estimator, params, searched)]
    if getattr(cv, "random_state", 0) is None and not random_state_unused(cv):
        found.append(f"cv={cv!r}")
    return found


def _space_names(search: Any) -> set[str]:
    """The parameter names of a grid or random search's space (one dict or a list of them)."""
    kind, space, _ = search_space(search)
    space = space if kind in ("grid", "random") else {}
    spaces = [space] if isinstance(space, dict) else list(space)
    return {key for one in spaces if isinstance(one, dict) for key in one}


def observed_fits(search: Any, candidates: list[dict[str, Any]], params: dict[str, Any]) -> list[str]:
    """What watches or prints while the search's folds fit, so that a fold served from the
    store would not do what scikit-learn's fit of it does.

    Each entry names where, and what: scikit-learn callbacks (``set_callbacks``) on the
    search, its estimator or any sub-estimator (``params``: the estimator's
    ``get_params(deep=True)``) or an estimator among the candidates' values; a ``verbose``
    param that is set (the estimator's own output while it fits: the search's own
    ``verbose`` lines are printed for served folds); a ``joblib.Memory`` or a function it
    caches that prints its calls (``verbose`` above 0, with a location). Empty when no
    fit is watched.
    """
    watched = bool(getattr(search, "_skl_callbacks", None))
    found = [f"{type(search).__name__} has scikit-learn callbacks"] if watched else []
    parts = [("estimator", search.estimator), *((f"estimator__{k}", v) for k, v in params.items())]
    for candidate in candidates:
        for key, value in candidate.items():
            where = f"candidate param {key}"
            parts.append((where, value))
            if not isinstance(value, type) and hasattr(value, "get_params"):
                parts += ((f"{where}__{k}", v) for k, v in value.get_params(deep=True).items())
    for where, part in parts:
        if getattr(part, "_skl_callbacks", None):
            found.append(f"{where} has scikit-learn callbacks")
        elif _prints_while_fitting(where, part):
            found.append(f"{where}={_short(part)} prints while fitting")
    return list(dict.fromkeys(found))


def _prints_while_fitting(where: str, value: Any) -> bool:
    """Whether a param (named ``where``) makes the fit print: a set ``verbose``, a verbose cache."""
    from joblib import Memory
    from joblib.memory import MemorizedFunc

    if where.rsplit("__", 1)[-1].rsplit(" ", 1)[-1] == "verbose":  # estimator__svc__verbose, ...
        return isinstance(value, (numbers.Number, str)) and bool(value)
    if isinstance(value, Memory):
        return value.store_backend is not None and (value._verbose or 0) > 0
    return isinstance(value, MemorizedFunc) and (value._verbose or 0) > 0


def _short(value: Any) -> str:
    """A param value as the log names it: a cache by its class and verbosity."""
    if hasattr(value, "_verbose"):
        return f"{type(value).__name__}(verbose={value._verbose})"
    return repr(value)


def search_space(search: Any) -> tuple[str, Any, Any]:
    """``(kind, space, n_trials)`` of the search: grid, random, or a custom ``_run_search``."""
    params = shallow_params(search)
    if "param_grid" in params and _own_run_search(search, "HalvingGridSearchCV"):
        return "halving", search.param_grid, None  # trials per (candidate, rung): known as it runs
    if "param_distributions" in params and _own_run_search(search, "HalvingRandomSearchCV"):
        return "halving-random", search.param_distributions, search.n_candidates
    if "param_grid" in params and _own_run_search(search, "GridSearchCV"):
        return "grid", search.param_grid, len(ParameterGrid(search.param_grid))
    if "param_distributions" in params and _own_run_search(search, "RandomizedSearchCV"):
        return "random", search.param_distributions, search.n_iter
    own = {k: v for k, v in params.items() if k not in PROCESS_PARAMS and k != "estimator"}
    return f"{type(search).__module__}.{type(search).__qualname__}", own, None


def _own_run_search(search: Any, base: str) -> bool:
    """Whether ``search`` schedules candidates as scikit-learn's ``base`` class does."""
    for klass in type(search).__mro__:
        if "_run_search" in vars(klass):
            return klass.__name__ == base
    return False


def study_spec(
    search: Any, n_splits: int, scorers: dict[str, Any] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """The study's identity as stored (JSON-able), and what in it has no stable fingerprint.

    ``scorers`` are :func:`scorers_by_metric` of a search whose ``scoring`` is not callable,
    when the caller has them already.
    """
    kind, space, n_trials = search_space(search)
    scoring = search.scoring
    if callable(scoring):
        metrics = {"score": describe_scorer(scoring)}
    else:
        scorers = scorers if scorers is not None else scorers_by_metric(search)
        metrics = {m: describe_scorer(s) for m, s in (scorers or {}).items()}
    spec = {
        "search": kind,
        "estimator": search.estimator,
        "space": space,
        "n_trials": n_trials,
        "random_state": getattr(search, "random_state", None),
        "cv": describe_cv(search.cv, n_splits),
        "metrics": metrics,
        "error_score": search.error_score,
        "train_scores": bool(search.return_train_score),
    }
    if kind in HALVING_SEARCHES:  # what decides the rungs (grid and random specs are unchanged)
        spec["halving"] = {key: getattr(search, key) for key in HALVING_PARAMS}
    unstable: list[str] = []
    for key, value in spec.items():
        try:
            spec[key] = json.loads(canonical_json(value))
        except TypeError as exc:  # recorded by description; the study is not reusable
            spec[key] = {"unfingerprinted": repr(value)}
            unstable.append(f"{key}: {exc}")
    return spec, unstable


def study_name(
    search: Any, spec: dict[str, Any], data_hash: str, split_hash: str, candidates: Any, *, unstable: bool
) -> str:
    """``study=``, else the estimator's class and a hash of the spec, data, splits and candidates.

    With a value that has no stable identity (``unstable``) the fit is a study of its own: a
    later fit cannot tell it is the same search.
    """
    if search.study is not None:
        return str(search.study)
    if unstable:
        return f"{type(search.estimator).__name__}-{uuid.uuid4().hex[:12]}"
    try:  # hash_value([spec, data_hash, split_hash, candidates]), each part made canonical once
        parts = (canonical_json(spec), canonical_json(data_hash), canonical_json(split_hash), canonical_json(candidates))
        digest = sha256_text(f"[{','.join(parts)}]")
    except TypeError:
        digest = uuid.uuid4().hex  # no stable identity: a study of its own
    return f"{type(search.estimator).__name__}-{digest[:12]}"


def code_identity(
    search: Any, candidates: list[dict[str, Any]], scorers: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The code fingerprint: the estimator, estimator/callable params, the scorers (by metric)."""
    scoring = search.scoring
    used = [scoring] if callable(scoring) else list(scorers.values())
    values = [v for c in candidates for v in c.values() if hasattr(v, "fit") or callable(v)]
    return code_fingerprint([search.estimator, *values, *used])


def make_plan(
    search: Any,
    *,
    name: str,
    spec: dict[str, Any],
    candidates: list[dict[str, Any]],
    scorers: dict[str, Any],
    splits: list[Any],
    data: Any,
    provenance: dict[str, Any],
    unstable: list[str],
) -> StudyPlan:
    """The study plan of a drop-in fit (what creates or checks the stored study); ``unstable`` is
    :func:`~hptrack.run.unstable_values` of the estimator, candidates and data."""
    random_state = getattr(search, "random_state", None)
    return build_plan(
        name,
        search=spec["search"] if spec["search"] in ("grid", "random", *HALVING_SEARCHES) else "custom",
        spec=spec,
        estimator=copy.deepcopy(search.estimator),
        candidates=candidates,
        samples=[{} for _ in candidates],
        seeds={},
        seed=int(random_state) if isinstance(random_state, numbers.Integral) else 0,
        scorers=scorers,
        cv=search.cv,
        splits=splits,
        X=data.X,
        y=data.y,
        data=(data.data_hash, data.data_info),
        code=code_identity(search, candidates, scorers),
        base_dir=Path.cwd(),
        origin={"spec_file": None, "api": f"hptrack.{type(search).__name__}", **provenance},
        fit_params=data.fit_params,
        error_score=search.error_score,
        return_train_score=bool(search.return_train_score),
        unstable=unstable,
    )


def splits_hash(splits: list[Any] | None) -> str:
    """The fingerprint of the splits (a fresh random one when they are not reproducible)."""
    return split_fingerprint(splits) if splits is not None else f"unseeded-{uuid.uuid4().hex}"
