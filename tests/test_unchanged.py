"""`hptrack run` on a finished, unchanged study: answered from the store, without scikit-learn.

The fast path (hptrack.run.unchanged) must give the full path's answer (output, exit
code, history) and must never hide a change: a changed spec, user module or data file
still reaches the full path, which refuses or runs as it always did.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import to_toml

from hptrack.cli import cli, running
from hptrack.identity import code_fingerprint, code_unchanged
from hptrack.run import unchanged_study
from hptrack.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]

# A loader that needs numpy only: it reads a data file beside the spec.
LOADER = textwrap.dedent(
    """
    from pathlib import Path

    import numpy as np

    HERE = Path(__file__).resolve().parent


    def load():
        table = np.loadtxt(HERE / "data.csv", delimiter=",")
        return table[:, :-1], table[:, -1].astype(int)
    """
)

SPEC = {
    "name": "quick",
    "search": "grid",
    "seed": 0,
    "estimator": "sklearn.dummy:DummyClassifier",
    "data": "csvdata:load",
    "metrics": ["accuracy"],
    "cv": {"folds": 3},
    "space": {"strategy": ["prior", "most_frequent", "uniform"]},
}


def _data(rows: int = 60) -> str:
    return "".join(f"{i % 7},{(i * 3) % 5},{i % 2}\n" for i in range(rows))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "csvdata.py").write_text(LOADER)
    (tmp_path / "data.csv").write_text(_data())
    (tmp_path / "spec.toml").write_text(to_toml(SPEC))
    return tmp_path


def _invoke(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def _full_path(monkeypatch: pytest.MonkeyPatch, *args: object) -> tuple[int, str, str]:
    """The same command with the fast path turned off: the plan is built as before."""
    with monkeypatch.context() as patch:
        patch.setattr(running, "_answer_unchanged", lambda spec, store_path: False)
        return _invoke(*args)


def _seconds(text: str) -> str:
    return re.sub(r"in \d+\.\d s;", "in _ s;", text)


def _history(db: Path) -> list[tuple[str, int, int]]:
    code, out, _ = _invoke("history", "quick", "--store", db, "--json")
    assert code == 0
    return [(r["command"].split()[1], r["exit"], r["trials"]) for r in json.loads(out)]


def test_rerun_answers_as_the_full_path_does(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec, db = folder / "spec.toml", folder / "hptrack.db"
    assert _invoke("run", spec, "--store", db)[0] == 0
    assert unchanged_study(load_spec(spec), db) is not None
    fast = _invoke("run", spec, "--store", db)
    full = _full_path(monkeypatch, "run", spec, "--store", db)
    assert fast[0] == full[0] == 0
    assert fast[1] == full[1] and "strategy=" in fast[1]
    assert _seconds(fast[2]) == _seconds(full[2])
    assert "quick: 0 trial(s) run now (0 folds fitted)" in fast[2]
    assert _history(db) == [("run", 0, 3), ("run", 0, 0), ("run", 0, 0)]


def test_rerun_of_a_study_whose_trials_all_failed_exits_1_as_the_full_path(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, db = folder / "spec.toml", folder / "hptrack.db"
    failing = {"fixed": {"strategy": "constant"}, "space": {"constant": [7, 9]}}  # labels are 0 and 1
    spec.write_text(to_toml({**SPEC, **failing}))
    assert _invoke("run", spec, "--store", db)[0] == 1
    assert unchanged_study(load_spec(spec), db) is not None
    fast = _invoke("run", spec, "--store", db)
    full = _full_path(monkeypatch, "run", spec, "--store", db)
    assert fast[0] == full[0] == 1
    assert (fast[1], _seconds(fast[2])) == (full[1], _seconds(full[2]))
    assert "Error: all 2 trials of 'quick' failed" in fast[2]
    assert _history(db)[1:] == [("run", 1, 0), ("run", 1, 0)]


def test_rerun_in_a_fresh_interpreter_imports_no_scikit_learn(folder: Path) -> None:
    spec, db = folder / "spec.toml", folder / "hptrack.db"
    assert _invoke("run", spec, "--store", db)[0] == 0
    check = textwrap.dedent(
        f"""
        import sys
        from click.testing import CliRunner
        from hptrack.cli import cli

        result = CliRunner().invoke(cli, ["run", {str(spec)!r}, "--store", {str(db)!r}])
        assert result.exit_code == 0, result.output
        assert "0 trial(s) run now" in result.stderr, result.stderr
        print(sorted(m for m in ("sklearn", "scipy", "joblib") if m in sys.modules))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", check], cwd=folder, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_unfinished_study_runs_on(folder: Path) -> None:
    spec, db = folder / "spec.toml", folder / "hptrack.db"
    assert _invoke("run", spec, "--store", db, "--max-trials", 1)[0] == 0
    assert unchanged_study(load_spec(spec), db) is None
    code, _, err = _invoke("run", spec, "--store", db)
    assert code == 0 and "2 trial(s) run now" in err


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ("module", "code changed in csvdata.py"),
        ("data", "data changed"),
        ("spec", "exists with a different spec (changed: space.strategy)"),
    ],
)
def test_a_change_reaches_the_full_path_which_refuses(folder: Path, change: str, refusal: str) -> None:
    spec, db = folder / "spec.toml", folder / "hptrack.db"
    assert _invoke("run", spec, "--store", db)[0] == 0
    if change == "module":
        (folder / "csvdata.py").write_text(LOADER + "\n# an edit\n")
    elif change == "data":
        (folder / "data.csv").write_text(_data(61))
    else:
        spec.write_text(to_toml({**SPEC, "space": {"strategy": ["prior"]}}))
    assert unchanged_study(load_spec(spec), db) is None
    code, _, err = _invoke("run", spec, "--store", db)
    assert code == 2 and refusal in err, err


def test_cv_kind_left_to_its_default_is_compared_with_the_kind_the_study_was_created_with(
    folder: Path,
) -> None:
    spec, db = folder / "spec.toml", folder / "hptrack.db"
    spec.write_text(to_toml({**SPEC, "cv": {"kind": "kfold", "folds": 3}}))  # not the default (stratified)
    assert _invoke("run", spec, "--store", db)[0] == 0
    assert unchanged_study(load_spec(spec), db) is not None
    spec.write_text(to_toml(SPEC))  # default: stratified for a classifier
    assert unchanged_study(load_spec(spec), db) is None
    code, _, err = _invoke("run", spec, "--store", db)
    assert code == 2 and "changed: cv.kind" in err, err


def test_recorded_code_is_checked_file_by_file_and_by_installed_imports(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (folder / "optional.py").write_text("try:\n    import hptrack_later\nexcept ImportError:\n    pass\n")
    monkeypatch.syspath_prepend(str(folder))
    module = importlib.import_module("optional")  # a user module with an optional dependency
    monkeypatch.setitem(sys.modules, "optional", module)  # forgotten after the test

    code_hash, components = code_fingerprint([module], base_dir=folder)
    assert components["sources"] == {"optional.py": components["sources"]["optional.py"]}
    assert code_unchanged(components, code_hash, base_dir=folder)
    assert not code_unchanged(components, "0" * 64, base_dir=folder)
    assert not code_unchanged(components, code_hash, base_dir=folder / "elsewhere")

    installed = folder / "site"  # the optional dependency appears: the walk would now record it
    (installed / "hptrack_later").mkdir(parents=True)
    (installed / "hptrack_later" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(installed))
    assert not code_unchanged(components, code_hash, base_dir=folder)
