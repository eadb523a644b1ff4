"""Messages that fit the problem (issue 24, item 2): each names what is actually wrong.

Groups with a CV kind that ignores them, GroupKFold's shuffle, a pending trial asked for by
number, a ``params=`` filter that cannot match, pending trials listed without ``--limit``,
a Dask scheduler that refuses the connection, and importance without an interval.
"""

from __future__ import annotations

import inspect
import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from conftest import SpecWriter
from sklearn.datasets import load_digits
from sklearn.model_selection import GroupKFold

from hptrack import Store
from hptrack.errors import SpecError, TrialNotFoundError
from hptrack.run import plan_from_spec
from hptrack.spec import load_spec

Invoke = Callable[..., Result]

GROUPS = {"data": "tinydata:load_groups"}


def _refused(result: Result, db: Path, message: str) -> None:
    """Exit 2, one `Error:` line containing ``message``, nothing on stdout, no store written."""
    assert result.exit_code == 2, (result.output, result.stderr)
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr, result.stderr
    assert result.stdout == ""
    assert not db.exists()


# ------------------------------------------------------------------ groups with another kind


@pytest.mark.parametrize(
    ("cv", "named"),
    [
        ({"kind": "kfold", "folds": 3}, "[cv] kind = 'kfold' ignores them"),
        ({"kind": "stratified", "folds": 3}, "[cv] kind = 'stratified' ignores them"),
        ({"kind": "holdout"}, "[cv] kind = 'holdout' ignores them"),
        ({"folds": 3}, "[cv] kind (default 'stratified') ignores them"),
    ],
)
def test_groups_with_a_kind_that_ignores_them_name_kind_group(
    write_spec: SpecWriter, invoke: Invoke, tmp_path: Path, cv: dict[str, Any], named: str
) -> None:
    db = tmp_path / "hptrack.db"
    result = invoke("run", write_spec(cv=cv, **GROUPS), "--store", db)
    _refused(result, db, f"data = 'tinydata:load_groups' returned groups (X, y, groups), but {named}")
    assert 'set [cv] kind = "group"' in result.stderr
    assert "test_size" not in result.stderr and "fewer" not in result.stderr  # no fix that cannot help


def test_group_kfold_shuffles_with_the_study_seed_where_scikit_learn_can(
    write_spec: SpecWriter, invoke: Invoke, tmp_path: Path
) -> None:
    db = tmp_path / "hptrack.db"
    spec = write_spec(cv={"kind": "group", "folds": 3, "shuffle": True}, **GROUPS)
    if "shuffle" not in inspect.signature(GroupKFold).parameters:  # scikit-learn < 1.6
        result = invoke("run", spec, "--store", db)
        _refused(result, db, "[cv] shuffle = true with kind = 'group' needs scikit-learn >= 1.6")
        return
    plan = plan_from_spec(load_spec(spec))
    X, y = load_digits(return_X_y=True)  # as tinydata:load_groups
    groups = [i % 6 for i in range(300)]
    expected = GroupKFold(n_splits=3, shuffle=True, random_state=0).split(X[:300], y[:300], groups)
    assert [(list(a), list(b)) for a, b in plan.splits] == [(list(a), list(b)) for a, b in expected]
    unshuffled = plan_from_spec(
        load_spec(write_spec(cv={"kind": "group", "folds": 3}, filename="plain.toml", **GROUPS))
    )
    assert [list(b) for _, b in plan.splits] != [list(b) for _, b in unshuffled.splits]
    assert invoke("run", spec, "--store", db).exit_code == 0
    with Store(db, readonly=True) as store:
        assert store.study("tiny").spec["cv"] == {"kind": "group", "folds": 3, "shuffle": True}


# ------------------------------------------------------------------ a pending trial by number


def _partly_run(write_spec: SpecWriter, invoke: Invoke, db: Path) -> None:
    """'tiny' (3 grid trials) with only trial 0 run: trials 1 and 2 were never claimed."""
    result = invoke("run", write_spec(), "--store", db, "--max-trials", "1")
    assert result.exit_code == 0, result.output


def test_show_and_verify_of_a_pending_trial_say_pending(
    write_spec: SpecWriter, invoke: Invoke, tmp_path: Path
) -> None:
    db = tmp_path / "hptrack.db"
    _partly_run(write_spec, invoke, db)
    pending = f"trial 2 of study 'tiny' is pending (not run yet); continue the study with `hptrack resume tiny --store {db}`"
    for args in (("show", "tiny", "2"), ("show", "tiny", "2", "--json"), ("verify", "tiny", "--trial", "2")):
        result = invoke(*args, "--store", db)
        assert result.exit_code == 2 and result.stderr == f"Error: {pending}\n", result.stderr
        assert result.stdout == ""
    outside = invoke("show", "tiny", "3", "--store", db)
    assert outside.exit_code == 2
    assert outside.stderr == "Error: study 'tiny' has no trial 3 (trials are numbered 0 to 2)\n"
    with Store(db, readonly=True) as store:
        with pytest.raises(TrialNotFoundError, match="is pending"):
            store.study("tiny").trial(1)
        assert store.study("tiny").trial(0).status == "complete"


# ------------------------------------------------------------------ params= filters


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"c": 0.1}, "study 'tiny' has no parameter 'c'; did you mean 'C'? (recorded: C)"),
        ({"CC": 0.1}, "study 'tiny' has no parameter 'CC'; did you mean 'C'? (recorded: C)"),
        ({1: 0.1}, "study 'tiny' has no parameter 1 (recorded: C)"),
        ({"C": "0.1"}, "params 'C' = '0.1' never matches: its recorded values are numbers (e.g. 0.01)"),
        ({"C": None}, "params 'C' = None never matches: its recorded values are numbers"),
        ({"max_iter": 200}, "study 'tiny' does not search 'max_iter': it is fixed to 200 for every trial"),
    ],
)
def test_a_params_filter_that_cannot_match_says_why(
    write_spec: SpecWriter, invoke: Invoke, tmp_path: Path, params: dict[Any, Any], message: str
) -> None:
    db = tmp_path / "hptrack.db"
    assert invoke("run", write_spec(), "--store", db).exit_code == 0
    with Store(db, readonly=True) as store:
        study = store.study("tiny")
        with pytest.raises(SpecError) as info:
            study.trials(params=params)
        assert message in str(info.value) and "\n" not in str(info.value)
        assert [t.number for t in study.trials(params={"C": 0.1})] == [1]  # a good filter still works
        assert study.trials(params={"C": 5.0}) == []  # a value of the right type that no trial has
        with pytest.raises(SpecError, match=r"has no metric 'acuracy'; did you mean 'accuracy'\?"):
            study.trials(sort="acuracy")  # the same message, from the same helper


# ------------------------------------------------------------------ pending without --limit


def test_pending_trials_are_listed_without_limit(write_spec: SpecWriter, invoke: Invoke, tmp_path: Path) -> None:
    db = tmp_path / "hptrack.db"
    _partly_run(write_spec, invoke, db)
    listed = invoke("trials", "tiny", "--store", db, "--status", "pending", "--json")
    assert listed.exit_code == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(t["number"], t["params"], t["status"]) for t in rows] == [
        (1, {"C": 0.1}, "pending"),
        (2, {"C": 1.0}, "pending"),
    ]
    text = invoke("trials", "tiny", "--store", db, "--status", "pending")
    assert [line.split()[0] for line in text.stdout.splitlines()[2:4]] == ["1", "2"]
    top = json.loads(invoke("trials", "tiny", "--store", db, "--status", "pending", "--top", "1", "--json").stdout)
    assert [t["number"] for t in top] == [1]
    csv = invoke("trials", "tiny", "--store", db, "--status", "pending", "--csv").stdout.splitlines()
    assert [line.split(",")[:3] for line in csv[1:]] == [["1", "pending", "0.1"], ["2", "pending", "1.0"]]


def test_too_many_pending_trials_without_limit_is_an_error_naming_limit(
    write_spec: SpecWriter, invoke: Invoke, tmp_path: Path
) -> None:
    db = tmp_path / "hptrack.db"
    spec = write_spec(space={"C": [0.01 + i for i in range(1002)]})
    assert invoke("run", spec, "--store", db, "--max-trials", "1").exit_code == 0
    result = invoke("trials", "tiny", "--store", db, "--status", "pending", "--json")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == (
        "Error: study 'tiny' has 1001 pending trials, more than --status pending lists without --limit "
        f"(1000); page through them with `hptrack trials tiny --store {db} --status pending --limit 100 "
        "--offset 0`\n"
    )
    page = json.loads(
        invoke("trials", "tiny", "--store", db, "--status", "pending", "--limit", "2", "--json").stdout
    )
    assert [t["number"] for t in page] == [1, 2]


# ------------------------------------------------------------------ Dask: connection refused


def test_a_refused_dask_address_fails_at_once(write_spec: SpecWriter, invoke: Invoke, tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    db = tmp_path / "hptrack.db"
    with socket.socket() as bound:  # bound, never listening: a connection to it is refused
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        result = invoke("run", write_spec(), "--store", db, "--dask", f"tcp://127.0.0.1:{port}")
    _refused(result, db, f"cannot reach the Dask scheduler at 'tcp://127.0.0.1:{port}': connection refused")
    assert f"`dask scheduler --port {port}`" in result.stderr
    assert "Timed out" not in result.stderr  # answered by the refusal, not after the client's timeout


def test_a_malformed_dask_address_is_one_line(write_spec: SpecWriter, invoke: Invoke, tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    db = tmp_path / "hptrack.db"
    result = invoke("run", write_spec(), "--store", db, "--dask", "tcp://127.0.0.1")
    _refused(result, db, "cannot reach the Dask scheduler at 'tcp://127.0.0.1': missing port number")


# ------------------------------------------------------------------ importance with one fold


def test_importance_with_one_fold_has_no_interval(write_spec: SpecWriter, invoke: Invoke, tmp_path: Path) -> None:
    db = tmp_path / "hptrack.db"
    assert invoke("run", write_spec(cv={"kind": "holdout"}), "--store", db).exit_code == 0
    text = invoke("importance", "tiny", "--store", db)
    assert text.exit_code == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[1] == "no intervals: one fold"
    assert lines[3].split() == ["parameter", "share"] and "interval" not in "\n".join(lines[2:])
    data = json.loads(invoke("importance", "tiny", "--store", db, "--json").stdout)
    assert data["n_folds"] == 1 and data["resamples"] == 0
    assert [(p["low"], p["high"]) for p in data["params"]] == [(None, None)]  # null: no interval
    with Store(db, readonly=True) as store:
        (share,) = store.study("tiny").importance().params
        assert share.low is None and share.high is None
    report = tmp_path / "r.html"
    assert invoke("report", "tiny", "--store", db, "-o", report).exit_code == 0
    html = report.read_text()
    assert "one fold: no interval" in html and 'class="interval"' not in html
    # with folds, the interval is there in both
    assert invoke("run", write_spec(name="folds"), "--store", db).exit_code == 0
    folds = invoke("importance", "folds", "--store", db).stdout.splitlines()
    assert folds[3].split() == ["parameter", "share", "95%", "interval"]
    (item,) = json.loads(invoke("importance", "folds", "--store", db, "--json").stdout)["params"]
    assert item["low"] <= item["share"] <= item["high"]
