"""A spec's data and folds: import its modules afresh, call its loader, check the target,
split with its splitter, fingerprint the data (no scikit-learn at import).
"""

from __future__ import annotations

import inspect
import os
import sys
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SpecError
from ..identity import data_fingerprint
from ..identity.code import _is_user_module, real_path
from ..spec import StudySpec, resolve
from ..spec.resolve import spec_folders


def forget_user_modules(spec: StudySpec) -> None:
    """Drop the user's modules under the spec's directory from ``sys.modules``.

    They are imported afresh, so the code that runs is the code that is hashed, even in a
    long-lived process where the user edited the module (or a helper it imports) since
    the last run.
    """
    base = spec.base_dir.resolve()
    for path in (spec.objective or spec.estimator, spec.data):
        top = path.partition(":")[0].split(".")[0]
        loaded = sys.modules.get(top)
        file = getattr(loaded, "__file__", None)
        if loaded is None or not file or top == "hptrack":
            continue
        # under the spec's folder, or user code imported from another folder (a spec elsewhere
        # with a module of the same name): import it afresh from this spec's folder
        if Path(file).resolve().is_relative_to(base) or _is_user_module(loaded):
            for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
                del sys.modules[name]
    # helpers those modules import, beside this spec or another one run in this process (a
    # `helper.py` of another folder would otherwise shadow this spec's own)
    prefixes = tuple({str(base) + os.sep, *(real_path(d) + os.sep for d in spec_folders())})
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if name == "__main__" or name.split(".")[0] == "hptrack" or not file or "site-packages" in file:
            continue
        here = real_path(file).startswith(prefixes)
        if (here or not os.path.exists(file)) and _is_user_module(module):  # or its file is gone
            del sys.modules[name]


def resolve_loader(spec: StudySpec) -> Callable[[], Any]:
    """The spec's ``data`` callable, resolved.

    Raises
    ------
    SpecError
        The path does not resolve, or not to a callable.
    """
    loader = resolve(spec.data, base_dir=spec.base_dir, key="data", source=spec.source)
    if not callable(loader):
        raise SpecError(f"{spec.source}: data = {spec.data!r} is not callable")
    return loader


def load_data(spec: StudySpec, loader: Callable[[], Any] | None = None) -> tuple[Any, Any, Any]:
    """Call the spec's data loader; return ``(X, y, groups)``.

    Parameters
    ----------
    spec : StudySpec
        The spec (for its ``data`` path, ``[cv]`` and messages).
    loader : callable, optional
        The loader when already resolved (:func:`resolve_loader`).

    Returns
    -------
    X, y, groups
        ``groups`` is None unless the loader returns them.

    Raises
    ------
    SpecError
        The loader fails, returns something else, or lengths disagree.
    """
    if loader is None:
        loader = resolve_loader(spec)
    try:
        loaded = loader()
    except Exception as exc:
        message = " ".join(str(exc).split())
        raise SpecError(
            f"{spec.source}: data = {spec.data!r}: calling it failed: {type(exc).__name__}: {message}"
        ) from exc
    groups = None
    if hasattr(loaded, "data") and hasattr(loaded, "target"):
        X, y = loaded.data, loaded.target
        groups = getattr(loaded, "groups", None)
    elif isinstance(loaded, tuple) and len(loaded) in (2, 3):
        X, y = loaded[0], loaded[1]
        groups = loaded[2] if len(loaded) == 3 else None
    else:
        raise SpecError(
            f"{spec.source}: data = {spec.data!r} returned an object of type "
            f"{type(loaded).__name__}; it must return (X, y), (X, y, groups) or a Bunch with "
            ".data and .target"
        )
    n = _n_samples(X, "X", spec)
    for label, value in (("y", y), ("groups", groups)):
        if value is not None and _n_samples(value, label, spec) != n:
            raise SpecError(
                f"{spec.source}: data = {spec.data!r}: X has {n} samples but {label} has "
                f"{_n_samples(value, label, spec)}"
            )
    if spec.cv.kind == "group" and groups is None:
        raise SpecError(
            f"{spec.source}: [cv] kind = 'group' needs groups: the data loader must return (X, y, groups)"
        )
    return X, y, groups


def _n_samples(value: Any, label: str, spec: StudySpec) -> int:
    try:
        shape = getattr(value, "shape", None)
        return int(shape[0]) if shape is not None else len(value)
    except (TypeError, IndexError) as exc:
        raise SpecError(
            f"{spec.source}: data = {spec.data!r} returned {label} of type "
            f"{type(value).__name__}; it must return array-likes (numpy arrays, lists, DataFrames)"
        ) from exc


def make_splitter(spec: StudySpec, estimator: Any, y: Any) -> Any:
    """The spec's CV splitter, its shuffle seeded with the study seed."""
    from sklearn.base import is_classifier
    from sklearn.model_selection import (
        GroupKFold,
        KFold,
        ShuffleSplit,
        StratifiedKFold,
        StratifiedShuffleSplit,
    )
    from sklearn.utils.multiclass import type_of_target

    cv = spec.cv
    classifier = (
        _estimator(estimator) and is_classifier(estimator) and type_of_target(y) in ("binary", "multiclass")
    )
    kind = resolved_cv_kind(spec, estimator, y)
    random_state = spec.seed if cv.shuffle else None
    if kind == "holdout":
        holdout = StratifiedShuffleSplit if classifier else ShuffleSplit
        return holdout(n_splits=1, test_size=cv.test_size, random_state=spec.seed)
    if kind == "group":
        if not cv.shuffle:
            return GroupKFold(n_splits=cv.folds)
        if "shuffle" not in inspect.signature(GroupKFold).parameters:
            import sklearn

            raise SpecError(
                f"{spec.source}: [cv] shuffle = true with kind = 'group' needs scikit-learn >= 1.6 "
                f"(GroupKFold(shuffle=...)), but {sklearn.__version__} is installed; remove shuffle "
                "or upgrade scikit-learn"
            )
        return GroupKFold(n_splits=cv.folds, shuffle=True, random_state=random_state)
    if kind == "stratified":
        return StratifiedKFold(n_splits=cv.folds, shuffle=cv.shuffle, random_state=random_state)
    return KFold(n_splits=cv.folds, shuffle=cv.shuffle, random_state=random_state)


def resolved_cv_kind(spec: StudySpec, estimator: Any, y: Any) -> str:
    """``[cv] kind``, or scikit-learn's default: stratified for classifiers."""
    if spec.cv.kind is not None:
        return spec.cv.kind
    from sklearn.base import is_classifier
    from sklearn.utils.multiclass import type_of_target

    if _estimator(estimator) and is_classifier(estimator) and type_of_target(y) in ("binary", "multiclass"):
        return "stratified"
    return "kfold"


def _estimator(estimator: Any) -> bool:
    """Whether ``estimator`` is one (an objective study's is a function: no classifier, no regressor)."""
    return hasattr(estimator, "get_params")


def check_cv_groups(spec: StudySpec, estimator: Any, y: Any, groups: Any) -> None:
    """Refuse groups from the data loader when ``[cv] kind`` is not ``"group"``.

    scikit-learn's other splitters ignore groups (and say so in a warning), so the loader's
    groups would silently play no part in the folds.

    Raises
    ------
    SpecError
        Naming the kind in use and ``[cv] kind = "group"`` as the fix.
    """
    if groups is None:
        return
    kind = resolved_cv_kind(spec, estimator, y)
    if kind == "group":
        return
    written = f"[cv] kind = {kind!r}" if spec.cv.kind is not None else f"[cv] kind (default {kind!r})"
    raise SpecError(
        f"{spec.source}: data = {spec.data!r} returned groups (X, y, groups), but {written} ignores "
        'them; set [cv] kind = "group" to keep each group within one fold, or return (X, y)'
    )


def check_cv_target(spec: StudySpec, estimator: Any, y: Any) -> None:
    """Refuse stratified folds for a regressor, or on a target without classes.

    Raises
    ------
    SpecError
        Naming the target's type and ``[cv] kind = "kfold"`` as the fix.
    """
    if resolved_cv_kind(spec, estimator, y) != "stratified" or y is None:
        return
    from sklearn.base import is_regressor
    from sklearn.utils.multiclass import type_of_target

    fix = 'use [cv] kind = "kfold"'
    if _estimator(estimator) and is_regressor(estimator):
        raise SpecError(
            f"{spec.source}: [cv] kind = 'stratified' keeps class proportions, but estimator = "
            f"{spec.estimator!r} is a regressor; {fix}"
        )
    try:
        target = type_of_target(y)
    except (ValueError, TypeError):  # the splitter reports it
        return
    if target not in ("binary", "multiclass"):
        what = f"{target} (a regression target)" if target.startswith("continuous") else target
        raise SpecError(f"{spec.source}: [cv] kind = 'stratified' needs class labels but y is {what}; {fix}")


def compute_splits(
    splitter: Any, X: Any, y: Any, groups: Any, where: str, hint: str = ""
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The folds as index arrays; a splitter that cannot split this data is a SpecError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # e.g. a class smaller than n_splits
            return [(np.asarray(train), np.asarray(test)) for train, test in splitter.split(X, y, groups)]
    except (ValueError, UserWarning) as exc:
        message = " ".join(str(exc).split())
        raise SpecError(f"{where}: the CV splitter cannot split this data: {message}{hint}") from exc


def data_identity(
    X: Any, y: Any, groups: Any = None, fit_params: Mapping[str, Any] | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """The data fingerprint of a plan: X, y, groups and every fit param.

    Parameters
    ----------
    X, y, groups : array-like
        The data as the splitter sees it.
    fit_params : mapping, optional
        Passed to ``fit``; each is fingerprinted as ``fit:<name>``.

    Returns
    -------
    data_hash, data_info
        As :func:`hptrack.identity.data_fingerprint`.
    """
    arrays = {"X": X, "y": y, "groups": groups}
    arrays.update({f"fit:{k}": v for k, v in (fit_params or {}).items()})
    return data_fingerprint(arrays)
