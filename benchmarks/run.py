"""hptrack's performance, each row measured against a baseline in the same run.

    python benchmarks/run.py            # full sizes (~25 minutes on 2 cores; W7/W8 at 10^6)
    python benchmarks/run.py --quick    # small sizes (under 2 minutes)

Prints one markdown table. Repetitions are interleaved (hptrack, baseline, hptrack,
...) and reported as medians, because the machines are shared and noisy: trust the
ratios, not single timings. Optuna rows appear when optuna is installed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

Row = dict[str, str]


def median_time(fn: Callable[[], Any], repeat: int) -> float:
    return statistics.median(_timed(fn) for _ in range(repeat))


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(fns: dict[str, Callable[[], Any]], repeat: int) -> dict[str, float]:
    """Median seconds of each function, runs interleaved round by round."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            times[name].append(_timed(fn))
    return {name: statistics.median(values) for name, values in times.items()}


def row(workload: str, measure: str, value: str, baseline: str, ratio: str, target: str) -> Row:
    return {
        "workload": workload,
        "measure": measure,
        "hptrack": value,
        "baseline": baseline,
        "ratio": ratio,
        "target": target,
    }


# --------------------------------------------------------------------------- W1


def w1(quick: bool, repeat: int) -> list[Row]:
    """digits, SVC, 20 configs x 5 stratified folds (accuracy)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.svm import SVC

    import hptrack

    X, y = load_digits(return_X_y=True)
    if quick:
        X, y = X[:600], y[:600]
    grid = {"C": [0.1, 1, 10, 100], "gamma": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2]}
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    tmp = Path(tempfile.mkdtemp())
    counter = iter(range(10**6))

    def sk(n_jobs: int) -> Callable[[], Any]:
        return lambda: GridSearchCV(SVC(), grid, cv=cv, scoring="accuracy", n_jobs=n_jobs).fit(X, y)

    def ht(n_jobs: int) -> Callable[[], Any]:
        def fit() -> None:
            store = tmp / f"w1-{next(counter)}.db"
            hptrack.GridSearchCV(
                SVC(), grid, cv=cv, scoring="accuracy", n_jobs=n_jobs, store=store, study="w1"
            ).fit(X, y)

        return fit

    t = interleaved({"sk1": sk(1), "ht1": ht(1), "sk2": sk(2), "ht2": ht(2)}, repeat)
    return [
        row(
            "W1 digits SVC 20x5",
            "GridSearchCV wall, n_jobs=1",
            f"{t['ht1']:.2f} s",
            f"{t['sk1']:.2f} s",
            f"{t['ht1'] / t['sk1']:.3f}",
            "<= 1.03",
        ),
        row(
            "W1 digits SVC 20x5",
            "GridSearchCV wall, n_jobs=2",
            f"{t['ht2']:.2f} s",
            f"{t['sk2']:.2f} s",
            f"{t['ht2'] / t['sk2']:.3f}",
            "<= 1.03",
        ),
    ]


# --------------------------------------------------------------------------- W2


def w2(quick: bool, repeat: int) -> list[Row]:
    """Near-free estimator: tracking overhead per trial vs the same loop writing nothing."""
    import numpy as np
    from sklearn.datasets import make_classification
    from sklearn.dummy import DummyClassifier
    from sklearn.model_selection import StratifiedKFold

    from hptrack.identity import split_fingerprint
    from hptrack.run import FoldTask, StudyPlan, build_scorers, evaluate_fold, run_plan
    from hptrack.store import Writer

    n = 300 if quick else 2000
    X, y = make_classification(200, 5, random_state=0)
    splits = [(np.asarray(a), np.asarray(b)) for a, b in StratifiedKFold(5).split(X, y)]
    candidates = [{"constant": i, "strategy": "prior"} for i in range(n)]  # distinct: nothing to reuse
    estimator = DummyClassifier()
    scorers = build_scorers(["accuracy"], estimator)
    tmp = Path(tempfile.mkdtemp())
    counter = iter(range(10**6))

    def plain() -> None:
        for i, params in enumerate(candidates):
            for k, (train, test) in enumerate(splits):
                evaluate_fold(FoldTask(0, i, k, params), estimator, X, y, train, test, scorers)

    def tracked() -> None:
        plan = StudyPlan(
            name="w2",
            search="grid",
            spec={"w": 2},
            estimator=estimator,
            candidates=candidates,
            trial_seeds=[{}] * n,
            scorers=scorers,
            splits=splits,
            X=X,
            y=y,
            data_hash="d" * 64,
            code_hash="c" * 64,
            split_hash=split_fingerprint(splits),
        )
        with Writer(tmp / f"w2-{next(counter)}.db") as store:
            run_plan(store, plan)

    fns: dict[str, Callable[[], Any]] = {"plain": plain, "tracked": tracked}
    try:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)

        def with_optuna() -> None:
            storage = f"sqlite:///{tmp / f'optuna-{next(counter)}.db'}"
            study = optuna.create_study(storage=storage, study_name="w2")

            def objective(trial: Any) -> float:
                trial.suggest_categorical("strategy", ["prior"])
                scores = []
                for k, (train, test) in enumerate(splits):
                    result = evaluate_fold(
                        FoldTask(0, trial.number, k, {"strategy": "prior"}),
                        estimator,
                        X,
                        y,
                        train,
                        test,
                        scorers,
                    )
                    scores.append(result.test["accuracy"])
                    trial.set_user_attr(f"split{k}_test_accuracy", scores[-1])
                return float(np.mean(scores))

            study.optimize(objective, n_trials=n)

        fns["optuna"] = with_optuna
    except ImportError:
        pass
    t = interleaved(fns, repeat)
    overhead = (t["tracked"] - t["plain"]) / n * 1000
    rows = [
        row(
            f"W2 near-free, {n} trials x 5 folds",
            "tracking overhead per trial",
            f"{overhead:.2f} ms",
            f"loop writing nothing: {t['plain'] / n * 1000:.2f} ms/trial",
            f"{t['tracked'] / t['plain']:.3f} (wall)",
            "< 1 ms",
        )
    ]
    if "optuna" in t:
        optuna_overhead = (t["optuna"] - t["plain"]) / n * 1000
        rows.append(
            row(
                f"W2 near-free, {n} trials x 5 folds",
                "overhead vs Optuna (SQLite storage)",
                f"{overhead:.2f} ms",
                f"Optuna {optuna_overhead:.2f} ms",
                f"{optuna_overhead / max(overhead, 1e-9):.1f}x less",
                ">= 10x less",
            )
        )
    return rows


# --------------------------------------------------------------------------- W3


def build_big_store(path: Path, n_trials: int, n_folds: int = 5) -> None:
    """A store of one study with n_trials complete trials, written by bulk SQL (fast)."""
    import random

    from hptrack.store import StudyRecord, Writer

    rng = random.Random(0)
    with Writer(path) as store:
        record = StudyRecord(
            name="big",
            search="random",
            n_folds=n_folds,
            metrics=["accuracy"],
            seed=0,
            spec={"big": True},
            code_hash="c" * 64,
            code={},
            data_hash="d" * 64,
            data=[],
            split_hash="s" * 64,
            provenance={},
            trial_params=[],
            trial_seeds=[],
        )
        study = store.create_study(record)
    conn = sqlite3.connect(path)
    now = 1_795_824_000_000_000  # 2026-11-28, in microseconds (schema 4)
    with conn:
        conn.execute("UPDATE studies SET n_trials = ? WHERE id = ?", (n_trials, study.id))
        conn.execute("INSERT OR IGNORE INTO hashes (hash) VALUES (?)", ("c" * 64,))
        (code_id,) = conn.execute("SELECT id FROM hashes WHERE hash = ?", ("c" * 64,)).fetchone()
        chunk = 50_000
        for start in range(0, n_trials, chunk):
            trials, folds, keys = [], [], []
            for number in range(start, min(start + chunk, n_trials)):
                fold_scores = [rng.random() for _ in range(n_folds)]
                mean = sum(fold_scores) / n_folds
                trial_id = number + 1
                trials.append(
                    (
                        trial_id,
                        study.id,
                        number,
                        json.dumps({"C": number}),
                        "complete",
                        mean,
                        code_id,
                        now,
                        now,
                    )
                )
                for k, value in enumerate(fold_scores):
                    folds.append((trial_id, k, value, 10_000, 1_000))
                    keys.append((rng.getrandbits(64) - 2**63, trial_id, k))  # reuse keys, as a run writes
            conn.executemany(
                "INSERT INTO trials (id, study_id, number, params, status, score, code_id, started, "
                "finished) VALUES (?,?,?,?,?,?,?,?,?)",
                trials,
            )
            conn.executemany(
                "INSERT INTO folds (trial_id, fold, test, fit_us, score_us) VALUES (?,?,?,?,?)", folds
            )
            conn.executemany("INSERT INTO fold_keys (key, trial_id, fold) VALUES (?,?,?)", keys)
    conn.execute("VACUUM")
    conn.close()


def w3(quick: bool, repeat: int) -> list[Row]:
    from hptrack import Store

    n = 100_000 if quick else 1_000_000
    path = Path(tempfile.mkdtemp()) / "big.db"
    start = time.perf_counter()
    build_big_store(path, n)
    built = time.perf_counter() - start

    def best() -> None:
        with Store(path, readonly=True) as store:
            store.study("big").best()

    def top10() -> None:
        with Store(path, readonly=True) as store:
            store.study("big").trials(top=10)

    t = interleaved({"best": best, "top": top10}, max(repeat, 5))
    size = path.stat().st_size
    label = f"W3 {n:,} trials / {5 * n:,} fold scores"
    return [
        row(
            label,
            "best (open store + query)",
            f"{t['best'] * 1000:.1f} ms",
            "Optuna: 39 ms at 10k trials",
            "-",
            "< 100 ms",
        ),
        row(label, "trials --top 10", f"{t['top'] * 1000:.1f} ms", "-", "-", "< 100 ms"),
        row(
            label,
            "store size",
            f"{size / (5 * n):.0f} B per fold score",
            "Optuna ~720 B per trial",
            f"{size / n:.0f} B per trial",
            "-",
        ),
        row(label, "building it (bulk SQL, not measured work)", f"{built:.0f} s", "-", "-", "-"),
    ]


# --------------------------------------------------------------------------- W4, W5


def _cli(*args: str, cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "hptrack", *args], cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return elapsed


def w4_w5(quick: bool, repeat: int) -> list[Row]:
    tmp = Path(tempfile.mkdtemp())
    n = 200 if quick else 1000
    (tmp / "w4data.py").write_text(
        "from sklearn.datasets import make_classification\n\n"
        "def load():\n    return make_classification(120, 4, random_state=0)\n"
    )
    (tmp / "w4.toml").write_text(
        'name = "w4"\nsearch = "grid"\nestimator = "sklearn.dummy:DummyClassifier"\n'
        'data = "w4data:load"\nmetrics = ["accuracy"]\n[cv]\nfolds = 3\n'
        f'[space]\nconstant = {list(range(n))}\nstrategy = ["prior"]\n'
    )
    _cli("run", "w4.toml", "--store", "w4.db", cwd=tmp)  # the complete study
    rerun = statistics.median(_cli("run", "w4.toml", "--store", "w4.db", cwd=tmp) for _ in range(repeat))
    bare = statistics.median(
        _timed(lambda: subprocess.run([sys.executable, "-c", "import sklearn.svm"], check=True))
        for _ in range(repeat)
    )

    from hptrack.run import plan_from_spec, run_plan
    from hptrack.spec import load_spec
    from hptrack.store import Writer

    def in_process() -> None:
        plan = plan_from_spec(load_spec(tmp / "w4.toml"))
        with Writer(tmp / "w4.db") as store:
            run_plan(store, plan)

    library = median_time(in_process, repeat)
    studies = statistics.median(_cli("studies", "--store", "w4.db", cwd=tmp) for _ in range(max(repeat, 5)))
    python = statistics.median(
        _timed(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True)) for _ in range(5)
    )
    return [
        row(
            f"W4 rerun a complete {n}-trial study",
            "hptrack run (process)",
            f"{rerun:.2f} s",
            f"python -c 'import sklearn.svm': {bare:.2f} s",
            f"{rerun - bare:.2f} s above it",
            "< 1 s",
        ),
        row(
            f"W4 rerun a complete {n}-trial study",
            "in-process (validate spec, load data, check store)",
            f"{library * 1000:.0f} ms",
            "-",
            "-",
            "< 1 s",
        ),
        row(
            "W5 hptrack studies, small store",
            "process start to exit",
            f"{studies * 1000:.0f} ms",
            f"bare python: {python * 1000:.0f} ms",
            f"{(studies - python) * 1000:.0f} ms above it",
            "< 300 ms",
        ),
    ]


def w5_startup(quick: bool, repeat: int) -> list[Row]:
    """Start-up cost: `hptrack --help` and `import hptrack` as processes, against bare Python."""
    runs = max(repeat, 7)

    def process(*args: str) -> float:
        return _timed(lambda: subprocess.run([sys.executable, *args], check=True, capture_output=True))

    times: dict[str, list[float]] = {"python": [], "import": [], "help": []}
    for _ in range(runs):  # interleaved: the machine is shared
        times["python"].append(process("-c", "pass"))
        times["import"].append(process("-c", "import hptrack"))
        times["help"].append(process("-m", "hptrack", "--help"))
    python, imported, helped = (statistics.median(times[k]) for k in ("python", "import", "help"))
    return [
        row(
            "W5 start-up",
            "hptrack --help (process)",
            f"{helped * 1000:.0f} ms",
            f"bare python: {python * 1000:.0f} ms",
            f"{(helped - python) * 1000:.0f} ms above it",
            "< 120 ms",
        ),
        row(
            "W5 start-up",
            "import hptrack (process)",
            f"{imported * 1000:.0f} ms",
            f"bare python: {python * 1000:.0f} ms",
            f"{(imported - python) * 1000:.0f} ms above it",
            "-",
        ),
    ]


# --------------------------------------------------------------------------- W6, reuse

EXTRA_TABLES: list[str] = []


def _script(name: str, options: list[str]) -> list[Row]:
    """Run a companion benchmark script; its own table is printed after the main one."""
    done = subprocess.run(
        [sys.executable, str(HERE / name), *options], capture_output=True, text=True, cwd=ROOT
    )
    command = " ".join(["python", f"benchmarks/{name}", *options])
    if done.returncode != 0:
        EXTRA_TABLES.append(f"`{command}` failed:\n{done.stderr.strip()}")
    else:
        EXTRA_TABLES.append(f"`{command}`:\n\n{done.stdout.strip()}")
    return []


def w6(quick: bool, repeat: int) -> list[Row]:
    """Report for a 10,000-trial study (benchmarks/report.py)."""
    return _script("report.py", ["--trials", "2000", "--repeat", "1"] if quick else [])


def reuse(quick: bool, repeat: int) -> list[Row]:
    """Extending a 20-config study to 40 vs a fresh 40-config run (benchmarks/reuse.py)."""
    return _script("reuse.py", ["--quick"] if quick else [])


def w10(quick: bool, repeat: int) -> list[Row]:
    """W10 drop-in near-free: hptrack.GridSearchCV vs scikit-learn's (benchmarks/dropin.py)."""
    from dropin import w10 as dropin_w10

    return dropin_w10(quick, repeat)


def w7(quick: bool, repeat: int) -> list[Row]:
    """W7 a 10^6-point grid: run --max-trials 5, report, export (benchmarks/scale.py)."""
    from scale import w7 as scale_w7

    return scale_w7(quick, repeat)


def w8(quick: bool, repeat: int) -> list[Row]:
    """W8 store bytes per fold score at 10^6 trials x 5 folds (benchmarks/scale.py)."""
    from scale import w8 as scale_w8

    return scale_w8(quick, repeat)


def rerun(quick: bool, repeat: int) -> list[Row]:
    """A complete study run again with nothing to do, as a process (benchmarks/scale.py)."""
    from scale import rerun as scale_rerun

    return scale_rerun(quick, repeat)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, fewer repeats (< 2 minutes)")
    parser.add_argument("--only", nargs="*", help="workloads to run: w1 w2 w3 w4 rerun w5 w6 w7 w8 reuse w10")
    args = parser.parse_args()
    repeat = 1 if args.quick else 3
    workloads = {
        "w1": w1,
        "w2": w2,
        "w3": w3,
        "w4": w4_w5,
        "rerun": rerun,
        "w5": w5_startup,
        "w6": w6,
        "w7": w7,
        "w8": w8,
        "reuse": reuse,
        "w10": w10,
    }
    rows: list[Row] = []
    for name, fn in workloads.items():
        if args.only and name not in args.only:
            continue
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows.extend(fn(args.quick, repeat))
    import numpy
    import sklearn

    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"scikit-learn {sklearn.__version__}, numpy {numpy.__version__}, SQLite {sqlite3.sqlite_version}; "
        f"{'quick' if args.quick else 'full'} mode, medians of {repeat} interleaved runs\n"
    )
    columns = ["workload", "measure", "hptrack", "baseline", "ratio", "target"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for r in rows:
        print("| " + " | ".join(r[c] for c in columns) + " |")
    for table in EXTRA_TABLES:
        print(f"\n{table}")


if __name__ == "__main__":
    main()
