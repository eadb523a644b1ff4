"""Canonical JSON and the hashes that make a study auditable.

Hashes are full sha256 hex digests; the CLI shows their first 12 characters.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import inspect
import json
import math
import os
import platform
import socket
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any


def canonical_json(value: object) -> str:
    """Text that is byte-identical for equal values: keys sorted, no whitespace.

    ``1`` and ``1.0`` stay distinct (estimators may treat them differently); numpy
    scalars become their Python equivalents; tuples become lists; an estimator used
    as a value becomes ``{"class": ..., "params": ...}``.
    """
    return json.dumps(_normalise(value), sort_keys=True, separators=(",", ":"), allow_nan=True)


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
    if module == "numpy":
        import numpy as np

        if isinstance(value, np.generic):  # np.float64(1.0) -> 1.0
            return _normalise(value.item())
        if isinstance(value, np.ndarray):
            return _normalise(value.tolist())
    if hasattr(value, "get_params") and hasattr(value, "fit"):  # an estimator as a value
        cls = type(value)
        return {
            "class": f"{cls.__module__}.{cls.__qualname__}",
            "params": _normalise(value.get_params(deep=False)),
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
        for column in value.columns:
            _update_with_ndarray(h, np.asarray(value[column].to_numpy()))
        return {
            "name": name,
            "type": "dataframe",
            "shape": list(value.shape),
            "columns": columns,
            "dtypes": [str(d) for d in value.dtypes],
        }
    array = np.asarray(value)
    _update_with_ndarray(h, array)
    return {"name": name, "type": "array", "shape": list(array.shape), "dtype": str(array.dtype)}


def _update_with_ndarray(h: Any, array: Any) -> None:
    import numpy as np

    h.update(f"{array.dtype.str}{array.shape}".encode())
    if array.dtype == object or array.dtype.kind in "OU":
        h.update(canonical_json(array.tolist()).encode())
    else:
        h.update(np.ascontiguousarray(array).tobytes())


def data_fingerprint(arrays: Mapping[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """Hash of the data a study sees (X, y, groups, fit params): bytes, shape and dtype.

    Returns the sha256 hex digest and a description of each array.
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
    return sha256_text(canonical_json({"base": base, "params": params, "split": split_hash}))


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


# --------------------------------------------------------------------------- code


def _is_user_module(module: Any) -> bool:
    """True for a module that is the user's own code, not stdlib or an installed package."""
    path = getattr(module, "__file__", None)
    if not path:
        return False
    resolved = os.path.realpath(path)
    roots = {
        os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)
    }
    if "site-packages" in resolved or "dist-packages" in resolved:
        return False
    return not any(resolved.startswith(root + os.sep) for root in roots)


@functools.lru_cache(maxsize=1)
def _distributions() -> Mapping[str, list[str]]:
    """Top-level module -> distributions (slow to compute: ~0.5 s, so once per process)."""
    try:
        return importlib.metadata.packages_distributions()
    except Exception:  # pragma: no cover - broken metadata
        return {}


@functools.lru_cache(maxsize=256)
def package_version(module_name: str) -> str | None:
    """Installed version of the distribution that provides a top-level module."""
    top = module_name.split(".")[0]
    dists = _distributions().get(top, [top])
    for dist in dists:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    module = sys.modules.get(top)
    return getattr(module, "__version__", None)


def code_fingerprint(modules: Iterable[str], *, base_dir: Path | None = None) -> tuple[str, dict[str, Any]]:
    """Hash of the code a study runs: the user's own modules' sources and package versions.

    Parameters
    ----------
    modules : iterable of str
        Names of the modules the study imports (the estimator's, the data loader's).
    base_dir : Path, optional
        Directory that source paths are shown relative to.

    Returns
    -------
    code_hash, components
        ``components`` holds ``{"sources": {path: sha256}, "packages": {name: version},
        "python": "3.11"}``, so a changed hash can be explained file by file.
    """
    sources: dict[str, str] = {}
    packages: dict[str, str | None] = {}
    for name in sorted(set(modules)):
        module = sys.modules.get(name)
        if module is None:
            continue
        if _is_user_module(module):
            path = Path(module.__file__ or "")
            try:
                shown = str(path.resolve().relative_to(base_dir.resolve())) if base_dir else None
            except ValueError:
                shown = None
            sources[shown or path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            top = name.split(".")[0]
            packages[top] = package_version(top)
    for core in ("numpy", "sklearn"):
        packages.setdefault(core, package_version(core))
    components = {
        "sources": sources,
        "packages": packages,
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
    }
    return hash_value(components), components


def diff_code(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Names of what differs between two ``code_fingerprint`` component dicts."""
    changed: list[str] = []
    old_src, new_src = old.get("sources", {}), new.get("sources", {})
    for path in sorted(set(old_src) | set(new_src)):
        if old_src.get(path) != new_src.get(path):
            changed.append(path)
    old_pkg, new_pkg = old.get("packages", {}), new.get("packages", {})
    for name in sorted(set(old_pkg) | set(new_pkg)):
        if old_pkg.get(name) != new_pkg.get(name):
            changed.append(f"{name} {old_pkg.get(name)} -> {new_pkg.get(name)}")
    if old.get("python") != new.get("python"):
        changed.append(f"python {old.get('python')} -> {new.get('python')}")
    return changed


# --------------------------------------------------------------------------- environment


def git_state(directory: Path) -> dict[str, Any]:
    """Commit and dirty flag of the git work tree holding ``directory``, if any."""

    def _git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=directory, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status)}


def environment(estimator_module: str | None = None) -> dict[str, Any]:
    """Python, platform, host and the versions of the packages that produce scores."""
    versions = {name: package_version(name) for name in ("numpy", "sklearn", "scipy")}
    if estimator_module:
        top = estimator_module.split(".")[0]
        version = package_version(top)
        if version is not None:  # None: the user's own module (hashed in the code hash)
            versions.setdefault(top, version)
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "host": socket.gethostname(),
        "versions": versions,
    }
