"""Run scikit-learn's gallery scripts that use the searches as shipped and with hptrack's drop-ins.

    python tests/sklearn_compat/gallery.py EXAMPLES_DIR              # every script, the table
    python tests/sklearn_compat/gallery.py EXAMPLES_DIR -k scoring   # scripts whose path has "scoring"
    python tests/sklearn_compat/gallery.py EXAMPLES_DIR --list       # which scripts, and why not others

``EXAMPLES_DIR`` is the ``examples/`` folder of scikit-learn's source distribution (the
gallery is not shipped in the wheel, and is not kept in this repository), e.g.::

    pip download --no-deps --no-binary scikit-learn scikit-learn==1.9.1 -d /tmp/skl-src
    tar xzf /tmp/skl-src/scikit_learn-1.9.1.tar.gz -C /tmp/skl-src scikit_learn-1.9.1/examples

A script is run when its code (not a comment) constructs ``GridSearchCV(`` or
``RandomizedSearchCV(`` and it calls no ``fetch_*`` loader (those need the network). Each is
run four times, each in a new empty working directory with ``MPLBACKEND=Agg`` and
``PYTHONHASHSEED=0``: twice as shipped (what scikit-learn differs from itself between two
runs: unseeded scripts), then with ``from sklearn.model_selection import GridSearchCV`` (and
``RandomizedSearchCV``) taken from ``hptrack`` instead, twice on one store
(``HPTRACK_STORE``): the first run records, the re-run resumes. As the gallery does, the
value of each cell's last expression (cells start with ``# %%``) is shown, here by printing
its ``repr`` (matplotlib objects and None excepted). The exit status and stdout are compared
with times, memory addresses and temporary paths masked; stderr is kept beside them (the
``hptrack`` logger writes there) but not compared. Outputs are kept under ``--out``
(``<script>/<run>.out``, ``.err``, ``.rc``, and both sources as run).
Packages the scripts need besides scikit-learn's (matplotlib, pandas, seaborn, polars) can
sit in a folder given with ``--deps``, added to the scripts' ``PYTHONPATH`` only.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SWAPPED = {"GridSearchCV", "RandomizedSearchCV"}
RUNS = ("shipped", "shipped-again", "swapped", "swapped-rerun")
USES = re.compile(r"^[^#\n]*\b(GridSearchCV|RandomizedSearchCV)\(", re.M)
FETCHES = re.compile(r"^[^#\n]*\bfetch_\w+", re.M)
MASKS = [  # (pattern, replacement), applied in order to stdout
    (re.compile(r"0x[0-9a-fA-F]{6,}"), "0x<addr>"),
    (re.compile(r"(/private)?/tmp/[\w./-]+"), "<tmp>"),
    (re.compile(r"\d+(\.\d+)?(e-?\d+)?\s*(s|sec|secs|seconds|ms|min|mins|minutes)\b"), "<t>"),
    (re.compile(r"(total time|time|elapsed|Elapsed)(\s*[=:]\s*)[\d.]+"), r"\1\2<t>"),
]


def scripts(examples: Path) -> tuple[list[Path], list[Path]]:
    """The gallery scripts that construct a search: (to run, needing the network)."""
    run, network = [], []
    for path in sorted(examples.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if USES.search(text):
            (network if FETCHES.search(text) else run).append(path)
    return run, network


SHOW = (
    "def __gallery_show__(value):  # added by gallery.py: a cell's last value, as the gallery shows it\n"
    "    if value is not None and not type(value).__module__.startswith('matplotlib'):\n"
    "        print(repr(value))\n"
)


def shown_source(text: str) -> str:
    """``text`` printing the value of each cell's last expression, as the gallery shows it."""
    lines = text.splitlines(keepends=True)
    body = ast.parse(text).body
    starts = [i + 1 for i, line in enumerate(lines) if line.startswith("# %%")]
    last: dict[int, ast.stmt] = {}
    for node in body:
        if _is_docstring_or_future(node, body):
            continue
        last[sum(start < node.lineno for start in starts)] = node
    for node in sorted(last.values(), key=lambda n: n.lineno, reverse=True):
        if isinstance(node, ast.Expr) and node.end_lineno is not None and node.end_col_offset is not None:
            end = lines[node.end_lineno - 1]
            lines[node.end_lineno - 1] = end[: node.end_col_offset] + ")" + end[node.end_col_offset :]
            first = lines[node.lineno - 1]
            lines[node.lineno - 1] = first[: node.col_offset] + "__gallery_show__(" + first[node.col_offset :]
    skip = [n for n in body if _is_docstring_or_future(n, body)]
    at = skip[-1].end_lineno if skip else 0
    assert at is not None
    return "".join(lines[:at]) + SHOW + "".join(lines[at:])


def _is_docstring_or_future(node: ast.stmt, body: list[ast.stmt]) -> bool:
    if isinstance(node, ast.ImportFrom) and node.module == "__future__":
        return True
    return node is body[0] and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)


def swapped_source(text: str) -> str:
    """``text`` with the searches imported from ``hptrack`` instead of ``sklearn.model_selection``."""
    lines = text.splitlines(keepends=True)
    imports = [
        node
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.ImportFrom)
        and node.module == "sklearn.model_selection"
        and any(alias.name in SWAPPED for alias in node.names)
    ]
    for node in sorted(imports, key=lambda n: n.lineno, reverse=True):
        first = lines[node.lineno - 1]
        indent = first[: len(first) - len(first.lstrip())]
        kept = [a for a in node.names if a.name not in SWAPPED]
        moved = [a for a in node.names if a.name in SWAPPED]
        new = []
        if kept:
            new.append(f"{indent}from sklearn.model_selection import {_names(kept)}\n")
        new.append(f"{indent}from hptrack import {_names(moved)}\n")
        lines[node.lineno - 1 : node.end_lineno] = new
    return "".join(lines)


def _names(aliases: list[ast.alias]) -> str:
    return ", ".join(a.name if a.asname is None else f"{a.name} as {a.asname}" for a in aliases)


def masked(text: str) -> str:
    """stdout with what changes from run to run of the same computation masked."""
    for pattern, replacement in MASKS:
        text = pattern.sub(replacement, text)
    return text


def run_one(source: Path, out: Path, name: str, env: dict[str, str], timeout: float) -> None:
    """Run ``source`` in a new empty directory; keep its stdout, stderr, exit status, seconds."""
    with tempfile.TemporaryDirectory(prefix="gallery-") as cwd:
        start = time.perf_counter()
        try:
            done = subprocess.run(
                [sys.executable, str(source)],
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
            )
            rc, stdout, stderr = str(done.returncode), done.stdout, done.stderr
        except subprocess.TimeoutExpired as exc:
            rc = "timeout"
            stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
            stderr = exc.stderr.decode() if isinstance(exc.stderr, bytes) else exc.stderr or ""
        seconds = time.perf_counter() - start
    (out / f"{name}.out").write_text(stdout)
    (out / f"{name}.err").write_text(stderr)
    (out / f"{name}.rc").write_text(f"{rc} {seconds:.1f}\n")


def run_script(path: Path, examples: Path, out: Path, args: argparse.Namespace) -> None:
    """The four runs of one script (``args.runs`` of them), outputs under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    shown, swapped = out / "shipped_source.py", out / "swapped_source.py"
    shown.write_text(shown_source(path.read_text(encoding="utf-8")))
    swapped.write_text(swapped_source(shown.read_text(encoding="utf-8")))
    store = out / "store.db"
    paths = [str(ROOT), *([str(Path(args.deps).resolve())] if args.deps else [])]
    env = {
        **os.environ,
        "MPLBACKEND": "Agg",
        "PYTHONHASHSEED": "0",
        "PYTHONPATH": os.pathsep.join(paths),
        "HPTRACK_STORE": str(store),
    }
    for name in args.runs:
        if name == "swapped":
            for stale in out.glob("store.db*"):
                stale.unlink()
        source = shown if name.startswith("shipped") else swapped
        run_one(source, out, name, env, args.timeout)
        print(f"  {name}: rc {read(out, name)[0]} in {read(out, name)[2]}s", flush=True)


def read(out: Path, name: str) -> tuple[str, str, str]:
    """(exit status, masked stdout, seconds) of one kept run, or ``("-", "", "")``."""
    if not (out / f"{name}.rc").is_file():
        return "-", "", ""
    rc, seconds = (out / f"{name}.rc").read_text().split()
    return rc, masked((out / f"{name}.out").read_text()), seconds


def verdict(out: Path) -> tuple[str, str, str]:
    """(swapped vs shipped, re-run vs shipped, note) for one script's kept runs.

    "same": the exit status and masked stdout are equal. "same where shipped is": they differ
    only in words that also differ between the two runs as shipped (line for line, word for
    word: a fit time in a table, the order parallel fits finish in). "differs": otherwise.
    """
    shipped, again, first, rerun = (read(out, name)[:2] for name in RUNS)
    if shipped[0] == "-":
        return "-", "-", "not run"

    def compare(other: tuple[str, str]) -> str:
        if other[0] == "-":
            return "-"
        if other == shipped:
            return "same"
        if again[0] != "-" and other[0] == shipped[0] and varies_only(shipped[1], again[1], other[1]):
            return "same where shipped is"
        return "differs"

    notes = []
    if shipped[0] != "0":
        notes.append(f"as shipped exits {shipped[0]}")
    if again[0] != "-" and again != shipped:
        notes.append("as shipped twice: " + first_difference(shipped[1], again[1]))
    for name, other in (("swapped", first), ("re-run", rerun)):
        if compare(other) == "differs":
            notes.append(f"{name}: " + first_difference(shipped[1], other[1]))
    return compare(first), compare(rerun), "; ".join(notes)


def varies_only(shipped: str, again: str, other: str) -> bool:
    """Whether ``other`` equals ``shipped`` except in words where ``again`` differs from it too."""
    lines = [text.splitlines() for text in (shipped, again, other)]
    if len({len(each) for each in lines}) != 1:
        return False
    for s, a, o in zip(*lines):
        if s == o:
            continue
        words = [line.split() for line in (s, a, o)]
        if len({len(each) for each in words}) != 1:
            return False
        if any(ws != wo and ws == wa for ws, wa, wo in zip(*words)):
            return False
    return True


def first_difference(a: str, b: str) -> str:
    """The first differing line of two outputs, shortened."""
    la, lb = a.splitlines(), b.splitlines()
    for i, (x, y) in enumerate(zip(la, lb)):
        if x != y:
            return f"line {i + 1} {x.strip()[:60]!r} vs {y.strip()[:60]!r}"
    return f"{len(la)} lines vs {len(lb)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("examples", type=Path, help="scikit-learn's examples/ folder")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "hptrack-gallery")
    parser.add_argument("-k", action="append", default=[], help="only scripts whose path contains this")
    parser.add_argument("--runs", nargs="+", choices=RUNS, default=list(RUNS))
    parser.add_argument("--deps", help="a folder of packages the scripts need (added to PYTHONPATH)")
    parser.add_argument("--timeout", type=float, default=1200.0, help="seconds per run")
    parser.add_argument("--list", action="store_true", help="list the scripts, run nothing")
    parser.add_argument("--table", action="store_true", help="only print the table of kept runs")
    args = parser.parse_args(argv)
    examples = args.examples.resolve()
    if not examples.is_dir():
        parser.error(f"{examples} is not a folder: give scikit-learn's examples/ folder")
    todo, network = scripts(examples)
    todo = [p for p in todo if not args.k or any(k in str(p) for k in args.k)]
    if args.list:
        print("\n".join(str(p.relative_to(examples)) for p in todo))
        print(f"{len(todo)} to run; skipped (fetch_*, network):", *(p.relative_to(examples) for p in network))
        return 0
    for path in todo if not args.table else []:
        print(path.relative_to(examples), flush=True)
        run_script(path, examples, args.out / path.relative_to(examples).with_suffix(""), args)
    print("\n| script | as shipped | swapped | swapped re-run | note |\n| --- | --- | --- | --- | --- |")
    same = 0
    for path in todo:
        out = args.out / path.relative_to(examples).with_suffix("")
        rc = read(out, "shipped")[0]
        first, rerun, note = verdict(out)
        same += first.startswith("same") and rerun.startswith("same")
        print(f"| {path.relative_to(examples).with_suffix('')} | exit {rc} | {first} | {rerun} | {note} |")
    print(f"\n{same}/{len(todo)} the same, first run and re-run (where scikit-learn is the same as itself)")
    return 0 if same == len(todo) else 1


if __name__ == "__main__":
    sys.exit(main())
