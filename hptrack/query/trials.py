"""Trials as the query layer returns them: frozen :class:`Trial` snapshots built from stored rows.

:func:`build_trials` turns trial rows and their fold and score rows into trials with
per-fold scores per metric, means and standard deviations computed as scikit-learn
computes them (numpy), and the trial's rank among the study's complete trials.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import SpecError
from ..store import STATUSES, json_safe


@dataclass(frozen=True)
class Trial:
    """One trial: params, per-fold scores per metric, summary statistics and provenance.

    A frozen snapshot, as :meth:`Study.trials` read it.

    Parameters
    ----------
    number : int
        0-based, in grid order (``ParameterGrid(space)[number]``) or random draw order.
    params : dict
        The configuration.
    status : {"pending", "running", "complete", "failed"}
    scores : dict of str to list
        Test score of every fold (0-based, as in ``split0_``) per metric; None if missing.
    mean, std : dict of str to float or None
        Per metric, as scikit-learn's ``mean_test_*`` and ``std_test_*`` (ddof=0).
    rank : int or None
        1 for the best by the ranking metric; ties share a rank; None when not ranked.
    seed : dict
        The seeds it ran with (``random_state`` of the estimator, sample index).
    code_hash, data_hash : str or None
        What it was scored under.
    train_scores : dict or None
        Per-fold train scores, when the study records them.
    fit_time, score_time : list of float or None
        Seconds per fold.
    errors : dict of int to str
        Traceback of each failed fold.
    origins : dict of int to dict
        Where each reused fold was first evaluated.
    started, finished, host, pid
        When and where it ran.
    score_errors : dict of int to dict
        Per fold, the traceback of each scorer that failed on a fold whose fit succeeded.
    rung, resource : int or None
        Successive halving: the rung (scikit-learn's ``iter``) and the resource the trial
        was fitted with there (``n_resources``); None in other studies.
    """

    number: int
    params: dict[str, Any]
    status: str
    scores: dict[str, list[float | None]]
    mean: dict[str, float | None]
    std: dict[str, float | None]
    rank: int | None
    seed: dict[str, Any]
    code_hash: str | None
    data_hash: str | None = None
    train_scores: dict[str, list[float | None]] | None = None
    fit_time: list[float | None] = field(default_factory=list)
    score_time: list[float | None] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)
    origins: dict[int, Any] = field(default_factory=dict)
    started: str | None = None
    finished: str | None = None
    host: str | None = None
    pid: int | None = None
    # fold -> {metric: traceback}: scorers that failed on a fold whose fit succeeded (the
    # fold is not failed; that metric's score is the study's error_score, NaN by default)
    score_errors: dict[int, dict[str, str]] = field(default_factory=dict)
    rung: int | None = None
    resource: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN becomes None).

        Returns
        -------
        dict
            ``{number, params, status, scores: {metric: [fold scores]}, mean, std, rank, seed,
            code_hash, ...}``: what ``hptrack trials --json`` prints per trial.
        """
        out = {
            "number": self.number,
            "params": self.params,
            "status": self.status,
            "scores": self.scores,
            "mean": self.mean,
            "std": self.std,
            "rank": self.rank,
            "seed": self.seed,
            "code_hash": self.code_hash,
            "data_hash": self.data_hash,
            "fit_time": self.fit_time,
            "score_time": self.score_time,
            "errors": {str(k): v for k, v in self.errors.items()},
            "score_errors": {str(k): v for k, v in self.score_errors.items()},
            "started": self.started,
            "finished": self.finished,
            "host": self.host,
            "pid": self.pid,
        }
        if self.rung is not None:  # successive halving
            out["rung"], out["resource"] = self.rung, self.resource
        if self.train_scores is not None:
            out["train_scores"] = self.train_scores
        if self.origins:
            out["origins"] = {str(k): v for k, v in self.origins.items()}
        return json_safe(out)


def nan_for_none(value: float | None) -> float:
    """``value`` as a float, NaN for None (the store keeps NaN as NULL)."""
    return math.nan if value is None else float(value)


def build_trials(
    rows: Sequence[tuple[Any, ...]],
    scores: Sequence[tuple[Any, ...]],
    folds: Sequence[tuple[Any, ...]],
    *,
    metrics: Sequence[str],
    n_folds: int,
    ranks: Sequence[int | None],
) -> list[Trial]:
    """Trials from their rows (:func:`hptrack.store.reads.trial_rows`), fold and score rows
    (:func:`~hptrack.store.reads.fold_data`) and ranks, in the order of ``rows``.

    Means and standard deviations are scikit-learn's (numpy), and only for a trial with
    every fold recorded.
    """
    import numpy as np

    if not rows:
        return []
    index = {row[0]: i for i, row in enumerate(rows)}
    shape = (len(rows), n_folds)
    test, train = _score_arrays(scores, index, shape, metrics)
    per_fold = _FoldArrays(folds, index, shape)
    means = {m: np.average(a, axis=1) for m, a in test.items()}
    stds = {m: np.sqrt(np.average((a - means[m][:, np.newaxis]) ** 2, axis=1)) for m, a in test.items()}
    # Python lists once per array (None for NaN), not element by element per trial
    test_rows = {m: _fold_lists(a) for m, a in test.items()}
    train_rows = {m: _fold_lists(a) for m, a in train.items()}
    fit_rows, score_rows = _fold_lists(per_fold.fit), _fold_lists(per_fold.score_time)
    have_all = per_fold.have.all(axis=1).tolist()
    mean_rows = {m: a.tolist() for m, a in means.items()}
    std_rows = {m: a.tolist() for m, a in stds.items()}
    out: list[Trial] = []
    for i, row in enumerate(rows):
        _id, number, params, status, _score, seed, code_hash, data_hash, started, finished = row[:10]
        host, pid, rung, resource = row[10:14]
        complete_folds = have_all[i]
        out.append(
            Trial(
                number=number,
                params=json.loads(params),
                status=status,
                scores={m: a[i] for m, a in test_rows.items()},
                mean={m: mean_rows[m][i] if complete_folds else None for m in test},
                std={m: std_rows[m][i] if complete_folds else None for m in test},
                rank=ranks[i],
                seed=json.loads(seed) if seed else {},
                code_hash=code_hash,
                data_hash=data_hash,
                train_scores={m: a[i] for m, a in train_rows.items()} if train else None,
                fit_time=fit_rows[i],
                score_time=score_rows[i],
                errors=per_fold.errors.get(i, {}),
                origins=per_fold.origins.get(i, {}),
                score_errors=per_fold.score_errors.get(i, {}),
                started=started,
                finished=finished,
                host=host,
                pid=pid,
                rung=rung,
                resource=resource,
            )
        )
    return out


def _fold_lists(array: Any) -> list[list[float | None]]:
    """An (n_trials, n_folds) float array as a list per trial of Python floats, None for NaN."""
    import numpy as np

    cells = array.astype(object)  # Python floats, the array's values
    cells[np.isnan(array)] = None
    return cells.tolist()  # type: ignore[no-any-return]


def _score_arrays(
    scores: Sequence[tuple[Any, ...]], index: dict[int, int], shape: tuple[int, int], metrics: Sequence[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Test and train scores per metric as (n_trials, n_folds) arrays, NaN where missing.

    Train arrays exist (for every metric) only when some train score is recorded.
    """

    k = shape[1]
    cells: dict[str, tuple[list[int], list[Any], list[Any]]] = {m: ([], [], []) for m in metrics}
    for trial_id, fold, metric, test_value, train_value in scores:
        i = index.get(trial_id)
        chosen = cells.get(metric)
        if i is None or chosen is None or fold >= k:
            continue
        chosen[0].append(i * k + fold)
        chosen[1].append(test_value)
        chosen[2].append(train_value)
    test = {m: _placed(shape, at, values) for m, (at, values, _) in cells.items()}
    if not any(v is not None for _, _, trains in cells.values() for v in trains):
        return test, {}  # NaN is stored as NULL: no train scores recorded
    return test, {m: _placed(shape, at, trains) for m, (at, _, trains) in cells.items()}


def _placed(shape: tuple[int, int], at: list[int], values: list[Any]) -> Any:
    """An array of ``shape``, NaN but at flat positions ``at``, which hold ``values`` (None: NaN)."""
    import numpy as np

    out = np.full(shape, np.nan)
    out.reshape(-1)[at] = np.array(values, dtype=float)
    return out


class _FoldArrays:
    """Per trial and fold: recorded?, fit and score times, errors, origins, scorer errors."""

    def __init__(
        self, folds: Sequence[tuple[Any, ...]], index: dict[int, int], shape: tuple[int, int]
    ) -> None:
        import numpy as np

        self.errors: dict[int, dict[int, str]] = {}
        self.origins: dict[int, dict[int, Any]] = {}
        self.score_errors: dict[int, dict[int, dict[str, str]]] = {}
        at: list[int] = []
        fit_times: list[Any] = []
        score_times: list[Any] = []
        for trial_id, fold, fit_time, score_time, error, origin, scorer_errors in folds:
            i = index.get(trial_id)
            if i is None or fold >= shape[1]:
                continue
            at.append(i * shape[1] + fold)
            fit_times.append(fit_time)
            score_times.append(score_time)
            if error:
                self.errors.setdefault(i, {})[fold] = error
            if origin:
                self.origins.setdefault(i, {})[fold] = json.loads(origin)
            if scorer_errors:
                self.score_errors.setdefault(i, {})[fold] = json.loads(scorer_errors)
        self.have = np.zeros(shape, dtype=bool)
        self.have.reshape(-1)[at] = True
        self.fit = _placed(shape, at, fit_times)
        self.score_time = _placed(shape, at, score_times)


def check_statuses(status: str | Iterable[str] | None) -> list[str] | None:
    """The statuses asked for (None: all), each checked against :data:`STATUSES`.

    Raises
    ------
    SpecError
        An unknown status (with the closest one).
    """
    if status is None:
        return None
    statuses = [status] if isinstance(status, str) else list(status)
    for s in statuses:
        if s not in STATUSES:
            close = difflib.get_close_matches(s, STATUSES, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise SpecError(f"unknown status {s!r}{hint} (one of {', '.join(STATUSES)})")
    return statuses


def unknown_name(study: str, what: str, name: object, known: Sequence[str]) -> SpecError:
    """``study 'x' has no metric 'acuracy'; did you mean 'accuracy'? (recorded: ...)``.

    The one message for a name a study does not record: a metric, a parameter.
    """
    close = []
    if isinstance(name, str):
        close = [k for k in known if k.lower() == name.lower()] or difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return SpecError(f"study {study!r} has no {what} {name!r}{hint} (recorded: {', '.join(known)})")


def _kind(value: Any) -> str:
    """What a JSON value is, for a filter that can never match: numbers, strings, booleans, None, ..."""
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "booleans"
    if isinstance(value, (int, float)):
        return "numbers"
    return {str: "strings", list: "lists", dict: "dicts"}.get(type(value), type(value).__name__)


def check_params_filter(
    study: str, wanted: Mapping[str, Any], trials: Sequence[Trial], spec: Mapping[str, Any]
) -> None:
    """Refuse a ``params=`` filter that cannot match: a name the study does not search, or
    a value of a type none of its recorded values has (``"1"`` for a numeric ``C``).

    Raises
    ------
    SpecError
        Naming the closest parameter, or the type the recorded values have.
    """
    space = spec.get("space") or {}
    names = set().union(*(s for s in ([space] if isinstance(space, Mapping) else space)))
    names.update(k for t in trials for k in t.params)
    fixed = spec.get("fixed") or {}
    for key, value in wanted.items():
        if key in fixed and key not in names:
            raise SpecError(
                f"study {study!r} does not search {key!r}: it is fixed to {fixed[key]!r} for every trial; "
                f"filter on a searched parameter ({', '.join(sorted(names))})"
            )
        if names and key not in names:
            raise unknown_name(study, "parameter", key, sorted(names, key=str))
        recorded: dict[str, Any] = {}  # kind -> the first such value, as an example
        for t in trials:
            if key in t.params:
                recorded.setdefault(_kind(t.params[key]), t.params[key])
        if recorded and _kind(json.loads(json.dumps(value))) not in recorded:
            kinds, example = " or ".join(sorted(recorded)), next(iter(recorded.values()))
            raise SpecError(
                f"study {study!r}: params {key!r} = {value!r} never matches: its recorded values are "
                f"{kinds} (e.g. {example!r}); pass one of those"
            )
