"""Canonical JSON and sha256: everything that hashes goes through here (stdlib only).

Hashes are full sha256 hex digests; the CLI shows their first 12 characters. Estimator
params that only change how a fit runs on this machine (:data:`PROCESS_LOCAL_PARAMS`)
are left out of every canonical form, so they are part of no identity.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import math
from collections.abc import Mapping
from typing import Any


def canonical_json(value: object) -> str:
    """Text that is byte-identical for equal values: keys sorted, no whitespace.

    ``1`` and ``1.0`` stay distinct (estimators may treat them differently); numpy
    scalars become their Python equivalents; tuples become lists; an estimator used
    as a value becomes ``{"class": ..., "params": ...}``, without its process-local
    params (:func:`identity_params`: ``memory``, ``n_jobs``, ``verbose``, ...).
    """
    return json.dumps(_normalise(value), sort_keys=True, separators=(",", ":"), allow_nan=True)


# Estimator params that change how a fit runs on this machine, never its result: a
# Pipeline's cache folder (``memory``), parallelism, logging. SPEC section 1: they are
# not part of any identity (study spec, derived study name, fold keys, code walk).
PROCESS_LOCAL_PARAMS = frozenset({"memory", "n_jobs", "pre_dispatch", "verbose"})


def identity_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` without the process-local ones (:data:`PROCESS_LOCAL_PARAMS`).

    Nested names count by their last part: ``clf__n_jobs`` is process-local too. This
    is the one place that decides which estimator params identify a study.

    Parameters
    ----------
    params : mapping
        Estimator params (``get_params()``) or a spec's ``[fixed]`` table.

    Returns
    -------
    dict
        The params that identify the estimator.

    Examples
    --------
    >>> identity_params({"C": 1.0, "n_jobs": 4, "clf__verbose": 2, "memory": "/tmp/x"})
    {'C': 1.0}
    """
    return {k: v for k, v in params.items() if str(k).rpartition("__")[2] not in PROCESS_LOCAL_PARAMS}


def spec_identity(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A spec dict as it identifies a study: without process-local params.

    Drops them (:func:`identity_params`) from a TOML spec's ``fixed`` table and from
    the ``params`` of every estimator in canonical form (``{"class", "params"}``, at
    any depth), so specs stored before they were left out compare equal too.

    Parameters
    ----------
    spec : mapping
        A spec dict, as stored (``StudySpec.to_dict()`` or the drop-ins' spec).

    Returns
    -------
    dict
        The same dict without process-local params.
    """
    identity = _without_process_local(spec)
    if isinstance(identity.get("fixed"), Mapping):
        identity["fixed"] = identity_params(identity["fixed"])
    return identity


def _without_process_local(value: Any) -> Any:
    """Every canonical estimator (``{"class", "params"}``) in ``value`` without those params."""
    if isinstance(value, Mapping):
        if set(value) == {"class", "params"} and isinstance(value["params"], Mapping):
            return {
                "class": value["class"],
                "params": _without_process_local(identity_params(value["params"])),
            }
        return {k: _without_process_local(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_without_process_local(v) for v in value]
    return value


def _normalise(value: Any) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): _normalise(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normalise(v) for v in value]
    module = type(value).__module__
    if module == "numpy" and hasattr(value, "tolist"):  # np.float64(1.0) -> 1.0, arrays -> lists
        return _normalise(value.tolist())  # (duck-typed: this module imports no numpy)
    if hasattr(value, "get_params") and hasattr(value, "fit"):  # an estimator as a value
        cls = type(value)
        return {
            "class": f"{cls.__module__}.{cls.__qualname__}",
            "params": _normalise(identity_params(value.get_params(deep=False))),
        }
    if isinstance(value, functools.partial):
        return {
            "partial": _normalise(value.func),
            "args": _normalise(list(value.args)),
            "keywords": _normalise(dict(value.keywords)),
        }
    if isinstance(value, type) or callable(value):
        name = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
        qualified = f"{getattr(value, '__module__', '?')}.{name}"
        if name and "<" not in name:
            return {"callable": qualified}
        try:  # a lambda or a local function: its source text identifies it
            source = inspect.getsource(value)
        except (OSError, TypeError):  # typed at a prompt: its bytecode does
            code = getattr(value, "__code__", None)
            source = None if code is None else f"{code.co_code.hex()}{code.co_names}{code.co_consts!r}"
        if name and source:
            return {"callable": qualified, "source": sha256_text(source)}
    if hasattr(value, "rvs"):  # a scipy.stats frozen distribution
        dist = getattr(value, "dist", None)
        return {
            "distribution": type(dist).__name__ if dist is not None else type(value).__name__,
            "args": _normalise(list(getattr(value, "args", ()))),
            "kwds": _normalise(dict(getattr(value, "kwds", {}))),
        }
    raise TypeError(
        f"cannot fingerprint a {type(value).__name__} ({value!r}); "
        "use str, int, float, bool, None, list, dict or an estimator"
    )


def sha256_text(text: str) -> str:
    """sha256 hex digest of a text's UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def hash_value(value: object) -> str:
    """sha256 of a value's canonical JSON."""
    return sha256_text(canonical_json(value))
