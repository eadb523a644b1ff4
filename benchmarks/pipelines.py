"""W9 (issue 15): grids over pipelines, hptrack run against scikit-learn's GridSearchCV.

    python benchmarks/pipelines.py [--repeat R] [--only w9 second flat] [--quick] [--cache-mem SIZE]

Every variant is a fresh Python process, timed from outside (imports included), with its
peak RSS read from ``os.wait4``; variants run interleaved, ``--repeat`` rounds (default 3),
and the table shows medians. The specs are ``benchmarks/w9/*.toml``; their estimator
factories sit beside them (``w9_factories.py``):

- **w9** ``kpca_knn.toml``: ``KernelPCA(kernel="rbf") -> KNeighborsClassifier`` on digits,
  ``kpca__n_components`` x ``kpca__gamma`` (4 settings) x ``knn__n_neighbors`` (5), 5 folds;
- **second** ``select_logreg.toml``: ``SelectKBest(mutual_info_classif, seeded) ->
  StandardScaler -> LogisticRegression`` on digits, ``selectkbest__k`` (3) x ``C`` (4);
- **flat** ``kpca_flat.toml``: only the KernelPCA varies (3 x 3), so nothing can be shared:
  ``hptrack run`` against ``--no-reuse`` is the cost of the cache's bookkeeping.

Variants: ``GridSearchCV`` (``benchmarks/w9/sklearn_search.py``: n_jobs=1, refit=False, the
spec's seeds and folds), the same with ``Pipeline(memory=<fresh dir>)``, ``hptrack run SPEC``
into a fresh store, and ``hptrack run SPEC --no-reuse`` (no reuse, no prefix cache: the
"nothing shared" reference). Every fold score each variant produced is compared with plain
``GridSearchCV``'s ``split{k}_test_score`` for the same params, exactly (==).

An hptrack without the prefix cache (no ``--cache-mem`` in ``hptrack run --help``) is
measured as it is and labelled so; ``--cache-mem SIZE`` is passed to ``hptrack run`` only
when it has the option. ``--quick`` trims each grid (a smoke run of a few minutes).
``--threads N`` (default 1) sets ``OMP_NUM_THREADS``/``OPENBLAS_NUM_THREADS``/``MKL_NUM_THREADS``
in every process: on a shared 2-core machine a multi-threaded eigensolver that loses a core
to another process slows down ten-fold, which swamps what is measured here.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SPECS = HERE / "w9"
SKLEARN_SEARCH = SPECS / "sklearn_search.py"
sys.path.insert(0, str(ROOT))

Scores = dict[str, list[float]]  # canonical params -> fold scores


@dataclass(frozen=True)
class Workload:
    key: str
    title: str
    spec: str
    quick: dict[str, list[Any]]  # [space] lists replaced in --quick mode
    variants: tuple[str, ...]


WORKLOADS = (
    Workload(
        "w9",
        "W9 KernelPCA -> KNN, digits",
        "kpca_knn.toml",
        {"kpca__gamma": [0.001], "knn__n_neighbors": [1, 5, 9]},
        ("sk", "sk_memory", "hptrack", "hptrack_no_reuse"),
    ),
    Workload(
        "second",
        "SelectKBest(mutual info) -> scale -> LogisticRegression, digits",
        "select_logreg.toml",
        {"selectkbest__k": [8, 32], "logisticregression__C": [0.1, 1]},
        ("sk", "sk_memory", "hptrack", "hptrack_no_reuse"),
    ),
    Workload(
        "flat",
        "nothing to share: KernelPCA grid, KNN fixed, digits",
        "kpca_flat.toml",
        {"kpca__n_components": [10, 30], "kpca__gamma": [0.001]},
        ("sk", "hptrack", "hptrack_no_reuse"),
    ),
)


@dataclass
class Measured:
    seconds: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    differing: int = 0  # runs whose fold scores differ from plain GridSearchCV's of the same round


@dataclass(frozen=True)
class Setup:
    """How every process runs, and what this checkout's ``hptrack run`` offers (from its ``--help``)."""

    threads: int | None
    has_cache: bool = False
    cache_mem: str | None = None

    def env(self) -> dict[str, str]:
        """This checkout's hptrack first on the path; BLAS and OpenMP limited to ``threads``."""
        paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        limits = dict.fromkeys(THREAD_VARIABLES, str(self.threads)) if self.threads else {}
        return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), **limits}

    def label(self, variant: str) -> str:
        if variant == "hptrack_no_reuse":
            return "hptrack run --no-reuse"
        if not self.has_cache:
            return "hptrack run (this build has no prefix cache)"
        return f"hptrack run (prefix cache{', --cache-mem ' + self.cache_mem if self.cache_mem else ''})"


THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
LABELS = {"sk": "GridSearchCV", "sk_memory": "GridSearchCV, Pipeline(memory=fresh dir)"}


def run_process(cmd: list[str], workdir: Path, setup: Setup) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one process; output kept in files, raised on failure."""
    with open(workdir / "stdout", "wb") as out, open(workdir / "stderr", "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=setup.env(), cwd=workdir)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = (workdir / "stderr").read_text(errors="replace").strip().splitlines()[-5:]
        raise SystemExit(f"exit {proc.returncode}: {' '.join(cmd)}\n" + "\n".join(tail))
    return seconds, usage.ru_maxrss / 1024


def probe_hptrack(threads: int | None, cache_mem: str | None) -> Setup:
    """Does ``hptrack run`` have the prefix cache's options? Without them it runs as it is."""
    cmd = [sys.executable, "-m", "hptrack", "run", "--help"]
    helptext = subprocess.run(
        cmd, capture_output=True, text=True, env=Setup(threads).env(), check=True
    ).stdout
    has_cache = "--cache-mem" in helptext
    if cache_mem and not has_cache:
        print(
            f"note: this hptrack run has no --cache-mem; measured without '--cache-mem {cache_mem}'",
            file=sys.stderr,
        )
    return Setup(threads, has_cache, cache_mem if has_cache else None)


def spec_for(workload: Workload, quick: bool, tmp: Path) -> Path:
    """The committed spec; with ``--quick``, a trimmed copy beside a copy of its factory module."""
    spec = SPECS / workload.spec
    if not quick:
        return spec
    raw = tomllib.loads(spec.read_text())
    raw["space"] = {**raw["space"], **workload.quick}
    folder = tmp / f"quick-{workload.key}"
    folder.mkdir()
    shutil.copy(SPECS / "w9_factories.py", folder)
    (folder / workload.spec).write_text(to_toml(raw))
    return folder / workload.spec


def to_toml(raw: dict[str, Any]) -> str:
    """A spec of scalars, lists and one level of tables as TOML (JSON's literals are TOML's)."""
    lines = [f"{k} = {json.dumps(v)}" for k, v in raw.items() if not isinstance(v, dict)]
    for table, body in ((k, v) for k, v in raw.items() if isinstance(v, dict)):
        lines += [f"[{table}]", *(f"{k} = {json.dumps(v)}" for k, v in body.items())]
    return "\n".join(lines) + "\n"


def key_of(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True)


def sklearn_scores(path: Path) -> Scores:
    """``sklearn_search.py``'s output: fold scores by params."""
    results = json.loads(path.read_text())
    folds = sorted((k for k in results if k.startswith("split")), key=lambda k: int(k[5 : k.index("_")]))
    return {key_of(p): [results[k][i] for k in folds] for i, p in enumerate(results["params"])}


def hptrack_scores(store: Path, name: str, metric: str) -> Scores:
    """Fold scores hptrack recorded, read through the public query API."""
    import hptrack

    with hptrack.Store(store, readonly=True) as s:
        return {key_of(t.params): list(t.scores[metric]) for t in s.study(name).trials()}


def command(variant: str, spec: Path, run_dir: Path, setup: Setup) -> list[str]:
    """The process of one variant; its output (scores or store) goes to ``run_dir``."""
    if variant.startswith("sk"):
        cmd = [sys.executable, str(SKLEARN_SEARCH), str(spec), str(run_dir / "scores.json")]
        return cmd + (["--memory", str(run_dir / "joblib")] if variant == "sk_memory" else [])
    cmd = [sys.executable, "-m", "hptrack", "run", str(spec), "--store", str(run_dir / "hptrack.db")]
    if variant == "hptrack_no_reuse":
        return [*cmd, "--no-reuse"]
    return [*cmd, "--cache-mem", setup.cache_mem] if setup.cache_mem else cmd


def measure(workload: Workload, spec: Path, repeat: int, setup: Setup, tmp: Path) -> dict[str, Measured]:
    """Interleaved rounds of every variant; each run's fold scores checked against GridSearchCV's."""
    raw = tomllib.loads(spec.read_text())
    name, metric = raw["name"], raw["metrics"][0]
    measured = {variant: Measured() for variant in workload.variants}
    for round_ in range(repeat):
        reference: Scores = {}
        for variant in workload.variants:  # "sk" first: the round's reference scores
            run_dir = tmp / f"{workload.key}-{variant}-{round_}"
            run_dir.mkdir()
            seconds, rss = run_process(command(variant, spec, run_dir, setup), run_dir, setup)
            if variant.startswith("sk"):
                scores = sklearn_scores(run_dir / "scores.json")
            else:
                scores = hptrack_scores(run_dir / "hptrack.db", name, metric)
            if variant == "sk":
                reference = scores
            elif scores != reference:
                measured[variant].differing += 1
            measured[variant].seconds.append(seconds)
            measured[variant].rss_mb.append(rss)
            shutil.rmtree(run_dir / "joblib", ignore_errors=True)
            print(f"{workload.key} round {round_ + 1}/{repeat} {variant}: {seconds:.2f} s", file=sys.stderr)
    return measured


def prefix_counts(store: Path, name: str, setup: Setup) -> dict[str, Any]:
    """Whatever ``hptrack show --json`` says about prefixes (once the cache records it)."""
    cmd = [sys.executable, "-m", "hptrack", "show", name, "--json", "--store", str(store)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=setup.env())
    found: dict[str, Any] = {}

    def walk(value: Any, path: str) -> None:
        for key, v in value.items() if isinstance(value, dict) else ():
            where = f"{path}.{key}" if path else key
            if "prefix" in key.lower():
                found[where] = v
            else:
                walk(v, where)

    if out.returncode == 0:
        walk(json.loads(out.stdout), "")
    return found


def table_rows(
    workload: Workload, spec: Path, measured: dict[str, Measured], setup: Setup
) -> list[list[str]]:
    raw = tomllib.loads(spec.read_text())
    configs = 1
    for values in raw["space"].values():
        configs *= len(values)
    folds = raw["cv"]["folds"]
    label = f"{workload.title}: {configs} configs x {folds} folds"
    base = statistics.median(measured["sk"].seconds)
    rows = []
    for variant, m in measured.items():
        wall = statistics.median(m.seconds)
        equal = "reference" if variant == "sk" else "yes" if not m.differing else f"no ({m.differing} runs)"
        rows.append(
            [
                label,
                LABELS.get(variant) or setup.label(variant),
                f"{wall:.2f}",
                f"{wall / base:.3f}",
                equal,
                f"{statistics.median(m.rss_mb):.0f}",
            ]
        )
    return rows


def verdicts(results: dict[str, dict[str, Measured]]) -> list[str]:
    """Issue 15's acceptance ratios, from the medians."""
    med = {k: {v: statistics.median(m.seconds) for v, m in r.items()} for k, r in results.items()}
    lines = []
    for key in ("w9", "second"):
        if key in med:
            t = med[key]
            lines.append(
                f"- {key}: hptrack run / GridSearchCV = {t['hptrack'] / t['sk']:.3f}"
                f"{' (issue 15: <= 0.35)' if key == 'w9' else ''}; hptrack run / Pipeline(memory) = "
                f"{t['hptrack'] / t['sk_memory']:.3f} (issue 15: < 1)"
            )
    if "flat" in med:
        t = med["flat"]
        lines.append(
            f"- flat: hptrack run / hptrack run --no-reuse = {t['hptrack'] / t['hptrack_no_reuse']:.3f} "
            "(issue 15: <= 1.02)"
        )
    return lines


def warm_up(setup: Setup) -> None:
    """One untimed process importing what the variants import: no variant pays a cold file cache."""
    code = "import sklearn.decomposition, sklearn.feature_selection, sklearn.model_selection, hptrack.cli"
    subprocess.run([sys.executable, "-c", code], env=setup.env(), check=True)


def header(args: argparse.Namespace, setup: Setup) -> str:
    from importlib.metadata import version

    return (
        f"{datetime.date.today()}, {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, scikit-learn {version('scikit-learn')}, numpy {version('numpy')}; "
        f"{'--quick' if args.quick else 'full'} grids, medians of {args.repeat} interleaved runs, "
        f"{args.threads or 'default'} BLAS thread(s) per process; "
        f"prefix cache in this hptrack: {'yes' if setup.has_cache else 'no'}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=None, help="rounds (default 3; 1 with --quick)")
    parser.add_argument("--only", nargs="+", choices=[w.key for w in WORKLOADS], default=None)
    parser.add_argument("--quick", action="store_true", help="fewer grid values: a smoke run")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="BLAS/OpenMP threads per process (default 1; 0: the library's own)",
    )
    parser.add_argument("--cache-mem", default=None, help="passed to hptrack run when it has the option")
    args = parser.parse_args(argv)
    args.repeat = args.repeat or (1 if args.quick else 3)
    setup = probe_hptrack(args.threads or None, args.cache_mem)
    warm_up(setup)
    results: dict[str, dict[str, Measured]] = {}
    rows: list[list[str]] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="hptrack-w9-") as tmp_name:
        tmp = Path(tmp_name)
        for workload in (w for w in WORKLOADS if args.only is None or w.key in args.only):
            spec = spec_for(workload, args.quick, tmp)
            results[workload.key] = measure(workload, spec, args.repeat, setup, tmp)
            rows += table_rows(workload, spec, results[workload.key], setup)
            if setup.has_cache:
                name = tomllib.loads(spec.read_text())["name"]
                store = tmp / f"{workload.key}-hptrack-{args.repeat - 1}" / "hptrack.db"
                notes += [
                    f"- {workload.key}: show --json {k} = {v}"
                    for k, v in prefix_counts(store, name, setup).items()
                ]
    print(header(args, setup) + "\n")
    columns = [
        "workload",
        "variant",
        "median wall s",
        "ratio vs plain GridSearchCV",
        "equal fold scores",
        "peak RSS MB",
    ]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print()
    print("\n".join(verdicts(results) + notes))


if __name__ == "__main__":
    main()
