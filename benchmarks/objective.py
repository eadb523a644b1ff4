"""Benchmark: what hptrack adds to each call of an objective function (issue 23).

    python benchmarks/objective.py            # 5 rounds, 400 and 1,200 trials x 5 folds
    python benchmarks/objective.py --quick    # 3 rounds, 100 and 300 trials
    python benchmarks/objective.py --cpu      # this process's CPU time instead of wall time

Rows (medians over interleaved rounds, each study in a fresh temporary store, run by
``hptrack.search`` in this process: claims, the fold evaluation, commits):

- per call: the tracking overhead per (configuration, fold) call beyond the call itself.
  A study of N trials costs ``fixed + N * folds * (call + overhead)``; two sizes give the
  slope, which drops the fixed part (plan, store creation), and the time of the same calls
  made directly is subtracted. Target: <= 0.3 ms.
- per curve point: the same objective reporting 100 points per fold (``fold.report(step,
  loss=..., accuracy=...)``) against reporting none, the difference divided by the points:
  the report call, the packing and the stored row. Target: <= 2 us.

Timing on a shared machine is noisy: the rounds are interleaved and each figure is the
median of its rounds' own figures. Prints one markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import hptrack

X = np.arange(200.0).reshape(100, 2)
Y = np.arange(100) % 2
POINTS = 100
FOLDS = 5


def bare(params: dict[str, Any], fold: Any) -> dict[str, float]:
    """The cheapest objective: no work, no report."""
    return {"score": params["x"] * 1e-3}


def curve(params: dict[str, Any], fold: Any) -> dict[str, float]:
    """The same, reporting 100 points of two values."""
    for step in range(POINTS):
        fold.report(step, loss=1.0 / (step + 1), accuracy=step * 1e-2)
    return {"score": params["x"] * 1e-3}


CLOCK = time.perf_counter  # --cpu: time.process_time, this process's CPU time (less swayed by load)


def _study_seconds(fn: Any, n_trials: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        start = CLOCK()
        hptrack.search(fn, {"x": list(range(n_trials))}, data=(X, Y), metrics=["score"], cv=FOLDS,
                       store=Path(tmp) / "bench.db", study="bench", reuse=False)
        return CLOCK() - start


def _direct_seconds(fn: Any, n_calls: int) -> float:
    """The calls alone, on a stand-in fold whose report only appends (as little as possible)."""

    class Fold:
        index, seed = 0, 0

        def __init__(self) -> None:
            self.points: list[Any] = []

        def report(self, step: int, **values: float) -> None:
            self.points.append((step, values))

    start = CLOCK()
    for i in range(n_calls):
        fn({"x": i}, Fold())
    return CLOCK() - start


def measure(small: int, large: int, rounds: int) -> dict[str, list[float]]:
    """Per round: the overhead per call (s) and per curve point (s)."""
    calls = (large - small) * FOLDS
    out: dict[str, list[float]] = {"call": [], "point": []}
    _study_seconds(bare, small)  # warm-up: first imports and caches, not measured
    _study_seconds(curve, small)
    for _ in range(rounds):
        bare_slope = (_study_seconds(bare, large) - _study_seconds(bare, small)) / calls
        curve_slope = (_study_seconds(curve, large) - _study_seconds(curve, small)) / calls
        out["call"].append(bare_slope - _direct_seconds(bare, calls) / calls)
        out["point"].append((curve_slope - bare_slope) / POINTS)
    return out


def main(argv: list[str] | None = None) -> list[list[str]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds of 100 and 300 trials")
    parser.add_argument("--cpu", action="store_true", help="CPU time of this process instead of wall time")
    args = parser.parse_args(argv)
    global CLOCK
    CLOCK = time.process_time if args.cpu else time.perf_counter
    small, large, rounds = (100, 300, 3) if args.quick else (400, 1200, 5)
    found = measure(small, large, rounds)
    call, point = statistics.median(found["call"]), statistics.median(found["point"])
    rows = [
        ["per (configuration, fold) call", f"{call * 1e3:.3f} ms", "<= 0.3 ms",
         " ".join(f"{v * 1e3:.3f}" for v in found["call"])],
        [f"per curve point ({POINTS} per fold)", f"{point * 1e6:.2f} us", "<= 2 us",
         " ".join(f"{v * 1e6:.2f}" for v in found["point"])],
    ]
    clock = "CPU time" if args.cpu else "wall time"
    sizes = f"{small} vs {large} trials x {FOLDS} folds, {rounds} rounds"
    print(f"objective tracking overhead ({clock}): {sizes}")
    print("| overhead | median | target | rounds |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return rows


if __name__ == "__main__":
    main()
