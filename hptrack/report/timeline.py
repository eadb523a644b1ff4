"""SVG geometry of a study's history: a bar per run on one time axis, and the table rows.

A run's bar spans its start to its end, or to its last sign of life (heartbeat, last
fold) when it died or still runs. Only the latest ``MAX_RUNS_SHOWN`` runs are drawn.
Below them, what the pipeline prefix cache did over all the runs, when it did anything.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ..query import PrefixFits
from .context import History, HistoryRun
from .plots import px
from .text import MISSING, duration, parse_time, timestamp

if TYPE_CHECKING:
    from ..query import Run, Study

__all__ = ["MAX_NUMBER_RANGES", "MAX_RUNS_SHOWN", "history", "number_ranges"]

MAX_RUNS_SHOWN = 200  # runs in the history timeline (the latest); the rest are counted
MAX_NUMBER_RANGES = 12  # runs of consecutive trial numbers listed per run

_WIDTH, _LEFT, _RIGHT = 720, 40.0, 708.0
_TOP, _ROW, _BAR = 8.0, 22.0, 14.0


def history(study: Study) -> History | None:
    """The timeline of :meth:`Study.history`, oldest run first.

    Parameters
    ----------
    study : Study
        The study whose runs to draw.

    Returns
    -------
    History or None
        None when the store recorded no run of the study (a store from before history).
    """
    runs = study.history()
    if not runs:
        return None
    shown = runs[-MAX_RUNS_SHOWN:]
    first, last = _time_span(shown)
    x_of = _time_axis(first, last)
    first_label = len(runs) - len(shown) + 1
    bars = tuple(_bar(run, row, f"#{first_label + row}", x_of) for row, run in enumerate(shown))
    axis = _TOP + len(bars) * _ROW
    n_died = sum(r.status == "died" for r in runs)
    return History(
        runs=bars,
        n_hidden=len(runs) - len(shown),
        width=_WIDTH,
        height=int(axis + 24),
        left=px(_LEFT),
        right=px(_RIGHT),
        bar_height=px(_BAR),
        axis_y=px(axis),
        label_x=px(_LEFT - 6),
        tick_y=px(axis + 16),
        first=timestamp(first.isoformat()),
        last=timestamp(last.isoformat()),
        span=duration(first.isoformat(), last.isoformat()),
        description=(
            f"{len(runs)} run{'s' if len(runs) != 1 else ''} of {study.name} over time"
            + (f", {n_died} of them died" if n_died else "")
        ),
        prefix_fits=_prefix_fits(runs),
    )


def _prefix_fits(runs: Sequence[Run]) -> str:
    """The sentence on the pipeline prefix cache over ``runs`` ("" when it did nothing)."""
    fits = PrefixFits(fitted=sum(r.prefix_fitted for r in runs), reused=sum(r.prefix_reused for r in runs))
    if not fits:
        return ""
    return (
        f"Pipeline prefixes, over the study's runs: {fits.describe()}. Once fitted on a fold, the "
        "steps before a pipeline's final estimator are kept in memory and reused by the configurations "
        "that share them."
    )


def _time_span(runs: Sequence[Run]) -> tuple[_dt.datetime, _dt.datetime]:
    """The earliest start and the latest sign of life of ``runs``."""
    times = [parse_time(r.started) for r in runs] + [parse_time(r.last_seen) for r in runs]
    known = [t for t in times if t is not None]
    return min(known), max(known)


def _time_axis(first: _dt.datetime, last: _dt.datetime) -> Callable[[str | None], float]:
    """Map a stored time onto the axis' pixels (an unreadable time maps to ``first``)."""
    scale = (_RIGHT - _LEFT) / max((last - first).total_seconds(), 1e-6)

    def x_of(value: str | None) -> float:
        moment = parse_time(value) or first
        return _LEFT + (moment - first).total_seconds() * scale

    return x_of


def _bar(run: Run, row: int, label: str, x_of: Callable[[str | None], float]) -> HistoryRun:
    """One run as a table row and a bar on row ``row`` of the timeline."""
    start, end = x_of(run.started), x_of(run.last_seen)
    outcome = run.status if run.status != "finished" else f"exit {run.exit}"
    who = f"{run.user or '?'}@{run.host or '?'}:{run.pid if run.pid is not None else '?'}"
    ended = timestamp(run.last_seen)
    return HistoryRun(
        label=label,
        command=run.command,
        who=who,
        version=run.version or MISSING,
        started=timestamp(run.started),
        ended=ended if run.status == "finished" else f"{ended} (last seen)",
        status=run.status,
        outcome=outcome,
        failed=run.status == "died" or bool(run.exit),
        trials=run.trials,
        folds=run.folds,
        numbers=number_ranges(run.numbers) or MISSING,
        origin=run.origin or "",
        description=(
            f"{label} {run.command} ({who}): {timestamp(run.started)} to {ended}, {outcome}, "
            f"{run.trials} trial{'s' if run.trials != 1 else ''} finished"
        ),
        x=px(start),
        y=px(_TOP + row * _ROW),
        width=px(max(end - start, 2.0)),
        text_y=px(_TOP + row * _ROW + _BAR / 2),
    )


def number_ranges(numbers: Sequence[int]) -> str:
    """``0-4, 7, 9-10``: consecutive trial numbers as ranges (at most ``MAX_NUMBER_RANGES``).

    Examples
    --------
    >>> number_ranges([7, 0, 1, 2, 3, 4, 9, 10])
    '0-4, 7, 9-10'
    """
    ranges: list[list[int]] = []
    for number in sorted(numbers):
        if ranges and number == ranges[-1][1] + 1:
            ranges[-1][1] = number
        else:
            ranges.append([number, number])
    shown = [str(a) if a == b else f"{a}-{b}" for a, b in ranges[:MAX_NUMBER_RANGES]]
    more = len(ranges) - MAX_NUMBER_RANGES
    return ", ".join(shown) + (f" and {more} more range{'s' if more != 1 else ''}" if more > 0 else "")
