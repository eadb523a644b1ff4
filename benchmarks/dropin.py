"""W10: the drop-in on near-free fits, against scikit-learn's own GridSearchCV.

    python benchmarks/dropin.py [--quick] [--repeat N]

400 ``DummyClassifier`` configurations x 5 folds (``--quick``: 100), fitted by
``hptrack.GridSearchCV`` into a fresh store each run and by
``sklearn.model_selection.GridSearchCV``; runs interleaved, medians reported. The ratio
is the whole cost of recording every fold on a fit that costs almost nothing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from run import Row, interleaved, row  # noqa: E402


def w10(quick: bool, repeat: int) -> list[Row]:
    """400 near-free configurations x 5 folds: hptrack.GridSearchCV vs scikit-learn's."""
    from sklearn.datasets import make_classification
    from sklearn.dummy import DummyClassifier
    from sklearn.model_selection import GridSearchCV

    import hptrack

    n = 100 if quick else 400
    X, y = make_classification(200, 5, random_state=0)
    grid = {"constant": list(range(n)), "strategy": ["prior"]}
    tmp = Path(tempfile.mkdtemp())
    counter = iter(range(10**6))

    def sk() -> None:
        GridSearchCV(DummyClassifier(random_state=0), grid, cv=5).fit(X, y)

    def ht() -> None:
        store = tmp / f"w10-{next(counter)}.db"
        hptrack.GridSearchCV(DummyClassifier(random_state=0), grid, cv=5, store=store).fit(X, y)

    def rerun() -> None:  # a complete study: everything served from the store
        hptrack.GridSearchCV(DummyClassifier(random_state=0), grid, cv=5, store=tmp / "done.db").fit(X, y)

    rerun()
    fns: dict[str, Callable[[], Any]] = {"sk": sk, "ht": ht, "rerun": rerun}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = interleaved(fns, repeat)
    label = f"W10 drop-in near-free, {n} configs x 5 folds"
    per_trial = (t["ht"] - t["sk"]) / n * 1000
    return [
        row(
            label,
            "hptrack.GridSearchCV wall",
            f"{t['ht']:.2f} s",
            f"{t['sk']:.2f} s",
            f"{t['ht'] / t['sk']:.3f}",
            "<= 1.10",
        ),
        row(
            label,
            "tracking per trial",
            f"{per_trial:.2f} ms",
            f"{t['sk'] / n * 1000:.2f} ms/trial",
            "",
            "<= 0.3 ms",
        ),
        row(
            label,
            "re-run of the complete study",
            f"{t['rerun']:.2f} s",
            f"{t['sk']:.2f} s",
            f"{t['rerun'] / t['sk']:.3f}",
            "< 1",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    for r in w10(args.quick, args.repeat):
        print(" | ".join(r.values()))


if __name__ == "__main__":
    main()
