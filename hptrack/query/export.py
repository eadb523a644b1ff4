"""Exports: scikit-learn's ``cv_results_`` layout, and flat rows in its naming (CSV, JSON, pandas).

:func:`cv_results_layout` builds the dict exactly as ``BaseSearchCV._format_results``
lays it out; the drop-in search classes and :meth:`Study.cv_results` use it.
:func:`export_rows` gives one flat row per trial (``param_C``, ``split0_test_<m>``,
``mean_test_<m>``, ``rank_test_<m>``...): ``hptrack export`` and the report's CSV.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import MissingDependencyError
from ..spec.direction import MAXIMIZING, Direction
from ..store import json_safe
from .ranking import min_rank, min_ranks
from .trials import Trial, nan_for_none


def study_cv_results(
    trials: Sequence[Trial], *, n_folds: int, metrics: Sequence[str], rank_metric: str
) -> dict[str, Any]:
    """A study's trials (by number) as ``cv_results_``; the ranking metric's ranks are the trials'
    own (failed trials unranked); a halving study's have ``iter`` and ``n_resources`` too."""
    results = cv_results_layout(
        [t.params for t in trials],
        n_splits=n_folds,
        test_scores={m: [[nan_for_none(v) for v in t.scores[m]] for t in trials] for m in metrics},
        train_scores=(
            {
                m: [[nan_for_none(v) for v in (t.train_scores or {}).get(m, [])] for t in trials]
                for m in metrics
            }
            if any(t.train_scores for t in trials)
            else None
        ),
        fit_time=[[nan_for_none(v) for v in t.fit_time] for t in trials],
        score_time=[[nan_for_none(v) for v in t.score_time] for t in trials],
        ranks={rank_metric: [t.rank for t in trials]},
    )
    if trials and all(t.rung is not None for t in trials):
        import numpy as np

        results["iter"] = np.array([t.rung for t in trials])
        results["n_resources"] = np.array([t.resource for t in trials])
    return results


def export_rows(
    trials: Sequence[Trial],
    metrics: Sequence[str],
    *,
    ranks: Mapping[str, Mapping[int, int]] | None = None,
    leave_out: Collection[str] = (),
    direction: Direction = MAXIMIZING,
) -> list[dict[str, Any]]:
    """One flat row per trial in ``cv_results_`` naming (``param_C``, ``split0_test_...``).

    ``rank_test_<m>`` ranks the complete trials with a finite mean of ``m``
    (:func:`~hptrack.query.ranking.min_ranks`; the first metric in ``direction``, the others
    greater-is-better); the others have none. ``ranks`` gives
    them by trial number when ``trials`` is one page of a study (:func:`iter_export_rows`).
    ``leave_out`` names columns not to compute (:class:`ExportRow`), for a caller that
    shows only some (the report's download).
    """
    param_names = sorted({k for t in trials for k in t.params})
    if ranks is None:
        ranks = {
            m: _export_ranks(trials, m, direction if i == 0 else MAXIMIZING)
            for i, m in enumerate(metrics)
            if f"rank_test_{m}" not in leave_out
        }
    return list(map(ExportRow(param_names, metrics, ranks, leave_out=leave_out), trials))


_SORTED_JSON = json.JSONEncoder(sort_keys=True)  # json.dumps(value, sort_keys=True), built once


class ExportRow:
    """Makes a trial's export row: the one row layout of every export (rows, CSV, JSON, pages).

    The column names are made once per table, not once per row. Every non-finite float
    becomes None and a list or dict param is made JSON-safe (:func:`json_safe`).

    Parameters
    ----------
    param_names : sequence of str
        The table's parameters (a ``param_<name>`` column each, None where a trial lacks it).
    metrics : sequence of str
        The study's metrics.
    rank_of : mapping of str to mapping of int to int
        Per metric, the rank of each ranked trial number.
    leave_out : collection of str, optional
        Columns not computed, and so not in the rows: any of ``params``, ``rank_test_<m>``
        and the ``mean_``/``std_`` ``fit_time``/``score_time`` columns.
    """

    def __init__(
        self,
        param_names: Sequence[str],
        metrics: Sequence[str],
        rank_of: Mapping[str, Mapping[int, int]],
        *,
        leave_out: Collection[str] = (),
    ) -> None:
        self.params = [(name, f"param_{name}") for name in param_names]
        self.metrics = list(metrics)
        self.tests = [
            (m, f"mean_test_{m}", f"std_test_{m}", f"rank_test_{m}", rank_of[m])
            if f"rank_test_{m}" not in leave_out
            else (m, f"mean_test_{m}", f"std_test_{m}", None, {})
            for m in metrics
        ]
        self.params_json = "params" not in leave_out
        self.times = [
            (f"{stat}_{kind}", _mean_or_none if stat == "mean" else _std_or_none, kind)
            for kind in ("fit_time", "score_time")
            for stat in ("mean", "std")
            if f"{stat}_{kind}" not in leave_out
        ]
        self._splits: dict[tuple[str, str, int], list[str]] = {}

    def splits(self, kind: str, metric: str, n: int) -> list[str]:
        """``split0_<kind>_<metric>`` ... for ``n`` folds."""
        key = (kind, metric, n)
        if key not in self._splits:
            self._splits[key] = [f"split{fold}_{kind}_{metric}" for fold in range(n)]
        return self._splits[key]

    def __call__(self, t: Trial) -> dict[str, Any]:
        """Trial ``t``'s row."""
        row: dict[str, Any] = {"number": t.number, "status": t.status}
        params = t.params
        for name, key in self.params:
            row[key] = _safe(params.get(name))
        if self.params_json:
            row["params"] = _SORTED_JSON.encode(params)
        for m, mean_key, std_key, rank_key, ranks in self.tests:
            scores = t.scores[m]
            for key, value in zip(self.splits("test", m, len(scores)), scores):
                row[key] = _safe(value)
            row[mean_key] = _safe(t.mean[m])
            row[std_key] = _safe(t.std[m])
            if rank_key is not None:
                row[rank_key] = ranks.get(t.number)
        if t.train_scores:
            self._add_train_columns(row, t.train_scores)
        for key, stat, kind in self.times:
            row[key] = _safe(stat(getattr(t, kind)))
        if t.rung is not None:  # successive halving, named as in scikit-learn's cv_results_
            row["iter"], row["n_resources"] = t.rung, t.resource
        row["seed"] = _SORTED_JSON.encode(t.seed)
        row["code_hash"] = t.code_hash
        row["error"] = next(iter(t.errors.values()), None)
        if t.origins:
            row["origin"] = _SORTED_JSON.encode(t.origins)
        return row

    def _add_train_columns(self, row: dict[str, Any], train_scores: Mapping[str, list[float | None]]) -> None:
        """Add ``split<k>_train_<m>``, ``mean_train_<m>`` and ``std_train_<m>`` to an export row."""
        for m in self.metrics:
            values = train_scores.get(m, [])
            for key, value in zip(self.splits("train", m, len(values)), values):
                row[key] = _safe(value)
            row[f"mean_train_{m}"] = _safe(_mean_or_none(values))
            row[f"std_train_{m}"] = _safe(_std_or_none(values))


def _safe(value: Any) -> Any:
    """An export cell as JSON allows it: a NaN or infinite float becomes None (:func:`json_safe`)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (dict, list)):
        return json_safe(value)
    return value


def export_columns(
    param_names: Sequence[str],
    metrics: Sequence[str],
    n_folds: int,
    shapes: Sequence[tuple[bool, bool]],
    *,
    halving: bool = False,
) -> list[str]:
    """The columns a one-shot export lists: the union of the rows' keys in order of first
    appearance, from the ``(has train scores, has origins)`` shapes of the rows in trial order
    (``halving``: with ``iter`` and ``n_resources``)."""
    columns: list[str] = []
    make_row = ExportRow(param_names, metrics, {m: {} for m in metrics})
    for has_train, has_origin in shapes:
        folds = [None] * n_folds
        example = Trial(
            number=0,
            params={},
            status="complete",
            scores={m: folds for m in metrics},
            mean=dict.fromkeys(metrics),
            std=dict.fromkeys(metrics),
            rank=None,
            seed={},
            code_hash=None,
            train_scores={m: folds for m in metrics} if has_train else None,
            origins={0: {}} if has_origin else {},
            rung=0 if halving else None,
        )
        columns.extend(k for k in make_row(example) if k not in columns)
    return columns


def _export_ranks(trials: Sequence[Trial], metric: str, direction: Direction) -> dict[int, int]:
    """``min`` ranks of the complete trials with a finite mean of ``metric``, by number."""
    means = [t.mean[metric] if t.status == "complete" and _finite(t.mean[metric]) else None for t in trials]
    ranked = min_ranks(means, direction=direction)
    return {t.number: rank for t, rank in zip(trials, ranked) if rank is not None}


def _finite(value: float | None) -> bool:
    """A number that is neither None, NaN nor infinite."""
    return value is not None and math.isfinite(value)


def _mean_or_none(values: Sequence[float | None]) -> float | None:
    """numpy's mean, None if a value is missing."""
    if not values or None in values:
        return None
    if len(values) < _PAIRWISE:  # numpy sums fewer than 8 values in order: the same float
        return sum(values) / len(values)  # type: ignore[arg-type]
    import numpy as np

    return float(np.average(np.array(values, dtype=np.float64)))


def _std_or_none(values: Sequence[float | None]) -> float | None:
    """numpy's (population) standard deviation, None if a value is missing."""
    if not values or None in values:
        return None
    if len(values) < _PAIRWISE:
        mean = sum(values) / len(values)  # type: ignore[arg-type]
        return math.sqrt(sum([(v - mean) * (v - mean) for v in values]) / len(values))  # type: ignore[operator]
    import numpy as np

    array = np.array(values, dtype=np.float64)
    return float(np.sqrt(np.average((array - np.average(array)) ** 2)))


# numpy's pairwise summation adds fewer than this many values one after the other, as sum() does
_PAIRWISE = 8


def cv_results_layout(
    candidate_params: Sequence[Mapping[str, Any]],
    *,
    n_splits: int,
    test_scores: Mapping[str, Any],
    train_scores: Mapping[str, Any] | None,
    fit_time: Any,
    score_time: Any,
    ranks: Mapping[str, Sequence[int | None]] | None = None,
    key_names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Build a dict laid out as scikit-learn's ``cv_results_``.

    Parameters
    ----------
    candidate_params : list of dict
        The params of each candidate, in order.
    n_splits : int
        Folds per candidate.
    test_scores, train_scores : dict of metric -> array (n_candidates, n_splits)
        Fold scores (NaN for a failed fold).
    fit_time, score_time : array (n_candidates, n_splits)
    ranks : dict of metric -> list, optional
        Ranks to use instead of scikit-learn's (the store leaves failed trials unranked,
        shown as 0 is not possible in an int array, so such columns become object arrays).
    key_names : dict of metric -> str, optional
        The name each metric gets in the keys (``"score"`` for single-metric searches).
    """
    import numpy as np

    n_candidates = len(candidate_params)
    names = dict(key_names or {})
    results: dict[str, Any] = {}

    def _store(key_name: str, array: Any, *, splits: bool = False, rank: str | None = None) -> None:
        array = np.array(array, dtype=np.float64).reshape(n_candidates, n_splits)
        if splits:
            for split_idx in range(n_splits):
                results[f"split{split_idx}_{key_name}"] = array[:, split_idx]
        array_means = np.average(array, axis=1)
        results[f"mean_{key_name}"] = array_means
        results[f"std_{key_name}"] = np.sqrt(np.average((array - array_means[:, np.newaxis]) ** 2, axis=1))
        if rank is not None:
            given = (ranks or {}).get(rank)
            if given is None:
                results[f"rank_{key_name}"] = min_rank(array_means)
            else:
                results[f"rank_{key_name}"] = np.array(list(given), dtype=object)

    _store("fit_time", fit_time)
    _store("score_time", score_time)
    results.update(_param_columns(candidate_params))
    results["params"] = list(candidate_params)
    for metric, array in test_scores.items():
        label = names.get(metric, metric)
        _store(f"test_{label}", array, splits=True, rank=metric)
        if train_scores is not None and metric in train_scores:
            _store(f"train_{label}", train_scores[metric], splits=True)
    return results


def _param_columns(candidate_params: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``param_<name>`` masked arrays, as scikit-learn builds them (masked where a candidate lacks it)."""
    import numpy as np
    from numpy.ma import MaskedArray

    n_candidates = len(candidate_params)
    param_results: dict[str, dict[int, Any]] = {}
    for index, params in enumerate(candidate_params):
        for name, value in params.items():
            param_results.setdefault(f"param_{name}", {})[index] = value
    columns = {}
    for key, values in param_results.items():
        value_list = list(values.values())
        try:
            arr = np.array(value_list)
        except ValueError:
            dtype = np.dtype(object)
        else:
            dtype = arr.dtype if arr.dtype.kind != "U" and arr.ndim == 1 else np.dtype(object)
        masked = MaskedArray(np.empty(n_candidates, dtype=dtype), mask=True)
        for index, value in values.items():
            masked[index] = value
        columns[key] = masked
    return columns


class StudyTables:
    """:class:`~hptrack.query.Study`'s methods giving its trials as tables (``cv_results_``, rows)."""

    n_folds: int
    metrics: list[str]
    metric: str
    direction: Direction

    if TYPE_CHECKING:  # provided by Study, which mixes this class in

        def trials(self, **filters: Any) -> list[Trial]: ...

    def cv_results(self) -> dict[str, Any]:
        """The study as scikit-learn's ``cv_results_`` (trials by number; failed unranked).

        Returns
        -------
        dict
            ``param_*``, ``params``, ``split{k}_test_<metric>``, ``mean_``/``std_``/``rank_``
            per metric, as numpy arrays (masked arrays for params).
        """
        return study_cv_results(
            self.trials(), n_folds=self.n_folds, metrics=self.metrics, rank_metric=self.metric
        )

    def export_rows(self) -> list[dict[str, Any]]:
        """One flat row per trial in ``cv_results_`` naming (``param_C``, ``split0_test_...``).

        Returns
        -------
        list of dict
            What ``hptrack export STUDY`` writes, one dict per trial in trial order.
        """
        return export_rows(self.trials(), self.metrics, direction=self.direction)

    def to_records(self, **filters: Any) -> list[dict[str, Any]]:
        """The trials as a list of flat dicts in ``cv_results_`` naming (as ``hptrack export``).

        Parameters
        ----------
        **filters
            Any of :meth:`trials`' keyword arguments (``status``, ``sort``, ``top``,
            ``params``, ``min_score``); rows follow its order.

        Returns
        -------
        list of dict
            One flat dict per trial, filtered and ordered as asked.

        Examples
        --------
        >>> rows = store.study("digits-svc").to_records(status="complete")  # doctest: +SKIP
        >>> rows[0]["mean_test_accuracy"]  # doctest: +SKIP
        """
        rows = self.export_rows()
        if not filters:
            return rows
        order = {t.number: i for i, t in enumerate(self.trials(**filters))}
        return sorted((r for r in rows if r["number"] in order), key=lambda r: order[r["number"]])

    def to_frame(self, **filters: Any) -> Any:
        """The trials as a pandas DataFrame (needs pandas, an optional dependency).

        Takes :meth:`to_records`' filters; one row per trial, ``cv_results_`` columns.

        Parameters
        ----------
        **filters
            As :meth:`to_records`.

        Returns
        -------
        pandas.DataFrame
            One row per trial, ``cv_results_`` columns.

        Raises
        ------
        MissingDependencyError
            pandas is not installed (an ``ImportError``; ``pip install pandas``).
        """
        import importlib

        try:
            pd = importlib.import_module("pandas")
        except ImportError as exc:
            raise MissingDependencyError(
                "Study.to_frame() needs pandas, which is not installed: pip install pandas "
                "(or use Study.to_records(), a list of dicts)"
            ) from exc
        return pd.DataFrame.from_records(self.to_records(**filters))
