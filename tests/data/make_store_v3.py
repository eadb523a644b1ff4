"""Write ``store_v3.db``, the committed schema-3 store, and the golden outputs of every read command.

Run it with the hptrack of schema 3 (commit 6e301ec), from the repository root::

    PYTHONPATH=$PWD python tests/data/make_store_v3.py          # the store, then the goldens
    PYTHONPATH=$PWD python tests/data/make_store_v3.py --goldens  # the goldens only

The store holds:

- ``iris-lr``: grid over C (LogisticRegression, 3 stratified folds, accuracy and f1_macro,
  train scores); trial 0 (C=-1) failed.
- ``iris-lr-wide``: the same grid with one more C: its first four trials' folds are reused
  from ``iris-lr`` (``origin`` set), only the new cell is fitted.
- ``iris-knn``: random, 6 trials; run with ``--max-trials 2`` then resumed with
  ``--max-trials 1`` here (two runs), and merged with a copy run to the end on another
  store (a third, merged run): 6 complete.
- ``iris-tree``: grid, copied whole from the other store by the merge (its history too).

``tests/data/golden/`` gets, per store (v1, v2, v3), the stdout of ``studies``, ``trials``,
``best``, ``show`` (study and a trial), ``compare``, ``export`` (csv and json), ``history`` and
``report`` of each study, as this hptrack wrote them (see ``tests/test_migrations.py``), on a
copy whose fold fit and score times are rounded to the microsecond: from schema 4 on, the store
keeps them as integer microseconds, which is the one thing a migration changes in what users see.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import sys
import tempfile
import textwrap
from pathlib import Path

from click.testing import CliRunner

from hptrack.cli import cli

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"

DATA = textwrap.dedent(
    """
    from sklearn.datasets import load_iris


    def load():
        return load_iris(return_X_y=True)
    """
)

LR = """
name = "{name}"
search = "grid"
seed = 0
estimator = "sklearn.linear_model:LogisticRegression"
data = "irisdata:load"
metrics = ["accuracy", "f1_macro"]
train_scores = true

[fixed]
max_iter = 300

[cv]
kind = "stratified"
folds = 3
shuffle = true

[space]
C = {grid}
"""

KNN = """
name = "iris-knn"
search = "random"
n_trials = 6
seed = 7
estimator = "sklearn.neighbors:KNeighborsClassifier"
data = "irisdata:load"
metrics = ["accuracy", "balanced_accuracy"]

[cv]
kind = "kfold"
folds = 4
shuffle = true

[space]
n_neighbors = { dist = "randint", low = 1, high = 30 }
weights = ["uniform", "distance"]
"""

TREE = """
name = "iris-tree"
search = "grid"
seed = 3
estimator = "sklearn.tree:DecisionTreeClassifier"
data = "irisdata:load"
metrics = ["accuracy"]

[cv]
kind = "stratified"
folds = 3
shuffle = true

[space]
max_depth = [1, 2, "None"]
"""

# (file stem, arguments): every read command, per store
COMMANDS: dict[str, list[tuple[str, list[str]]]] = {
    "v1": [
        ("studies", ["studies", "--json"]),
        ("studies_text", ["studies"]),
        ("trials_iris-lr", ["trials", "iris-lr", "--json"]),
        ("trials_iris-knn", ["trials", "iris-knn", "--json"]),
        ("trials_text_iris-lr", ["trials", "iris-lr"]),
        ("best_iris-lr", ["best", "iris-lr", "--json"]),
        ("best_text_iris-knn", ["best", "iris-knn"]),
        ("show_iris-lr", ["show", "iris-lr", "--json"]),
        ("show_text_iris-knn", ["show", "iris-knn"]),
        ("show_trial_iris-lr_0", ["show", "iris-lr", "0"]),
        ("compare", ["compare", "iris-lr", "iris-knn", "--json"]),
        ("export_iris-lr.csv", ["export", "iris-lr", "--format", "csv"]),
        ("export_iris-knn.json", ["export", "iris-knn", "--format", "json"]),
        ("history_iris-lr", ["history", "iris-lr", "--json"]),
        ("report.html", ["report", "iris-lr", "iris-knn", "-o", "{out}"]),
    ],
}
COMMANDS["v2"] = COMMANDS["v1"]
COMMANDS["v3"] = [
    *COMMANDS["v1"],
    ("trials_iris-lr-wide", ["trials", "iris-lr-wide", "--json"]),
    ("trials_iris-tree", ["trials", "iris-tree", "--json"]),
    ("show_iris-lr-wide", ["show", "iris-lr-wide", "--json"]),
    ("show_trial_iris-lr-wide_1", ["show", "iris-lr-wide", "1", "--json"]),
    ("best_iris-knn", ["best", "iris-knn", "--json"]),
    ("compare_wide", ["compare", "iris-lr", "iris-lr-wide", "--json"]),
    ("compare_text_wide", ["compare", "iris-lr", "iris-lr-wide"]),
    ("export_iris-lr-wide.csv", ["export", "iris-lr-wide", "--format", "csv"]),
    ("export_iris-lr.json", ["export", "iris-lr", "--format", "json"]),
    ("history_iris-knn", ["history", "iris-knn", "--json"]),
    ("history_text_iris-knn", ["history", "iris-knn"]),
    ("history_iris-tree", ["history", "iris-tree", "--json"]),
    ("report_all.html", ["report", "iris-lr", "iris-lr-wide", "iris-knn", "iris-tree", "-o", "{out}"]),
]
# store_v4.db (make_store_v4.py) holds the same studies; the four-study report covers the two-study one
COMMANDS["v4"] = [command for command in COMMANDS["v3"] if command[0] != "report.html"]


def invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    if result.exit_code != 0:
        raise SystemExit(f"hptrack {' '.join(args)}: exit {result.exit_code}\n{result.output}")
    return result.stdout


def make_store(target: Path) -> None:
    """Build the schema-3 store at ``target`` (replaced)."""
    with tempfile.TemporaryDirectory(prefix="hptrack-v3-") as tmp:
        work = Path(tmp)
        (work / "irisdata.py").write_text(DATA)
        specs = {
            "lr": LR.format(name="iris-lr", grid="[-1.0, 0.1, 1.0, 10.0]"),
            "wide": LR.format(name="iris-lr-wide", grid="[-1.0, 0.1, 1.0, 10.0, 100.0]"),
            "knn": KNN,
            "tree": TREE,
        }
        for stem, text in specs.items():
            (work / f"{stem}.toml").write_text(text)
        main, other = work / "store_v3.db", work / "other.db"
        sys.path.insert(0, str(work))
        try:
            run = ["run", "--store"]
            invoke(*run, str(main), str(work / "lr.toml"))
            invoke(*run, str(main), str(work / "wide.toml"))
            invoke(*run, str(main), str(work / "knn.toml"), "--max-trials", "2")
            invoke("resume", "iris-knn", "--store", str(main), "--max-trials", "1")
            invoke(*run, str(other), str(work / "knn.toml"))
            invoke(*run, str(other), str(work / "tree.toml"))
            invoke("merge", str(other), "--store", str(main))
        finally:
            sys.path.remove(str(work))
        from hptrack.store import Writer

        Writer(main).close()  # checkpoint: the file holds every commit
        for suffix in ("-wal", "-shm"):
            Path(f"{main}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(main, target)


def microseconds(seconds: float | None) -> float | None:
    """A time in seconds as schema 4 stores it (integer microseconds) and reads it back."""
    return None if seconds is None else round(seconds * 1e6) / 1e6


def round_fold_times(path: Path) -> None:
    """Round the fold times of the store at ``path`` to the microsecond (its schema unchanged)."""
    conn = sqlite3.connect(path)
    try:
        with conn:
            rows = conn.execute("SELECT id, fit_time, score_time FROM folds").fetchall()
            conn.executemany(
                "UPDATE folds SET fit_time = ?, score_time = ? WHERE id = ?",
                [(microseconds(fit), microseconds(score), i) for i, fit, score in rows],
            )
    finally:
        conn.close()


def read_outputs(version: str, store: Path, tmp: Path) -> dict[str, str]:
    """File name -> what each read command of ``COMMANDS[version]`` prints on ``store`` (the
    store's path shown as ``{STORE}``; a report's generator line without the version)."""
    outputs = {}
    for stem, args in COMMANDS[version]:
        if "{out}" in args:
            html = tmp / "out.html"
            invoke(*[a.format(out=html) for a in args], "--store", str(store))
            text = html.read_text(encoding="utf-8")
            outputs[stem] = re.sub(r'<meta name="generator" content="[^"]*">', "<meta generator>", text)
            continue
        name = stem if "." in stem else f"{stem}.{'json' if '--json' in args else 'txt'}"
        outputs[name] = invoke(*args, "--store", str(store)).replace(str(store), "{STORE}")
    return outputs


def write_goldens(version: str, store: Path) -> None:
    """The outputs of every read command on a copy of ``store`` with its fold times rounded
    to the microsecond (:func:`round_fold_times`), opened read-only by the commands."""
    out_dir = GOLDEN / version
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hptrack-golden-") as tmp:
        copy = Path(tmp) / store.name
        shutil.copyfile(store, copy)
        round_fold_times(copy)
        for name, text in read_outputs(version, copy, Path(tmp)).items():
            (out_dir / name).write_text(text, encoding="utf-8")


def main() -> None:
    if "--goldens" not in sys.argv:
        make_store(HERE / "store_v3.db")
    for version in ("v1", "v2", "v3"):
        write_goldens(version, HERE / f"store_{version}.db")


if __name__ == "__main__":
    main()
