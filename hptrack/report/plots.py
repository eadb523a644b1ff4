"""SVG geometry of the score plots: the mean score against each parameter, in pixels.

Coordinates and labels are computed here and drawn by ``_plot.html``; a plot of more
than ``MAX_PLOT_TRIALS`` trials shows, per parameter value (or bin of values), the range,
median and best of the trial means instead of every trial.
"""

from __future__ import annotations

import functools
import json
import math
import operator
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .._format import number
from ..query import Direction
from .context import ParamPlot, PlotGroup, PlotPoint, Tick
from .text import MISSING, value_text

if TYPE_CHECKING:
    from ..query import Trial

__all__ = ["MAX_FOLD_DOTS", "MAX_PLOT_TRIALS", "PLOT_BINS", "param_plot", "param_plots", "px", "truncate"]

MAX_PLOT_TRIALS = 300  # above this many trials a plot aggregates the trials at each value
MAX_FOLD_DOTS = 1500  # fold scores drawn in one plot at most (else means only)
PLOT_BINS = 40  # an aggregated numeric axis with more distinct values is cut into bins

_WIDTH, _HEIGHT, _HEIGHT_ROTATED = 480, 290, 310  # rotated tick labels need more room
_LEFT, _RIGHT, _TOP, _BOTTOM = 64.0, 464.0, 16.0, 240.0  # the plot area
_INSET = 12.0  # keeps points off the frame
_MAX_LABEL = 12  # characters of a categorical tick label
_LABEL_Y = _BOTTOM + 16  # baseline of the x tick labels

_Scored = Sequence[tuple["Trial", float]]  # (trial, mean of the plotted metric)
_mean_of = operator.itemgetter(1)  # of a (trial, mean) pair


def px(value: float) -> str:
    """A pixel coordinate as SVG text, one decimal (never ``-0.0``)."""
    return f"{value + 0.0:.1f}"


def _score(value: float | None) -> str:
    """A score in a tooltip."""
    return number(value, missing=MISSING)


def param_plots(
    ranked: Sequence[Trial], metric: str, direction: Direction | None = None
) -> tuple[ParamPlot, ...]:
    """One plot per parameter (by name) of the ranked trials' mean ``metric``.

    Parameters
    ----------
    ranked : sequence of Trial
        Complete trials with a rank; those without a finite mean are left out.
    metric : str
        The metric on the y axis (the ranking metric).
    direction : Direction, optional
        Which way ``metric`` is better (default maximize): where the best line runs.

    Returns
    -------
    tuple of ParamPlot
    """
    scored = [
        (t, mean)
        for t in sorted(ranked, key=lambda t: t.number)
        if (mean := t.mean.get(metric)) is not None and math.isfinite(mean)
    ]
    names = sorted({k for t, _ in scored for k in t.params})
    return tuple(param_plot(name, scored, metric, direction) for name in names)


def param_plot(name: str, scored: _Scored, metric: str, direction: Direction | None = None) -> ParamPlot:
    """The plot of mean ``metric`` against parameter ``name``.

    Parameters
    ----------
    name : str
        The parameter on the x axis; trials without it are counted in the note.
    scored : sequence of (Trial, float)
        Trials by number, each with its finite mean of ``metric``.
    metric : str
        The metric on the y axis.
    direction : Direction, optional
        Which way ``metric`` is better (default maximize).

    Returns
    -------
    ParamPlot
        Every coordinate in SVG pixels, as text.
    """
    direction = direction or Direction()
    points = [(t, mean) for t, mean in scored if name in t.params]
    values = [t.params[name] for t, _ in points]
    scale, xs, x_ticks, rotate = _x_axis(values)
    aggregated = len(points) > MAX_PLOT_TRIALS
    folds = None if aggregated else _fold_scores(xs, points, metric)
    y_values = [mean for _, mean in points] + [v for _, _, v in folds or []]
    y_lo, y_hi, y_ticks = _nice_ticks(min(y_values, default=0.0), max(y_values, default=1.0))
    y_of = _linear(y_lo, y_hi, _BOTTOM - _INSET / 2, _TOP + _INSET / 2)
    if aggregated:
        means, groups, binned = _aggregate(name, metric, direction, xs, (points, values), y_of, scale)
        best_line = " ".join(f"{p.x},{p.y}" for p in means) if len(means) > 1 else ""
        per = f"{len(groups)} bins of values" if binned else "each value"
    else:
        means, groups, per = _mean_points(name, metric, xs, points, y_of), [], ""
        best_line = _best_line(xs, points, y_of, direction)
    note, description = _captions(
        name, metric, scale, n_shown=len(points), n_missing=len(scored) - len(points), per=per, folds=folds
    )
    return ParamPlot(
        param=name,
        metric=metric,
        scale=scale,
        description=description,
        note=note,
        **_frame(rotate),
        x_ticks=tuple(
            Tick(px(x), label, f"rotate(-30 {px(x)} {px(_LABEL_Y)})" if rotate else "")
            for x, label in x_ticks
        ),
        y_ticks=tuple(Tick(px(y_of(v)), label) for v, label in y_ticks),
        means=tuple(means),
        folds=tuple(
            PlotPoint(px(x), px(y_of(v)), f"{_trial_label(t, name)}, fold {metric} {_score(v)}")
            for x, t, v in folds or []
        ),
        best_line=best_line,
        aggregated=aggregated,
        groups=tuple(groups),
    )


def _tick_transform(x: float, rotate: bool) -> str:
    """The SVG transform that slants an x tick label ("" when labels stay level)."""
    return f"rotate(-30 {px(x)} {px(_LABEL_Y)})" if rotate else ""


def _trial_label(trial: Trial, name: str) -> str:
    """``trial 3: C = 0.1``, the start of a point's tooltip."""
    return f"trial {trial.number}: {name} = {value_text(trial.params[name])}"


def _fold_scores(
    xs: Sequence[float], points: _Scored, metric: str
) -> list[tuple[float, Trial, float]] | None:
    """Each finite fold score at its trial's x; None when there are too many to draw."""
    if sum(len(t.scores.get(metric, [])) for t, _ in points) > MAX_FOLD_DOTS:
        return None
    return [
        (x, t, v)
        for x, (t, _) in zip(xs, points)
        for v in t.scores.get(metric, [])
        if v is not None and math.isfinite(v)
    ]


def _mean_points(
    name: str, metric: str, xs: Sequence[float], points: _Scored, y_of: Callable[[float], float]
) -> list[PlotPoint]:
    """A point per trial at its mean, with the mean ± std in the tooltip."""
    return [
        PlotPoint(
            px(x),
            px(y_of(mean)),
            f"{_trial_label(t, name)}, mean {metric} {_score(mean)} ± {_score(t.std.get(metric))}",
        )
        for x, (t, mean) in zip(xs, points)
    ]


def _best_line(
    xs: Sequence[float], points: _Scored, y_of: Callable[[float], float], direction: Direction
) -> str:
    """The SVG polyline through the best mean at each x ("" with fewer than two x)."""
    best_at: dict[str, tuple[float, float]] = {}  # pixel x -> (x, best mean there)
    for x, (_, mean) in zip(xs, points):
        if px(x) not in best_at or direction.better(mean, best_at[px(x)][1]):
            best_at[px(x)] = (x, mean)
    line = sorted(best_at.values())
    return " ".join(f"{px(x)},{px(y_of(m))}" for x, m in line) if len(line) > 1 else ""


def _captions(
    name: str,
    metric: str,
    scale: str,
    *,
    n_shown: int,
    n_missing: int,
    per: str,
    folds: Sequence[Any] | None,
) -> tuple[str, str]:
    """The note under a plot and its description; ``per`` is set when trials are aggregated."""
    note = {"log": "log scale", "linear": "linear scale", "categorical": "categories"}[scale]
    if n_missing:
        note += f"; {n_missing} trial{'s' if n_missing != 1 else ''} without {name} not shown"
    if per:
        note += f"; {n_shown} trials summarised at {per}"
        description = (
            f"mean {metric} against {name}: {n_shown} complete trials summarised at {per} "
            "(line: range of trial means; dash: median; point: best)"
        )
        return note, description
    if folds is None:
        note += f"; fold scores not drawn for {n_shown} trials"
    description = f"mean {metric} against {name} ({n_shown} complete trials" + (
        "; dots: fold scores)" if folds is not None else ")"
    )
    return note, description


def _frame(rotate: bool) -> dict[str, Any]:
    """The fixed geometry of a plot: size, plot area, where tick labels and titles go."""
    return {
        "width": _WIDTH,
        "height": _HEIGHT_ROTATED if rotate else _HEIGHT,
        "left": px(_LEFT),
        "right": px(_RIGHT),
        "top": px(_TOP),
        "bottom": px(_BOTTOM),
        "frame_width": px(_RIGHT - _LEFT),
        "frame_height": px(_BOTTOM - _TOP),
        "x_tick_label_y": px(_LABEL_Y),
        "x_tick_label_anchor": "end" if rotate else "middle",
        "y_tick_label_x": px(_LEFT - 6),
        "x_title_x": px((_LEFT + _RIGHT) / 2),
        "x_title_y": px(_HEIGHT_ROTATED - 6 if rotate else _LABEL_Y + 24),
        "y_title_x": px(14),
        "y_title_y": px((_TOP + _BOTTOM) / 2),
        "y_title_transform": f"rotate(-90 {px(14)} {px((_TOP + _BOTTOM) / 2)})",
    }


# --------------------------------------------------------------------------- axes


def _is_number(value: Any) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _nice_ticks(lo: float, hi: float, max_ticks: int = 7) -> tuple[float, float, list[tuple[float, str]]]:
    """Round ticks (1, 2 or 5 times a power of ten apart) covering ``[lo, hi]``.

    Returns the axis ends and ``(value, label)`` pairs, the finest spacing that needs at
    most ``max_ticks`` ticks.
    """
    if hi - lo <= 1e-9 * max(1.0, abs(lo), abs(hi)):  # one value (up to rounding error)
        middle = (lo + hi) / 2
        pad = abs(middle) * 0.05 or 0.5
        lo, hi = middle - pad, middle + pad
    exponent = math.floor(math.log10((hi - lo) / 10))
    while True:
        for factor in (1, 2, 5):
            step = factor * 10.0**exponent
            start, stop = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
            if stop - start + 1 <= max_ticks:
                decimals = max(0, -exponent)
                ticks = [(k * step, f"{k * step + 0.0:.{decimals}f}") for k in range(start, stop + 1)]
                return ticks[0][0], ticks[-1][0], ticks
        exponent += 1


def _pow10_label(exponent: int) -> str:
    """``0.001``, ``1``, ``1000``, or ``1e-5`` beyond four decades."""
    return f"{10.0**exponent:g}" if -4 <= exponent <= 4 else f"1e{exponent}"


def _log_scale(values: Sequence[Any]) -> bool:
    """Whether positive numbers are better drawn on a log axis.

    Yes from three decades on; from one decade on when the median distinct value sits
    nearer the middle of a log axis than of a linear one (geometric grids such as
    ``[1e-4, 3e-4, 1e-3, 3e-3]``, log-uniform samples), no for arithmetic ones.
    """
    distinct = sorted({float(v) for v in values})
    lo, hi = distinct[0], distinct[-1]
    if lo <= 0 or hi / lo < 10:
        return False
    if hi / lo >= 1000:
        return True
    middle = len(distinct) // 2
    median = distinct[middle] if len(distinct) % 2 else math.sqrt(distinct[middle - 1] * distinct[middle])
    on_log = (math.log10(median) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))
    on_linear = (median - lo) / (hi - lo)
    return abs(on_log - 0.5) <= abs(on_linear - 0.5)


def _log_ticks(e_lo: float, e_hi: float, to_x: Callable[[float], float]) -> list[tuple[float, str]]:
    """Ticks at powers of ten; at 1, 2 and 5 times them when the axis spans under two decades."""
    factors = (1, 2, 5) if e_hi - e_lo < 2 else (1,)
    ticks = []
    for exponent in range(math.floor(e_lo), math.ceil(e_hi) + 1):
        for factor in factors:
            position = exponent + math.log10(factor)
            if e_lo - 1e-9 <= position <= e_hi + 1e-9:
                label = _pow10_label(exponent) if factor == 1 else f"{factor * 10.0**exponent:g}"
                ticks.append((to_x(position), label))
    return ticks


def _linear(lo: float, hi: float, a: float, b: float) -> Callable[[float], float]:
    """Map ``[lo, hi]`` onto pixels ``[a, b]`` (a single value maps to the middle)."""

    def to_pixel(value: float) -> float:
        return a + (value - lo) / (hi - lo) * (b - a) if hi > lo else (a + b) / 2

    return to_pixel


def _x_axis(values: Sequence[Any]) -> tuple[str, list[float], list[tuple[float, str]], bool]:
    """Scale, the pixel x of each value, the ticks, and whether tick labels are rotated.

    Numbers get a log axis when they are positive, span a decade or more and sit more
    evenly on it than on a linear one (see :func:`_log_scale`), else a linear one;
    anything else (strings, booleans, None, mixed) gets evenly spaced categories in
    order of first appearance.
    """
    a, b = _LEFT + _INSET, _RIGHT - _INSET
    if values and all(map(_is_number, values)):
        lo, hi = float(min(values)), float(max(values))
        if _log_scale(values):
            e_lo, e_hi = math.log10(lo), math.log10(hi)
            to_x = _linear(e_lo, e_hi, a, b)
            return "log", [to_x(math.log10(v)) for v in values], _log_ticks(e_lo, e_hi, to_x), False
        start, stop, nice = _nice_ticks(lo, hi)
        to_x = _linear(start, stop, a, b)
        ticks = [(to_x(v), label) for v, label in nice]
        return "linear", [to_x(float(v)) for v in values], ticks, False
    keys = [_string_key(v) if isinstance(v, str) else json.dumps(v, sort_keys=True) for v in values]
    labels: dict[str, str] = {}
    for key, value in zip(keys, values):
        labels.setdefault(key, value_text(value))
    slot = (_RIGHT - _LEFT) / max(len(labels), 1)
    position = {key: _LEFT + (i + 0.5) * slot for i, key in enumerate(labels)}
    rotate = len(labels) > 6 or any(len(label) > 8 for label in labels.values())
    ticks = [(position[key], truncate(label)) for key, label in labels.items()]
    return "categorical", [position[key] for key in keys], ticks, rotate


@functools.lru_cache(maxsize=1024)
def _string_key(value: str) -> str:
    """A string value's category key, its JSON (the same few strings recur trial after trial)."""
    return json.dumps(value)


def truncate(text: str, limit: int = _MAX_LABEL) -> str:
    """A label cut to ``limit`` characters (default ``_MAX_LABEL``, a categorical tick's), ending in "…"."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------- aggregated plots


def _aggregate(
    name: str,
    metric: str,
    direction: Direction,
    xs: Sequence[float],
    points_values: tuple[_Scored, Sequence[Any]],
    y_of: Callable[[float], float],
    scale: str,
) -> tuple[list[PlotPoint], list[PlotGroup], bool]:
    """Summarise many trials per x: the best point, and the range and median of means.

    ``points_values`` holds the (trial, mean) points and each one's parameter value.
    Trials group by value when there are at most ``PLOT_BINS`` distinct positions (a
    grid, categories), else by equal-width bins of the axis. Returns the best points,
    the groups (both left to right) and whether values were binned.
    """
    binned = scale != "categorical" and len({round(x, 1) for x in xs}) > PLOT_BINS
    best_points, groups = [], []
    for x, (group, raw) in sorted(_group_by_x(xs, *points_values, binned).items()):
        best_trial, best_mean = max(group, key=lambda p: direction.key(p[1]))  # the first: lowest number
        values = sorted(map(_mean_of, group))
        middle = len(values) // 2
        median = values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2
        n = len(group)
        label = (
            f"{_group_where(name, raw, binned)}: {n} trial{'s' if n != 1 else ''}; "
            f"best mean {metric} {_score(best_mean)} (trial {best_trial.number}), "
            f"median {_score(median)}, worst {_score(direction.worst(values))}"
        )
        best_points.append(PlotPoint(px(x), px(y_of(best_mean)), label))
        groups.append(
            PlotGroup(
                x=px(x),
                low=px(y_of(values[0])),
                high=px(y_of(values[-1])),
                median=px(y_of(median)),
                left=px(x - 5),
                right=px(x + 5),
                label=label,
            )
        )
    return best_points, groups, binned


def _group_by_x(
    xs: Sequence[float], points: _Scored, values: Sequence[Any], binned: bool
) -> dict[float, tuple[list[tuple[Trial, float]], list[Any]]]:
    """The points, and their values, by pixel x or by the middle of their bin of ``PLOT_BINS``."""
    a, b = _LEFT + _INSET, _RIGHT - _INSET
    width = (b - a) / PLOT_BINS
    middles = [round(a + (k + 0.5) * width, 1) for k in range(PLOT_BINS)]
    members: dict[float, tuple[list[tuple[Trial, float]], list[Any]]] = {}
    for x, point, value in zip(xs, points, values):
        if binned:
            key = middles[min(PLOT_BINS - 1, max(0, int((x - a) / width)))]
        else:
            key = round(x, 1)
        if key not in members:
            members[key] = ([], [])
        group, raw = members[key]
        group.append(point)
        raw.append(value)
    return members


def _group_where(name: str, raw: Sequence[Any], binned: bool) -> str:
    """``C = 0.1``, or a bin's range ``C 0.1 to 0.3`` (``raw``: the group's parameter values)."""
    if not binned:
        return f"{name} = {value_text(raw[0])}"
    low, high = min(raw), max(raw)
    return f"{name} {low:.3g} to {high:.3g}" if low != high else f"{name} = {low:.3g}"
