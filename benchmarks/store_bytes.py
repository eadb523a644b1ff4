"""Store bytes per fold score (SPEC section 8: at most 80 B), for a store ``hptrack run`` wrote.

    python benchmarks/store_bytes.py                  # 4,000 trials x 5 folds x 1 metric
    python benchmarks/store_bytes.py --trials 400     # quicker
    python benchmarks/store_bytes.py --store S.db     # measure an existing store only

The study is W8's (``benchmarks/scale.py``): ``sklearn.dummy:DummyClassifier`` with
``strategy = ["prior"]`` and ``constant = range(N)``, 5-fold KFold, accuracy, written by a
whole ``python -m hptrack run`` process. The figure is the file size after ``VACUUM``
divided by the number of fold scores (rows of the ``fold_scores`` view); below it, what
each table and index takes per fold score (SQLite's ``dbstat`` virtual table, page bytes
including free space, as ``sqlite3_analyzer`` counts them).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from scale import _fold_scores, _vacuumed_size, hptrack, write_study  # noqa: E402


def breakdown(path: Path, n_scores: int) -> list[tuple[str, float]]:
    """Bytes per fold score of each table and index of ``path`` (its pages, free space included)."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY sum(pgsize) DESC"
        ).fetchall()
    except sqlite3.OperationalError:  # an SQLite built without dbstat
        return []
    finally:
        conn.close()
    return [(name, size / n_scores) for name, size in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=4000)
    parser.add_argument("--store", type=Path, help="measure this store instead of writing one")
    args = parser.parse_args()
    if args.store is None:
        folder = Path(tempfile.mkdtemp(prefix="store-bytes-"))
        spec = write_study(folder, "w8run", {"strategy": ["prior"], "constant": list(range(args.trials))})
        hptrack("run", spec, "--store", "w8run.db", cwd=folder)
        args.store = folder / "w8run.db"
    n_scores = _fold_scores(args.store)
    size = _vacuumed_size(args.store)
    print(f"{args.store}: {size} bytes after VACUUM / {n_scores} fold scores = {size / n_scores:.2f} B per fold score")
    for name, per in breakdown(args.store.with_name(args.store.stem + "-vacuumed.db"), n_scores):
        print(f"  {name:<28} {per:7.2f} B")


if __name__ == "__main__":
    main()
