"""SVG geometry of the report's analysis figures: importance, heatmap, history, parallel coordinates.

Each figure is a frozen dataclass of pixel coordinates and labels computed here, drawn by
``_insight.html``. Everything is static SVG (no JavaScript), deterministic to the byte
(coordinates are formatted by :func:`~hptrack.report.plots.px`), and sized by ``viewBox``
so it scales down to a 400 px screen.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._format import number
from ..query import Direction
from .plots import px, truncate
from .text import value_text

if TYPE_CHECKING:
    from ..query import Trial
    from ..query.importance import Importance

__all__ = ["Insight", "insight"]

MAX_PAIRS_SHOWN = 5  # interactions listed in the importance chart
MAX_HISTORY_DOTS = 1000  # above this many trials the history draws per-column ranges
MAX_HEAT_LEVELS = 10  # a numeric axis with more distinct values is cut into quantile bins
TOP_CONFIGS = 20  # lines in the parallel coordinates
MAX_AXES = 8  # parameters in the parallel coordinates (most important first)
_WIDTH = 480
_LEFT, _RIGHT = 120.0, 440.0

SHADES = 9  # colour steps, CSS classes q0..q8 (fill) and qs0..qs8 (stroke): viridis, per colour scheme


@dataclass(frozen=True)
class Bar:
    """One row of the importance chart: a share, its interval, and labels."""

    label: str
    y: str
    width: str
    low: str | None  # None: no interval (one fold)
    high: str | None
    text: str
    title: str
    pair: bool


@dataclass(frozen=True)
class ImportanceChart:
    """Horizontal bars of each parameter's (and the top pairs') share, with intervals."""

    width: int
    height: int
    left: str
    right: str
    bottom: str
    ticks: tuple[tuple[str, str], ...]  # (x, label)
    bars: tuple[Bar, ...]
    note: str


@dataclass(frozen=True)
class Cell:
    """One heatmap cell: position, colour, label."""

    x: str
    y: str
    w: str
    h: str
    shade: int
    text: str
    title: str


@dataclass(frozen=True)
class Heatmap:
    """The mean score over the levels of two parameters."""

    width: int
    height: int
    x_param: str
    y_param: str
    cells: tuple[Cell, ...]
    x_labels: tuple[tuple[str, str], ...]  # (x, label)
    y_labels: tuple[tuple[str, str], ...]  # (y, label)
    x_title: tuple[str, str]
    legend: tuple[tuple[str, str, int], ...]  # (x, width, shade)
    legend_labels: tuple[tuple[str, str], ...]
    legend_y: str
    show_text: bool


@dataclass(frozen=True)
class History:
    """Each trial's mean score by trial number, and the best so far."""

    width: int
    height: int
    left: str
    right: str
    top: str
    bottom: str
    dots: tuple[tuple[str, str, str], ...]  # (x, y, title)
    ranges: tuple[tuple[str, str, str], ...]  # (x, y low, y high) when aggregated
    best: str  # polyline points
    x_ticks: tuple[tuple[str, str], ...]
    y_ticks: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Line:
    """One configuration across the parallel axes."""

    points: str
    shade: int
    title: str
    best: bool


@dataclass(frozen=True)
class Axis:
    """One parallel axis: its name and tick labels."""

    x: str
    name: str
    ticks: tuple[tuple[str, str], ...]  # (y, label)


@dataclass(frozen=True)
class Parallel:
    """Parallel coordinates of the top configurations."""

    width: int
    height: int
    top: str
    bottom: str
    axes: tuple[Axis, ...]
    lines: tuple[Line, ...]


@dataclass(frozen=True)
class Insight:
    """The analysis figures of one study (each None when it cannot be drawn)."""

    importance: ImportanceChart | None
    heatmap: Heatmap | None
    history: History | None
    parallel: Parallel | None


def insight(
    importance: Importance | None,
    trials: Sequence[Trial],
    ranked: Sequence[Trial],
    metric: str,
    direction: Direction | None = None,
) -> Insight:
    """The figures of a study: ``trials`` by number, ``ranked`` best first.

    Parameters
    ----------
    importance : Importance or None
        ``Study.importance()``; None when the study has too few complete trials.
    trials : sequence of Trial
        Every trial, by number.
    ranked : sequence of Trial
        The ranked complete trials, best first.
    metric : str
        The ranking metric.
    direction : Direction, optional
        Which way ``metric`` is better (default maximize); the last colour shade is the best.

    Returns
    -------
    Insight
    """
    direction = direction or Direction()
    order = importance.ranking() if importance is not None else sorted({k for t in ranked for k in t.params})
    varying = [name for name in order if _varies(name, ranked)]
    return Insight(
        importance=_importance_chart(importance) if importance is not None else None,
        heatmap=_heatmap(ranked, *varying[:2], metric, direction) if len(varying) >= 2 else None,
        history=_history(trials, metric, direction),
        parallel=_parallel(ranked[:TOP_CONFIGS], varying[:MAX_AXES], metric, direction) if varying else None,
    )


def _varies(name: str, trials: Sequence[Trial]) -> bool:
    """Whether the trials take more than one value of parameter ``name``."""
    first = value_text(trials[0].params.get(name)) if trials else None
    return any(value_text(t.params.get(name)) != first for t in trials)


# --------------------------------------------------------------------------- importance


def _importance_chart(result: Importance) -> ImportanceChart:
    """Bars of each share on a 0..1 axis, whiskers for the interval."""
    pairs = [p for p in result.pairs if p.share > 0][:MAX_PAIRS_SHOWN]
    items = [*result.params, *pairs]
    row, top = 22.0, 12.0
    bottom = top + row * len(items)

    def x(value: float) -> float:
        return _LEFT + (_RIGHT - _LEFT) * min(max(value, 0.0), 1.0)

    bars = tuple(
        Bar(
            label=" × ".join(s.params),
            y=px(top + row * i + 4),
            width=px(x(s.share) - _LEFT),
            low=None if s.low is None else px(x(s.low)),
            high=None if s.high is None else px(x(s.high)),
            text=number(s.share, 2),
            title=f"{' × '.join(s.params)}: {number(s.share, 3)}"
            + ("" if s.low is None else f" ({number(s.low, 3)} to {number(s.high, 3)})"),
            pair=len(s.params) == 2,
        )
        for i, s in enumerate(items)
    )
    ticks = tuple((px(x(v)), f"{v:g}") for v in (0.0, 0.25, 0.5, 0.75, 1.0))
    return ImportanceChart(
        width=_WIDTH,
        height=int(bottom + 34),
        left=px(_LEFT),
        right=px(_RIGHT),
        bottom=px(bottom),
        ticks=ticks,
        bars=bars,
        note=result.note,
    )


# --------------------------------------------------------------------------- heatmap


def _levels(values: Sequence[Any]) -> tuple[list[str], Any]:
    """Axis labels and a function mapping a value to its level index (quantile bins when many)."""
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    distinct = sorted(set(values)) if numeric else sorted({value_text(v) for v in values})
    if not numeric or len(distinct) <= MAX_HEAT_LEVELS:
        index = {v: i for i, v in enumerate(distinct)}
        labels = [_num(v) for v in distinct] if numeric else list(distinct)
        return labels, (lambda v: index[v]) if numeric else (lambda v: index[value_text(v)])
    ordered = sorted(values)
    edges = [
        ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1) / MAX_HEAT_LEVELS))]
        for q in range(MAX_HEAT_LEVELS + 1)
    ]
    edges = sorted(set(edges))
    labels = [_num((a + b) / 2) for a, b in zip(edges, edges[1:])]  # each bin by its midpoint

    def level(v: Any) -> int:
        for i in range(len(edges) - 2, -1, -1):
            if v >= edges[i]:
                return i
        return 0

    return labels, level


def _heatmap(
    ranked: Sequence[Trial], x_param: str, y_param: str, metric: str, direction: Direction
) -> Heatmap | None:
    """Mean of the trial means in each (x level, y level) cell, shaded worst (q0) to best."""
    rows = [
        (t.params[x_param], t.params[y_param], t.mean[metric])
        for t in ranked
        if x_param in t.params and y_param in t.params and _finite(t.mean.get(metric))
    ]
    if not rows:
        return None
    x_labels, x_level = _levels([r[0] for r in rows])
    y_labels, y_level = _levels([r[1] for r in rows])
    sums: dict[tuple[int, int], list[float]] = {}
    for xv, yv, score in rows:
        sums.setdefault((x_level(xv), y_level(yv)), []).append(score)
    means = {cell: sum(v) / len(v) for cell, v in sums.items()}
    lo, hi = min(means.values()), max(means.values())
    left, top = 110.0, 12.0
    cw = (_WIDTH - 20 - left) / len(x_labels)
    ch = min(28.0, 240.0 / len(y_labels))
    cells = []
    for (i, j), mean in sorted(means.items()):
        cells.append(
            Cell(
                x=px(left + i * cw),
                y=px(top + (len(y_labels) - 1 - j) * ch),
                w=px(cw),
                h=px(ch),
                shade=_shade(direction.goodness(mean, lo, hi)),
                text=number(mean, 3),
                title=f"{x_param}={x_labels[i]}, {y_param}={y_labels[j]}: mean {metric} "
                f"{number(mean, 4)} ({len(sums[(i, j)])} trial(s))",
            )
        )
    bottom = top + ch * len(y_labels)
    worst, best = sorted((lo, hi), key=direction.key)  # labelled under q0 and under the last shade
    legend_y = bottom + 44
    steps = SHADES
    legend = tuple(
        (
            px(left + k * (_WIDTH - 20 - left) / steps),
            px((_WIDTH - 20 - left) / steps),
            k,
        )
        for k in range(steps)
    )
    return Heatmap(
        width=_WIDTH,
        height=int(legend_y + 30),
        x_param=x_param,
        y_param=y_param,
        cells=tuple(cells),
        x_labels=tuple((px(left + (i + 0.5) * cw), _label(label)) for i, label in enumerate(x_labels)),
        y_labels=tuple(
            (px(top + (len(y_labels) - 1 - j + 0.5) * ch), _label(label)) for j, label in enumerate(y_labels)
        ),
        x_title=(px(left + (_WIDTH - 20 - left) / 2), px(bottom + 32)),
        legend=legend,
        legend_labels=((px(left), number(worst, 3)), (px(_WIDTH - 20), number(best, 3))),
        legend_y=px(legend_y),
        show_text=cw >= 34 and ch >= 16,
    )


# --------------------------------------------------------------------------- history


def _history(trials: Sequence[Trial], metric: str, direction: Direction) -> History | None:
    """Mean score per trial number, and the best so far as a step line."""
    scored = [
        (t.number, t.mean[metric]) for t in trials if t.status == "complete" and _finite(t.mean.get(metric))
    ]
    if not scored:
        return None
    left, right, top, bottom = 64.0, 464.0, 12.0, 200.0
    first, last = scored[0][0], max(scored[-1][0], scored[0][0] + 1)
    lo, hi = min(s for _, s in scored), max(s for _, s in scored)
    if hi == lo:
        lo, hi = lo - 0.5, hi + 0.5

    def x(n: float) -> float:
        return left + (right - left) * (n - first) / (last - first)

    def y(s: float) -> float:
        return bottom - (bottom - top) * (s - lo) / (hi - lo)

    best, points = math.nan, []
    for n, s in scored:
        if direction.better(s, best):
            if points:
                points.append(f"{px(x(n))},{px(y(best))}")
            best = s
            points.append(f"{px(x(n))},{px(y(best))}")
    points.append(f"{px(x(last))},{px(y(best))}")
    dots: tuple[tuple[str, str, str], ...] = ()
    ranges: tuple[tuple[str, str, str], ...] = ()
    if len(scored) <= MAX_HISTORY_DOTS:
        dots = tuple((px(x(n)), px(y(s)), f"#{n}: {number(s, 4)}") for n, s in scored)
    else:
        columns: dict[int, list[float]] = {}
        for n, s in scored:
            columns.setdefault(int(x(n)), []).append(s)
        ranges = tuple((px(c + 0.5), px(y(min(v))), px(y(max(v)))) for c, v in sorted(columns.items()))
    x_ticks = tuple((px(x(n)), str(n)) for n in _int_ticks(first, last))
    y_ticks = tuple((px(y(v)), number(v, 3)) for v in _nice_ticks(lo, hi))
    return History(
        _WIDTH,
        236,
        px(left),
        px(right),
        px(top),
        px(bottom),
        dots,
        ranges,
        " ".join(points),
        x_ticks,
        y_ticks,
    )


# --------------------------------------------------------------------------- parallel coordinates


def _parallel(
    top_trials: Sequence[Trial], names: Sequence[str], metric: str, direction: Direction
) -> Parallel | None:
    """One axis per parameter (most important first) and one for the score; a line per config."""
    scored = [t for t in top_trials if _finite(t.mean.get(metric))]
    if not scored:
        return None
    axes_names = [*names, f"mean {metric}"]
    left, right, top, bottom = 40.0, 400.0, 28.0, 228.0
    step = (right - left) / max(len(axes_names) - 1, 1)
    positions: list[Any] = []
    axes = []
    for k, name in enumerate(axes_names):
        values = [t.mean[metric] if k == len(names) else t.params.get(name) for t in scored]
        position, ticks = _axis(values, top, bottom)
        positions.append(position)
        axes.append(Axis(px(left + k * step), _label(name), ticks))
    scores = [t.mean[metric] for t in scored]
    lo, hi = min(scores), max(scores)
    lines = []
    for t in reversed(scored):  # the best drawn last, on top
        values = [t.params.get(n) for n in names] + [t.mean[metric]]
        points = " ".join(f"{px(left + k * step)},{px(positions[k](v))}" for k, v in enumerate(values))
        shade = _shade(1.0 if hi == lo else direction.goodness(t.mean[metric], lo, hi))
        label = ", ".join(f"{n}={value_text(t.params.get(n))}" for n in names)
        lines.append(
            Line(
                points,
                shade,
                f"#{t.number} (rank {t.rank}): {label}; {number(t.mean[metric], 4)}",
                t is scored[0],
            )
        )
    return Parallel(_WIDTH, 250, px(top), px(bottom), tuple(axes), tuple(lines))


def _axis(values: Sequence[Any], top: float, bottom: float) -> tuple[Any, tuple[tuple[str, str], ...]]:
    """A value -> y function for one axis, and its tick labels (log scale over 2+ decades)."""
    numeric = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if values and len(numeric) == len(values):
        lo, hi = min(numeric), max(numeric)
        log = lo > 0 and hi / lo >= 100

        def t(v: float) -> float:
            return math.log10(v) if log else v

        span = (t(hi) - t(lo)) or 1.0

        def y_num(v: Any) -> float:
            return bottom - (bottom - top) * (t(v) - t(lo)) / span if hi != lo else (top + bottom) / 2

        return y_num, ((px(y_num(hi)), _num(hi)), (px(y_num(lo)), _num(lo)))
    levels = sorted({value_text(v) for v in values})
    gap = (bottom - top) / max(len(levels) - 1, 1)
    ys = {lv: bottom - gap * i if len(levels) > 1 else (top + bottom) / 2 for i, lv in enumerate(levels)}

    def y_cat(v: Any) -> float:
        return ys[value_text(v)]

    return y_cat, tuple((px(ys[lv]), _label(lv)) for lv in levels)


# --------------------------------------------------------------------------- helpers


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _label(text: str) -> str:
    """An axis or parameter label cut to 14 characters (:func:`~hptrack.report.plots.truncate`)."""
    return truncate(text, 14)


def _shade(t: float) -> int:
    """The colour step of ``t`` in [0, 1] (0: the worst score, ``SHADES - 1``: the best)."""
    return min(SHADES - 1, max(0, int(t * SHADES)))


def _num(value: Any) -> str:
    """A numeric tick label: three significant digits; anything else as :func:`value_text`."""
    if isinstance(value, float):
        return f"{value:.3g}"
    return value_text(value)


def _int_ticks(first: int, last: int) -> list[int]:
    """About five whole-number ticks from ``first`` to ``last``."""
    step = max(1, _nice_step((last - first) / 4))
    start = math.ceil(first / step) * step
    return list(range(int(start), last + 1, int(step)))


def _nice_ticks(lo: float, hi: float) -> list[float]:
    """About five round ticks between ``lo`` and ``hi``."""
    step = _nice_step((hi - lo) / 4)
    start = math.ceil(lo / step) * step
    return [start + k * step for k in range(int((hi - start) / step + 1e-9) + 1)]


def _nice_step(raw: float) -> float:
    """1, 2 or 5 times a power of ten, at least ``raw``."""
    if raw <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * power >= raw:
            return m * power
    return 10 * power
