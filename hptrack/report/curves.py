"""The report's learning curves: for each value an objective reported (``fold.report``), the
curves of the best configurations, the median over folds drawn with the folds' range shaded.

Geometry only (SVG coordinates as text); ``templates/_curves.html`` draws it. The best
configurations are the study's ranking (``Study.trials()``' ranks, the one ranking routine).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .._format import number, params_text
from .context import Tick
from .plots import _linear, _nice_ticks, px

if TYPE_CHECKING:
    from ..query import CurveBand, Study, Trial

TOP_CONFIGS = 3  # configurations drawn per curve: the best by the ranking metric

_WIDTH, _HEIGHT = 480, 280
_LEFT, _RIGHT, _TOP, _BOTTOM = 64.0, 464.0, 16.0, 232.0
_COLOURS = (2, 5, 7)  # q/qs classes apart on the colour scheme and visible in light and dark, best first


@dataclass(frozen=True)
class CurveLine:
    """One configuration on one curve plot: its median line and shaded fold range."""

    trial: int
    label: str  # "#3 lr=0.01 batch_size=32"
    colour: int  # the q<k> (band) and qs<k> (line) class
    line: str  # polyline points of the median over folds
    band: str  # polygon points of the folds' range ("" with one fold)
    title: str  # hover text: the last step's median and range


@dataclass(frozen=True)
class CurvePlot:
    """The curves of one reported value (``val_loss``) for the best configurations."""

    name: str
    width: int
    height: int
    left: str
    right: str
    top: str
    bottom: str
    frame_width: str
    frame_height: str
    y_tick_label_x: str
    x_tick_label_y: str
    x_title_x: str
    x_title_y: str
    y_title_transform: str
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    lines: tuple[CurveLine, ...]
    description: str


@dataclass(frozen=True)
class CurvesSection:
    """The report's learning-curve section of a study (None when it reported no curve)."""

    plots: tuple[CurvePlot, ...]
    legend: tuple[CurveLine, ...]
    n_folds: int


def curve_section(study: Study, ranked: Sequence[Trial]) -> CurvesSection | None:
    """The curves of the best :data:`TOP_CONFIGS` ranked trials, one plot per reported value."""
    from ..query import fold_bands

    best = list(ranked[:TOP_CONFIGS])
    bands = fold_bands([c for trial in best for c in study.curves(trial.number)])
    if not bands:
        return None
    colour = {t.number: _COLOURS[i % len(_COLOURS)] for i, t in enumerate(best)}
    label = {t.number: _label(t) for t in best}
    order = {t.number: i for i, t in enumerate(best)}
    names = list(dict.fromkeys(b.name for b in bands))
    plots = []
    for name in names:
        chosen = sorted((b for b in bands if b.name == name), key=lambda b: order[b.trial])
        plots.append(_plot(name, chosen, colour, label))
    legend = tuple(
        CurveLine(t.number, label[t.number], colour[t.number], "", "", "")
        for t in best
        if any(b.trial == t.number for b in bands)
    )
    return CurvesSection(plots=tuple(p for p in plots if p.lines), legend=legend, n_folds=study.n_folds)


def _label(trial: Trial) -> str:
    return f"#{trial.number} {params_text(trial.params)}".strip()  # floats to 4 significant digits


def _finite(band: CurveBand) -> list[tuple[int, float, float, float]]:
    return [
        (s, m, lo, hi)
        for s, m, lo, hi in zip(band.steps, band.median, band.low, band.high)
        if math.isfinite(m) and math.isfinite(lo) and math.isfinite(hi)
    ]


def _plot(name: str, bands: Sequence[CurveBand], colour: dict[int, int], label: dict[int, str]) -> CurvePlot:
    """One value's plot: shared axes over the configurations' steps and fold ranges."""
    points = {b.trial: _finite(b) for b in bands}
    every = [p for ps in points.values() for p in ps]
    steps = [p[0] for p in every] or [0]
    lows = [p[2] for p in every] or [0.0]
    highs = [p[3] for p in every] or [1.0]
    x_lo, x_hi, x_ticks = _nice_ticks(min(steps), max(steps))
    if x_hi - x_lo < len(x_ticks):  # steps are whole numbers: no tick between two of them
        x_ticks = [(v, f"{v:.0f}") for v, _ in x_ticks if float(v).is_integer()]
    y_lo, y_hi, y_ticks = _nice_ticks(min(lows), max(highs), max_ticks=6)
    to_x, to_y = _linear(x_lo, x_hi, _LEFT, _RIGHT), _linear(y_lo, y_hi, _BOTTOM, _TOP)
    lines = []
    for band in bands:
        series = points[band.trial]
        if not series:
            continue
        line = " ".join(f"{px(to_x(s))},{px(to_y(m))}" for s, m, _, _ in series)
        upper = [f"{px(to_x(s))},{px(to_y(hi))}" for s, _, _, hi in series]
        lower = [f"{px(to_x(s))},{px(to_y(lo))}" for s, _, lo, _ in reversed(series)]
        step, median, low, high = series[-1]
        folds = f"folds {number(low)} to {number(high)}"
        title = f"{label[band.trial]}: {name} {number(median)} at step {step} ({folds})"
        lines.append(
            CurveLine(
                band.trial,
                label[band.trial],
                colour[band.trial],
                line,
                " ".join(upper + lower) if band.n_folds > 1 else "",
                title,
            )
        )
    return CurvePlot(
        name=name,
        width=_WIDTH,
        height=_HEIGHT,
        left=px(_LEFT),
        right=px(_RIGHT),
        top=px(_TOP),
        bottom=px(_BOTTOM),
        frame_width=px(_RIGHT - _LEFT),
        frame_height=px(_BOTTOM - _TOP),
        y_tick_label_x=px(_LEFT - 6),
        x_tick_label_y=px(_BOTTOM + 16),
        x_title_x=px((_LEFT + _RIGHT) / 2),
        x_title_y=px(_BOTTOM + 40),
        y_title_transform=f"translate(14 {px((_TOP + _BOTTOM) / 2)}) rotate(-90)",
        x_ticks=tuple(Tick(px(to_x(v)), text) for v, text in x_ticks),
        y_ticks=tuple(Tick(px(to_y(v)), text) for v, text in y_ticks),
        lines=tuple(lines),
        description=f"{name} against step for the best {len(lines)} configurations: median over folds, "
        "fold range shaded",
    )
