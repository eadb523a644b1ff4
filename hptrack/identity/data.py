"""Fingerprints of what a study sees: its data, its CV splits, each fold's content key,
and each scorer's identity (what makes a stored fold reusable, SPEC section 6).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
from collections.abc import Mapping, Sequence
from typing import Any

from .._json import canonical_json, describe, hash_value, sha256_text

# --------------------------------------------------------------------------- data


def _update_with_array(h: Any, name: str, value: Any) -> dict[str, Any]:
    """Feed one array-like into ``h``; return its description (shape, dtype)."""
    import numpy as np

    h.update(name.encode())
    if value is None:
        h.update(b"<none>")
        return {"name": name, "type": "none"}
    if hasattr(value, "tocsr") and hasattr(value, "nnz"):  # scipy.sparse
        csr = value.tocsr()
        csr.sort_indices()
        for part in (csr.data, csr.indices, csr.indptr, np.asarray(csr.shape)):
            _update_with_ndarray(h, np.asarray(part))
        return {"name": name, "type": "sparse", "shape": list(csr.shape), "dtype": str(csr.dtype)}
    if hasattr(value, "columns") and hasattr(value, "to_numpy"):  # a DataFrame
        columns = [str(c) for c in value.columns]
        h.update(canonical_json(columns).encode())
        unstable = []
        for column in value.columns:
            unstable += _update_with_ndarray(h, np.asarray(value[column].to_numpy()))
        described = {
            "name": name,
            "type": "dataframe",
            "shape": list(value.shape),
            "columns": columns,
            "dtypes": [str(d) for d in value.dtypes],
        }
        return {**described, "unstable": unstable} if unstable else described
    if isinstance(value, (tuple, list)) and any(hasattr(v, "shape") or hasattr(v, "__len__") for v in value):
        try:  # a list of rows makes one array; a tuple of arrays (X_valid, y_valid) does not
            array = np.asarray(value)
        except ValueError:
            h.update(f"<sequence of {len(value)}>".encode())
            parts = [_update_with_array(h, f"{name}[{i}]", v) for i, v in enumerate(value)]
            unstable = [u for part in parts for u in part.get("unstable", ())]
            described = {"name": name, "type": "sequence", "shape": [len(value)], "items": parts}
            return {**described, "unstable": unstable} if unstable else described
    array = np.asarray(value)
    unstable = _update_with_ndarray(h, array)
    described = {"name": name, "type": "array", "shape": list(array.shape), "dtype": str(array.dtype)}
    return {**described, "unstable": unstable} if unstable else described


def _update_with_ndarray(h: Any, array: Any) -> list[str]:
    """Feed one ndarray into ``h``; return the descriptions of its objects with no stable identity."""
    import numpy as np

    h.update(f"{array.dtype.str}{array.shape}".encode())
    if array.dtype == object or array.dtype.kind in "OU":
        text, unstable = describe(array.tolist())
        h.update(text.encode())
        return unstable
    h.update(np.ascontiguousarray(array).tobytes())
    return []


def data_fingerprint(arrays: Mapping[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """Hash of the data a study sees (X, y, groups, fit params): bytes, shape and dtype.

    Returns the sha256 hex digest and a description of each array. An object array
    holding values with no stable identity (:func:`hptrack._json.describe`) is hashed
    by their description, and its entry lists them under ``"unstable"``.
    """
    h = hashlib.sha256()
    described = [_update_with_array(h, name, arrays[name]) for name in sorted(arrays)]
    return h.hexdigest(), described


def split_fingerprint(splits: Sequence[tuple[Any, Any]]) -> str:
    """Hash of the train/test indices of every fold, in fold order."""
    import numpy as np

    h = hashlib.sha256()
    for fold, (train, test) in enumerate(splits):
        h.update(f"fold{fold}:train".encode())
        h.update(np.asarray(train, dtype=np.int64).tobytes())
        h.update(b":test")
        h.update(np.asarray(test, dtype=np.int64).tobytes())
    return h.hexdigest()


def fold_split_hash(train: Any, test: Any) -> str:
    """Hash of one fold's train/test indices."""
    return split_fingerprint([(train, test)])


# --------------------------------------------------------------------------- reuse


def fold_key_base(
    *,
    estimator: Any,
    estimator_version: str | None,
    code_hash: str,
    data_hash: str,
    train_scores: bool,
    error_score: float | str,
) -> str:
    """Hash of what every fold of a study shares in its :func:`fold_key`.

    ``estimator`` enters as its canonical JSON (class path and fixed params, the
    ``random_state`` seed included). Raises TypeError when a param cannot be
    fingerprinted.
    """
    return hash_value(
        {
            "estimator": json.loads(canonical_json(estimator)),
            "estimator_version": estimator_version,
            "code_hash": code_hash,
            "data_hash": data_hash,
            "train_scores": bool(train_scores),
            "error_score": error_score,
        }
    )


def fold_key(base: str, params: Mapping[str, Any], split_hash: str) -> str:
    """The content key of one fold: sha256 of canonical JSON of its inputs.

    ``base`` is :func:`fold_key_base` (estimator, its package version, code, data,
    train scores, error score), ``params`` the trial's (order-free; ``1``, ``1.0``
    and ``True`` stay distinct) and ``split_hash`` the fold's
    :func:`fold_split_hash`. Metrics are not part of it: a stored fold serves a
    metric only if it has that metric's score under the same scorer identity.
    """
    return fold_keys(base, params, [split_hash])[0]


def fold_keys(base: str, params: Mapping[str, Any], split_hashes: Sequence[str]) -> list[str]:
    """:func:`fold_key` of ``params`` on each of several folds, the params fingerprinted once.

    The text hashed is ``canonical_json({"base": base, "params": params, "split": s})``,
    composed from its parts (keys in sorted order, as ``canonical_json`` writes them).

    Parameters
    ----------
    base : str
        :func:`fold_key_base`.
    params : mapping
        The trial's params.
    split_hashes : sequence of str
        Each fold's :func:`fold_split_hash`.

    Returns
    -------
    list of str
        One key per split hash, in order.
    """
    head = f'{{"base":{json.dumps(base)},"params":{canonical_json(params)},"split":'
    return [sha256_text(f"{head}{json.dumps(split_hash)}}}") for split_hash in split_hashes]


def scorer_identity(scorer: Any) -> str | None:
    """What makes a scorer the same scorer in another process; None if unknown.

    scikit-learn's scorers are their ``repr`` (``make_scorer(accuracy_score,
    response_method='predict')``, kwargs included) plus the score function's
    qualified name; the estimator's own ``score`` is ``"<Class>.score"``; a function
    is its qualified name (plus a hash of its source for a lambda or a local
    function). Anything whose ``repr`` holds a memory address is unknown: never reused.
    """
    if type(scorer).__name__ == "_PassthroughScorer":
        return f"passthrough:{scorer!r}"
    score_func = getattr(scorer, "_score_func", None)
    if score_func is not None:
        try:
            func = canonical_json(score_func)
        except TypeError:
            return None
        text = f"{type(scorer).__qualname__}:{scorer!r}:{func}"
    elif isinstance(scorer, (functools.partial, type)) or inspect.isroutine(scorer):
        try:
            text = canonical_json(scorer)
        except TypeError:
            return None
        code = getattr(scorer, "__code__", None)
        if code is not None and "<" in getattr(scorer, "__qualname__", ""):  # a lambda's source
            # line may hold several lambdas: their code tells them apart
            text += f":{sha256_text(f'{code.co_code.hex()}{code.co_names}{code.co_consts!r}')}"
    else:
        cls = type(scorer)
        text = f"{cls.__module__}.{cls.__qualname__}:{scorer!r}"
    return None if " at 0x" in text else text


def fold_split_hashes(splits: Sequence[tuple[Any, Any]]) -> list[str]:
    """:func:`fold_split_hash` of each fold."""
    return [fold_split_hash(train, test) for train, test in splits]
