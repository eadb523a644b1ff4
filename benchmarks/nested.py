"""Many small searches (nested cross-validation): hptrack.GridSearchCV against scikit-learn's.

    python benchmarks/nested.py [--searches N] [--repeat R]

As scikit-learn's gallery example ``plot_nested_cross_validation_iris``: an SVC grid
(3 x 2) searched with 4 inner folds inside ``cross_val_score`` with 4 outer folds, for
N/4 random splits, so N small searches. Runs interleave scikit-learn and hptrack (a fresh
store each run); medians are printed, with the cost per search, and the median of each
round's own ratio. The machines are shared: read the ratios, not the seconds.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--searches", type=int, default=40, help="small searches per run (multiple of 4)")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs")
    args = parser.parse_args()

    from sklearn.datasets import load_iris
    from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
    from sklearn.svm import SVC

    import hptrack

    X, y = load_iris(return_X_y=True)
    grid = {"C": [1, 10, 100], "gamma": [0.01, 0.1]}
    tmp = Path(tempfile.mkdtemp())

    def run(cls: type, **options: object) -> float:
        start = time.perf_counter()
        for i in range(args.searches // 4):  # each cross_val_score fits 4 searches
            inner = KFold(n_splits=4, shuffle=True, random_state=i)
            outer = KFold(n_splits=4, shuffle=True, random_state=i)
            search = cls(estimator=SVC(kernel="rbf"), param_grid=grid, cv=inner, **options)
            cross_val_score(search, X=X, y=y, cv=outer)
        return time.perf_counter() - start

    times: dict[str, list[float]] = {"scikit-learn": [], "hptrack": []}
    logging.getLogger("hptrack").setLevel(logging.ERROR)  # SVC has random_state=None: said once per store
    for r in range(args.repeat):
        times["scikit-learn"].append(run(GridSearchCV))
        times["hptrack"].append(run(hptrack.GridSearchCV, store=tmp / f"nested-{r}.db"))
    sk, ht = (statistics.median(times[k]) for k in ("scikit-learn", "hptrack"))
    # each round runs both back to back: its ratio is less exposed to the machine's load drifting
    paired = statistics.median(h / s for s, h in zip(times["scikit-learn"], times["hptrack"]))
    print(
        "| workload | scikit-learn | hptrack | ratio of medians | median paired ratio | per search | target |"
    )
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {args.searches} small searches (nested CV, iris, SVC 3x2, 4x4 folds) | {sk:.2f} s | {ht:.2f} s "
        f"| {ht / sk:.2f} | {paired:.2f} | +{(ht - sk) / args.searches * 1000:.1f} ms | <= 1.2 |"
    )


if __name__ == "__main__":
    main()
