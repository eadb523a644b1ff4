"""Objective functions (SPEC section 11): ``objective = "module:fn"`` runs through the same
plan, coordinator, executors and commits as an estimator."""

from __future__ import annotations

import json
import sqlite3
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import to_toml

from hptrack import Store

# A user's training code: a helper module it imports, and objectives that break the rules.
TRAIN = textwrap.dedent(
    """
    import numpy as np
    from sklearn.utils import _safe_indexing

    from helper import offset


    def load():
        rng = np.random.default_rng(0)
        X = rng.normal(size=(60, 3))
        return X, (X[:, 0] > 0).astype(int)


    def objective(params, fold):
        rng = np.random.default_rng(fold.seed)
        noise = float(rng.normal()) * 1e-3
        for epoch in range(params["epochs"]):
            fold.report(epoch, loss=1.0 / (epoch + params["lr"]), acc=epoch * params["lr"])
        assert (fold.X_train == _safe_indexing(load()[0], fold.train)).all()
        assert (fold.y_val == _safe_indexing(load()[1], fold.val)).all()
        return {"acc": params["lr"] * 10 + fold.index + offset() + noise, "loss": 1.0 - params["lr"],
                "extra": 0.0}


    def not_a_dict(params, fold):
        return [0.5]


    def missing_key(params, fold):
        return {"loss": 0.1}


    def not_a_number(params, fold):
        return {"acc": "high", "loss": 0.1}


    def mutates(params, fold):
        params["lr"] = 0.0
        return {"acc": 1.0, "loss": 0.1}


    def shuffles_train(params, fold):
        np.random.default_rng(0).shuffle(fold.train)
        return {"acc": 1.0, "loss": 0.1}


    def fails_on_big_lr(params, fold):
        fold.report(0, loss=9.0)
        if params["lr"] > 0.15:
            raise FloatingPointError("diverged at lr=" + str(params["lr"]))
        return {"acc": 1.0, "loss": 0.1}


    def one_arg(params):
        return {}
    """
)

SPEC = {
    "name": "obj",
    "search": "grid",
    "seed": 7,
    "objective": "train:objective",
    "data": "train:load",
    "metrics": ["acc", "loss"],
    "fixed": {"epochs": 4},
    "cv": {"kind": "kfold", "folds": 3, "shuffle": True},
    "space": {"lr": [0.1, 0.2]},
}


@pytest.fixture
def objective_spec(tmp_path):
    (tmp_path / "train.py").write_text(TRAIN)
    (tmp_path / "helper.py").write_text("def offset():\n    return 0.0\n")

    def write(*, drop=(), filename="obj.toml", **overrides):
        spec = {**SPEC, **overrides}
        for key in drop:
            spec.pop(key, None)
        path = tmp_path / filename
        path.write_text(to_toml(spec))
        return path

    return write


def trials_of(db, name="obj"):
    with Store(db, readonly=True) as store:
        return store.study(name).trials()


def test_objective_runs_every_config_and_fold_with_the_study_seed(objective_spec, tmp_path, invoke):
    db = tmp_path / "h.db"
    result = invoke("run", objective_spec(), "--store", db)
    assert result.exit_code == 0, result.output
    assert "2 trial(s) run now (6 folds fitted)" in result.stderr
    trials = trials_of(db)
    noise = float(np.random.default_rng(7).normal()) * 1e-3  # fold.seed is the study seed
    assert trials[0].scores["acc"] == [1.0 + noise, 2.0 + noise, 3.0 + noise]
    assert trials[1].scores["loss"] == [0.8, 0.8, 0.8]
    assert [t.rank for t in trials] == [2, 1]
    assert trials[0].seed == {"seed": 7}
    assert trials[0].params == {"lr": 0.1}
    assert "extra" not in trials[0].scores  # only the spec's metrics are recorded


def test_spec_run_twice_into_two_stores_is_identical(objective_spec, tmp_path, invoke):
    spec = objective_spec()
    for db in ("a.db", "b.db"):
        assert invoke("run", spec, "--store", tmp_path / db).exit_code == 0
    first, second = trials_of(tmp_path / "a.db"), trials_of(tmp_path / "b.db")
    assert [(t.params, t.scores) for t in first] == [(t.params, t.scores) for t in second]


@pytest.mark.parametrize(
    ("overrides", "drop", "message"),
    [
        ({"estimator": "sklearn.svm:SVC"}, (), "give estimator or objective, not both"),
        ({}, ("objective",), "missing required key 'estimator'; add estimator = \"sklearn.svm:SVC\", or objective"),
        ({"objective": "train:objectve"}, (), "has no attribute 'objectve'; did you mean 'objective'?"),
        ({"objective": "trian:objective"}, (), "cannot import module 'trian'; did you mean 'train'?"),
        ({"objective": "train:one_arg"}, (), "cannot be called as fn(params, fold)"),
        ({"objective": "train:np"}, (), "is a module, not a function"),
        ({"metrics": ["val acc"]}, (), "metrics: 'val acc' is not a plain name"),
        ({}, ("metrics",), "an objective needs metrics = the keys its fn returns"),
        ({"train_scores": True}, (), "train_scores applies to an estimator"),
    ],
)
def test_bad_objective_spec_is_one_line_exit_2_and_writes_nothing(
    objective_spec, tmp_path, invoke, overrides, drop, message
):
    db = tmp_path / "h.db"
    result = invoke("run", objective_spec(drop=drop, **overrides), "--store", db)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not db.exists()


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        ("not_a_dict", "objective train:not_a_dict returned list [0.5]; return a dict"),
        ("missing_key", "objective train:missing_key returned no 'acc' (keys: ['loss'])"),
        ("not_a_number", "objective train:not_a_number returned 'acc' = 'high' is not a real number"),
        ("mutates", "objective train:mutates changed its params argument"),
        ("shuffles_train", "array is read-only"),
    ],
)
def test_what_fn_may_not_do_fails_the_fold_with_its_message(objective_spec, tmp_path, invoke, fn, message):
    db = tmp_path / "h.db"
    result = invoke("run", objective_spec(objective=f"train:{fn}"), "--store", db)
    assert result.exit_code == 1, result.output  # every trial failed
    trials = trials_of(db)
    assert {t.status for t in trials} == {"failed"}
    assert trials[0].scores["acc"] == [None, None, None]  # error_score NaN, read back as None
    assert message in trials[0].errors[0]
    assert "Traceback" in trials[0].errors[0]


def test_a_failing_fn_follows_error_score_and_the_study_goes_on(objective_spec, tmp_path, invoke):
    db = tmp_path / "h.db"
    result = invoke("run", objective_spec(objective="train:fails_on_big_lr", error_score=0), "--store", db)
    assert result.exit_code == 0, result.output
    good, bad = trials_of(db)
    assert good.status == "complete" and bad.status == "failed"
    assert bad.scores["acc"] == [0.0, 0.0, 0.0]
    assert "FloatingPointError: diverged at lr=0.2" in bad.errors[1]
    raised = invoke("run", objective_spec(objective="train:fails_on_big_lr", error_score="raise", name="r"),
                    "--store", tmp_path / "r.db")
    assert raised.exit_code != 0
    assert "diverged at lr=0.2" in str(raised.exception) + raised.stderr


def test_an_edited_helper_module_is_never_served_from_the_fold_cache(objective_spec, tmp_path, invoke):
    db = tmp_path / "h.db"
    assert invoke("run", objective_spec(), "--store", db).exit_code == 0
    same = invoke("run", objective_spec(name="same", filename="same.toml"), "--store", db)
    assert "0 folds fitted" in same.stderr and "6 reused" in same.stderr
    (tmp_path / "helper.py").write_text("def offset():\n    return 100.0\n")
    refused = invoke("resume", "obj", "--store", db)
    assert refused.exit_code == 2 and "code changed in helper.py" in refused.stderr
    edited = invoke("run", objective_spec(name="edited", filename="edited.toml"), "--store", db)
    assert edited.exit_code == 0, edited.output
    assert "6 folds fitted" in edited.stderr and "0 reused" in edited.stderr
    assert trials_of(db, "edited")[0].scores["acc"][0] > 100


def test_verify_reruns_an_objective_and_matches(objective_spec, tmp_path, invoke):
    db = tmp_path / "h.db"
    assert invoke("run", objective_spec(), "--store", db).exit_code == 0
    result = invoke("verify", "obj", "--store", db, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] and len(report["checks"]) == 2 * 3 * 2


def test_joblib_two_workers_equal_serial(objective_spec, tmp_path, invoke):
    spec = objective_spec(search="random", n_trials=6, space={"lr": {"dist": "uniform", "low": 0.05, "high": 0.3}})
    assert invoke("run", spec, "--store", tmp_path / "serial.db").exit_code == 0
    result = invoke("run", spec, "--store", tmp_path / "jobs.db", "--n-jobs", "2")
    assert result.exit_code == 0, result.output
    serial, parallel = trials_of(tmp_path / "serial.db"), trials_of(tmp_path / "jobs.db")
    assert [(t.params, t.scores, t.rank) for t in parallel] == [(t.params, t.scores, t.rank) for t in serial]
    with Store(tmp_path / "jobs.db", readonly=True) as store:
        assert len(store.study("obj").curves()) == 6 * 3


def test_merge_carries_scores_and_curves(objective_spec, tmp_path, invoke):
    spec = objective_spec()
    assert invoke("run", spec, "--store", tmp_path / "a.db", "--max-trials", "1").exit_code == 0
    assert invoke("run", spec, "--store", tmp_path / "b.db").exit_code == 0
    merged = invoke("merge", tmp_path / "a.db", tmp_path / "b.db", "--store", tmp_path / "m.db")
    assert merged.exit_code == 0, merged.output
    assert [t.scores for t in trials_of(tmp_path / "m.db")] == [t.scores for t in trials_of(tmp_path / "b.db")]
    conn = sqlite3.connect(tmp_path / "m.db")
    assert conn.execute("SELECT count(*) FROM curves").fetchone()[0] == 2 * 3
    conn.close()


def test_importance_and_report_work_on_an_objective_study(objective_spec, tmp_path, invoke):
    db = tmp_path / "h.db"
    assert invoke("run", objective_spec(space={"lr": [0.1, 0.2, 0.3]}), "--store", db).exit_code == 0
    importance = invoke("importance", "obj", "--store", db, "--json")
    assert importance.exit_code == 0, importance.output
    assert json.loads(importance.stdout)["params"][0]["params"] == ["lr"]
    out = tmp_path / "r.html"
    assert invoke("report", "obj", "--store", db, "-o", out).exit_code == 0
    assert "objective train:objective" in out.read_text()


def test_dask_local_cluster_runs_an_objective(objective_spec, tmp_path, invoke):
    distributed = pytest.importorskip("distributed")
    spec = objective_spec()
    assert invoke("run", spec, "--store", tmp_path / "local.db").exit_code == 0
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        result = invoke("run", spec, "--store", tmp_path / "dask.db", "--dask", cluster.scheduler_address)
    assert result.exit_code == 0, result.output
    local, remote = trials_of(tmp_path / "local.db"), trials_of(tmp_path / "dask.db")
    assert [(t.params, t.scores) for t in remote] == [(t.params, t.scores) for t in local]


def test_objective_spec_resumes_from_the_store_alone(objective_spec, tmp_path, invoke):
    db = tmp_path / "h.db"
    spec = objective_spec(space={"lr": [0.1, 0.2, 0.3]})
    assert invoke("run", spec, "--store", db, "--max-trials", "1").exit_code == 0
    result = invoke("resume", "obj", "--store", db)
    assert result.exit_code == 0, result.output
    assert "2 trial(s) run now" in result.stderr
    assert Path(spec).exists()
