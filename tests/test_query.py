"""The query layer: filters, records and frames, and which trials are tied with the best."""

from __future__ import annotations

import json
import math
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import BASE_SPEC, DATA_MODULE, to_toml

from hptrack import HptrackError, SpecError, Store
from hptrack.cli import cli
from hptrack.errors import MissingDependencyError
from hptrack.query import corrected_ttest

# 4 configs x 5 folds of a fast estimator: 120 neighbours is far worse than the best (1), 3 and
# 20 are close to it
KNN = {"estimator": "sklearn.neighbors:KNeighborsClassifier", "fixed": {}}
SPACE = {"n_neighbors": [1, 3, 20, 120]}


def run_study(directory: Path, db: Path, *args: str, **overrides: Any) -> None:
    """Run a small spec (conftest's BASE_SPEC plus overrides) into ``db``."""
    (directory / "tinydata.py").write_text(DATA_MODULE)
    spec = {**BASE_SPEC, **overrides}
    path = directory / f"{spec['name']}.toml"
    path.write_text(to_toml(spec))
    result = CliRunner().invoke(cli, ["run", str(path), "--store", str(db), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output


def invoke(*args: Any) -> Any:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Study 'tiny' (grid, 5-fold, SPACE), 'hold' (holdout) and 'half' (1 of 3 trials run)."""
    directory = tmp_path_factory.mktemp("query")
    path = directory / "hptrack.db"
    run_study(directory, path, **KNN, space=SPACE, cv={"kind": "stratified", "folds": 5, "shuffle": True})
    run_study(directory, path, **KNN, name="hold", space=SPACE, cv={"kind": "holdout", "test_size": 0.25})
    run_study(directory, path, "--max-trials", "0", **KNN, name="half", space=SPACE)
    return path


@pytest.fixture
def store(db: Path):
    with Store(db, readonly=True) as s:
        yield s


# ---------------------------------------------------------------------------- filters and records


def test_trials_filters(store):
    study = store.study("tiny")
    assert [t.number for t in study.trials()] == [0, 1, 2, 3]
    assert [t.number for t in study.trials(sort="accuracy")] == [0, 1, 2, 3]
    assert [t.number for t in study.trials(sort="accuracy", status="complete", top=2)] == [0, 1]
    assert [t.params for t in study.trials(params={"n_neighbors": 20})] == [{"n_neighbors": 20}]
    with pytest.raises(SpecError, match="never matches: its recorded values are numbers"):
        study.trials(params={"n_neighbors": "1'; DROP TABLE trials; --"})  # a str for a number
    assert len(study.trials()) == 4  # and never spliced into SQL
    assert {t.number for t in study.trials(min_score={"accuracy": 0.9})} == {0, 1, 2}
    assert study.trials(status="failed") == []
    with pytest.raises(SpecError, match="did you mean 'complete'"):
        study.trials(status="completed")


def test_to_records_are_export_rows_in_trials_order(store):
    study = store.study("tiny")
    rows = study.to_records()
    assert rows == study.export_rows()
    assert [r["number"] for r in rows] == [0, 1, 2, 3]
    top = study.to_records(sort="accuracy", top=2)
    assert [r["number"] for r in top] == [0, 1]
    assert top[0]["rank_test_accuracy"] == 1
    assert set(top[0]) >= {
        "param_n_neighbors",
        "split4_test_accuracy",
        "mean_test_f1_macro",
        "std_test_accuracy",
    }
    json.dumps(rows, allow_nan=False)  # plain JSON-ready values


def test_to_frame_without_pandas_says_how_to_install_it(store, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # as if pandas were not installed
    with pytest.raises(ImportError, match="pip install pandas") as info:
        store.study("tiny").to_frame()
    assert isinstance(info.value, MissingDependencyError) and isinstance(info.value, HptrackError)
    assert "\n" not in str(info.value)


def test_to_frame_with_pandas(store):
    pd = pytest.importorskip("pandas")
    frame = store.study("tiny").to_frame(status="complete")
    assert isinstance(frame, pd.DataFrame)
    assert list(frame["number"]) == [0, 1, 2, 3]


# ---------------------------------------------------------------------------- tied with the best


def test_tied_with_best_uses_the_corrected_ttest_on_paired_folds(store):
    study = store.study("tiny")
    ties = study.tied_with_best()
    assert ties.tested and ties.best == study.best().number == 0
    assert ties.metric == "accuracy" and ties.alpha == 0.05
    assert ties.test_train_ratio == pytest.approx(1 / 4)  # 5-fold: n_test/n_train = 1/(k-1)
    best = study.trial(0).scores["accuracy"]
    for trial in study.trials():
        expected = corrected_ttest(best, trial.scores["accuracy"], test_train_ratio=0.25).p_value
        assert ties.p_values[trial.number] == pytest.approx(expected, rel=1e-12)
    assert ties.p_values[0] == 1.0
    assert ties.p_values[3] < 0.05 <= ties.p_values[2]
    assert ties.tied == [0, 1, 2]  # the best, then by mean
    assert ties.is_tied(3) is False and ties.is_tied(1) is True
    assert ties.for_trial(3) == {"tied_with_best": False, "p_vs_best": ties.p_values[3]}


def test_tied_with_best_of_trials_already_read_equals_reading_them(store):
    study = store.study("tiny")
    trials = study.trials()
    for metric in study.metrics:
        assert study.tied_with_best(metric=metric, trials=trials) == study.tied_with_best(metric=metric)


def test_tied_with_best_on_another_metric_and_alpha(store):
    study = store.study("tiny")
    ties = study.tied_with_best(metric="f1_macro", alpha=0.6)
    assert ties.metric == "f1_macro"
    assert ties.best == max(study.trials(), key=lambda t: t.mean["f1_macro"]).number
    assert all((p >= 0.6) == (n in ties.tied) for n, p in ties.p_values.items())
    with pytest.raises(SpecError, match="did you mean 'f1_macro'"):
        study.tied_with_best(metric="f1_macr")
    with pytest.raises(SpecError, match="alpha = 1.5"):
        study.tied_with_best(alpha=1.5)


def test_statement_names_the_test_and_its_assumptions(store):
    line = store.study("tiny").tied_with_best().statement()
    assert "\n" not in line
    for words in ("Nadeau & Bengio 2003", "two-sided", "5 paired folds", "n_test/n_train = 1/4", "p >= 0.05"):
        assert words in line
    assert "same splits" in line


def test_holdout_has_no_paired_test(store):
    ties = store.study("hold").tied_with_best()
    assert not ties.tested and ties.p_values == {} and ties.tied == []
    assert ties.reason == "a holdout split (test_size 0.25) has one fold, so no paired test is possible"
    assert ties.is_tied(0) is None
    assert ties.statement().startswith("tied with best: no test (a holdout split")


def test_no_complete_trial_yet(store):
    ties = store.study("half").tied_with_best()
    assert ties.reason == "no complete trial yet" and ties.best is None


def test_trials_command_shows_the_tie_column_and_the_test(db):
    result = invoke("trials", "tiny", "--store", db)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["#", "rank", "status", "tied"]
    by_number = {line.split()[0]: line for line in lines[2:6]}
    assert " best " in by_number["0"]
    assert " no p=" in by_number["3"] and " yes p=" in by_number["1"]
    assert lines[-1].startswith("tied: p >= 0.05 against best #0 in a two-sided corrected resampled t-test")


def test_trials_json_carries_tied_with_best_and_p(db, store):
    trials = json.loads(invoke("trials", "tiny", "--store", db, "--json").stdout)
    ties = store.study("tiny").tied_with_best()
    for t in trials:
        assert t["tied_with_best"] == ties.is_tied(t["number"])
        assert t["p_vs_best"] == ties.p_values[t["number"]]
    assert [t["number"] for t in trials if t["tied_with_best"]] == [0, 1, 2]


def test_trials_of_a_holdout_study_say_why_there_is_no_test(db):
    result = invoke("trials", "hold", "--store", db)
    assert "tied" not in result.stdout.splitlines()[0]
    assert "no paired test is possible" in result.stdout.splitlines()[-1]
    trials = json.loads(invoke("trials", "hold", "--store", db, "--json").stdout)
    assert {t["tied_with_best"] for t in trials} == {None}


def test_best_lists_the_tied_configurations(db):
    text = invoke("best", "tiny", "--store", db).stdout
    assert "tied with best: 2 configuration(s)" in text
    assert "#1  accuracy" in text and "n_neighbors=3" in text
    assert "#3  accuracy" not in text
    assert "Nadeau & Bengio 2003" in text.splitlines()[-1]
    best = json.loads(invoke("best", "tiny", "--store", db, "--json").stdout)
    assert best["number"] == 0 and best["tied_with_best"] is True and best["p_vs_best"] == 1.0
    assert [t["number"] for t in best["tied"]] == [1, 2]
    assert best["tied"][0]["params"] == {"n_neighbors": 3} and 0.05 <= best["tied"][0]["p_vs_best"] <= 1
    assert best["tie_test"]["test_train_ratio"] == 0.25 and best["tie_test"]["tested"] is True
    assert math.isclose(best["tied"][0]["p_vs_best"], best["tie_test"]["p_values"]["1"])


def test_tie_queries_work_on_a_read_only_copy(db, tmp_path):
    copy = tmp_path / "copy.db"
    shutil.copy(db, copy)
    copy.chmod(0o444)
    try:
        with Store(copy, readonly=True) as s:
            assert s.study("tiny").tied_with_best().best == 0
    finally:
        copy.chmod(0o644)


def test_best_and_top_read_the_score_index_not_every_trial(store):
    """best() and trials(top=N) read through the (study_id, score) index: no sort of the study."""
    executed: list[str] = []
    store.connection.set_trace_callback(executed.append)
    try:
        study = store.study("tiny")
        study.best()
        study.trials(top=2)
    finally:
        store.connection.set_trace_callback(None)
    ranked = [sql for sql in executed if "score DESC" in sql]
    assert ranked, executed
    for sql in ranked:
        plan = " ".join(str(row[-1]) for row in store.connection.execute(f"EXPLAIN QUERY PLAN {sql}"))
        assert "trials_by_score" in plan and "TEMP B-TREE FOR ORDER BY" not in plan, (sql, plan)


def test_export_means_and_stds_are_numpys_to_the_bit():
    import random

    import numpy as np

    from hptrack.query.export import _mean_or_none, _std_or_none

    rng = random.Random(0)
    for _ in range(20000):  # fewer than 8 folds: the pure-Python path; more: numpy's own
        values = [rng.random() * 10 ** rng.randint(-6, 2) for _ in range(rng.randint(1, 12))]
        array = np.array(values)
        assert _mean_or_none(values) == float(np.average(array))
        assert _std_or_none(values) == float(np.sqrt(np.average((array - np.average(array)) ** 2)))
    assert _mean_or_none([1.0, None]) is None and _std_or_none([]) is None
