"""verify: re-run recorded trials; exact match on the same code and data, exit 1 on drift."""

from __future__ import annotations

import json

import pytest

from hptrack import Store
from hptrack.run import choose_trials, verify_study


@pytest.fixture
def ran(write_spec, db_path, invoke):
    spec = write_spec(
        estimator="sklearn.naive_bayes:GaussianNB", fixed={}, space={"var_smoothing": [1e-9, 1e-3, 1e-1]}
    )
    assert invoke("run", spec, "--store", db_path).exit_code == 0
    return db_path


def _change_data(tmp_path):
    module = tmp_path / "tinydata.py"
    module.write_text(module.read_text().replace("return X[:300], y[:300]", "return X[:300] ** 2, y[:300]"))


def test_untouched_study_verifies_exactly(ran, invoke):
    result = invoke("verify", "tiny", "--store", ran, "--trials", "2")
    assert result.exit_code == 0, result.output
    assert "all fold scores match" in result.stdout
    report = json.loads(invoke("verify", "tiny", "--store", ran, "--trial", "1", "--json").stdout)
    assert report["ok"] is True and report["trials"] == [1]
    assert {c["delta"] for c in report["checks"]} == {0.0}


def test_changed_data_is_drift_exit_1(ran, invoke, tmp_path):
    _change_data(tmp_path)
    result = invoke("verify", "tiny", "--store", ran, "--trial", "2")
    assert result.exit_code == 1
    assert "data hash changed" in result.stdout
    assert "DRIFT" in result.stdout
    assert "drift:" in result.stderr and "trial 2 fold" in result.stderr


def test_tolerance_absorbs_drift(ran, tmp_path):
    _change_data(tmp_path)
    with Store(ran, readonly=True) as store:
        exact = verify_study(store, "tiny", trial=2)
        loose = verify_study(store, "tiny", trial=2, tolerance=1.0)
    assert not exact.ok and loose.ok
    assert loose.data_hash_then != loose.data_hash_now


@pytest.mark.parametrize(
    "args, message",
    [
        (["--trial", "9"], "has no trial 9"),
        (["--trials", "0"], "Invalid value for '--trials'"),
        (["--tolerance", "-1"], "Invalid value for '--tolerance'"),
    ],
)
def test_bad_verify_arguments_exit_2(ran, invoke, args, message):
    result = invoke("verify", "tiny", "--store", ran, *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_sample_is_seeded_and_stable():
    numbers = list(range(40))
    assert choose_trials(numbers, n=5, seed=0) == choose_trials(numbers, n=5, seed=0)
    assert len(set(choose_trials(numbers, n=5, seed=0))) == 5
    assert choose_trials(numbers, n=None, seed=0) == numbers
