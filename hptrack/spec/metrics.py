"""Metrics of a spec checked against scikit-learn's scorers and, once the data is loaded,
against the target: a metric that cannot work is refused before the store is touched.
"""

from __future__ import annotations

from typing import Any

from ..errors import SpecError
from .study import DEFAULT_METRIC, StudySpec, _did_you_mean


def check_metrics(spec: StudySpec) -> None:
    """Raise :class:`SpecError` for a metric that is not a scikit-learn scorer name."""
    from sklearn.metrics import get_scorer_names

    names = set(get_scorer_names())
    for metric in spec.metrics:
        if metric != DEFAULT_METRIC and metric not in names:
            raise SpecError(
                f"{spec.source}: metrics: {metric!r} is not a scikit-learn scorer"
                f"{_did_you_mean(metric, sorted(names | {DEFAULT_METRIC}))} "
                "(see sklearn.metrics.get_scorer_names(), or 'score' for the estimator's own)"
            )


# Scorers that average over a binary target's positive class (scikit-learn's default
# ``average="binary"``, or a binary-only score function): what to use for a target with
# more classes. ``average_precision`` and ``neg_brier_score`` take multiclass targets.
_MULTICLASS = ("balanced_accuracy", "f1_macro")


BINARY_ONLY: dict[str, tuple[str, ...]] = {
    "precision": ("precision_macro", "precision_micro", "precision_weighted"),
    "recall": ("recall_macro", "recall_micro", "recall_weighted"),
    "f1": ("f1_macro", "f1_micro", "f1_weighted"),
    "jaccard": ("jaccard_macro", "jaccard_micro", "jaccard_weighted"),
    "roc_auc": ("roc_auc_ovr", "roc_auc_ovo", "roc_auc_ovr_weighted"),
    "positive_likelihood_ratio": _MULTICLASS,
    "neg_negative_likelihood_ratio": _MULTICLASS,
}


_NOT_BINARY = ("multiclass", "multiclass-multioutput", "multilabel-indicator")


_REGRESSION_FIX = "use e.g. 'r2' or 'neg_mean_squared_error'"


_CLASSIFICATION_FIX = "use e.g. 'accuracy' or 'f1_macro'"


def metric_kind(metric: str) -> str | None:
    """``"classification"``, ``"regression"`` or None (clustering, ``score``, unknown).

    Read from scikit-learn's own scorer object: the module of its score function, or a
    response method only classifiers have (``predict_proba``, ``decision_function``).

    Examples
    --------
    >>> metric_kind("f1_macro"), metric_kind("r2"), metric_kind("adjusted_rand_score")
    ('classification', 'regression', None)
    """
    from sklearn.metrics import get_scorer, get_scorer_names

    if metric not in get_scorer_names():
        return None
    if metric in BINARY_ONLY:
        return "classification"
    scorer = get_scorer(metric)
    module = getattr(getattr(scorer, "_score_func", None), "__module__", None) or ""
    if module.startswith("sklearn.metrics._regression"):
        return "regression"
    if module.startswith(("sklearn.metrics._classification", "sklearn.metrics._ranking")):
        return "classification"
    methods = getattr(scorer, "_response_method", ())
    methods = (methods,) if isinstance(methods, str) else tuple(methods)
    if any(m in ("predict_proba", "decision_function") for m in methods):
        return "classification"
    return None


def _options(names: tuple[str, ...]) -> str:
    quoted = [repr(n) for n in names]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def check_metrics_fit(spec: StudySpec, estimator: Any, y: Any) -> None:
    """Refuse a metric that cannot work for the estimator and target (SPEC section 3).

    A classification metric on a continuous target or for a regressor, a regression
    metric for a classifier, a binary-average metric (``precision``, ``roc_auc``, ...)
    on a target with more than two classes, and a ``*_samples`` metric on a target that
    is not multilabel: each would fail (or mean nothing) on every fold, so the spec is
    refused before the store is touched.

    Raises
    ------
    SpecError
        Naming the spec file, the metric, the target (or estimator) and what to use.
    """
    from sklearn.base import is_classifier, is_regressor
    from sklearn.utils.multiclass import type_of_target

    target = None
    if y is not None:
        try:
            target = type_of_target(y)
        except (ValueError, TypeError):  # what the CV splitter or the fit will report
            target = None
    where = f"{spec.source}: metrics:"
    for metric in spec.metrics:
        kind = metric_kind(metric)
        if kind == "classification" and target is not None and target.startswith("continuous"):
            raise SpecError(
                f"{where} {metric!r} is a classification metric but y is {target} "
                f"(a regression target); {_REGRESSION_FIX}"
            )
        if kind == "classification" and is_regressor(estimator):
            raise SpecError(
                f"{where} {metric!r} is a classification metric but estimator = "
                f"{spec.estimator!r} is a regressor; {_REGRESSION_FIX}"
            )
        if kind == "regression" and is_classifier(estimator):
            raise SpecError(
                f"{where} {metric!r} is a regression metric but estimator = "
                f"{spec.estimator!r} is a classifier; {_CLASSIFICATION_FIX}"
            )
        if metric in BINARY_ONLY and target in _NOT_BINARY:
            if target == "multiclass":
                import numpy as np

                what = f"has {len(np.unique(np.asarray(y)))} classes"
            else:
                what = f"is {target}"
            raise SpecError(
                f"{where} {metric!r} averages over a binary target but y {what}; "
                f"use {_options(BINARY_ONLY[metric])}"
            )
        if target == "binary":
            _check_pos_label(where, metric, y)
        if metric.endswith("_samples") and target in ("binary", *_NOT_BINARY[:2]):
            base = metric[: -len("_samples")]
            raise SpecError(
                f"{where} {metric!r} averages over the labels of each sample, for a "
                f"multilabel target, but y is {target}; use {_options((f'{base}_macro', f'{base}_weighted'))}"
            )
    check_response_methods(spec, estimator)


def _scorer_parts(metric: str) -> tuple[Any, tuple[str, ...], dict[str, Any]]:
    """A scikit-learn scorer's score function, response methods and keyword arguments."""
    from sklearn.metrics import get_scorer, get_scorer_names

    if metric not in get_scorer_names():
        return None, (), {}
    scorer = get_scorer(metric)
    methods = getattr(scorer, "_response_method", ())
    methods = (methods,) if isinstance(methods, str) else tuple(methods)
    return getattr(scorer, "_score_func", None), methods, dict(getattr(scorer, "_kwargs", {}))


def _check_pos_label(where: str, metric: str, y: Any) -> None:
    """Refuse a binary metric whose positive class is not one of y's two labels.

    ``f1``, ``precision``, ``average_precision``... score ``pos_label=1`` by default, and
    ``neg_brier_score`` needs labels {0, 1} or {-1, 1} when no ``pos_label`` is given:
    with labels such as ``'no'``/``'yes'`` each fold's scorer would fail.
    """
    import inspect

    import numpy as np

    func, _, kwargs = _scorer_parts(metric)
    if func is None:
        return
    try:
        parameter = inspect.signature(func).parameters.get("pos_label")
    except (TypeError, ValueError):
        return
    if parameter is None or kwargs.get("average") == "samples":
        return
    pos_label = kwargs.get("pos_label", parameter.default)
    labels = np.unique(np.asarray(y))
    plain = [label.item() if isinstance(label, np.generic) else label for label in labels]
    if pos_label is None:
        if labels.dtype.kind in "biuf" and ({*plain} <= {0, 1} or {*plain} <= {-1, 1}):
            return
        problem = "needs the labels 0 and 1 (or -1 and 1) to know the positive class"
    elif any(label == pos_label for label in plain):
        return
    else:
        problem = f"scores the positive class pos_label={pos_label!r}"
    fixes = [repr(m) for m in BINARY_ONLY.get(metric, ())[:1]]
    alternative = f"use {fixes[0]}, or " if fixes else ""
    raise SpecError(
        f"{where} {metric!r} {problem}, but y's labels are {plain[0]!r} and {plain[1]!r}; "
        f"{alternative}return y as 0/1 from the data loader (1 = the positive class)"
    )


def check_response_methods(spec: StudySpec, estimator: Any) -> None:
    """Refuse a metric whose scorer needs a method no configuration of the estimator has.

    ``neg_log_loss`` scores ``predict_proba``, which ``SVC`` has only with
    ``probability=True``: without it every fold's scorer fails. The estimator is tried
    with its ``[fixed]`` params and with each listed ``[space]`` value on its own; a
    metric is refused only when none of them has any of the scorer's response methods.

    Raises
    ------
    SpecError
        Naming the metric, the method, the estimator, and a boolean param that would
        give the method when there is one.
    """
    for metric in spec.metrics:
        _, methods, _ = _scorer_parts(metric)
        if not methods or any(hasattr(estimator, m) for m in methods):
            continue
        if any(_has_any(variant, methods) for variant in _space_variants(spec, estimator)):
            continue
        needed = " or ".join(methods)
        flip = _enabling_flag(estimator, methods)
        label = type(estimator).__name__
        hint = (
            f"set {flip[0]} = {str(flip[1]).lower()} in [fixed]"
            if flip
            else f"use an estimator with {needed}"
        )
        raise SpecError(
            f"{spec.source}: metrics: {metric!r} scores {needed}, which {label} does not have "
            f"with these params; {hint}, or use a metric scored on predict such as 'accuracy'"
        )


def _has_any(estimator: Any, methods: tuple[str, ...]) -> bool:
    return any(hasattr(estimator, m) for m in methods)


def _space_variants(spec: StudySpec, estimator: Any) -> Any:
    """The estimator with each listed ``[space]`` value set on its own (values it refuses skipped)."""
    from sklearn.base import clone

    from .space import Distribution

    for key, values in spec.space.items():
        if isinstance(values, Distribution):
            if values.values is None:
                continue
            values = list(values.values)
        for value in values:
            try:
                yield clone(estimator).set_params(**{key: value})
            except Exception:  # the fit will say what is wrong with such a value
                continue


def _enabling_flag(estimator: Any, methods: tuple[str, ...]) -> tuple[str, bool] | None:
    """A boolean param whose other value gives the estimator one of ``methods`` (``probability``)."""
    from sklearn.base import clone

    for key, value in estimator.get_params(deep=True).items():
        if isinstance(value, bool):
            try:
                if _has_any(clone(estimator).set_params(**{key: not value}), methods):
                    return key, not value
            except Exception:
                continue
    return None
