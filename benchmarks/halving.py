"""Successive halving over a 100-candidate grid: hptrack's drop-in against scikit-learn's.

    python benchmarks/halving.py [--workload digits|large] [--repeat N] [--quick]
    python benchmarks/halving.py --instructions [--workload digits|large]

``SVC`` over a 10 x 10 grid of ``C`` x ``gamma``, 5 stratified folds, ``factor=3``,
``random_state=0``, ``HalvingGridSearchCV``'s defaults otherwise:

- ``digits`` (1,797 samples): 3 rungs, 100 candidates on 100 samples, 34 on 300, 12 on
  900 (730 fits of a few ms: a light search, whose process is mostly imports);
- ``large`` (``make_classification``, 8,000 samples x 20 features): 5 rungs, 100
  candidates on 98 samples up to 2 on 7,938 (the search halving is meant for).

Each measurement is a whole ``python`` process (imports, data, the search, exit), run in
rounds that interleave scikit-learn's class, hptrack's into a fresh store, and hptrack's
re-run of a complete study (every fold served from the store). Medians of the rounds are
printed, with the median of each round's own ratio. ``--quick``: a 5 x 4 grid on 600
digits. The machines are shared: read the ratios, not the seconds.

``--instructions`` counts the instructions of the same three whole processes under
``valgrind --tool=callgrind`` instead (one each; counts do not swing with the machine's
load, and imports, the store's creation and the refit are all in them). Needs valgrind.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

SEARCH = """
import sys, logging
from sklearn.datasets import load_digits
from sklearn.svm import SVC
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import HalvingGridSearchCV
import numpy as np
kind, store, workload = sys.argv[1], sys.argv[2], sys.argv[3]
if workload == "large":
    from sklearn.datasets import make_classification
    X, y = make_classification(n_samples=8000, n_features=20, n_informative=10, random_state=0)
else:
    X, y = load_digits(return_X_y=True)
n = (5, 4) if workload == "quick" else (10, 10)
if workload == "quick":
    X, y = X[:600], y[:600]
grid = {"C": np.logspace(-1, 3, n[0]).tolist(), "gamma": np.logspace(-4, -1.5, n[1]).tolist()}
options = dict(factor=3, cv=5, random_state=0)
if kind == "sk":
    search = HalvingGridSearchCV(SVC(random_state=0), grid, **options)
else:
    import hptrack
    search = hptrack.HalvingGridSearchCV(SVC(random_state=0), grid, store=store, **options)
search.fit(X, y)
print(search.best_index_, sum(search.n_candidates_))
"""


def _process(kind: str, store: Path, workload: str) -> tuple[float, str]:
    """Seconds of one whole process running one search, and what it printed."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", SEARCH, kind, str(store), workload],
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - start, done.stdout.strip()


def _instructions(kind: str, store: Path, workload: str, out: Path) -> int:
    """Instructions of one whole process under callgrind."""
    env = {**os.environ, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1"}
    command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, "-c", SEARCH]
    done = subprocess.run(
        [*command, kind, str(store), workload], env=env, capture_output=True, text=True, check=True
    )
    found = re.search(r"Collected\s*:\s*(\d+)", done.stderr)
    if found is None:
        raise SystemExit(f"no instruction count in valgrind's output:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def count_instructions(workload: str) -> None:
    """scikit-learn's process, hptrack's on a fresh store (two at once), then the re-run."""
    from concurrent.futures import ThreadPoolExecutor

    tmp = Path(tempfile.mkdtemp(prefix="hptrack-halving-"))
    with ThreadPoolExecutor(max_workers=2) as pool:
        sk, ht = pool.map(
            lambda kind: _instructions(kind, tmp / "done.db", workload, tmp / f"{kind}.out"), ["sk", "ht"]
        )
    rerun = _instructions("ht", tmp / "done.db", workload, tmp / "rerun.out")
    print("| workload | measure | hptrack | scikit-learn | ratio | target |")
    print("|---|---|---|---|---|---|")
    rows = (("first run", ht, "<= 1.05"), ("re-run of the complete study", rerun, "<= 0.1"))
    for measure, count, target in rows:
        print(
            f"| HalvingGridSearchCV, SVC 10 x 10 grid, {workload} | {measure}: instructions of the whole "
            f"process (callgrind) | {count / 1e9:.2f} G | {sk / 1e9:.2f} G | {count / sk:.3f} | {target} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=7, help="interleaved rounds")
    parser.add_argument("--workload", choices=["digits", "large"], default="digits")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--instructions", action="store_true", help="count instructions (callgrind)")
    args = parser.parse_args()
    workload = "quick" if args.quick else args.workload
    if args.instructions:
        count_instructions(workload)
        return
    tmp = Path(tempfile.mkdtemp(prefix="hptrack-halving-"))
    done = tmp / "done.db"
    _, expected = _process("ht", done, workload)  # the complete study the re-runs serve
    times: dict[str, list[float]] = {"sk": [], "ht": [], "rerun": []}
    for r in range(args.repeat):
        for kind in times:
            store = done if kind == "rerun" else tmp / f"fresh-{r}.db"
            seconds, printed = _process("ht" if kind == "rerun" else kind, store, workload)
            if printed != expected:  # same best_index_ and number of trials as the first run
                raise SystemExit(f"{kind} printed {printed!r}, not {expected!r}")
            times[kind].append(seconds)
    sk, ht, rerun = (statistics.median(times[k]) for k in ("sk", "ht", "rerun"))
    paired = statistics.median(h / s for s, h in zip(times["sk"], times["ht"]))
    paired_rerun = statistics.median(h / s for s, h in zip(times["sk"], times["rerun"]))
    size = {
        "quick": "5 x 4 grid, 600 digits",
        "digits": "10 x 10 grid (100 candidates), digits",
        "large": "10 x 10 grid (100 candidates), 8,000 x 20 make_classification",
    }[workload]
    print(
        "| workload | measure | hptrack | scikit-learn | ratio of medians | median paired ratio | target |"
    )
    print("|---|---|---|---|---|---|---|")
    print(
        f"| HalvingGridSearchCV, SVC {size}, {args.repeat} rounds | first run (whole process) | {ht:.2f} s "
        f"| {sk:.2f} s | {ht / sk:.3f} | {paired:.3f} | <= 1.05 |"
    )
    print(
        f"| HalvingGridSearchCV, SVC {size}, {args.repeat} rounds | re-run of the complete study "
        f"| {rerun:.2f} s | {sk:.2f} s | {rerun / sk:.3f} | {paired_rerun:.3f} | <= 0.1 |"
    )


if __name__ == "__main__":
    main()
