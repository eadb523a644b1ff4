"""The coordinator: failures, fold-level resume, parallel workers, drift refusal."""

from __future__ import annotations

import dataclasses
import json

import pytest

from hptrack import DriftError, SpecMismatchError, Store
from hptrack.run import plan_from_spec, run_plan
from hptrack.spec import load_spec
from hptrack.store import FoldRecord, Writer


def _scores(db, invoke, name="tiny"):
    trials = json.loads(invoke("trials", name, "--store", db, "--json").stdout)
    return [(t["number"], t["params"], t["status"], t["scores"], t["rank"]) for t in trials]


def test_failing_fit_is_recorded_and_the_study_goes_on(write_spec, db_path, invoke):
    spec = write_spec(space={"C": [-1.0, 1.0]})  # C must be > 0: fit raises
    result = invoke("run", spec, "--store", db_path)
    assert result.exit_code == 0, result.output
    with Store(db_path, readonly=True) as store:
        study = store.study("tiny")
        failed, ok = study.trials()
        assert failed.status == "failed"
        assert failed.rank is None
        assert sorted(failed.errors) == [0, 1, 2]
        assert "InvalidParameterError" in failed.errors[0]
        assert "Traceback" in failed.errors[0]
        assert all(v is None for v in failed.scores["accuracy"])  # error_score = nan
        assert ok.status == "complete" and ok.rank == 1
        assert study.best().number == 1
    listing = json.loads(invoke("studies", "--store", db_path, "--json").stdout)
    assert listing[0]["n_failed"] == 1 and listing[0]["n_complete"] == 1
    shown = invoke("show", "tiny", "0", "--store", db_path)
    assert "fold 0 failed" in shown.stdout and "traceback" in shown.stdout


def test_numeric_error_score_is_recorded(write_spec, db_path, invoke):
    spec = write_spec(space={"C": [-1.0, 1.0]}, error_score=0)
    assert invoke("run", spec, "--store", db_path).exit_code == 0
    with Store(db_path, readonly=True) as store:
        failed = store.study("tiny").trial(0)
    assert failed.status == "failed"
    assert failed.scores["accuracy"] == [0.0, 0.0, 0.0]


def test_retry_failed_reruns_only_failed_folds(write_spec, db_path, invoke):
    spec = write_spec(space={"C": [-1.0, 1.0]})
    assert invoke("run", spec, "--store", db_path).exit_code == 0
    result = invoke("resume", "tiny", "--store", db_path, "--retry-failed")
    assert result.exit_code == 0
    assert "1 trial(s) run now (3 folds fitted)" in result.stderr  # still fails, but was re-run


def test_resumed_trial_refits_only_missing_folds(write_spec, tmp_path, invoke):
    spec = load_spec(write_spec())
    plan = plan_from_spec(spec)
    partial = tmp_path / "partial.db"
    with Writer(partial) as store:
        run_plan(store, plan, max_trials=0)  # create the study, run nothing
        stored = store.require_study("tiny")
        (claim,) = store.claim(
            stored.id, 1, code_hash=plan.code_hash, data_hash=plan.data_hash, params_of=plan.trial_row
        )
        trial_id = claim.trial_id
        assert (claim.number, claim.folds_done) == (0, set())
        # a worker finished fold 1 of trial 0, then died
        from hptrack.run import FoldTask, evaluate_fold

        train, test = plan.splits[1]
        result = evaluate_fold(
            FoldTask(trial_id, 0, 1, plan.candidates[0]),
            plan.estimator,
            plan.X,
            plan.y,
            train,
            test,
            plan.scorers,
        )
        store.commit_fold(
            trial_id,
            FoldRecord(1, result.test, None, result.fit_time, result.score_time),
            n_folds=3,
            rank_metric="accuracy",
        )
        store.release([trial_id])
        summary = run_plan(store, plan)
    assert summary.folds_fitted == 3 * 3 - 1
    assert summary.trials_finished == 3
    whole = tmp_path / "whole.db"
    assert invoke("run", write_spec(), "--store", whole).exit_code == 0
    assert _scores(partial, invoke) == _scores(whole, invoke)


def test_two_jobs_give_the_same_results_as_one(write_spec, tmp_path, invoke):
    spec = write_spec(space={"C": [0.01, 0.1, 1.0, 10.0]})
    one, two = tmp_path / "one.db", tmp_path / "two.db"
    assert invoke("run", spec, "--store", one).exit_code == 0
    result = invoke("run", spec, "--store", two, "--n-jobs", "2")
    assert result.exit_code == 0, result.output
    assert _scores(one, invoke) == _scores(two, invoke)


def test_edited_user_module_is_code_drift(write_spec, db_path, invoke, tmp_path):
    spec = write_spec()
    assert invoke("run", spec, "--store", db_path, "--max-trials", "1").exit_code == 0
    module = tmp_path / "tinydata.py"
    module.write_text(module.read_text() + "\n# an edit\n")
    refused = invoke("resume", "tiny", "--store", db_path)
    assert refused.exit_code == 2
    assert "code changed in tinydata.py" in refused.stderr
    assert "--allow-code-change" in refused.stderr
    again = invoke("run", spec, "--store", db_path)
    assert again.exit_code == 2 and "tinydata.py" in again.stderr
    allowed = invoke("resume", "tiny", "--store", db_path, "--allow-code-change")
    assert allowed.exit_code == 0, allowed.output
    shown = invoke("show", "tiny", "--store", db_path)
    assert "mixed code hashes" in shown.stdout


def test_changed_data_is_refused(write_spec, db_path, invoke, tmp_path):
    spec = write_spec()
    assert invoke("run", spec, "--store", db_path, "--max-trials", "1").exit_code == 0
    module = tmp_path / "tinydata.py"
    module.write_text(module.read_text().replace("X[:300], y[:300]", "X[:300] * 2, y[:300]"))
    refused = invoke("resume", "tiny", "--store", db_path)
    assert refused.exit_code == 2
    assert "data changed (fingerprint" in refused.stderr


def test_library_errors_name_the_fields(write_spec, db_path):
    plan = plan_from_spec(load_spec(write_spec()))
    with Writer(db_path) as store:
        run_plan(store, plan, max_trials=1)
        other = plan_from_spec(load_spec(write_spec(metrics=["f1_macro"])))
        with pytest.raises(SpecMismatchError) as info:
            run_plan(store, other)
        assert info.value.fields == ["metrics"]
        plan = dataclasses.replace(plan, code_hash="0" * 64)  # the plan is frozen
        with pytest.raises(DriftError, match="code changed"):
            run_plan(store, plan)


def test_error_score_raise_stops_the_run_and_records_the_failure(write_spec, db_path, invoke):
    spec = write_spec(space={"C": [1.0, -1.0, 0.1]}, error_score="raise")
    result = invoke("run", spec, "--store", db_path)
    assert result.exit_code == 2
    assert "a fit failed and the spec sets error_score = 'raise' (InvalidParameterError" in result.stderr
    assert "Traceback" not in result.output
    with Store(db_path, readonly=True) as store:
        study = store.study("tiny")
        assert [t.status for t in study.trials()] == ["complete", "failed", "pending"]
        assert study.trial(1).errors  # the failure is recorded with its traceback
