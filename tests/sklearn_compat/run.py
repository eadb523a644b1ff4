"""Run scikit-learn's own search tests against hptrack's drop-ins, and compare.

    python tests/sklearn_compat/run.py                 # both files, both runs, the tables (~60 s)
    python tests/sklearn_compat/run.py --file halving  # test_successive_halving.py only
    python tests/sklearn_compat/run.py --json out.json # also keep every outcome
    python tests/sklearn_compat/run.py -k rank         # only the tests pytest's -k selects

Each INSTALLED test file (``sklearn/model_selection/tests/test_search.py``, and
``test_successive_halving.py``) runs twice, each in its own ``python -m pytest``
subprocess (the two at once): as shipped, and with hptrack's drop-ins
(``GridSearchCV``/``RandomizedSearchCV``, resp. ``HalvingGridSearchCV``/
``HalvingRandomSearchCV``) substituted for scikit-learn's by ``compat_plugin.py``
(each test with its own empty store). The table gives both runs'
counts, the share of the tests passing as shipped that still pass with the drop-ins, and
each test that passes as shipped but not with the drop-ins, with the first line of its
failure. ``KNOWN_DIFFERENCES.md`` explains them; ``test_sklearn_compat.py`` locks the rate in.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PLUGIN = "compat_plugin"
KNOWN_DIFFERENCES = HERE / "KNOWN_DIFFERENCES.md"
# Fixed seeds, so both runs draw the same data: sklearn's conftest reads these.
SEED_ENV = {"SKLEARN_SEED": "0", "SKLEARN_TESTS_GLOBAL_RANDOM_SEED": "42", "SKLEARN_WARNINGS_AS_ERRORS": "0"}
TIMEOUT_S = 1800
# the test files (``--file``) and the drop-ins substituted in each
FILES = {
    "search": ("test_search.py", ("GridSearchCV", "RandomizedSearchCV")),
    "halving": ("test_successive_halving.py", ("HalvingGridSearchCV", "HalvingRandomSearchCV")),
}


def sklearn_test_file(file: str = "search") -> Path:
    """The installed ``sklearn/model_selection/tests/<FILES[file]>`` (sklearn not imported)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("scikit-learn is not installed")
    tests = Path(next(iter(spec.submodule_search_locations))) / "model_selection" / "tests"
    path = tests / FILES[file][0]
    if not path.is_file():
        raise RuntimeError(f"{path} is missing: this scikit-learn was installed without its tests")
    return path


@dataclass(frozen=True)
class RunResult:
    """One pytest run of the test file: per-test outcomes and how long it took."""

    dropins: bool
    tests: dict[str, dict[str, Any]]
    seconds: float
    swapped: dict[str, str] = field(default_factory=dict)
    sklearn_version: str = ""
    file: str = "search"

    def named(self, outcome: str) -> set[str]:
        """The ids of the tests that ended with ``outcome``."""
        return {name for name, entry in self.tests.items() if entry.get("outcome") == outcome}

    def counts(self) -> Counter[str]:
        """How many tests ended with each outcome."""
        return Counter(entry.get("outcome", "unknown") for entry in self.tests.values())


@dataclass(frozen=True)
class Comparison:
    """The as-shipped run against the drop-in run."""

    baseline: RunResult
    dropins: RunResult

    @property
    def kept(self) -> set[str]:
        """Tests that pass both as shipped and with the drop-ins."""
        return self.baseline.named("passed") & self.dropins.named("passed")

    @property
    def lost(self) -> list[str]:
        """Tests that pass as shipped but not with the drop-ins, sorted."""
        return sorted(self.baseline.named("passed") - self.dropins.named("passed"))

    @property
    def gained(self) -> list[str]:
        """Tests that pass only with the drop-ins (expected: none)."""
        return sorted(self.dropins.named("passed") - self.baseline.named("passed"))

    @property
    def pass_rate(self) -> float:
        """Share of the baseline-passing tests that pass with the drop-ins (0..1)."""
        passing = self.baseline.named("passed")
        return len(self.kept) / len(passing) if passing else 0.0

    def to_json(self) -> dict[str, Any]:
        """Both runs' outcomes and the summary, JSON-able."""
        return {
            "sklearn_version": self.baseline.sklearn_version,
            "pass_rate": self.pass_rate,
            "kept": len(self.kept),
            "baseline_passed": len(self.baseline.named("passed")),
            "lost": self.lost,
            "gained": self.gained,
            "baseline": self.baseline.tests,
            "dropins": self.dropins.tests,
        }


def _command(outcomes: Path, *, dropins: bool, select: str | None, file: str = "search") -> list[str]:
    """The pytest command line for one run."""
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(sklearn_test_file(file)),
        "-p",
        PLUGIN,
        "-p",
        "no:cacheprovider",
        "-c",
        str(outcomes.parent / "pytest.ini"),  # not hptrack's settings (filterwarnings = error)
        "--rootdir",
        str(outcomes.parent),
        "--hptrack-outcomes",
        str(outcomes),
        "-q",
        "--tb=short",
    ]
    if dropins:
        command.append("--hptrack-dropins")
    if select:
        command += ["-k", select]
    return command


def _environment() -> dict[str, str]:
    """The subprocess environment: this checkout's hptrack and the plugin importable."""
    env = {key: value for key, value in os.environ.items() if key != "HPTRACK_STORE"}
    env.update(SEED_ENV)
    paths = [str(HERE), str(ROOT), *filter(None, [env.get("PYTHONPATH")])]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def _start(
    workdir: Path, *, dropins: bool, select: str | None, file: str = "search"
) -> tuple[subprocess.Popen[bytes], Path]:
    """Start one run in ``workdir``; its output goes to ``pytest.log`` there."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "pytest.ini").write_text("[pytest]\n")
    outcomes = workdir / "outcomes.json"
    log = (workdir / "pytest.log").open("wb")
    process = subprocess.Popen(
        _command(outcomes, dropins=dropins, select=select, file=file),
        cwd=workdir,
        env=_environment(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    return process, outcomes


def _finish(
    process: subprocess.Popen[bytes], outcomes: Path, *, dropins: bool, started: float, file: str = "search"
) -> RunResult:
    """Wait for one run and read its outcomes."""
    process.wait(timeout=TIMEOUT_S)
    seconds = time.perf_counter() - started
    log = outcomes.parent / "pytest.log"
    if not outcomes.exists():
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"pytest exited with {process.returncode} and wrote no outcomes:\n{tail}")
    data = json.loads(outcomes.read_text())
    if dropins and sorted(data["swapped"]) != sorted(FILES[file][1]):
        raise RuntimeError(f"the drop-ins were not substituted ({data['swapped']}); see {log}")
    return RunResult(dropins, data["tests"], seconds, data["swapped"], data["sklearn_version"], file)


def measure(select: str | None = None, *, workdir: Path | None = None, file: str = "search") -> Comparison:
    """Run one test file as shipped and with the drop-ins (concurrently), and compare.

    Parameters
    ----------
    select : str, optional
        A pytest ``-k`` expression: run only these tests (both runs).
    workdir : Path, optional
        Where the runs write their logs and outcomes; a temporary directory by default.
    file : {"search", "halving"}, default="search"
        Which test file (:data:`FILES`).

    Returns
    -------
    Comparison

    Raises
    ------
    RuntimeError
        A run wrote no outcomes (pytest could not start), or the swap did not happen.
    """
    with tempfile.TemporaryDirectory(prefix="hptrack-sklearn-compat-") as tmp:
        base = workdir or Path(tmp)
        started = time.perf_counter()
        shipped = _start(base / file / "as-shipped", dropins=False, select=select, file=file)
        swapped = _start(base / file / "dropins", dropins=True, select=select, file=file)
        baseline = _finish(*shipped, dropins=False, started=started, file=file)
        dropins = _finish(*swapped, dropins=True, started=started, file=file)
    return Comparison(baseline, dropins)


def _reason(entry: dict[str, Any]) -> str:
    """An outcome's first failure line, with the fit's own error when one is quoted."""
    reason = f"{entry.get('outcome', 'missing')}: {entry.get('message', '')}".strip()
    if entry.get("cause") and entry["cause"] not in reason:
        reason += f"  (cause: {entry['cause']})"
    return reason


def format_table(comparison: Comparison) -> str:
    """The markdown summary: counts of both runs, the pass rate, the lost tests."""
    baseline, dropins = comparison.baseline, comparison.dropins
    exercised = sum(bool(dropins.tests.get(n, {}).get("store_written")) for n in baseline.named("passed"))
    lines = [
        f"scikit-learn {baseline.sklearn_version}: {sklearn_test_file(baseline.file)}",
        "",
        "| run | tests | passed | failed | errors | skipped | seconds |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, run in (("as shipped", baseline), ("hptrack drop-ins", dropins)):
        counts = run.counts()
        lines.append(
            f"| {label} | {len(run.tests)} | {counts['passed']} | {counts['failed']} | "
            f"{counts['error']} | {counts['skipped']} | {run.seconds:.1f} |"
        )
    lines += [
        "",
        f"Baseline-passing tests that pass with the drop-ins: {len(comparison.kept)}/"
        f"{len(baseline.named('passed'))} = {100 * comparison.pass_rate:.1f}% "
        f"({exercised} of the {len(baseline.named('passed'))} wrote an hptrack store).",
    ]
    if comparison.lost:
        lines += ["", f"Pass as shipped, not with the drop-ins ({len(comparison.lost)}):", ""]
        lines += [f"- `{n}`: {_reason(dropins.tests.get(n, {}))}" for n in comparison.lost]
    if comparison.gained:
        lines += ["", f"Pass only with the drop-ins ({len(comparison.gained)}):", ""]
        lines += [f"- `{n}`: as shipped {_reason(baseline.tests.get(n, {}))}" for n in comparison.gained]
    return "\n".join(lines)


def known_differences(path: Path = KNOWN_DIFFERENCES) -> set[str]:
    """The test ids listed in ``KNOWN_DIFFERENCES.md`` (lines ``- `test_id`: reason``)."""
    ids: set[str] = set()
    if not path.exists():
        return ids
    for line in path.read_text().splitlines():
        if line.startswith("- `") and "`" in line[3:]:
            ids.add(line[3 : line.index("`", 3)])
    return ids


def main(argv: list[str] | None = None) -> int:
    """Measure and print the table; exit 1 when a lost test is not in KNOWN_DIFFERENCES.md."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-k", dest="select", help="pytest -k expression: run only these tests")
    parser.add_argument("--json", type=Path, help="also write both runs' outcomes to this file")
    parser.add_argument("--workdir", type=Path, help="keep the runs' logs and outcomes here")
    parser.add_argument("--file", choices=[*FILES, "all"], default="all", help="which test file (default: all)")
    args = parser.parse_args(argv)
    files = list(FILES) if args.file == "all" else [args.file]
    comparisons = {file: measure(args.select, workdir=args.workdir, file=file) for file in files}
    print("\n\n".join(format_table(comparison) for comparison in comparisons.values()))
    if args.json:
        out = {file: comparison.to_json() for file, comparison in comparisons.items()}
        args.json.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    lost = {name for comparison in comparisons.values() for name in comparison.lost}
    unexplained = sorted(lost - known_differences())
    if unexplained:
        print(f"\nNot in {KNOWN_DIFFERENCES.name} ({len(unexplained)}): " + ", ".join(unexplained))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
