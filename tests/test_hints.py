"""Mixed provenance is flagged everywhere, and every hint names a command and option that exist.

SPEC section 3: warnings go to stderr as ``Warning:`` lines (trials scored under more than
one code hash or data fingerprint); every hint names a command and option that exist.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from conftest import BASE_SPEC, to_toml
from sklearn.datasets import load_digits, load_iris
from sklearn.linear_model import LogisticRegression

import hptrack
from hptrack import DriftError, Store
from hptrack.cli import cli
from hptrack.run import plan_from_spec, run_plan
from hptrack.spec import load_spec
from hptrack.store import Writer

# A user's data module reading a file beside it: change the file, and the data changes.
NPY_MODULE = textwrap.dedent(
    """
    from pathlib import Path

    import numpy as np


    def load():
        data = np.load(Path(__file__).with_name("digits.npy"))
        return data[:, :-1], data[:, -1].astype(int)
    """
)


def write_digits(path: Path, *, noise: bool = False, shuffled_labels: bool = False) -> None:
    X, y = load_digits(return_X_y=True)
    X, y = X[:300], y[:300]
    if noise:  # the same labels, so the same stratified splits, but worthless features
        X = np.random.default_rng(0).uniform(0, 16, size=X.shape)
    if shuffled_labels:  # other labels: other stratified splits
        y = np.random.default_rng(1).permutation(y)
    np.save(path, np.column_stack([X, y]))


def npy_spec(directory: Path) -> Path:
    """GaussianNB on digits.npy: 3 trials, no convergence warnings even on noise."""
    (directory / "npydata.py").write_text(NPY_MODULE)
    write_digits(directory / "digits.npy")
    spec = {
        **{k: v for k, v in BASE_SPEC.items() if k != "fixed"},
        "estimator": "sklearn.naive_bayes:GaussianNB",
        "data": "npydata:load",
        "space": {"var_smoothing": [1e-9, 1e-6, 1e-3]},
    }
    path = directory / "spec.toml"
    path.write_text(to_toml(spec))
    return path


def one_error_line(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in result.output
    return lines[0]


def warning_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("Warning:")]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- A. mixed data


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A study whose trial 0 ran on the real digits, trials 1 and 2 on noise (same labels).

    Made once for the module; the tests using it only read it.
    """
    tmp_path = tmp_path_factory.mktemp("mixed")
    db_path = tmp_path / "hptrack.db"
    runner = CliRunner()

    def invoke(*args: object) -> Result:
        return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)

    spec = npy_spec(tmp_path)
    first = invoke("run", spec, "--store", db_path, "--max-trials", "1")
    assert first.exit_code == 0, first.output
    write_digits(tmp_path / "digits.npy", noise=True)
    refused = invoke("resume", "tiny", "--store", db_path)
    assert refused.exit_code == 2
    line = one_error_line(refused)
    assert "data changed (fingerprint" in line
    assert f"use hptrack resume tiny --store {db_path} --allow-code-change" in line
    resumed = invoke("resume", "tiny", "--store", db_path, "--allow-code-change")
    assert resumed.exit_code == 0, resumed.output
    return spec, db_path


def test_show_json_lists_both_data_hashes_in_order_of_first_use(mixed, invoke):
    _, db = mixed
    with Store(db, readonly=True) as store:
        study = store.study("tiny")
        by_number = {t.number: t.data_hash for t in study.trials()}
        assert study.data_hashes() == [by_number[0], by_number[1]]
        assert by_number[1] == by_number[2] != by_number[0]
        assert len(study.code_hashes()) == 1  # only the data file changed
    shown = invoke("show", "tiny", "--store", db, "--json")
    assert shown.exit_code == 0
    info = json.loads(shown.stdout)  # stdout stays clean JSON
    assert info["data_hashes"] == [by_number[0], by_number[1]]
    assert info["code_hashes"] == [info["code_hash"]]
    assert any("2 different data fingerprints" in w for w in warning_lines(shown))


def test_provenance_warnings_count_trials_and_name_the_best_on_old_data(mixed):
    _, db = mixed
    with Store(db, readonly=True) as store:
        study = store.study("tiny")
        old, new = study.data_hashes()
        assert study.best().number == 0  # real digits beat noise: the best is on old data
        (warning,) = study.provenance_warnings()
    assert "trials were scored under 2 different data fingerprints" in warning
    assert f"{old[:12]}: 1 trial(s) (#0)" in warning
    assert f"{new[:12]}: 2 trial(s) (#1-2)" in warning
    assert f"the best trial #0 was scored under data {old[:12]}, not the current {new[:12]}" in warning
    assert f"hptrack show tiny NUMBER --store {db}" in warning


@pytest.mark.parametrize("command", ["trials", "best", "show"])
def test_query_commands_warn_on_stderr_about_mixed_data(mixed, invoke, command):
    _, db = mixed
    for extra in ((), ("--json",)):
        result = invoke(command, "tiny", "--store", db, *extra)
        assert result.exit_code == 0, result.output
        (line,) = warning_lines(result)
        assert "2 different data fingerprints" in line and "the best trial #0" in line
        assert not [line for line in result.stdout.splitlines() if line.startswith("Warning:")]
        if extra:
            json.loads(result.stdout)


def test_compare_warns_for_both_sides(mixed, invoke):
    _, db = mixed
    result = invoke("compare", "tiny", f"{db}:tiny", "--store", db)
    assert result.exit_code == 0, result.output
    assert len([w for w in warning_lines(result) if "data fingerprints" in w]) == 2


def test_report_shows_the_data_warning_at_the_top(mixed, invoke, tmp_path):
    _, db = mixed
    out = tmp_path / "r.html"
    assert invoke("report", "tiny", "--store", db, "-o", out).exit_code == 0
    html = out.read_text()
    assert "2 different data fingerprints" in html
    assert html.index("2 different data fingerprints") < html.index("ranking-table")


def test_tie_test_does_not_pair_folds_scored_on_other_data(mixed, invoke):
    _, db = mixed
    with Store(db, readonly=True) as store:
        ties = store.study("tiny").tied_with_best()
    assert ties.tested and ties.best == 0
    assert ties.not_comparable == (1, 2)
    assert set(ties.p_values) == {0}  # only the best itself: nothing else was paired with it
    assert ties.is_tied(1) is None and ties.is_tied(2) is None
    assert ties.tied == [0]
    assert "2 trial(s) (#1-2) were scored on other data than the best" in ties.statement()
    assert ties.to_dict()["not_comparable"] == [1, 2]
    listed = invoke("trials", "tiny", "--store", db)
    assert "other data" in listed.stdout
    assert "not comparable, not tested" in listed.stdout


def test_tie_test_still_pairs_trials_on_the_same_data(tmp_path, db_path, invoke):
    """Same data throughout: nothing is 'not comparable'."""
    assert invoke("run", npy_spec(tmp_path), "--store", db_path).exit_code == 0
    with Store(db_path, readonly=True) as store:
        study = store.study("tiny")
        ties = study.tied_with_best()
        assert study.provenance_warnings() == []
    assert ties.not_comparable == () and set(ties.p_values) == {0, 1, 2}


# --------------------------------------------------------------------------- B. hints


def test_run_has_allow_code_change_and_drift_hints_name_the_command_used(tmp_path, db_path, invoke):
    spec = npy_spec(tmp_path)
    assert invoke("run", spec, "--store", db_path, "--max-trials", "1").exit_code == 0
    write_digits(tmp_path / "digits.npy", noise=True)
    refused = invoke("run", spec, "--store", db_path)
    assert refused.exit_code == 2
    line = one_error_line(refused)
    assert f"use hptrack run {spec} --store {db_path} --allow-code-change" in line
    assert "--allow-code-change" in invoke("run", "--help").stdout
    allowed = invoke("run", spec, "--store", db_path, "--allow-code-change")  # the hint works
    assert allowed.exit_code == 0, allowed.output
    assert "2 trial(s) run now" in allowed.stderr


def test_drift_error_from_python_names_the_keyword(tmp_path, db_path):
    spec = npy_spec(tmp_path)
    with Writer(db_path) as store:
        run_plan(store, plan_from_spec(load_spec(spec)), max_trials=1)
        write_digits(tmp_path / "digits.npy", noise=True)
        with pytest.raises(DriftError, match=r"use allow_code_change=True;") as info:
            run_plan(store, plan_from_spec(load_spec(spec)))
    assert "--allow-code-change" not in str(info.value)


def test_changed_splits_are_refused_with_a_new_study_hint(tmp_path, db_path, invoke):
    spec = npy_spec(tmp_path)
    assert invoke("run", spec, "--store", db_path, "--max-trials", "1").exit_code == 0
    write_digits(tmp_path / "digits.npy", shuffled_labels=True)  # stratified folds change
    before = digest(db_path)
    for args in (("resume", "tiny"), ("resume", "tiny", "--allow-code-change"), ("run", spec)):
        result = invoke(*args, "--store", db_path)
        assert result.exit_code == 2
        line = one_error_line(result)
        assert "data changed (fingerprint" in line and "and with it the CV splits" in line
        assert "cannot be mixed, even with --allow-code-change" in line
        assert "use hptrack" not in line  # no hint that would be refused again
        assert "start a new study under a new name" in line and f"hptrack run {spec}" in line
    assert digest(db_path) == before


def test_best_after_every_trial_failed_hints_retry_failed(write_spec, db_path, invoke):
    spec = write_spec(space={"C": [-1.0, -2.0]})
    invoke("run", spec, "--store", db_path)
    with Store(db_path, readonly=True) as store:
        assert store.study("tiny").counts()["failed"] == 2
    result = invoke("best", "tiny", "--store", db_path)
    assert result.exit_code == 2
    line = one_error_line(result)
    assert f"`hptrack trials tiny --store {db_path} --status failed`" in line
    assert f"`hptrack resume tiny --store {db_path} --retry-failed`" in line
    assert "--retry-failed" in invoke("resume", "--help").stdout


def test_resume_of_a_dropin_study_says_to_rerun_the_script(db_path, invoke):
    X, y = load_iris(return_X_y=True)
    hptrack.GridSearchCV(
        LogisticRegression(max_iter=300, random_state=0),
        {"C": [0.1, 1.0]},
        cv=3,
        store=db_path,
        study="dropin",
    ).fit(X, y)
    before = digest(db_path)
    result = invoke("resume", "dropin", "--store", db_path)
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "missing required key" not in line
    assert "study 'dropin' was recorded by hptrack.GridSearchCV from Python" in line
    assert "resume it by running the same script again" in line
    assert "hptrack trials/best/report dropin work on it" in line
    assert digest(db_path) == before
    for command in ("trials", "best"):
        assert invoke(command, "dropin", "--store", db_path).exit_code == 0


HINT_MODULE = textwrap.dedent(
    """
    from sklearn.datasets import load_digits


    def load():
        X, y = load_digits(return_X_y=True)
        return X[:300], y[:300]
    """
)


def test_moved_spec_folder_says_so_and_run_from_the_new_place_continues(tmp_path, db_path, invoke):
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    (old / "hintmodels.py").write_text(HINT_MODULE)
    (old / "spec.toml").write_text(to_toml({**BASE_SPEC, "data": "hintmodels:load"}))
    assert invoke("run", old / "spec.toml", "--store", db_path, "--max-trials", "1").exit_code == 0
    old.rename(new)
    result = invoke("resume", "tiny", "--store", db_path)
    assert result.exit_code == 2
    line = one_error_line(result)
    assert (
        f"cannot import module 'hintmodels' from {str(old)!r} (the spec's folder, recorded when the "
        "study was created): the folder moved or was deleted; run the spec from its new location "
        "with hptrack run NEW_FOLDER/spec.toml"
    ) in line
    assert "did you mean" not in line
    moved = invoke("run", new / "spec.toml", "--store", db_path)  # the hint works
    assert moved.exit_code == 0, moved.output
    assert "2 trial(s) run now" in moved.stderr


def test_missing_user_module_is_not_matched_to_the_standard_library(write_spec, db_path, invoke):
    result = invoke("run", write_spec(data="models:load"), "--store", db_path)
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "cannot import module 'models'" in line
    assert "codecs" not in line and "did you mean" not in line
    assert "put models.py beside the spec file" in line
    assert not db_path.exists()


WAITING_MODULE = textwrap.dedent(
    """
    import time
    from pathlib import Path

    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.datasets import load_digits
    from sklearn.naive_bayes import GaussianNB

    GO = Path(__file__).with_name("go")


    class WaitNB(ClassifierMixin, BaseEstimator):
        def __init__(self, var_smoothing=1e-9):
            self.var_smoothing = var_smoothing

        def fit(self, X, y):
            deadline = time.monotonic() + 300  # a safety net: the test creates GO
            while not GO.exists() and time.monotonic() < deadline:
                time.sleep(0.02)
            self.model_ = GaussianNB(var_smoothing=self.var_smoothing).fit(X, y)
            self.classes_ = self.model_.classes_
            return self

        def predict(self, X):
            return self.model_.predict(X)


    def load():
        X, y = load_digits(return_X_y=True)
        return X[:300], y[:300]
    """
)


def n_running(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute("SELECT count(*) FROM trials WHERE status = 'running'").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:  # not created yet
        return 0


def test_second_run_while_another_process_runs_the_rest_says_to_wait(tmp_path, db_path, invoke):
    (tmp_path / "waitmod.py").write_text(WAITING_MODULE)
    spec = tmp_path / "wait.toml"
    spec.write_text(
        to_toml(
            {
                "name": "waiting",
                "search": "grid",
                "seed": 0,
                "estimator": "waitmod:WaitNB",
                "data": "waitmod:load",
                "metrics": ["accuracy"],
                "cv": {"kind": "stratified", "folds": 3, "shuffle": True},
                "space": {"var_smoothing": [1e-9, 1e-6, 1e-3]},
            }
        )
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    first = subprocess.Popen(
        [sys.executable, "-m", "hptrack", "run", str(spec), "--store", str(db_path)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 120
        while n_running(db_path) < 3 and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert n_running(db_path) == 3, "the first process did not claim every trial"
        second = invoke("run", spec, "--store", db_path)
    finally:
        (tmp_path / "go").touch()
        _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert second.exit_code == 0, second.output
    assert (
        f"3 trial(s) are running in another process ({socket.gethostname()}:{first.pid}); wait for "
        f"it, or check with `hptrack trials waiting --store {db_path} --status running`"
    ) in second.stderr
    assert "hptrack resume" not in second.stderr


def test_report_all_to_an_html_name_or_single_report_to_a_directory_is_refused(
    write_spec, db_path, invoke, tmp_path
):
    assert invoke("run", write_spec(), "--store", db_path).exit_code == 0
    site = invoke("report", "--all", "-o", tmp_path / "all.html", "--store", db_path)
    assert site.exit_code == 2
    line = one_error_line(site)
    assert "--all writes a directory (index.html + a page per study); give -o a directory name" in line
    assert not (tmp_path / "all.html").exists()
    (tmp_path / "existing").mkdir()
    single = invoke("report", "tiny", "-o", f"{tmp_path / 'existing'}/", "--store", db_path)
    assert single.exit_code == 2
    assert "is a directory" in one_error_line(single)
    assert list((tmp_path / "existing").iterdir()) == []


@pytest.mark.parametrize(
    "name",
    ["", "   ", "tiny\u200b", "ti\u200cny", "ti\u200dny", "ti\u2060ny", "\ufefftiny", "tab\t", "bell\x07"],
)
def test_blank_invisible_or_control_study_names_are_refused(write_spec, db_path, invoke, name):
    result = invoke("run", write_spec(name=name), "--store", db_path)
    assert result.exit_code == 2
    line = one_error_line(result)
    assert f"name = {name!r}" in line
    assert not db_path.exists()
