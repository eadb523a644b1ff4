"""Specs with ``search = "halving"`` / ``"halving-random"`` and a ``[halving]`` table: run by
scikit-learn's own halving loop, every (candidate, rung) a trial with its rung and resource;
bad input refused before anything is written."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import HalvingGridSearchCV, StratifiedKFold
from sklearn.svm import SVC

from hptrack import Store

HALVING = {
    "search": "halving",
    "estimator": "sklearn.svm:SVC",
    "metrics": ["accuracy"],
    "fixed": {},
    "space": {"C": [0.1, 1.0, 10.0], "gamma": [0.0001, 0.001, 0.01]},
    "halving": {"factor": 3},
}


def test_a_halving_spec_runs_scikit_learns_halving_and_records_each_rung(write_spec, invoke, db_path):
    spec = write_spec(**HALVING)
    done = invoke("run", spec, "--store", db_path)
    assert done.exit_code == 0, done.output
    X, y = load_digits(return_X_y=True)
    X, y = X[:300], y[:300]
    splits = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))
    theirs = HalvingGridSearchCV(
        SVC(random_state=0), HALVING["space"], factor=3, cv=splits, scoring="accuracy", random_state=0
    ).fit(X, y)
    trials = json.loads(invoke("trials", "tiny", "--store", db_path, "--json").stdout)
    assert [t["rung"] for t in trials] == theirs.cv_results_["iter"].tolist()
    assert [t["resource"] for t in trials] == theirs.cv_results_["n_resources"].tolist()
    assert [t["params"] for t in trials] == theirs.cv_results_["params"]
    means = [t["mean"]["accuracy"] for t in trials]
    np.testing.assert_array_equal(means, theirs.cv_results_["mean_test_score"])
    best = json.loads(invoke("best", "tiny", "--store", db_path, "--json").stdout)
    assert best["number"] == theirs.best_index_ and best["rung"] == theirs.n_iterations_ - 1
    listed = json.loads(invoke("studies", "--store", db_path, "--json").stdout)
    assert listed[0]["best_score"] == best["mean"]["accuracy"] == theirs.best_score_
    shown = invoke("show", "tiny", "--store", db_path)
    assert "rung 0:   9 candidates (9 complete), resource 60" in shown.stdout
    assert "rung" in invoke("trials", "tiny", "--store", db_path).stdout.splitlines()[0]

    refused = invoke("verify", "tiny", "--store", db_path)
    assert refused.exit_code == 2 and "halves over n_samples" in refused.stderr
    again = invoke("run", spec, "--store", db_path)  # everything served from the store
    assert again.exit_code == 0 and "0 trial(s) run now (0 folds fitted)" in again.stderr
    resumed = invoke("resume", "tiny", "--store", db_path)  # from the stored spec
    assert resumed.exit_code == 0 and "0 trial(s) run now" in resumed.stderr
    with Store(db_path, readonly=True) as store:
        study = store.study("tiny")
        assert [r.n_trials for r in study.rungs()] == theirs.n_candidates_
        assert [r.resource for r in study.rungs()] == theirs.n_resources_
        ours = study.cv_results()
        for key in ("iter", "n_resources", "mean_test_accuracy"):
            np.testing.assert_array_equal(ours[key], theirs.cv_results_[key.replace("accuracy", "score")])
    text = invoke("export", "tiny", "--store", db_path, "--format", "csv").stdout
    exported = list(csv.DictReader(io.StringIO(text)))
    assert [row["iter"] for row in exported] == [str(i) for i in theirs.cv_results_["iter"]]
    assert [row["n_resources"] for row in exported] == [str(n) for n in theirs.cv_results_["n_resources"]]


def test_halving_random_spec_and_a_param_resource(write_spec, invoke, db_path):
    spec = write_spec(
        search="halving-random",
        n_trials=6,
        estimator="sklearn.linear_model:SGDClassifier",
        fixed={"tol": "None"},
        space={"alpha": {"dist": "loguniform", "low": 1e-5, "high": 1.0}},
        metrics=["accuracy"],
        halving={"resource": "max_iter", "min_resources": 2, "max_resources": 18, "factor": 3},
    )
    done = invoke("run", spec, "--store", db_path)
    assert done.exit_code == 0, done.output
    with Store(db_path, readonly=True) as store:
        study = store.study("tiny")
        trials = study.trials()
        assert study.search == "halving-random"
        assert [(r.rung, r.resource, r.n_trials) for r in study.rungs()] == [(0, 2, 6), (1, 6, 2)]
        assert all(t.params["max_iter"] == t.resource for t in trials)
        first = [t.params["alpha"] for t in trials if t.rung == 0]
    verified = invoke("verify", "tiny", "--store", db_path, "--trial", "7")  # rung 1, max_iter 6
    assert verified.exit_code == 0, verified.output
    random_spec = write_spec(
        search="random",
        n_trials=6,
        estimator="sklearn.linear_model:SGDClassifier",
        fixed={"tol": "None", "max_iter": 2},
        space={"alpha": {"dist": "loguniform", "low": 1e-5, "high": 1.0}},
        metrics=["accuracy"],
        name="plain",
        filename="plain.toml",
    )
    assert invoke("run", random_spec, "--store", db_path).exit_code == 0
    with Store(db_path, readonly=True) as store:  # the same draws as a random search's trials
        assert [t.params["alpha"] for t in store.study("plain").trials()] == first


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"halving": {"resource": "max_iterr", "max_resources": 10}},
            "[halving] resource = 'max_iterr' is neither \"n_samples\" nor a parameter of SVC; "
            "did you mean 'max_iter'?",
        ),
        (
            {"halving": {"resource": "n_estimators", "max_resources": 10}},
            "is neither \"n_samples\" nor a parameter",
        ),
        ({"halving": {"factor": 1}}, "[halving] factor = 1 must be a number > 1"),
        ({"halving": {"factor": 0.5}}, "[halving] factor = 0.5 must be a number > 1"),
        ({"halving": {"resource": "max_iter"}}, "resource = 'max_iter' needs max_resources"),
        ({"halving": {"resource": "samples"}}, "resource = 'samples' is not a resource; did you mean 'n_samples'?"),
        ({"halving": {"min_resources": 0}}, "[halving] min_resources = 0 must be a whole number >= 1"),
        ({"halving": {"factr": 3}}, "[halving] unknown key 'factr'"),
        ({"cv": {"kind": "holdout"}}, "needs cross-validation folds, not kind = 'holdout'"),
        ({"metrics": ["accuracy", "f1_macro"]}, "ranks by one metric"),
        ({"search": "grid"}, "[halving] applies only to search = 'halving' or 'halving-random'"),
        ({"search": "halving-random"}, "n_trials is required"),
        (
            {"halving": {"resource": "max_iter", "max_resources": 9}, "space": {"max_iter": [1, 2]}},
            "[space] max_iter is the [halving] resource",
        ),
    ],
    ids=[
        "unknown-resource",
        "resource-not-a-param",
        "factor-1",
        "factor-below-1",
        "no-max-resources",
        "resource-close-to-n-samples",
        "min-resources",
        "unknown-key",
        "holdout",
        "two-metrics",
        "table-without-halving",
        "random-without-n-trials",
        "resource-in-space",
    ],
)
def test_bad_halving_specs_exit_2_with_one_line_and_write_nothing(
    write_spec, invoke, db_path, overrides, message
):
    spec = write_spec(**{**HALVING, **overrides})
    done = invoke("run", spec, "--store", db_path)
    assert done.exit_code == 2, done.output
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not db_path.exists()


@pytest.mark.parametrize(("option", "value"), [("--max-trials", "2"), ("--dask", "tcp://127.0.0.1:1")])
def test_options_a_halving_run_cannot_honour_are_refused(write_spec, invoke, db_path, option, value):
    done = invoke("run", write_spec(**HALVING), "--store", db_path, option, value)
    assert done.exit_code == 2 and f"{option} does not apply" in done.stderr
    assert not db_path.exists()


def test_report_draws_the_ladder_and_importance_names_its_rung(write_spec, invoke, db_path, tmp_path):
    assert invoke("run", write_spec(**HALVING), "--store", db_path).exit_code == 0
    out = tmp_path / "r.html"
    assert invoke("report", "tiny", "--store", db_path, "-o", out).exit_code == 0
    html = out.read_text()
    assert 'class="ladder"' in html and "Successive halving" in html
    assert "9 candidates, 9 -&gt; 3 per rung; 3 kept at the last rung, 6 dropped" in html
    assert html.count("<tr class=\"ladder-kept\">") == 3 and html.count("<tr class=\"ladder-dropped\">") == 6
    assert "dropped after rung 0 of 1" in html and "180 samples" in html
    assert html.count('<g class="ladder-') == 9  # one line per candidate
    importance = json.loads(invoke("importance", "tiny", "--store", db_path, "--json").stdout)
    assert importance["n_trials"] == 9  # rung 0: every candidate at one resource
    assert "halving study: rung 0 only (9 configurations at resource 60)" in importance["note"]

    plain = write_spec(name="plain", filename="plain.toml")  # other studies have no ladder
    assert invoke("run", plain, "--store", db_path).exit_code == 0
    assert invoke("report", "plain", "--store", db_path, "-o", out).exit_code == 0
    assert 'class="ladder"' not in out.read_text()


def test_a_halving_spec_with_n_jobs_equals_the_serial_run(write_spec, invoke, tmp_path):
    spec = write_spec(**HALVING)
    stores = [tmp_path / "serial.db", tmp_path / "jobs.db"]
    assert invoke("run", spec, "--store", stores[0]).exit_code == 0
    done = invoke("run", spec, "--store", stores[1], "--n-jobs", "2")
    assert done.exit_code == 0, done.output
    listed = [json.loads(invoke("trials", "tiny", "--store", db, "--json").stdout) for db in stores]
    assert [(t["rung"], t["params"], t["scores"]) for t in listed[0]] == [
        (t["rung"], t["params"], t["scores"]) for t in listed[1]
    ]
