"""The nested-CV workload of ``nested.py`` counted in instructions, which a shared machine does not blur.

    python benchmarks/nested_instructions.py [--rounds N]

Needs valgrind (Debian: ``apt-get install valgrind``). Each variant (scikit-learn's
``GridSearchCV``, ``hptrack.GridSearchCV`` on a fresh store) runs ``nested.py``'s loop
(one round: ``cross_val_score`` of an SVC 3 x 2 grid search, 4 inner x 4 outer folds, so
4 small searches) in one process under ``valgrind --tool=callgrind``, once with 1 round and
once with 1 + N rounds (default 3). The difference is the instructions of N steady-state
rounds: imports, the store's creation and the first round cancel out. Prints instructions
per search and their ratio. About 10 minutes on 2 cores (the four processes run two at a
time); wall time under valgrind means nothing, the counts are repeatable.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SEARCHES_PER_ROUND = 4


def rounds(variant: str, n: int) -> None:
    """Run ``n`` rounds of the nested loop with ``variant`` ("sklearn" or "hptrack")."""
    import logging

    from sklearn.datasets import load_iris
    from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
    from sklearn.svm import SVC

    X, y = load_iris(return_X_y=True)
    grid = {"C": [1, 10, 100], "gamma": [0.01, 0.1]}
    cls: type = GridSearchCV
    options: dict[str, object] = {}
    if variant == "hptrack":  # imported only here: scikit-learn's own run never meets hptrack's shim
        import hptrack

        logging.getLogger("hptrack").setLevel(logging.ERROR)  # SVC's random_state=None, said once
        cls, options = hptrack.GridSearchCV, {"store": Path(tempfile.mkdtemp()) / "nested.db"}
    for i in range(n):
        inner = KFold(n_splits=4, shuffle=True, random_state=i)
        outer = KFold(n_splits=4, shuffle=True, random_state=i)
        search = cls(estimator=SVC(kernel="rbf"), param_grid=grid, cv=inner, **options)
        cross_val_score(search, X=X, y=y, cv=outer)


def counted(variant: str, n: int, out: Path) -> int:
    """Instructions of a whole process running ``n`` rounds under callgrind."""
    env = {**os.environ, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            __file__,
            "--child",
            variant,
            str(n),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"Collected\s*:\s*(\d+)", done.stderr)
    if found is None:
        raise SystemExit(f"no instruction count in valgrind's output:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="steady-state rounds measured (4 searches each)"
    )
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        rounds(args.child[0], int(args.child[1]))
        return
    tmp = Path(tempfile.mkdtemp())
    jobs = [(v, n) for v in ("sklearn", "hptrack") for n in (1, 1 + args.rounds)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        counts = dict(
            zip(jobs, pool.map(lambda job: counted(job[0], job[1], tmp / f"{job[0]}.{job[1]}.out"), jobs))
        )
    per_search = {
        v: (counts[(v, 1 + args.rounds)] - counts[(v, 1)]) / (args.rounds * SEARCHES_PER_ROUND)
        for v in ("sklearn", "hptrack")
    }
    sk, ht = per_search["sklearn"], per_search["hptrack"]
    print("| workload | scikit-learn | hptrack | ratio | per search | target |")
    print("|---|---|---|---|---|---|")
    print(
        f"| {args.rounds * SEARCHES_PER_ROUND} small searches (nested CV, iris, SVC 3x2, 4x4 folds), "
        f"instructions per search | {sk / 1e6:.1f} M | {ht / 1e6:.1f} M | {ht / sk:.3f} "
        f"| +{(ht - sk) / 1e6:.1f} M | <= 1.2 |"
    )


if __name__ == "__main__":
    main()
