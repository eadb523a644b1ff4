"""The command line: wiring, output on the right stream, JSON shapes and exit codes."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hptrack import Store


@pytest.fixture
def ran(write_spec, db_path, invoke):
    """A finished 3-trial study 'tiny' in db_path."""
    result = invoke("run", write_spec(), "--store", db_path)
    assert result.exit_code == 0, result.output
    return db_path


def test_run_prints_ranking_on_stdout_and_progress_on_stderr(write_spec, db_path, invoke):
    result = invoke("run", write_spec(), "--store", db_path)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["#", "rank", "status"]
    assert "C=1" in result.stdout
    assert "tiny: 3 trial(s) run now (9 folds fitted)" in result.stderr
    assert "finished" in result.stderr
    assert db_path.exists()


def test_rerunning_a_finished_study_fits_nothing(ran, write_spec, invoke):
    result = invoke("run", write_spec(), "--store", ran)
    assert result.exit_code == 0, result.output
    assert "0 trial(s) run now (0 folds fitted)" in result.stderr


def test_store_from_environment_variable(write_spec, tmp_path, invoke, monkeypatch):
    db = tmp_path / "env.db"
    monkeypatch.setenv("HPTRACK_STORE", str(db))
    assert invoke("run", write_spec()).exit_code == 0
    result = invoke("studies", "--json")
    assert [s["name"] for s in json.loads(result.stdout)] == ["tiny"]


def test_studies_json_shape(ran, invoke):
    result = invoke("studies", "--store", ran, "--json")
    assert result.exit_code == 0
    (study,) = json.loads(result.stdout)
    for key in (
        "name",
        "search",
        "n_trials",
        "n_complete",
        "n_failed",
        "metric",
        "best_score",
        "code_hash",
        "data_hash",
        "created",
    ):
        assert key in study
    assert study["n_trials"] == study["n_complete"] == 3
    assert study["metric"] == "accuracy"
    assert len(study["code_hash"]) == 64


def test_trials_json_shape_and_ranks(ran, invoke):
    result = invoke("trials", "tiny", "--store", ran, "--json")
    trials = json.loads(result.stdout)
    assert [t["number"] for t in trials] == [0, 1, 2]
    for t in trials:
        for key in ("number", "params", "status", "scores", "mean", "std", "rank", "seed", "code_hash"):
            assert key in t
        assert set(t["scores"]) == {"accuracy", "f1_macro"}
        assert len(t["scores"]["accuracy"]) == 3
        folds = t["scores"]["accuracy"]
        mean = sum(folds) / 3
        assert t["mean"]["accuracy"] == pytest.approx(mean)
        std = (sum((f - mean) ** 2 for f in folds) / 3) ** 0.5  # ddof=0, as in cv_results_
        assert t["std"]["accuracy"] == pytest.approx(std)
    by_mean = sorted(trials, key=lambda t: -t["mean"]["accuracy"])
    assert by_mean[0]["rank"] == 1
    for t in trials:  # ties share the lowest rank
        assert t["rank"] == 1 + sum(o["mean"]["accuracy"] > t["mean"]["accuracy"] for o in trials)


def test_trials_sort_top_status(ran, invoke):
    top = json.loads(invoke("trials", "tiny", "--store", ran, "--top", "2", "--json").stdout)
    assert len(top) == 2
    assert top[0]["rank"] == 1
    by_f1 = json.loads(invoke("trials", "tiny", "--store", ran, "--sort", "f1_macro", "--json").stdout)
    means = [t["mean"]["f1_macro"] for t in by_f1]
    assert means == sorted(means, reverse=True)
    failed = json.loads(invoke("trials", "tiny", "--store", ran, "--status", "failed", "--json").stdout)
    assert failed == []
    listed = invoke("trials", "tiny", "--store", ran, "--status", "failed")
    assert listed.stdout == "no trials match\n"  # and no note on a tie test of no trials


def test_trials_unknown_sort_metric_is_exit_2(ran, invoke):
    result = invoke("trials", "tiny", "--store", ran, "--sort", "accurcy")
    assert result.exit_code == 2
    assert "no metric 'accurcy'; did you mean 'accuracy'?" in result.stderr


def test_trials_csv_uses_cv_results_columns(ran, invoke):
    result = invoke("trials", "tiny", "--store", ran, "--csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 3
    for column in (
        "param_C",
        "split0_test_accuracy",
        "mean_test_accuracy",
        "std_test_accuracy",
        "rank_test_accuracy",
        "mean_fit_time",
    ):
        assert column in rows[0]


def test_best_text_and_json(ran, invoke):
    text = invoke("best", "tiny", "--store", ran)
    assert text.exit_code == 0
    assert "best trial of tiny" in text.stdout
    best = json.loads(invoke("best", "tiny", "--store", ran, "--json").stdout)
    trials = json.loads(invoke("trials", "tiny", "--store", ran, "--json").stdout)
    assert best["rank"] == 1
    assert best["mean"]["accuracy"] == max(t["mean"]["accuracy"] for t in trials)
    assert best["seed"] == {"random_state": 0}


def test_show_study_and_trial(ran, invoke):
    study = invoke("show", "tiny", "--store", ran)
    assert study.exit_code == 0
    for field in ("code hash", "data hash", "split hash", "seed", "python", "versions", "StratifiedKFold"):
        assert field in study.stdout
    info = json.loads(invoke("show", "tiny", "--store", ran, "--json").stdout)
    assert info["provenance"]["environment"]["versions"]["sklearn"]
    trial = json.loads(invoke("show", "tiny", "1", "--store", ran, "--json").stdout)
    assert trial["number"] == 1
    missing = invoke("show", "tiny", "7", "--store", ran)
    assert missing.exit_code == 2
    assert "has no trial 7" in missing.stderr


def test_export_csv_and_json(ran, invoke, tmp_path):
    out = tmp_path / "results.csv"
    result = invoke("export", "tiny", "--store", ran, "--format", "csv", "-o", out)
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["param_C"] for r in rows] == ["0.01", "0.1", "1.0"]
    as_json = json.loads(invoke("export", "tiny", "--store", ran, "--format", "json").stdout)
    assert as_json[2]["mean_test_accuracy"] == pytest.approx(float(rows[2]["mean_test_accuracy"]))
    missing_dir = invoke("export", "tiny", "--store", ran, "-o", tmp_path / "no" / "x.csv")
    assert missing_dir.exit_code == 2
    assert "Traceback" not in missing_dir.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["best", "tnyi"], "no study named 'tnyi'"),
        (["trials", "nope"], "no study named 'nope'"),
        (["resume", "nope"], "no study named 'nope'"),
        (["export", "nope"], "no study named 'nope'"),
    ],
)
def test_unknown_study_is_exit_2(ran, invoke, args, message):
    result = invoke(*args, "--store", ran)
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_query_on_missing_store_creates_nothing(tmp_path, invoke):
    db = tmp_path / "missing.db"
    result = invoke("studies", "--store", db)
    assert result.exit_code == 2
    assert "does not exist" in result.stderr
    assert not db.exists()


def test_changed_spec_under_same_name_is_refused(ran, write_spec, invoke):
    before = ran.read_bytes()
    changed = write_spec(
        space={"C": [0.01, 0.1, 1.0, 10.0]}, cv={"kind": "stratified", "folds": 4, "shuffle": True}
    )
    result = invoke("run", changed, "--store", ran)
    assert result.exit_code == 2
    assert "exists with a different spec (changed: cv.folds, space.C)" in result.stderr
    with Store(ran, readonly=True) as store:
        assert store.study("tiny").n_trials == 3
    assert len(before) > 0


def test_max_trials_then_resume_equals_uninterrupted(write_spec, tmp_path, invoke):
    spec = write_spec()
    partial, whole = tmp_path / "partial.db", tmp_path / "whole.db"
    first = invoke("run", spec, "--store", partial, "--max-trials", "1")
    assert first.exit_code == 0
    assert f"2 trial(s) left; continue with `hptrack resume tiny --store {partial}`" in first.stderr
    resumed = invoke("resume", "tiny", "--store", partial)
    assert resumed.exit_code == 0, resumed.output
    assert "2 trial(s) run now" in resumed.stderr
    assert invoke("run", spec, "--store", whole).exit_code == 0

    def scores(db: Path) -> list:
        trials = json.loads(invoke("trials", "tiny", "--store", db, "--json").stdout)
        return [(t["number"], t["params"], t["scores"], t["rank"]) for t in trials]

    assert scores(partial) == scores(whole)


def test_python_m_hptrack_and_version():
    done = subprocess.run([sys.executable, "-m", "hptrack", "--help"], capture_output=True, text=True)
    assert done.returncode == 0
    for command in ("run", "resume", "studies", "trials", "best", "show", "export"):
        assert command in done.stdout


@pytest.mark.parametrize(
    ("commands", "absent"),
    [
        ([["studies"]], ("sklearn", "numpy", "pandas", "scipy", "jinja2", "sqlite_utils")),
        (  # means and stds come from numpy, exactly as scikit-learn computes them
            [["trials", "tiny"], ["best", "tiny"], ["show", "tiny"], ["export", "tiny"], ["history", "tiny"]],
            ("sklearn", "pandas", "scipy", "jinja2", "sqlite_utils"),
        ),
    ],
)
def test_query_commands_import_nothing_heavy(ran, commands, absent):
    code = (
        "import sys; from hptrack.cli import cli\n"
        f"for args in {commands!r}:\n"
        f"    cli(args + ['--store', {str(ran)!r}], standalone_mode=False)\n"
        f"bad = [m for m in {absent!r} if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    assert done.returncode == 0, done.stderr


def test_import_hptrack_does_not_import_sklearn():
    done = subprocess.run(
        [sys.executable, "-c", "import hptrack, hptrack.cli, sys; assert 'sklearn' not in sys.modules"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("command", ["run", "resume"])
def test_zero_workers_is_refused_before_anything_is_written(write_spec, db_path, invoke, command):
    target = write_spec() if command == "run" else "tiny"
    result = invoke(command, target, "--store", db_path, "--n-jobs", "0")
    assert result.exit_code == 2
    assert "Invalid value for '--n-jobs': 0 workers cannot run anything" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not db_path.exists()
