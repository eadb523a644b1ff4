"""Canonical JSON and sha256: everything that hashes goes through here (stdlib only).

Hashes are full sha256 hex digests; the CLI shows their first 12 characters. Estimator
params that only change how a fit runs on this machine (:data:`PROCESS_LOCAL_PARAMS`)
are left out of every canonical form, so they are part of no identity.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import inspect
import json
import math
import re
import weakref
from collections.abc import Mapping
from typing import Any, NamedTuple


def canonical_json(value: object) -> str:
    """Text that is byte-identical for equal values: keys sorted, no whitespace.

    ``1`` and ``1.0`` stay distinct (estimators may treat them differently); numpy
    scalars become their Python equivalents; tuples become lists; an estimator (or a
    kernel: anything with ``get_params``) used as a value becomes ``{"class": ...,
    "params": ...}``, without its process-local params (:func:`identity_params`:
    ``memory``, ``n_jobs``, ``verbose``, ...). Values with a stable content get a form
    of their own: ``{"range": [start, stop, step]}``, ``{"set": [sorted items]}``, small
    arrays as lists and large ones as ``{"array": {dtype, shape, sha256}}``, sparse
    matrices (any format) as ``{"sparse": {dtype, shape, sha256}}``, numpy random
    states as ``{"rng": class, "state": sha256}`` (their state now, before any fit),
    classes and named functions as ``{"callable": "module.name"}``.

    Parameters
    ----------
    value : object
        The value to fingerprint.

    Returns
    -------
    str
        The canonical JSON text.

    Raises
    ------
    TypeError
        A part of ``value`` has no stable identity (an object whose ``repr`` holds a
        memory address, ...); :func:`describe` describes it instead.

    Examples
    --------
    >>> canonical_json({"kernel": "rbf", "C": 1, "gamma": (0.1, float("nan"))})
    '{"C":1,"gamma":[0.1,"NaN"],"kernel":"rbf"}'
    >>> canonical_json({"k": {3, 1, 2}, "n": range(3)})
    '{"k":{"set":[1,2,3]},"n":{"range":[0,3,1]}}'
    """
    return _dumps(_normalise(value, _Context(None), ""))


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


class Description(NamedTuple):
    """A value's canonical JSON, and the parts of it that have no stable identity."""

    text: str
    unstable: list[str]

    @property
    def stable(self) -> bool:
        """True when equal text means an equal value in any process."""
        return not self.unstable


def describe(value: object) -> Description:
    """Canonical JSON of any value, never failing: :func:`canonical_json` plus a marker.

    A part with no stable identity (an object whose ``repr`` holds a memory address, a
    lambda whose source is gone, ...) enters the text as ``{"unhashable": "<module.Class>",
    "repr": <its repr without addresses>}`` and is listed in ``unstable``: a study that
    holds one is recorded, but its folds are never reused or verified bit for bit.

    Parameters
    ----------
    value : object
        Anything scikit-learn accepts as a param, grid or distribution value.

    Returns
    -------
    Description
        ``(text, unstable)``: the canonical JSON, and one ``"<path>: <repr>"`` line per
        unstable part (empty when the whole value is stable).

    Examples
    --------
    >>> describe({"C": range(1, 3)})
    Description(text='{"C":{"range":[1,3,1]}}', unstable=[])
    >>> describe([object()]).unstable
    ['[0]: <object object>']
    """
    unstable: list[str] = []
    text = _dumps(_normalise(value, _Context(unstable), ""))
    return Description(text, unstable)


def _dumps(normalised: Any) -> str:
    """The canonical text of an already normalised value."""
    return json.dumps(normalised, sort_keys=True, separators=(",", ":"), allow_nan=True)


class _Context:
    """Where :func:`_normalise` reports a value with no stable identity (None: raise)."""

    def __init__(self, unstable: list[str] | None) -> None:
        self.unstable = unstable

    def unhashable(self, value: Any, path: str) -> dict[str, str]:
        """The marker of ``value``; raises TypeError in strict mode."""
        if self.unstable is None:
            raise TypeError(
                f"cannot fingerprint a {type(value).__name__} ({_safe_repr(value)}); use a value "
                "with a stable content (str, int, float, bool, None, list, dict, set, range, "
                "array, sparse matrix, seeded random state, estimator, named function)"
            )
        shown = _safe_repr(value)
        self.unstable.append(f"{path or 'value'}: {shown[:120]}")
        return {"unhashable": _qualified(type(value)), "repr": shown}


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+|0x[0-9a-fA-F]{6,}")
_SMALL_ARRAY = 1000  # elements; a larger array enters as its dtype, shape and sha256


def _safe_repr(value: Any) -> str:
    """``repr(value)`` without memory addresses (and never raising)."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not break a fit
        text = f"<{_qualified(type(value))} object>"
    return _ADDRESS.sub("", text)


def _qualified(obj: Any) -> str:
    """``module.QualifiedName`` of a class or function."""
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", "?")
    return f"{getattr(obj, '__module__', '?')}.{name}"


def _normalise(value: Any, ctx: _Context, path: str) -> Any:
    """``value`` as JSON-able data whose canonical text identifies it."""
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
        return {str(k): _normalise(v, ctx, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normalise(v, ctx, f"{path}[{i}]") for i, v in enumerate(value)]
    for form in _FORMS:
        normalised = form(value, ctx, path)
        if normalised is not _NOT_MINE:
            return normalised
    return ctx.unhashable(value, path)


_NOT_MINE = object()  # a form's answer for a value it does not describe


def _numpy_form(value: Any, ctx: _Context, path: str) -> Any:
    """numpy scalars and arrays (small: as lists; large: sha256), dtypes (duck-typed)."""
    module = type(value).__module__
    if not module.startswith("numpy"):
        return _NOT_MINE
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # np.float64(1.0) -> 1.0, arrays
        if getattr(value, "size", 1) <= _SMALL_ARRAY:
            return _normalise(value.tolist(), ctx, path)
        if value.dtype.hasobject:
            digest = sha256_text(_dumps(_normalise(value.tolist(), ctx, path)))
        else:
            digest = hashlib.sha256(value.tobytes()).hexdigest()  # C order, whatever the layout
        return {"array": {"dtype": value.dtype.str, "shape": list(value.shape), "sha256": digest}}
    if hasattr(value, "itemsize") and hasattr(value, "kind") and hasattr(value, "str"):
        return {"dtype": value.str}
    return _NOT_MINE


def _sparse_form(value: Any, ctx: _Context, path: str) -> Any:
    """A scipy sparse matrix or array, whatever its format: its canonical CSR content."""
    if not (type(value).__module__.startswith("scipy.sparse") and hasattr(value, "tocsr")):
        return _NOT_MINE
    csr = value.tocsr(copy=True)
    csr.sum_duplicates()  # canonical: no duplicates, no explicit zeros, sorted indices
    csr.eliminate_zeros()
    csr.sort_indices()
    h = hashlib.sha256()
    for part in (csr.data, csr.indices.astype("int64"), csr.indptr.astype("int64")):
        h.update(part.tobytes())
    return {"sparse": {"dtype": csr.dtype.str, "shape": list(csr.shape), "sha256": h.hexdigest()}}


def _random_state_form(value: Any, ctx: _Context, path: str) -> Any:
    """numpy random states (RandomState, Generator, bit generators): their state as of now.

    A fit draws from (and so changes) a random state: what identifies it is its state when
    it is fingerprinted, before any fit.
    """
    if not type(value).__module__.startswith("numpy.random"):
        return _NOT_MINE
    if hasattr(value, "get_state"):  # RandomState
        state = value.get_state(legacy=False)
    elif hasattr(value, "bit_generator"):  # Generator
        state = value.bit_generator.state
    elif hasattr(value, "entropy") and hasattr(value, "spawn_key"):  # SeedSequence
        state = {
            "entropy": value.entropy,
            "spawn_key": list(value.spawn_key),
            "pool_size": value.pool_size,
            "n_children_spawned": value.n_children_spawned,
        }
    elif isinstance(getattr(value, "state", None), Mapping):  # a bit generator
        state = value.state
    else:
        return _NOT_MINE
    text = _dumps(_normalise(state, ctx, path))
    return {"rng": type(value).__name__, "state": sha256_text(text)}  # public name: numpy.random.<name>


# A class's param names, for classes whose get_params is scikit-learn's own (see shallow_params)
_PARAM_NAMES: weakref.WeakKeyDictionary[type, tuple[str, ...]] = weakref.WeakKeyDictionary()


def shallow_params(value: Any) -> Any:
    """``value.get_params(deep=False)``, with scikit-learn's signature inspection done once per class.

    scikit-learn's ``BaseEstimator.get_params`` inspects the ``__init__`` signature on every
    call (~50 us), and a fit fingerprints its estimator several times. For a class whose
    ``get_params`` and ``_get_param_names`` are that base class's own, the names are kept per
    class and the values read with ``getattr``, as it does; any other class is asked.

    Parameters
    ----------
    value : object
        An estimator, kernel or any object with ``get_params``.

    Returns
    -------
    mapping
        Param name -> value, as ``get_params(deep=False)`` returns it.
    """
    cls = type(value)
    names = _PARAM_NAMES.get(cls)
    if names is None:
        if not (_is_base_estimators(cls, "get_params") and _is_base_estimators(cls, "_get_param_names")):
            return value.get_params(deep=False)
        names = _PARAM_NAMES[cls] = tuple(cls._get_param_names())
    return {name: getattr(value, name) for name in names}


def deep_params(value: Any) -> dict[str, Any]:
    """``value.get_params(deep=True)``, through :func:`shallow_params` (names kept per class).

    Keys in scikit-learn's order: a param's own nested params (``param__name``), then the param.
    """
    if not (_is_base_estimators(type(value), "get_params") and _is_base_estimators(type(value), "_get_param_names")):
        return dict(value.get_params(deep=True))
    out: dict[str, Any] = {}
    for key, param in shallow_params(value).items():
        if hasattr(param, "get_params") and not isinstance(param, type):
            out.update((f"{key}__{k}", v) for k, v in deep_params(param).items())
        out[key] = param
    return out


def _is_base_estimators(cls: type, name: str) -> bool:
    """Whether ``cls.name`` is scikit-learn's ``BaseEstimator.name`` (not overridden)."""
    method = getattr(cls, name, None)
    method = getattr(method, "__func__", method)  # a classmethod, bound to cls
    return (
        getattr(method, "__module__", None) == "sklearn.base"
        and getattr(method, "__qualname__", None) == f"BaseEstimator.{name}"
    )


def _params_form(value: Any, ctx: _Context, path: str) -> Any:
    """An estimator, kernel or any object with ``get_params``: its class and identity params."""
    if isinstance(value, type) or not hasattr(value, "get_params"):
        return _NOT_MINE
    try:
        params = shallow_params(value)
    except Exception:  # noqa: BLE001 - not scikit-learn's get_params
        return _NOT_MINE
    if not isinstance(params, Mapping):
        return _NOT_MINE
    return {
        "class": _qualified(type(value)),
        "params": _normalise(identity_params(params), ctx, f"{path}.params" if path else "params"),
    }


def _builtin_form(value: Any, ctx: _Context, path: str) -> Any:
    """range, set, frozenset, bytes, enum members and the standard library's value types."""
    if isinstance(value, range):
        return {"range": [value.start, value.stop, value.step]}
    if isinstance(value, (set, frozenset)):
        items = [_normalise(v, ctx, f"{path}{{}}") for v in value]
        return {"set": sorted(items, key=_dumps)}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"bytes": hashlib.sha256(bytes(value)).hexdigest()}
    if isinstance(value, enum.Enum):
        return {"enum": f"{_qualified(type(value))}.{value.name}"}
    if isinstance(value, complex) or type(value).__module__.split(".")[0] in _VALUE_MODULES:
        return {"object": _qualified(type(value)), "repr": repr(value)}
    if type(value).__module__.startswith("joblib") and type(value).__name__ == "Memory":
        return {"cache": _qualified(type(value))}  # where results are cached changes none of them
    return _NOT_MINE


# Standard library modules whose values' repr is their content (Decimal, Fraction, Path, ...).
_VALUE_MODULES = frozenset({"datetime", "decimal", "fractions", "pathlib", "uuid", "ipaddress"})


def _partial_form(value: Any, ctx: _Context, path: str) -> Any:
    """A ``functools.partial``: its function and arguments."""
    if not isinstance(value, functools.partial):
        return _NOT_MINE
    return {
        "partial": _normalise(value.func, ctx, f"{path}.func"),
        "args": _normalise(list(value.args), ctx, f"{path}.args"),
        "keywords": _normalise(dict(value.keywords), ctx, f"{path}.keywords"),
    }


def _callable_form(value: Any, ctx: _Context, path: str) -> Any:
    """A class or a function: its qualified name (and for a lambda, its source's hash)."""
    if not (isinstance(value, type) or callable(value)):
        return _NOT_MINE
    name = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
    qualified = f"{getattr(value, '__module__', '?')}.{name}"
    if name and "<" not in name:
        return {"callable": qualified}
    source: str | None
    try:  # a lambda or a local function: its source text identifies it
        source = inspect.getsource(value)
    except (OSError, TypeError):  # typed at a prompt: its bytecode does
        code = getattr(value, "__code__", None)
        source = None if code is None else f"{code.co_code.hex()}{code.co_names}{code.co_consts!r}"
    if name and source:
        return {"callable": qualified, "source": sha256_text(source)}
    return _NOT_MINE


def _distribution_form(value: Any, ctx: _Context, path: str) -> Any:
    """A scipy.stats frozen distribution: its name, args and keywords."""
    if not hasattr(value, "rvs"):
        return _NOT_MINE
    dist = getattr(value, "dist", None)
    return {
        "distribution": type(dist).__name__ if dist is not None else type(value).__name__,
        "args": _normalise(list(getattr(value, "args", ())), ctx, f"{path}.args"),
        "kwds": _normalise(dict(getattr(value, "kwds", {})), ctx, f"{path}.kwds"),
    }


# In this order: the first form that describes a value wins (the order of the forms that
# existed before issue 12 is kept, so their canonical text and digests do not change).
_FORMS = (
    _numpy_form,
    _sparse_form,
    _random_state_form,
    _params_form,
    _builtin_form,
    _partial_form,
    _callable_form,
    _distribution_form,
)


def sha256_text(text: str) -> str:
    """sha256 hex digest of a text's UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def hash_value(value: object) -> str:
    """sha256 of a value's canonical JSON."""
    return sha256_text(canonical_json(value))
