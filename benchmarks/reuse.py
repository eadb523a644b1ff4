"""Benchmark: what reuse saves when a grid is extended, and what its lookup costs.

    python benchmarks/reuse.py            # digits (1,797 samples), SVC, 3 folds (~3 minutes)
    python benchmarks/reuse.py --quick    # 600 samples (under a minute)

Rows (medians of interleaved repetitions, each in a fresh temporary store):

- extend: a fresh 40-config grid study, against the same 40 configs declared as a new
  study in a store that already holds a 20-config study over half of them (only the
  extension run is timed). Target ratio: about 0.5.
- lookup: many trials of a trivial estimator (``DummyClassifier``) with reuse on
  against ``reuse=False`` on an empty store: the one indexed query per claimed batch
  should cost nothing measurable (ratio about 1.0).

Timings include planning (data loading and fingerprints), as ``hptrack run`` does.
Prints one markdown table; ``main()`` returns its rows for ``benchmarks/run.py``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hptrack.run import plan_from_spec, run_plan
from hptrack.spec import load_spec
from hptrack.store import Writer

DATA_MODULE = textwrap.dedent(
    """
    from sklearn.datasets import load_digits

    N_SAMPLES = {n_samples}


    def load():
        X, y = load_digits(return_X_y=True)
        return X[:N_SAMPLES] / 16.0, y[:N_SAMPLES]
    """
)

SPEC = textwrap.dedent(
    """
    name = "{name}"
    search = "grid"
    seed = 0
    estimator = "{estimator}"
    data = "benchdata:load"
    metrics = ["accuracy"]

    [cv]
    kind = "stratified"
    folds = {folds}
    shuffle = true

    [space]
    {space}
    """
)

# 8 x 5 = 40 configurations; the 20-config study takes every other C, so both halves
# cost about the same to fit.
C_ALL = [0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0]
GAMMA = [0.003, 0.01, 0.03, 0.1, 0.3]


def _write(directory: Path, name: str, space: dict[str, list[Any]], *, estimator: str, folds: int) -> Path:
    lines = "\n".join(f"{key} = {values!r}" for key, values in space.items())
    path = directory / f"{name}.toml"
    path.write_text(SPEC.format(name=name, estimator=estimator, folds=folds, space=lines))
    return path


def _timed_run(spec: Path, store: Path, *, reuse: bool = True) -> tuple[float, Any]:
    start = time.perf_counter()
    plan = plan_from_spec(load_spec(spec))
    with Writer(store) as opened:
        summary = run_plan(opened, plan, reuse=reuse)
    return time.perf_counter() - start, summary


def _extend_round(directory: Path, round_: int, folds: int) -> tuple[float, float]:
    svc = "sklearn.svm:SVC"
    full = {"C": C_ALL, "gamma": GAMMA}
    half = {"C": C_ALL[::2], "gamma": GAMMA}
    fresh_spec = _write(directory, f"fresh{round_}", full, estimator=svc, folds=folds)
    fresh, summary = _timed_run(fresh_spec, directory / f"fresh{round_}.db")
    assert summary.folds_fitted == 40 * folds and summary.folds_reused == 0, summary

    store = directory / f"extend{round_}.db"
    _timed_run(_write(directory, f"small{round_}", half, estimator=svc, folds=folds), store)  # not timed
    extended, summary = _timed_run(
        _write(directory, f"large{round_}", full, estimator=svc, folds=folds), store
    )
    assert summary.folds_reused == 20 * folds and summary.folds_fitted == 20 * folds, summary
    return fresh, extended


def _lookup_round(directory: Path, round_: int, folds: int, n_trials: int) -> tuple[float, float]:
    dummy = "sklearn.dummy:DummyClassifier"
    space = {
        "strategy": ["most_frequent", "prior", "stratified", "uniform"],
        "constant": list(range(n_trials // 4)),
    }
    spec = _write(directory, f"dummy{round_}", space, estimator=dummy, folds=folds)
    with_lookup, summary = _timed_run(spec, directory / f"on{round_}.db", reuse=True)
    assert summary.folds_reused == 0
    without, _ = _timed_run(spec, directory / f"off{round_}.db", reuse=False)
    return with_lookup, without


def _interleaved(repeat: int, one: Callable[[int], tuple[float, float]]) -> tuple[float, float]:
    pairs = [one(i) for i in range(repeat)]
    return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="600 samples instead of 1,797")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved repetitions (default 3)")
    parser.add_argument("--folds", type=int, default=3, help="CV folds (default 3)")
    args = parser.parse_args(argv)
    n_samples = 600 if args.quick else 1797
    n_trials = 200 if args.quick else 400

    with tempfile.TemporaryDirectory(prefix="hptrack-reuse-") as tmp:
        directory = Path(tmp)
        (directory / "benchdata.py").write_text(DATA_MODULE.format(n_samples=n_samples))
        fresh, extended = _interleaved(args.repeat, lambda i: _extend_round(directory, i, args.folds))
        on, off = _interleaved(args.repeat, lambda i: _lookup_round(directory, i, args.folds, n_trials))

    rows = [
        {
            "case": f"extend 20 -> 40 SVC configs, digits[:{n_samples}], {args.folds} folds",
            "hptrack": extended,
            "baseline": fresh,
            "baseline_name": "fresh 40-config study",
            "ratio": extended / fresh,
        },
        {
            "case": f"{n_trials} DummyClassifier trials x {args.folds} folds, reuse lookup on",
            "hptrack": on,
            "baseline": off,
            "baseline_name": "reuse=False",
            "ratio": on / off,
        },
    ]
    print(f"| case | reuse (s) | baseline (s) | baseline | ratio |  (medians of {args.repeat})")
    print("|---|---:|---:|---|---:|")
    for row in rows:
        print(
            f"| {row['case']} | {row['hptrack']:.2f} | {row['baseline']:.2f} | "
            f"{row['baseline_name']} | {row['ratio']:.2f} |"
        )
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
