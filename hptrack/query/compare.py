"""Compare two studies, in one store or two: what differs, per-config deltas, a test of the bests.

:func:`compare_studies` aligns the trials of two studies by their params (canonical
JSON), gives each shared configuration's mean score delta (B - A), paired fold by fold
when both studies used the same CV splits, names the spec, code, data and environment
fields that differ, and tests the two best configurations against each other with the
corrected resampled t-test when their folds are comparable. ``regressed`` makes it a
CI gate: B's best is worse than A's by more than a threshold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from .._json import canonical_json
from ..errors import HptrackError, SpecError
from ..store import json_safe
from .importance import ImportanceAgreement, agreement
from .stats import TEST_NAME, TTestResult, corrected_ttest, corrected_ttests
from .study import Study
from .ties import ALPHA, fold_size_ratio
from .trials import Trial


@dataclass(frozen=True)
class ConfigDelta:
    """A configuration (params) present in both studies."""

    params: dict[str, Any]
    a_number: int
    b_number: int
    a_mean: float | None
    b_mean: float | None
    delta: float | None  # b_mean - a_mean
    fold_deltas: list[float] | None  # per fold, b - a, when the folds are comparable
    p_value: float | None  # corrected resampled t-test of the fold deltas

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN becomes None)."""
        return json_safe(
            {
                "params": self.params,
                "a_number": self.a_number,
                "b_number": self.b_number,
                "a_mean": self.a_mean,
                "b_mean": self.b_mean,
                "delta": self.delta,
                "paired": self.fold_deltas is not None,
                "fold_deltas": self.fold_deltas,
                "p_value": self.p_value,
            }
        )


@dataclass(frozen=True)
class BestOf:
    """One study's best trial on the compared metric."""

    number: int
    params: dict[str, Any]
    mean: float | None
    std: float | None
    scores: list[float | None]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN becomes None)."""
        return json_safe(
            {
                "number": self.number,
                "params": self.params,
                "mean": self.mean,
                "std": self.std,
                "scores": self.scores,
            }
        )


@dataclass(frozen=True)
class StudySide:
    """Identity of one compared study."""

    name: str
    store: str
    search: str
    n_trials: int
    n_complete: int
    n_folds: int
    code_hash: str
    data_hash: str
    split_hash: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class StudyComparison:
    """The result of :func:`compare_studies` (B compared with A).

    ``regressed`` is True when B's best mean is below A's by more than ``threshold``;
    ``ok`` is its negation. ``test`` is None when the folds are not comparable (see
    ``test_note``).
    """

    a: StudySide
    b: StudySide
    metric: str
    differences: dict[str, list[str]]  # "spec", "code", "data", "environment"
    comparable_folds: bool
    shared: list[ConfigDelta]
    only_a: list[dict[str, Any]]
    only_b: list[dict[str, Any]]
    best_a: BestOf | None
    best_b: BestOf | None
    test: TTestResult | None
    test_note: str
    alpha: float
    threshold: float
    importance: ImportanceAgreement | None = None  # None when a study has too few complete trials

    @property
    def best_delta(self) -> float | None:
        """B's best mean minus A's (None when either has no complete trial)."""
        if self.best_a is None or self.best_b is None or self.best_a.mean is None or self.best_b.mean is None:
            return None
        return self.best_b.mean - self.best_a.mean

    @property
    def regressed(self) -> bool:
        """B's best is worse than A's by more than ``threshold``."""
        delta = self.best_delta
        return delta is not None and -delta > self.threshold

    @property
    def ok(self) -> bool:
        """True unless :attr:`regressed` (the CI gate passes)."""
        return not self.regressed

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN becomes None)."""
        return json_safe(
            {
                "a": self.a.to_dict(),
                "b": self.b.to_dict(),
                "metric": self.metric,
                "differences": self.differences,
                "comparable_folds": self.comparable_folds,
                "shared": [s.to_dict() for s in self.shared],
                "only_a": self.only_a,
                "only_b": self.only_b,
                "best": {
                    "a": None if self.best_a is None else self.best_a.to_dict(),
                    "b": None if self.best_b is None else self.best_b.to_dict(),
                    "delta": self.best_delta,
                },
                "test": None if self.test is None else {**self.test.to_dict(), "alpha": self.alpha},
                "test_note": self.test_note,
                "threshold": self.threshold,
                "regressed": self.regressed,
                "importance": None if self.importance is None else self.importance.to_dict(),
            }
        )


def compare_studies(
    a: Study, b: Study, *, metric: str | None = None, threshold: float = 0.0, alpha: float = ALPHA
) -> StudyComparison:
    """Compare study ``b`` with study ``a`` (deltas are B - A).

    Parameters
    ----------
    a, b : Study
        The studies, from one store or two (``Store.study(name)``).
    metric : str, optional
        The metric to compare; default A's ranking metric. Both must record it.
    threshold : float, default=0
        ``regressed`` when B's best mean is below A's by more than this.
    alpha : float, default=0.05
        Significance level stated with the paired test of the bests.

    Returns
    -------
    StudyComparison

    Raises
    ------
    SpecError
        A study does not record ``metric``; ``threshold`` is negative.

    Examples
    --------
    >>> with Store("runs.db", readonly=True) as store:  # doctest: +SKIP
    ...     result = compare_studies(store.study("svc-v1"), store.study("svc-v2"))
    >>> result.regressed, result.test_note  # doctest: +SKIP
    """
    if not (threshold >= 0 and math.isfinite(threshold)):
        raise SpecError(f"threshold = {threshold!r} must be a finite number >= 0")
    metric = metric or a.metric
    for study, label in ((a, "A"), (b, "B")):
        if metric not in study.metrics:
            raise SpecError(
                f"study {label} {study.name!r} does not record metric {metric!r} (it has "
                f"{', '.join(study.metrics)}); choose one both record with --metric"
            )
    comparable = a.split_hash == b.split_hash and a.n_folds == b.n_folds and a.n_folds >= 2
    ratio, _scheme = fold_size_ratio(a)
    a_trials, b_trials = _by_params(a), _by_params(b)
    pairs = [(ta, b_trials[key]) for key, ta in a_trials.items() if key in b_trials]
    shared = _shared_configs(pairs, metric, comparable, ratio)
    shared.sort(key=lambda s: (-_value(s.b_mean), -_value(s.a_mean), s.a_number))
    best_a, best_b = _best(a, metric), _best(b, metric)
    test, note = _test_bests(a, b, best_a, best_b, comparable, ratio, alpha)
    return StudyComparison(
        a=_side(a),
        b=_side(b),
        metric=metric,
        differences=differences(a, b),
        comparable_folds=comparable,
        shared=shared,
        only_a=[t.params for k, t in a_trials.items() if k not in b_trials],
        only_b=[t.params for k, t in b_trials.items() if k not in a_trials],
        best_a=best_a,
        best_b=best_b,
        test=test,
        test_note=note,
        alpha=alpha,
        threshold=float(threshold),
        importance=_importance_agreement(a, b, metric),
    )


def _importance_agreement(a: Study, b: Study, metric: str) -> ImportanceAgreement | None:
    """Whether A and B agree on which parameters matter; None if either has too few trials."""
    try:
        return agreement(a.importance(metric), b.importance(metric))
    except SpecError:
        return None


# --------------------------------------------------------------------------- pieces


def differences(a: Study, b: Study) -> dict[str, list[str]]:
    """The spec, code, data and environment fields that differ between two studies."""
    from ..identity import diff_code
    from ..spec import diff_specs

    code = diff_code(a.code, b.code) if a.code_hash != b.code_hash else []
    if a.code_hash != b.code_hash and not code:
        code = ["code hash"]
    data: list[str] = []
    if a.data_hash != b.data_hash:
        data.append(f"fingerprint {a.data_hash[:12]} -> {b.data_hash[:12]}")
        data.extend(_data_fields(a.data, b.data))
    if a.split_hash != b.split_hash:
        data.append(f"CV splits {a.split_hash[:12]} -> {b.split_hash[:12]}")
    env_a = _flat(a.provenance.get("environment", {}))
    env_b = _flat(b.provenance.get("environment", {}))
    git_a, git_b = a.provenance.get("git") or {}, b.provenance.get("git") or {}
    env_a.update({f"git.{k}": v for k, v in git_a.items()})
    env_b.update({f"git.{k}": v for k, v in git_b.items()})
    environment = [
        f"{key} {env_a.get(key)} -> {env_b.get(key)}"
        for key in sorted(set(env_a) | set(env_b))
        if env_a.get(key) != env_b.get(key)
    ]
    return {"spec": diff_specs(a.spec, b.spec), "code": code, "data": data, "environment": environment}


def _data_fields(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> list[str]:
    by_a = {d.get("name"): d for d in a}
    by_b = {d.get("name"): d for d in b}
    out = []
    for name in sorted(set(by_a) | set(by_b), key=str):
        da, db = by_a.get(name, {}), by_b.get(name, {})
        for key in ("type", "shape", "dtype"):
            if da.get(key) != db.get(key):
                out.append(f"{name} {key} {_shape(da.get(key))} -> {_shape(db.get(key))}")
    return out


def _shape(value: Any) -> str:
    return str(tuple(value)) if isinstance(value, list) else str(value)


def _flat(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(item, Mapping):
            out.update(_flat(item, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = item
    return out


def _by_params(study: Study) -> dict[str, Trial]:
    """Trials by canonical params; for repeated params, the complete one with the lowest number."""
    out: dict[str, Trial] = {}
    for trial in study.trials():
        key = canonical_json(trial.params)
        if key not in out or (out[key].status != "complete" and trial.status == "complete"):
            out[key] = trial
    return out


def _shared_configs(
    pairs: list[tuple[Trial, Trial]], metric: str, comparable: bool, ratio: float | None
) -> list[ConfigDelta]:
    """Each (A, B) trial pair's deltas; the paired ones tested B against A in one pass."""
    deltas = [_shared(ta, tb, metric, comparable) for ta, tb in pairs]
    if ratio is None:
        return deltas
    tested = [i for i, delta in enumerate(deltas) if delta.fold_deltas is not None]
    results = corrected_ttests(
        ((pairs[i][1].scores[metric], pairs[i][0].scores[metric]) for i in tested),  # type: ignore[misc]
        test_train_ratio=ratio,
    )
    for i, result in zip(tested, results):
        deltas[i] = replace(deltas[i], p_value=result.p_value)
    return deltas


def _shared(ta: Trial, tb: Trial, metric: str, comparable: bool) -> ConfigDelta:
    """A configuration both studies ran: means, delta and fold deltas (no p-value yet)."""
    a_mean = ta.mean.get(metric) if ta.status == "complete" else None
    b_mean = tb.mean.get(metric) if tb.status == "complete" else None
    delta = None if a_mean is None or b_mean is None else b_mean - a_mean
    fold_deltas = None
    sa, sb = ta.scores[metric], tb.scores[metric]
    if comparable and delta is not None and _finite(sa) and _finite(sb):
        fold_deltas = [float(y) - float(x) for x, y in zip(sa, sb)]  # type: ignore[arg-type]
    return ConfigDelta(
        params=ta.params,
        a_number=ta.number,
        b_number=tb.number,
        a_mean=a_mean,
        b_mean=b_mean,
        delta=delta,
        fold_deltas=fold_deltas,
        p_value=None,
    )


def _finite(values: list[float | None]) -> bool:
    return bool(values) and all(v is not None and math.isfinite(v) for v in values)


def _value(x: float | None) -> float:
    return -math.inf if x is None or math.isnan(x) else x


def _best(study: Study, metric: str) -> BestOf | None:
    if metric == study.metric:
        try:
            trial = study.best()
        except HptrackError:
            return None
    else:
        found = [t for t in study.trials(status="complete", sort=metric) if t.mean.get(metric) is not None]
        if not found:
            return None
        trial = found[0]
    return BestOf(
        number=trial.number,
        params=trial.params,
        mean=trial.mean.get(metric),
        std=trial.std.get(metric),
        scores=trial.scores[metric],
    )


def _test_bests(
    a: Study,
    b: Study,
    best_a: BestOf | None,
    best_b: BestOf | None,
    comparable: bool,
    ratio: float | None,
    alpha: float,
) -> tuple[TTestResult | None, str]:
    if best_a is None or best_b is None:
        missing = a.name if best_a is None else b.name
        return None, f"no paired test: study {missing!r} has no ranked trial"
    if a.n_folds < 2 or ratio is None:
        return None, f"no paired test: {a.n_folds} fold (a holdout split): nothing to pair"
    if not comparable:
        why = (
            f"A has {a.n_folds} folds, B {b.n_folds}"
            if a.n_folds != b.n_folds
            else f"split hash {a.split_hash[:12]} vs {b.split_hash[:12]}"
        )
        return None, (
            f"no paired test: the studies' CV folds differ ({why}), so their fold scores are not "
            "paired; compare the means with care"
        )
    if not (_finite(best_a.scores) and _finite(best_b.scores)):
        return None, "no paired test: a fold score of a best trial is missing or NaN"
    result = corrected_ttest(best_b.scores, best_a.scores, test_train_ratio=ratio)  # type: ignore[arg-type]
    verdict = "significant" if result.p_value < alpha else "not significant"
    t_text = f"{result.t:.3f}" if math.isfinite(result.t) else str(result.t)
    return result, (
        f"{TEST_NAME}, two-sided, on the {result.k} shared folds, n_test/n_train = "
        f"{_ratio_text(ratio)}: t = {t_text}, df = {result.df}, p = {result.p_value:.4g} "
        f"({verdict} at alpha {alpha:g})"
    )


def _ratio_text(ratio: float) -> str:
    inverse = 1 / ratio if ratio else 0
    return f"1/{round(inverse)}" if ratio and abs(inverse - round(inverse)) < 1e-9 else f"{ratio:.4g}"


def _side(study: Study) -> StudySide:
    counts = study.counts()
    return StudySide(
        name=study.name,
        store=str(study.store_path) if study.store_path is not None else "",
        search=study.search,
        n_trials=study.n_trials,
        n_complete=counts["complete"],
        n_folds=study.n_folds,
        code_hash=study.code_hash,
        data_hash=study.data_hash,
        split_hash=study.split_hash,
    )
