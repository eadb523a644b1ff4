"""The examples run as a new user would run them: real processes, small budgets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def hptrack(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hptrack", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        env={**os.environ, "PYTHONWARNINGS": "error::DeprecationWarning"},
    )


@pytest.mark.parametrize(
    "spec, name, budget",
    [
        ("digits_svc.toml", "digits-svc", 2),
        ("digits_pipeline.toml", "digits-pca-svc", 1),
        ("mlp_random.toml", "digits-mlp", 1),
    ],
)
def test_example_spec_runs(tmp_path, spec, name, budget):
    done = hptrack(
        "run", EXAMPLES / spec, "--store", tmp_path / "ex.db", "--max-trials", budget, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    best = hptrack("best", name, "--store", tmp_path / "ex.db", "--json", cwd=tmp_path)
    assert best.returncode == 0, best.stderr
    assert json.loads(best.stdout)["rank"] == 1


def test_halving_example_runs_its_rungs(tmp_path):
    db = tmp_path / "ex.db"
    done = hptrack("run", EXAMPLES / "digits_halving.toml", "--store", db, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    info = json.loads(hptrack("show", "digits-svc-halving", "--store", db, "--json", cwd=tmp_path).stdout)
    assert [(r["n_trials"], r["resource"]) for r in info["rungs"]] == [(16, 199), (6, 597), (2, 1791)]
    best = json.loads(hptrack("best", "digits-svc-halving", "--store", db, "--json", cwd=tmp_path).stdout)
    assert best["rung"] == 2 and best["resource"] == 1791


def test_mlp_example_covers_the_textbook_space(tmp_path):
    done = hptrack(
        "run", EXAMPLES / "mlp_random.toml", "--store", tmp_path / "ex.db", "--max-trials", "0", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    info = json.loads(
        hptrack("show", "digits-mlp", "--store", tmp_path / "ex.db", "--json", cwd=tmp_path).stdout
    )
    assert set(info["spec"]["space"]) == {
        "mlp__learning_rate_init",
        "mlp__batch_size",
        "mlp__hidden_layer_sizes",
        "mlp__alpha",
    }
    assert info["metrics"] == ["accuracy", "precision_macro", "recall_macro", "f1_macro"]
    assert "models.py" in info["code"]["sources"]  # the user's factory module is hashed


def test_python_api_example(tmp_path):
    db = tmp_path / "api.db"
    done = subprocess.run(
        [sys.executable, EXAMPLES / "python_api.py", db],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "best params {'logisticregression__C':" in done.stdout
    studies = json.loads(hptrack("studies", "--store", db, "--json", cwd=tmp_path).stdout)
    assert [s["name"] for s in studies] == ["breast-cancer-lr"]
    assert studies[0]["n_complete"] == 4


def _run_objective_example(tmp_path, spec, name):
    db = tmp_path / "ex.db"
    done = hptrack("run", EXAMPLES / spec, "--store", db, "--max-trials", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    info = json.loads(hptrack("show", name, "--store", db, "--json", cwd=tmp_path).stdout)
    assert set(info["spec"]["space"]) == {"learning_rate", "batch_size", "n_layers", "units", "l2"}
    assert info["spec"]["objective"] == f"{spec.removesuffix('.toml')}:objective"
    curves = json.loads(hptrack("curves", name, "0", "--store", db, "--json", cwd=tmp_path).stdout)
    assert len(curves) == 3  # one per fold, a point per epoch
    assert all(c["steps"] == list(range(15)) for c in curves)
    assert set(curves[0]["values"]) == {"train_loss", "val_loss", "val_accuracy"}
    verify = hptrack("verify", name, "--trials", "1", "--store", db, cwd=tmp_path)
    assert verify.returncode == 0, verify.stdout + verify.stderr  # seeded from fold.seed: bit for bit


def test_numpy_mlp_objective_example(tmp_path):
    _run_objective_example(tmp_path, "numpy_mlp.toml", "digits-numpy-mlp")


def test_torch_mlp_objective_example(tmp_path):
    pytest.importorskip("torch")
    _run_objective_example(tmp_path, "mlp_torch.toml", "digits-torch-mlp")
