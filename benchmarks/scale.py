"""Scale workloads: huge grids (W7), store bytes per fold score (W8), a re-run with nothing to do.

    python benchmarks/scale.py            # full sizes: 10^6-point grid, 10^6 trials x 5 folds
    python benchmarks/scale.py --quick    # small sizes (about a minute)
    python benchmarks/run.py --only w7 w8 rerun   # the same rows in the main table

Every command is a whole `python -m hptrack ...` process; its peak RSS is read with
`resource.getrusage(RUSAGE_CHILDREN)` in a small wrapper process that runs only it.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

Row = dict[str, str]

# A loader that needs numpy only, so a re-run with nothing to do imports no scikit-learn.
LOADER = """\
import numpy as np


def load():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4))
    return X, (X[:, 0] > 0).astype(int)
"""

# Runs one command and prints its wall seconds and peak RSS (KiB): RUSAGE_CHILDREN of this
# wrapper covers that one child only.
_WRAPPER = """\
import json, resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
wall = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"wall": wall, "rss_kib": peak, "code": done.returncode, "stderr": done.stderr[-2000:]}))
"""


def row(workload: str, measure: str, value: str, baseline: str, ratio: str, target: str) -> Row:
    return {
        "workload": workload,
        "measure": measure,
        "hptrack": value,
        "baseline": baseline,
        "ratio": ratio,
        "target": target,
    }


def hptrack(*args: Any, cwd: Path, ok: tuple[int, ...] = (0,)) -> dict[str, Any]:
    """Run ``python -m hptrack ARGS`` as a whole process: wall seconds and peak RSS."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    command = [sys.executable, "-c", _WRAPPER, sys.executable, "-m", "hptrack", *map(str, args)]
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout)
    if result["code"] not in ok:
        raise RuntimeError(f"hptrack {' '.join(map(str, args))} exited {result['code']}: {result['stderr']}")
    return result


def write_study(folder: Path, name: str, space: dict[str, list[Any]], *, folds: int = 5) -> Path:
    """A near-free grid study (DummyClassifier, numpy loader) in ``folder``; returns the spec."""
    (folder / "scaledata.py").write_text(LOADER)
    lines = [
        f'name = "{name}"',
        'search = "grid"',
        'estimator = "sklearn.dummy:DummyClassifier"',
        'data = "scaledata:load"',
        'metrics = ["accuracy"]',
        "[cv]",
        f"folds = {folds}",
        "[space]",
        *(f"{key} = {json.dumps(values)}" for key, values in space.items()),
    ]
    spec = folder / f"{name}.toml"
    spec.write_text("\n".join(lines) + "\n")
    return spec


def grid_space(n: int) -> dict[str, list[Any]]:
    """A grid of ``n`` points (n a power of 10): random_state x constant (DummyClassifier)."""
    side = round(n**0.5)
    first = side if side * side == n else n
    return {
        "strategy": ["prior"],
        "random_state": list(range(first)),
        "constant": list(range(n // first)),
    }


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _mb(n_bytes: float) -> str:
    return f"{n_bytes / 1e6:.2f} MB" if n_bytes >= 1e6 else f"{n_bytes / 1e3:.1f} kB"


# --------------------------------------------------------------------------- W7


def _w7_size(n: int, repeat: int) -> dict[str, Any]:
    """run --max-trials 5, report and export on an ``n``-point grid: medians and sizes."""
    runs, reports, exports = [], [], []
    for i in range(repeat):
        folder = Path(tempfile.mkdtemp(prefix=f"w7-{n}-"))
        spec = write_study(folder, "w7", grid_space(n))
        runs.append(hptrack("run", spec, "--store", "w7.db", "--max-trials", 5, cwd=folder))
        if i == 0:
            kept = folder
    for _ in range(repeat):
        reports.append(hptrack("report", "w7", "--store", "w7.db", "-o", "w7.html", cwd=kept))
        exports.append(
            hptrack("export", "w7", "--store", "w7.db", "--format", "csv", "-o", "w7.csv", cwd=kept)
        )
    return {
        "run": runs,
        "report": reports,
        "export": exports,
        "store": (kept / "w7.db").stat().st_size,
        "html": (kept / "w7.html").stat().st_size,
        "csv": (kept / "w7.csv").stat().st_size,
    }


def w7(quick: bool, repeat: int) -> list[Row]:
    """W7: a huge grid run with --max-trials 5, then report and export, beside a 10-point grid."""
    big = 10**4 if quick else 10**6
    small, large = _w7_size(10, repeat), _w7_size(big, repeat)
    label = f"W7 {big:,}-point grid, --max-trials 5"
    rows = []
    steps = (("run", "run --max-trials 5"), ("report", "report"), ("export", "export --format csv"))
    for step, command in steps:
        t_large = _median([r["wall"] for r in large[step]])
        t_small = _median([r["wall"] for r in small[step]])
        rss_large = max(r["rss_kib"] for r in large[step]) / 1024
        rss_small = max(r["rss_kib"] for r in small[step]) / 1024
        rows.append(
            row(
                label,
                f"hptrack {command}: wall, peak RSS",
                f"{t_large:.2f} s, {rss_large:.0f} MB",
                f"10-point grid: {t_small:.2f} s, {rss_small:.0f} MB",
                f"{t_large / t_small:.2f}x",
                "as fast as 10 points",
            )
        )
    for key, what in (("store", "store file"), ("html", "report HTML"), ("csv", "export CSV")):
        rows.append(
            row(
                label,
                f"{what} bytes",
                _mb(large[key]),
                f"10-point grid: {_mb(small[key])}",
                f"{large[key] / small[key]:.2f}x",
                "< 1 MB store" if key == "store" else "as small as 10 points",
            )
        )
    return rows


# --------------------------------------------------------------------------- W8


def _vacuumed_size(path: Path) -> int:
    """The store's size after VACUUM (into a copy, so the store itself is left as it is)."""
    copy = path.with_name(path.stem + "-vacuumed.db")
    copy.unlink(missing_ok=True)
    conn = sqlite3.connect(path)
    conn.execute("VACUUM INTO ?", (str(copy),))
    conn.close()
    return copy.stat().st_size


def _fold_scores(path: Path) -> int:
    """Fold scores in a store: rows of hptrack's ``fold_scores`` view (one per trial, fold and
    metric, whatever the schema keeps inline), or the minimal schema's fold rows."""
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT count(*) FROM fold_scores").fetchone()[0])
    except sqlite3.OperationalError:  # the minimal schema: one score per fold row
        return int(conn.execute("SELECT count(*) FROM folds").fetchone()[0])
    finally:
        conn.close()


def write_synthetic(folder: Path, n: int, n_folds: int = 5) -> Path:
    """An ``n``-trial x ``n_folds`` study written through hptrack's own write path.

    The plan comes from the spec (``plan_from_spec``), the study is opened as the
    coordinator opens it (``open_study``), trials are claimed with ``Writer.claim`` and
    folds committed with ``Writer.commit_folds`` inside ``Writer.run_record``; only the
    fold results are synthetic (no fits), with the fold keys the coordinator records.
    """
    import random

    from hptrack.run import open_study, plan_from_spec
    from hptrack.spec import load_spec
    from hptrack.store import FoldRecord, Writer

    spec = write_study(folder, "w8", grid_space(n), folds=n_folds)
    plan = plan_from_spec(load_spec(spec))
    rng = random.Random(0)
    path = folder / "w8.db"
    with Writer(path) as writer:
        stored, _ = open_study(writer, plan)
        with writer.run_record(stored.id, "benchmarks/scale.py w8"):
            while claims := writer.claim(
                stored.id, 2000, code_hash=plan.code_hash, data_hash=plan.data_hash, params_of=plan.trial_row
            ):
                keys = plan.fold_keys((c.number, k) for c in claims for k in range(n_folds))
                folds = [
                    (
                        claim.trial_id,
                        FoldRecord(
                            fold=k,
                            test={"accuracy": rng.random()},
                            train=None,
                            fit_time=rng.uniform(0.001, 0.002),
                            score_time=rng.uniform(0.0001, 0.0002),
                            fold_key=keys.get((claim.number, k)),
                        ),
                    )
                    for claim in claims
                    for k in range(n_folds)
                ]
                writer.commit_folds(folds, n_folds=n_folds, rank_metric="accuracy")
    return path


def write_minimal(path: Path, n: int, n_folds: int = 5) -> None:
    """ANCHORS.md's minimal schema (stdlib sqlite3) with the same numbers of rows."""
    import random

    rng = random.Random(0)
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE trials (id INTEGER PRIMARY KEY, study_id INTEGER NOT NULL, number INTEGER NOT NULL, "
        "params TEXT NOT NULL, status TEXT NOT NULL, score REAL, UNIQUE (study_id, number));"
        "CREATE TABLE folds (trial_id INTEGER NOT NULL, fold INTEGER NOT NULL, score REAL NOT NULL, "
        "PRIMARY KEY (trial_id, fold)) WITHOUT ROWID;"
        "CREATE INDEX trials_by_score ON trials (study_id, score);"
    )
    side = round(n**0.5)
    with conn:
        for start in range(0, n, 50_000):
            trials, folds = [], []
            for number in range(start, min(start + 50_000, n)):
                scores = [rng.random() for _ in range(n_folds)]
                params = json.dumps(
                    {"constant": number % side, "random_state": number // side, "strategy": "prior"},
                    sort_keys=True,
                    separators=(",", ":"),
                )
                trials.append((number + 1, 1, number, params, "complete", sum(scores) / n_folds))
                folds.extend((number + 1, k, s) for k, s in enumerate(scores))
            conn.executemany("INSERT INTO trials VALUES (?,?,?,?,?,?)", trials)
            conn.executemany("INSERT INTO folds VALUES (?,?,?)", folds)
    conn.execute("VACUUM")
    conn.close()


def w8(quick: bool, repeat: int) -> list[Row]:
    """W8: store bytes per fold score, hptrack's write path vs the minimal schema."""
    n = 10**4 if quick else 10**6
    small = 400 if quick else 4000
    folder = Path(tempfile.mkdtemp(prefix="w8-"))
    start = time.perf_counter()
    synthetic = write_synthetic(folder, n)
    built = time.perf_counter() - start
    minimal = folder / "minimal.db"
    write_minimal(minimal, n)
    per_score = _vacuumed_size(synthetic) / _fold_scores(synthetic)
    minimal_per = minimal.stat().st_size / (n * 5)

    run_folder = Path(tempfile.mkdtemp(prefix="w8-run-"))
    spec = write_study(run_folder, "w8run", {"strategy": ["prior"], "constant": list(range(small))})
    hptrack("run", spec, "--store", "w8run.db", cwd=run_folder)
    run_per = _vacuumed_size(run_folder / "w8run.db") / _fold_scores(run_folder / "w8run.db")
    return [
        row(
            f"W8 {n:,} trials x 5 folds x 1 metric",
            "store bytes per fold score (after VACUUM); written through Writer.claim/commit_folds "
            f"with synthetic fold results, not fits ({built:.0f} s)",
            f"{per_score:.0f} B",
            f"minimal schema (stdlib sqlite3): {minimal_per:.0f} B",
            f"{per_score / minimal_per:.2f}x",
            "<= 80 B",
        ),
        row(
            f"W8 {small:,} trials x 5 folds x 1 metric",
            "store bytes per fold score (after VACUUM), written by hptrack run (DummyClassifier)",
            f"{run_per:.0f} B",
            f"minimal schema at {n:,} trials: {minimal_per:.0f} B",
            f"{run_per / minimal_per:.2f}x",
            "<= 80 B",
        ),
    ]


# --------------------------------------------------------------------------- re-run


def rerun(quick: bool, repeat: int) -> list[Row]:
    """`hptrack run` on a complete study with nothing to do (a loader without scikit-learn)."""
    n = 200 if quick else 1000
    folder = Path(tempfile.mkdtemp(prefix="rerun-"))
    spec = write_study(folder, "rerun", {"strategy": ["prior"], "constant": list(range(n))}, folds=3)
    hptrack("run", spec, "--store", "rerun.db", cwd=folder)
    times = [hptrack("run", spec, "--store", "rerun.db", cwd=folder)["wall"] for _ in range(max(repeat, 5))]
    bare = [_timed_process([sys.executable, "-c", "import numpy"], folder) for _ in range(max(repeat, 5))]
    return [
        row(
            f"rerun a complete {n}-trial study (numpy loader)",
            "hptrack run with nothing to do (process, median of 5)",
            f"{_median(times):.2f} s",
            f"python -c 'import numpy': {_median(bare):.2f} s",
            f"{_median(times) - _median(bare):.2f} s above it",
            "<= 0.5 s",
        )
    ]


def _timed_process(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


WORKLOADS = {"w7": w7, "w8": w8, "rerun": rerun}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, one repetition")
    parser.add_argument("--only", nargs="*", help="workloads: w7 w8 rerun")
    args = parser.parse_args()
    repeat = 1 if args.quick else 3
    sys.path.insert(0, str(ROOT))
    rows: list[Row] = []
    for name, fn in WORKLOADS.items():
        if not args.only or name in args.only:
            print(f"running {name} ...", file=sys.stderr, flush=True)
            rows.extend(fn(args.quick, repeat))
    columns = ["workload", "measure", "hptrack", "baseline", "ratio", "target"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for r in rows:
        print("| " + " | ".join(r[c] for c in columns) + " |")


if __name__ == "__main__":
    main()
