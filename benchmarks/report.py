"""Benchmark: how long `write_report` takes on large studies, and how big the file gets.

Builds synthetic random-search studies through the Store API (``create_study``, then
``claim`` and ``commit_fold`` with made-up fold scores: no estimator is fitted), renders
each one's report three times and prints the median time and the file size. ``first s``
is the first of those renders; for the first size given it is the process's first
render, which also imports scikit-learn (the importance surrogate) and compiles the
templates (``--trials 10000`` alone gives it for 10,000 trials)::

    python benchmarks/report.py                 # 1,000 and 10,000 trials
    python benchmarks/report.py --trials 2000   # one size

``build_store`` is also used by ``tests/test_report.py`` (a ~2,000-trial study whose
report must stay small).
"""

from __future__ import annotations

import argparse
import hashlib
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from hptrack import Store
from hptrack._json import canonical_json
from hptrack.report import write_report
from hptrack.store import FoldRecord, StudyRecord, Writer

METRICS = ["accuracy", "f1_macro"]
KERNELS = ["rbf", "poly", "sigmoid"]
FAIL_EVERY = 97  # one trial in 97 fails at fit (a failed-trials section with errors)
ERROR = (
    "Traceback (most recent call last):\n"
    '  File "models.py", line 12, in fit\n'
    "    raise ValueError(msg)\n"
    "ValueError: degree 7 with kernel 'poly' diverged (synthetic benchmark failure)\n"
)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _record(name: str, n_trials: int, n_folds: int, seed: int) -> tuple[StudyRecord, list[dict[str, object]]]:
    rng = np.random.default_rng(seed)
    params = [
        {
            "C": float(10 ** rng.uniform(-3, 3)),
            "gamma": float(10 ** rng.uniform(-5, 0)),
            "kernel": KERNELS[int(rng.integers(len(KERNELS)))],
            "degree": int(rng.integers(2, 8)),
        }
        for _ in range(n_trials)
    ]
    spec = {
        "name": name,
        "search": "random",
        "n_trials": n_trials,
        "seed": seed,
        "estimator": "sklearn.svm:SVC",
        "data": "sklearn.datasets:load_digits",
        "metrics": METRICS,
        "cv": {"kind": "stratified", "folds": n_folds, "shuffle": True},
        "space": {
            "C": {"dist": "loguniform", "low": 1e-3, "high": 1e3},
            "gamma": {"dist": "loguniform", "low": 1e-5, "high": 1.0},
            "kernel": {"dist": "choice", "values": KERNELS},
            "degree": {"dist": "randint", "low": 2, "high": 8},
        },
    }
    versions = {"numpy": np.__version__, "sklearn": "1.5.0", "scipy": "1.13.0"}
    record = StudyRecord(
        name=name,
        search="random",
        n_folds=n_folds,
        metrics=METRICS,
        seed=seed,
        spec=spec,
        code_hash=_sha("benchmark code"),
        code={"packages": versions, "python": "3.11", "sources": {"models.py": _sha("models.py")}},
        data_hash=_sha("benchmark data"),
        data=[
            {"name": "X", "type": "array", "dtype": "float64", "shape": [1797, 64]},
            {"name": "groups", "type": "none"},
            {"name": "y", "type": "array", "dtype": "int64", "shape": [1797]},
        ],
        split_hash=_sha("benchmark splits"),
        provenance={
            "base_dir": "/srv/benchmarks",
            "cv": f"StratifiedKFold(n_splits={n_folds}, random_state={seed}, shuffle=True)",
            "environment": {
                "host": "bench",
                "implementation": "CPython",
                "machine": "x86_64",
                "platform": "Linux-x86_64",
                "python": "3.11.7",
                "versions": versions,
            },
            "estimator": "SVC()",
            "git": {"commit": _sha("commit")[:40], "dirty": False},
            "seeds": {"random_state": seed},
            "spec_file": "benchmark.toml",
        },
        trial_params=[canonical_json(p) for p in params],
        trial_seeds=[canonical_json({"random_state": seed}) for _ in params],
    )
    return record, params


def _fold_scores(params: dict[str, object], fold: int, rng: np.random.Generator) -> dict[str, float]:
    """A smooth made-up score surface (best near C=10, gamma=1e-3, rbf) plus fold noise."""
    c, gamma = math.log10(float(params["C"])), math.log10(float(params["gamma"]))  # type: ignore[arg-type]
    base = 0.97 - 0.015 * (c - 1) ** 2 - 0.02 * (gamma + 3) ** 2
    base -= {"rbf": 0.0, "poly": 0.03, "sigmoid": 0.08}[str(params["kernel"])]
    accuracy = min(1.0, max(0.05, base + rng.normal(0, 0.01)))
    return {"accuracy": accuracy, "f1_macro": max(0.0, accuracy - abs(rng.normal(0.005, 0.004)))}


def build_store(path: Path, *, n_trials: int, n_folds: int = 5, name: str = "", seed: int = 0) -> str:
    """Create a finished synthetic random-search study of ``n_trials`` in store ``path``.

    Every trial is claimed and committed fold by fold through the Store API, as the
    runner does, with scores from a made-up surface; one trial in ``FAIL_EVERY`` fails.
    Returns the study name.
    """
    name = name or f"svc-random-{n_trials}"
    record, params = _record(name, n_trials, n_folds, seed)
    rng = np.random.default_rng([seed, 1])
    with Writer(path) as store:
        stored = store.create_study(record)
        claimed = store.claim(stored.id, n_trials, code_hash=record.code_hash, data_hash=record.data_hash)
        for claim in claimed:
            trial_id, number = claim.trial_id, claim.number
            for fold in range(n_folds):
                failed = number % FAIL_EVERY == FAIL_EVERY - 1
                result = FoldRecord(
                    fold=fold,
                    test=dict.fromkeys(METRICS, math.nan)
                    if failed
                    else _fold_scores(params[number], fold, rng),
                    train=None,
                    fit_time=0.05 + 0.01 * fold,
                    score_time=0.01,
                    error=ERROR if failed else None,
                )
                store.commit_fold(trial_id, result, n_folds=n_folds, rank_metric=METRICS[0])
    return name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[1000, 10000], help="study sizes")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3, help="renders per size (the median is shown)")
    args = parser.parse_args(argv)
    print(f"{'trials':>8} {'folds':>6} {'build s':>8} {'report s':>9} {'first s':>8} {'MB':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for n_trials in args.trials:
            db = Path(tmp) / f"bench-{n_trials}.db"
            start = time.perf_counter()
            name = build_store(db, n_trials=n_trials, n_folds=args.folds)
            built = time.perf_counter() - start
            out = Path(tmp) / f"report-{n_trials}.html"
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                with Store(db, readonly=True) as store:
                    write_report(store, [name], out)
                times.append(time.perf_counter() - start)
            size = out.stat().st_size / 1e6
            median = statistics.median(times)
            print(f"{n_trials:>8} {args.folds:>6} {built:>8.1f} {median:>9.2f} {times[0]:>8.2f} {size:>6.2f}")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
