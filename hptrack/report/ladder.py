"""The ladder of a successive-halving study: its rungs, and each candidate's way up them.

Geometry only (``templates/_ladder.html`` draws it): one column per rung, labelled with
its candidates and resource; one line per candidate through its mean score at each rung
it reached, ending at the rung where it was dropped (or at the last rung, kept). The
table beside it lists every candidate with the rung where it stopped and its score there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .._format import number, params_text
from .plots import _nice_ticks, _score, px

WIDTH, HEIGHT = 640, 320
LEFT, RIGHT, TOP, BOTTOM = 84, 560, 56, 280  # room for the last rung's labels
MAX_ROWS = 60  # candidates listed in the table; the rest are counted


@dataclass(frozen=True)
class LadderRung:
    """One rung's column: where it is, and what it held."""

    x: str
    label: str  # "rung 0"
    candidates: str  # "27 candidates"
    resource: str  # "100 samples", "max_iter = 9"


@dataclass(frozen=True)
class LadderPath:
    """One candidate's line through the rungs it reached."""

    points: str  # SVG polyline points
    x: str
    y: str  # where it stopped
    kept: bool
    description: str


@dataclass(frozen=True)
class LadderRow:
    """One candidate in the table: where it stopped, with its score there."""

    params: str
    numbers: str
    last_rung: int
    resource: str
    score: str
    outcome: str  # "kept (last rung)", "dropped after rung 0"
    kept: bool


@dataclass(frozen=True)
class Ladder:
    """The ladder section of a halving study's report."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    rung_label_y: int
    candidates_y: int
    resource_y: int
    y_title_y: str
    rungs: tuple[LadderRung, ...]
    paths: tuple[LadderPath, ...]
    y_ticks: tuple[tuple[str, str], ...]  # (position, label)
    rows: tuple[LadderRow, ...]
    n_hidden: int
    metric: str
    resource_name: str
    description: str
    summary: str


def build_ladder(study: Any, trials: Sequence[Any], metric: str) -> Ladder | None:
    """The ladder of ``study`` (None unless it is a successive-halving study with trials)."""
    rungs = study.rungs()
    entries = study.ladder(list(trials))
    if not rungs or not entries:
        return None
    resource = (study.spec.get("halving") or {}).get("resource", "n_samples")
    by_number = {t.number: t for t in trials}
    step = (RIGHT - LEFT) / max(1, len(rungs) - 1) if len(rungs) > 1 else 0.0
    x_of = {r.rung: LEFT + step * i if len(rungs) > 1 else (LEFT + RIGHT) / 2 for i, r in enumerate(rungs)}
    scores = [s for e in entries for n in e.numbers if (s := by_number[n].mean.get(metric)) is not None]
    lo, hi, ticks = _nice_ticks(min(scores, default=0.0), max(scores, default=1.0))

    def y_of(value: float) -> float:
        return BOTTOM - (value - lo) / (hi - lo or 1.0) * (BOTTOM - TOP)

    paths = [
        path
        for entry in sorted(entries, key=lambda e: (e.kept, e.last_rung))  # kept ones drawn on top
        if (path := _path(entry, [by_number[n] for n in entry.numbers], x_of, y_of, metric, rungs[-1].rung))
    ]
    ordered = sorted(entries, key=lambda e: (-e.last_rung, -(e.score if e.score is not None else -1e300)))
    last = rungs[-1].rung
    rows = tuple(_row(e, resource, by_number[e.numbers[-1]].resource, last) for e in ordered[:MAX_ROWS])
    kept = sum(e.kept for e in entries)
    counts = " -> ".join(str(r.n_trials) for r in rungs)
    return Ladder(
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        right=RIGHT,
        top=TOP,
        bottom=BOTTOM,
        rung_label_y=16,
        candidates_y=30,
        resource_y=44,
        y_title_y=px((TOP + BOTTOM) / 2),
        rungs=tuple(
            LadderRung(
                x=px(x_of[r.rung]),
                label=f"rung {r.rung}",
                candidates=f"{r.n_trials} candidate{'s' if r.n_trials != 1 else ''}",
                resource=_resource(resource, r.resource),
            )
            for r in rungs
        ),
        paths=tuple(paths),
        y_ticks=tuple((px(y_of(v)), label) for v, label in ticks),
        rows=rows,
        n_hidden=max(0, len(ordered) - MAX_ROWS),
        metric=metric,
        resource_name=resource,
        description=(
            f"successive halving: {counts} candidates over {len(rungs)} rungs; mean {metric} of each "
            "candidate at each rung it reached"
        ),
        summary=(
            f"{len(entries)} candidates, {counts} per rung; {kept} kept at the last rung, "
            f"{len(entries) - kept} dropped"
        ),
    )


def _path(entry: Any, trials: list[Any], x_of: Any, y_of: Any, metric: str, last: int) -> LadderPath | None:
    """A candidate's line through its trials' mean scores (None when none has one)."""
    points = [(x_of[t.rung], y_of(s)) for t in trials if (s := t.mean.get(metric)) is not None]
    if not points:
        return None
    return LadderPath(
        points=" ".join(f"{px(x)},{px(y)}" for x, y in points),
        x=px(points[-1][0]),
        y=px(points[-1][1]),
        kept=entry.kept,
        description=f"{params_text(entry.params)}: {_outcome(entry, last)} at {_score(entry.score)}",
    )


def _row(entry: Any, resource: str, amount: int | None, last: int) -> LadderRow:
    """A candidate's row in the table."""
    return LadderRow(
        params=params_text(entry.params),
        numbers=", ".join(f"#{n}" for n in entry.numbers),
        last_rung=entry.last_rung,
        resource=_resource(resource, amount),
        score=number(entry.score) if entry.score is not None else "-",
        outcome=_outcome(entry, last),
        kept=entry.kept,
    )


def _outcome(entry: Any, last: int) -> str:
    return "kept (last rung)" if entry.kept else f"dropped after rung {entry.last_rung} of {last}"


def _resource(name: str, value: int | None) -> str:
    if value is None:
        return "-"
    return f"{value} samples" if name == "n_samples" else f"{name} = {value}"
