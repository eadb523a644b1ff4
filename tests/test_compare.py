"""Comparing studies across stores: differing fields, shared configs, paired tests, the CI gate."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import BASE_SPEC, DATA_MODULE, to_toml

from hptrack import SpecError, Store, StoreError
from hptrack.cli import cli
from hptrack.query import StudyRef, compare_studies, corrected_ttest

KNN = {
    "name": "knn",
    "estimator": "sklearn.neighbors:KNeighborsClassifier",
    "fixed": {},
    "cv": {"kind": "stratified", "folds": 5, "shuffle": True},
}


def run_study(directory: Path, db: Path, *args: str, **overrides: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "tinydata.py").write_text(DATA_MODULE)
    spec = {**BASE_SPEC, **KNN, **overrides}
    path = directory / f"{spec['name']}.toml"
    path.write_text(to_toml(spec))
    result = CliRunner().invoke(cli, ["run", str(path), "--store", str(db), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return db


def invoke(*args: Any) -> Any:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """a.db: knn over 1, 3, 20 neighbours; b.db: 3, 20, 120 on the same splits; c.db: other
    shuffle seed; d.db: 3 folds; a.db also holds 'empty' (nothing run)."""
    root = tmp_path_factory.mktemp("compare")
    a = run_study(root / "a", root / "a.db", space={"n_neighbors": [1, 3, 20]})
    run_study(root / "a", a, "--max-trials", "0", name="empty", space={"n_neighbors": [1, 3]})
    b = run_study(root / "b", root / "b.db", space={"n_neighbors": [3, 20, 120]})
    c = run_study(root / "c", root / "c.db", seed=1, space={"n_neighbors": [1, 3, 20]})
    d = run_study(
        root / "d",
        root / "d.db",
        space={"n_neighbors": [1, 3, 20]},
        cv={"kind": "stratified", "folds": 3, "shuffle": True},
    )
    return {"a": a, "b": b, "c": c, "d": d}


def compare(stores: dict[str, Path], a: str, b: str, **options: Any):
    with Store(stores[a], readonly=True) as sa, Store(stores[b], readonly=True) as sb:
        return compare_studies(sa.study("knn"), sb.study("knn"), **options)


# ---------------------------------------------------------------------------- library


def test_same_splits_pair_shared_configs_and_test_the_bests(stores):
    result = compare(stores, "a", "b")
    assert result.metric == "accuracy" and result.comparable_folds
    assert result.differences["spec"] == ["space.n_neighbors"]
    assert result.differences["code"] == [] and result.differences["data"] == []
    assert sorted(s.params["n_neighbors"] for s in result.shared) == [3, 20]
    for shared in result.shared:  # the same config on the same folds scores the same
        assert shared.delta == 0.0 and shared.fold_deltas == [0.0] * 5 and shared.p_value == 1.0
    assert result.only_a == [{"n_neighbors": 1}] and result.only_b == [{"n_neighbors": 120}]
    assert result.best_a.params == {"n_neighbors": 1} and result.best_b.params == {"n_neighbors": 3}
    assert result.best_delta == pytest.approx(result.best_b.mean - result.best_a.mean)
    expected = corrected_ttest(result.best_b.scores, result.best_a.scores, test_train_ratio=0.25)
    assert result.test == expected
    assert "Nadeau & Bengio 2003" in result.test_note and "5 shared folds" in result.test_note
    assert "n_test/n_train = 1/4" in result.test_note
    assert result.regressed and not result.ok  # B's best is below A's
    assert not compare(stores, "a", "b", threshold=0.05).regressed
    assert not compare(stores, "b", "a").regressed


@pytest.mark.parametrize(
    ("other", "spec_fields", "why"),
    [("c", ["seed"], "split hash"), ("d", ["cv.folds"], "A has 5 folds, B 3")],
    ids=["other-shuffle-seed", "other-fold-count"],
)
def test_different_folds_give_no_paired_test(stores, other, spec_fields, why):
    result = compare(stores, "a", other)
    assert not result.comparable_folds and result.test is None
    assert result.differences["spec"] == spec_fields
    assert any(d.startswith("CV splits ") for d in result.differences["data"])
    assert result.test_note.startswith("no paired test: the studies' CV folds differ (")
    assert why in result.test_note
    assert len(result.shared) == 3
    assert all(s.fold_deltas is None and s.p_value is None and s.delta is not None for s in result.shared)


def test_to_dict_shape_and_frozen(stores):
    result = compare(stores, "a", "c")
    data = result.to_dict()
    json.dumps(data, allow_nan=False)
    assert set(data) >= {
        "a", "b", "metric", "differences", "comparable_folds", "shared", "only_a", "only_b",
        "best", "test", "test_note", "threshold", "regressed",
    }  # fmt: skip
    assert set(data["differences"]) == {"spec", "code", "data", "environment"}
    assert set(data["best"]) == {"a", "b", "delta"} and data["test"] is None
    assert data["a"]["store"] == str(stores["a"]) and data["b"]["name"] == "knn"
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.threshold = 1.0  # type: ignore[misc]


def test_store_compare_takes_names_or_studies(stores):
    with Store(stores["a"], readonly=True) as a, Store(stores["b"], readonly=True) as b:
        result = a.compare("knn", b.study("knn"))
        assert result.b.store == str(stores["b"]) and result.comparable_folds
        assert a.compare("knn", "knn").best_delta == 0.0
        assert a.compare("knn", "empty").best_b is None
        with pytest.raises(SpecError, match="does not record metric 'roc_auc'"):
            a.compare("knn", "knn", metric="roc_auc")
        with pytest.raises(SpecError, match="threshold = -1"):
            a.compare("knn", "knn", threshold=-1)


def test_other_metric(stores):
    result = compare(stores, "a", "b", metric="f1_macro")
    assert result.metric == "f1_macro"
    assert result.best_a.mean == max(s.a_mean for s in compare(stores, "a", "a", metric="f1_macro").shared)


@pytest.mark.parametrize(
    ("text", "store", "name"),
    [
        ("knn", "default.db", "knn"),
        ("other.db:knn", "other.db", "knn"),
        ("C:/x/o.db:knn", "C:/x/o.db", "knn"),
    ],
)
def test_study_references(text, store, name):
    ref = StudyRef.parse(text, Path("default.db"))
    assert (ref.store, ref.name) == (Path(store), name)


@pytest.mark.parametrize("text", ["other.db:", ":knn", ""])
def test_bad_study_references(text):
    with pytest.raises(SpecError, match="STORE.db:NAME"):
        StudyRef.parse(text, Path("default.db"))


# ---------------------------------------------------------------------------- command line


def test_compare_command_text(stores):
    result = invoke("compare", "knn", f"{stores['b']}:knn", "--store", stores["a"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith(f"compare A = knn ({stores['a']}) with B = knn ({stores['b']}) on accuracy")
    assert "  spec:        differs: space.n_neighbors" in out
    assert "  code:        same" in out and "  folds:       comparable (same split hash)" in out
    assert "configurations: 2 in both, 1 only in A, 1 only in B" in out
    assert "best of A: #0 accuracy" in out and "n_neighbors=1" in out
    assert "best delta (B-A): -" in out
    assert "corrected resampled t-test (Nadeau & Bengio 2003), two-sided" in out.splitlines()[-1]


def test_compare_command_json_across_two_other_stores(stores):
    result = invoke("compare", f"{stores['a']}:knn", f"{stores['c']}:knn", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["comparable_folds"] is False and data["test"] is None
    assert "no paired test" in data["test_note"]
    assert data["differences"]["spec"] == ["seed"]


def test_fail_on_regression_exit_codes(stores):
    a, b = f"{stores['a']}:knn", f"{stores['b']}:knn"
    worse = invoke("compare", a, b, "--fail-on-regression")
    assert worse.exit_code == 1
    assert worse.stderr.startswith("regression: B's best accuracy is ")
    assert "(threshold 0)" in worse.stderr
    assert invoke("compare", a, b, "--fail-on-regression", "--threshold", "0.05").exit_code == 0
    assert invoke("compare", b, a, "--fail-on-regression").exit_code == 0
    assert invoke("compare", a, a, "--fail-on-regression").exit_code == 0  # equal is no regression
    assert invoke("compare", a, b).exit_code == 0  # without the flag it only reports
    gated = invoke("compare", a, b, "--fail-on-regression", "--json")
    assert gated.exit_code == 1 and json.loads(gated.stdout)["regressed"] is True


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["knnn", "knn"], "no study named 'knnn'"),
        (["knn", "{a}:nope"], "no study named 'nope'"),
        (["knn", "{missing}:knn"], "does not exist"),
        (["knn", "{a}:"], "needs both parts: STORE.db:NAME"),
        (["knn", "knn", "--metric", "acc"], "does not record metric 'acc'"),
        (["knn", "empty", "--fail-on-regression"], "cannot check for a regression: study 'empty'"),
        (["knn", "knn", "--threshold", "-1"], "-1"),
    ],
)
def test_compare_bad_input_is_one_line_exit_2(stores, tmp_path, args, message):
    values = {"a": stores["a"], "missing": tmp_path / "missing.db"}
    result = invoke("compare", *[arg.format(**values) for arg in args], "--store", stores["a"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.stderr
    assert result.stdout == ""


def test_compare_never_writes_the_stores(stores):
    before = {k: p.read_bytes() for k, p in stores.items()}
    assert invoke("compare", f"{stores['a']}:knn", f"{stores['d']}:knn").exit_code == 0
    assert {k: p.read_bytes() for k, p in stores.items()} == before
    assert not any(p.with_name(p.name + "-wal").exists() for p in stores.values())


def test_compare_imports_neither_sklearn_nor_scipy(stores):
    code = (
        "import sys; from hptrack.cli import cli\n"
        f"cli(['compare', 'knn', {str(stores['b']) + ':knn'!r}, '--store', {str(stores['a'])!r}],"
        " standalone_mode=False)\n"
        "bad = [m for m in ('sklearn', 'pandas', 'scipy', 'jinja2') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    assert done.returncode == 0, done.stderr


def test_store_error_type_for_missing_store(tmp_path, stores):
    from hptrack.query import open_refs

    with pytest.raises(StoreError, match="missing.db"):
        with open_refs(StudyRef(stores["a"], "knn"), StudyRef(tmp_path / "missing.db", "knn")):
            pass
