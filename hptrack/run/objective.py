"""Objective functions (SPEC section 11): any training code, called as ``fn(params, fold)``.

An objective study runs through the same plan, coordinator, executors and commits as an
estimator study: :class:`Objective` takes the estimator's place in the
:class:`~hptrack.run.plan.StudyPlan` (its identity is the function and the study seed),
and :class:`ObjectiveInputs` takes :class:`~hptrack.run.evaluate.FoldInputs`' place, with
the same ``evaluate(task)``. Each call gets a fresh :class:`Fold`; what ``fn`` reports
through ``fold.report(step, **values)`` comes back packed in ``FoldResult.curve``.

What ``fn`` may not do, and how each is caught (the fold fails with the message, its
traceback recorded, and follows ``error_score`` as a failing fit does):

- return anything but a dict of ``{metric: number}`` holding every metric of the spec
  (a non-dict, a missing key, a value that is not a real number);
- change ``params`` (a copy is compared after the call, key by key and value by value:
  the recorded params must be those that ran; copy them first, ``dict(params)``);
- write into ``fold.train``/``fold.val`` (read-only views of the splits every fold of the
  process shares: numpy refuses the write);
- report a step that is not a whole number larger than the last one, or a value that
  is not a real number; call ``fold.report`` after returning (refused: nothing would
  record it).

It should not draw from global random state (``np.random.seed``, ``torch`` without
``fold.seed``): hptrack cannot see that, and such a study does not verify bit for bit.
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._json import canonical_json
from ..store.curves import pack_curve
from .evaluate import FoldResult, FoldTask


@dataclass(frozen=True, eq=False)
class Objective:
    """The estimator's place in a plan for an objective study: ``fn`` and the study seed.

    Attributes
    ----------
    fn : callable
        Called as ``fn(params, fold)``; returns ``{metric: float}``.
    name : str
        ``"module:qualname"`` as recorded.
    seed : int
        The study seed, handed to ``fn`` as ``fold.seed``.
    fixed : dict
        The spec's ``[fixed]`` params: every call's params hold them too.
    """

    fn: Callable[..., Any]
    name: str
    seed: int
    fixed: Mapping[str, Any] = field(default_factory=dict)

    @property
    def module(self) -> str:
        """The module that defines ``fn`` (whose package's version is recorded)."""
        return str(getattr(self.fn, "__module__", None) or self.name.partition(":")[0])

    @property
    def identity(self) -> dict[str, Any]:
        """What the fold keys fingerprint in place of an estimator (its code is in the code hash)."""
        return {"objective": self.fn, "seed": self.seed, "fixed": dict(self.fixed)}

    def __repr__(self) -> str:
        return f"objective {self.name} (seed {self.seed})"


@dataclass(frozen=True)
class ObjectiveMetric:
    """A metric of an objective study: key ``name`` of the dict ``fn`` returns (its scorer)."""

    name: str

    def __repr__(self) -> str:
        return f"ObjectiveMetric({self.name!r})"


class Fold:
    """What ``fn(params, fold)`` gets: the fold's rows, its seed and ``report``.

    Attributes
    ----------
    index : int
        The 0-based fold.
    seed : int
        Derived from the study seed (the study seed itself, as an estimator's
        ``random_state``): seed every random generator the training uses with it.
    train, val : numpy.ndarray
        Read-only index arrays into the data.
    X_train, y_train, X_val, y_val : array-like
        The data's rows, sliced as scikit-learn's ``_safe_indexing`` does.
    """

    __slots__ = ("_data", "_open", "_points", "index", "seed", "train", "val")

    def __init__(self, index: int, seed: int, train: Any, val: Any, data: tuple[Any, Any]) -> None:
        self.index, self.seed = index, seed
        self.train, self.val = _read_only(train), _read_only(val)
        self._data = data
        self._points: list[tuple[int, dict[str, Any]]] = []
        self._open = True

    def __setattr__(self, name: str, value: Any) -> None:
        if getattr(self, "_open", None) is not None and not name.startswith("_"):
            raise AttributeError(f"fold.{name} is read-only")
        object.__setattr__(self, name, value)

    @property
    def X_train(self) -> Any:  # noqa: N802 (scikit-learn's names)
        return _rows(self._data[0], self.train)

    @property
    def y_train(self) -> Any:
        return _rows(self._data[1], self.train)

    @property
    def X_val(self) -> Any:  # noqa: N802
        return _rows(self._data[0], self.val)

    @property
    def y_val(self) -> Any:
        return _rows(self._data[1], self.val)

    def report(self, step: int, **values: float) -> None:
        """Record intermediate values at ``step`` (an epoch, an iteration): a learning curve.

        Parameters
        ----------
        step : int
            A whole number larger than the last reported step.
        **values : float
            Real numbers by name (``loss=0.3, val_accuracy=0.9``); NaN is kept.

        Raises
        ------
        RuntimeError, TypeError, ValueError
            After ``fn`` returned, a step that is not a whole number larger than the last,
            a value that is not a real number.
        """
        if not self._open:
            raise RuntimeError("fold.report() after the objective returned: nothing records it")
        if type(step) is not int:
            step = _whole(step)
        points = self._points
        if points and step <= points[-1][0]:
            raise ValueError(f"fold.report(step={step}) after step {points[-1][0]}: steps must increase")
        for name, value in values.items():
            if type(value) is not float:
                values[name] = _number(value, f"fold.report({name}=...)")
        points.append((step, values))

    def _close(self) -> bytes | None:
        """End reporting; the points reported, packed (None: none)."""
        object.__setattr__(self, "_open", False)
        return pack_curve(self._points) if self._points else None


def _read_only(indices: Any) -> Any:
    view = indices.view()
    view.flags.writeable = False
    return view


def _rows(data: Any, indices: Any) -> Any:
    """Rows ``indices`` of ``data`` as scikit-learn's ``_safe_indexing`` takes them."""
    if data is None:
        return None
    from sklearn.utils import _safe_indexing  # the one place, as in run/scoring.py

    return _safe_indexing(data, indices)


def _whole(step: Any) -> int:
    if isinstance(step, bool) or not hasattr(step, "__index__"):
        raise TypeError(f"fold.report(step={step!r}): step must be a whole number (an epoch, an iteration)")
    return int(step.__index__())


def _number(value: Any, where: str) -> float:
    """``value`` as a float, or TypeError naming ``where`` (a bool or a string is not a number)."""
    if not isinstance(value, (str, bytes, bool)):
        try:
            return float(value)
        except (TypeError, ValueError):
            pass
    raise TypeError(f"{where} = {value!r} is not a real number ({type(value).__name__})")


@dataclass(frozen=True)
class ObjectiveInputs:
    """What every fold of an objective study reads: sent once to each worker.

    The same interface as :class:`~hptrack.run.evaluate.FoldInputs` (``evaluate(task)``,
    ``prefix``, ``estimator``), so executors, ``verify`` and the coordinator need no
    other path.
    """

    objective: Objective
    X: Any
    y: Any
    splits: Sequence[tuple[Any, Any]]
    metrics: tuple[str, ...]
    error_score: float | str = math.nan
    prefix: None = None  # nothing is shared between configurations

    @property
    def estimator(self) -> Objective:
        return self.objective

    def evaluate(
        self,
        task: FoldTask,
        *,
        error_score: float | str | None = None,
        return_train_score: bool | None = None,
    ) -> FoldResult:
        """Call ``fn(params, fold)`` on ``task``'s fold; a failure is a failed fold.

        Parameters
        ----------
        task : FoldTask
            The trial's params and the fold.
        error_score : float or "raise", optional
            Instead of :attr:`error_score` (``verify`` scores failures NaN).
        return_train_score : bool, optional
            Ignored: an objective returns its train metrics itself.

        Returns
        -------
        FoldResult
            Scores by metric, the call's time as ``fit_time``, the packed curve.
        """
        error_score = self.error_score if error_score is None else error_score
        train, val = self.splits[task.fold]
        fold = Fold(task.fold, self.objective.seed, train, val, (self.X, self.y))
        params = {**self.objective.fixed, **task.params}
        before = dict(params)  # values are immutable (numbers, strings, tuples): a shallow copy tells
        start = time.perf_counter()
        try:
            returned = self.objective.fn(params, fold)
            elapsed = time.perf_counter() - start
            test = self._scores(returned, params, before)
        except Exception as exc:
            return self._failed(task, exc, error_score, time.perf_counter() - start, fold._close())
        curve = fold._close()
        return FoldResult(task.trial_id, task.number, task.fold, test, None, elapsed, 0.0, curve=curve)

    def _scores(
        self, returned: Any, params: Mapping[str, Any], before: Mapping[str, Any]
    ) -> dict[str, float]:
        """The recorded metrics of what ``fn`` returned; ValueError/TypeError for what it may not do."""
        name = self.objective.name
        if params.keys() != before.keys() or any(params[k] is not v for k, v in before.items()):
            raise ValueError(
                f"objective {name} changed its params argument (now {_text(params)}, was "
                f"{_text(before)}); the recorded params must be those that ran: copy them first, dict(params)"
            )
        if not isinstance(returned, Mapping):
            raise TypeError(
                f"objective {name} returned {type(returned).__name__} {_short(returned)}; return a dict "
                f"of metric -> float with the keys {list(self.metrics)}"
            )
        missing = [m for m in self.metrics if m not in returned]
        if missing:
            raise ValueError(
                f"objective {name} returned no {missing[0]!r} (keys: {sorted(map(str, returned))}); "
                f"return every metric of the spec: {list(self.metrics)}"
            )
        return {m: _number(returned[m], f"objective {name} returned {m!r}") for m in self.metrics}

    def _failed(
        self, task: FoldTask, exc: Exception, error_score: float | str, elapsed: float, curve: bytes | None
    ) -> FoldResult:
        """A failed fold: every metric ``error_score`` (NaN with "raise"), the traceback kept."""
        value = math.nan if error_score == "raise" else float(error_score)
        return FoldResult(
            task.trial_id,
            task.number,
            task.fold,
            dict.fromkeys(self.metrics, value),
            None,
            elapsed,
            0.0,
            error=_format_error(exc),
            exception=exc if error_score == "raise" else None,
            curve=curve,
        )


def _format_error(exc: BaseException) -> str:
    """The traceback from the objective's own frames down (this module's call left out)."""
    tb = exc.__traceback__
    if tb is not None and tb.tb_next is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next  # raised in fn, not by the checks of what it returned
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _text(params: Mapping[str, Any]) -> str:
    try:
        return canonical_json(params)
    except TypeError:
        return repr(dict(params))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


