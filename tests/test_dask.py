"""Cluster execution on a real dask.distributed LocalCluster (2 worker processes)."""

from __future__ import annotations

import json
import sqlite3
import textwrap

import pytest

distributed = pytest.importorskip("distributed")

from hptrack import Store  # noqa: E402

# A user's own estimator class, beside the spec: the workers must be able to import it.
USER_MODULE = textwrap.dedent(
    """
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.datasets import load_digits
    from sklearn.naive_bayes import GaussianNB


    class MyNB(ClassifierMixin, BaseEstimator):
        def __init__(self, var_smoothing=1e-9):
            self.var_smoothing = var_smoothing

        def fit(self, X, y):
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


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as local:
        yield local


@pytest.fixture
def user_spec(write_spec, tmp_path):
    (tmp_path / "mymodels.py").write_text(USER_MODULE)
    return write_spec(
        name="nb",
        estimator="mymodels:MyNB",
        data="mymodels:load",
        fixed={},
        space={"var_smoothing": [1e-9, 1e-7, 1e-5, 1e-3, 1e-2, 1e-1]},
    )


def _results(db, invoke, name):
    trials = json.loads(invoke("trials", name, "--store", db, "--json").stdout)
    return [(t["number"], t["params"], t["status"], t["scores"], t["rank"]) for t in trials]


def test_cli_runs_on_a_local_cluster_each_trial_once(cluster, user_spec, tmp_path, invoke):
    local, remote = tmp_path / "local.db", tmp_path / "remote.db"
    assert invoke("run", user_spec, "--store", local).exit_code == 0
    result = invoke("run", user_spec, "--store", remote, "--dask", cluster.scheduler_address)
    assert result.exit_code == 0, result.output
    assert "6 trial(s) run now (18 folds fitted)" in result.stderr
    assert _results(remote, invoke, "nb") == _results(local, invoke, "nb")
    conn = sqlite3.connect(remote)
    rows = conn.execute("SELECT trial_id, fold FROM folds").fetchall()
    conn.close()
    assert len(rows) == len(set(rows)) == 6 * 3


def test_cluster_address_from_environment(cluster, user_spec, tmp_path, invoke, monkeypatch):
    monkeypatch.setenv("HPTRACK_DASK", cluster.scheduler_address)
    result = invoke("run", user_spec, "--store", tmp_path / "env.db", "--max-trials", "2")
    assert result.exit_code == 0, result.output
    assert "2 trial(s) run now (6 folds fitted)" in result.stderr


def test_dropin_under_joblib_dask_backend(cluster, tmp_path):
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.svm import SVC

    import hptrack

    X, y = load_iris(return_X_y=True)
    grid = {"C": [0.1, 1.0, 10.0], "gamma": [0.01, 0.1]}
    serial = hptrack.GridSearchCV(SVC(), grid, cv=3, store=tmp_path / "a.db", study="svc").fit(X, y)
    with distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
        with joblib.parallel_backend("dask", client=client):
            remote = hptrack.GridSearchCV(SVC(), grid, cv=3, store=tmp_path / "b.db", study="svc")
            remote.fit(X, y)
    for key in ("split0_test_score", "split1_test_score", "split2_test_score", "rank_test_score"):
        assert list(remote.cv_results_[key]) == list(serial.cv_results_[key])
    with Store(tmp_path / "b.db", readonly=True) as store:
        assert store.study("svc").counts()["complete"] == 6


def test_unreachable_scheduler_is_one_line_and_writes_nothing(user_spec, tmp_path, invoke):
    db = tmp_path / "never.db"
    result = invoke("run", user_spec, "--store", db, "--dask", "not-a-scheduler-address::")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: cannot reach the Dask scheduler")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not db.exists()


def test_pipeline_prefixes_are_shared_on_the_cluster(cluster, write_spec, tmp_path, invoke):
    from test_prefix import CASES, PIPES

    (tmp_path / "pipes.py").write_text(PIPES)
    fixed, space = CASES["kpca_knn"]
    spec = write_spec(name="kpca", estimator="pipes:kpca_knn", data="pipes:load", fixed=fixed, space=space)
    local, remote = tmp_path / "local.db", tmp_path / "remote.db"
    assert invoke("run", spec, "--store", local, "--no-reuse").exit_code == 0
    result = invoke("run", spec, "--store", remote, "--dask", cluster.scheduler_address)
    assert result.exit_code == 0, result.output
    # each (prefix, fold) chunk runs on one worker: 2 KernelPCA settings x 3 folds fitted
    assert "pipeline prefixes: 12 step fit(s) taken from the cache, 6 fitted" in result.stderr
    assert _results(remote, invoke, "kpca") == _results(local, invoke, "kpca")
