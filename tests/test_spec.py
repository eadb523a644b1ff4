"""Study specs: every mistake in a TOML spec is one clear `Error:` line, and nothing is written.

The library raises :class:`SpecError` (``load_spec`` for what the file says,
``plan_from_spec`` for what needs imports or data); the CLI turns it into exit code 2
with one ``Error: ...`` line on stderr, before the store is created or opened.
"""

from __future__ import annotations

import hashlib
import re
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from conftest import BASE_SPEC, SpecWriter

from hptrack.errors import SpecError
from hptrack.run import plan_from_spec
from hptrack.spec import StudySpec, load_spec

# Loaders that go wrong in every way a user's data module can, written beside the spec.
BAD_DATA_MODULE = textwrap.dedent(
    """
    import numpy as np


    def boom():
        raise ValueError("the data server is down")


    def scalar():
        return 42


    def four():
        return 1, 2, 3, 4


    def short_y():
        X = np.zeros((30, 2))
        return X, np.zeros(29)


    def short_groups():
        X = np.zeros((30, 2))
        return X, np.arange(30) % 2, [0] * 10


    NOT_CALLABLE = [1, 2, 3]
    """
)

Invoke = Callable[..., Result]


def _random(**space: Any) -> dict[str, Any]:
    """Overrides for a random study over ``space``."""
    return {"search": "random", "n_trials": 2, "space": space}


# (overrides for write_spec, text the message must contain)
BAD_SPECS = [
    # top level
    pytest.param({"metric": ["accuracy"]}, "unknown key 'metric'; did you mean 'metrics'?", id="typo-key"),
    pytest.param(
        {"colour": "red"}, "unknown key 'colour'; remove it (accepted: name, search,", id="unknown-key"
    ),
    pytest.param({"drop": ("name",)}, "missing required key 'name'; add name = ", id="no-name"),
    pytest.param({"drop": ("search",)}, "missing required key 'search'; add search = ", id="no-search"),
    pytest.param({"drop": ("estimator",)}, "missing required key 'estimator'; add", id="no-estimator"),
    pytest.param({"drop": ("data",)}, "missing required key 'data'; add", id="no-data"),
    pytest.param({"drop": ("space",)}, "missing required key 'space'; add a [space] table", id="no-space"),
    pytest.param(
        {"search": "grd"},
        "search = 'grd' must be one of 'grid', 'random', 'halving', 'halving-random'; did you mean 'grid'?",
        id="search",
    ),
    pytest.param(
        {"search": 3},
        "search = 3 must be one of 'grid', 'random', 'halving', 'halving-random'",
        id="search-type",
    ),
    # n_trials
    pytest.param(
        {"search": "random"},
        "n_trials is required for a random search; add e.g. n_trials = 40",
        id="random-no-n_trials",
    ),
    pytest.param(
        {"search": "random", "n_trials": 0}, "n_trials = 0 must be a whole number >= 1", id="n_trials-0"
    ),
    pytest.param(
        {"search": "random", "n_trials": 2.5},
        "n_trials = 2.5 must be a whole number >= 1",
        id="n_trials-float",
    ),
    pytest.param(
        {"n_trials": 5}, "n_trials = 5 is only for search = 'random'; remove it", id="grid-n_trials"
    ),
    # [space]
    pytest.param(
        {"space": {"C": {"dist": "loguniform", "low": 0.01, "high": 1.0}}},
        "[space] C is a distribution, which only a random search can sample",
        id="grid-dist",
    ),
    pytest.param(
        _random(C={"dist": "logunifrom", "low": 0.01, "high": 1.0}),
        "[space] C: unknown distribution 'logunifrom'; did you mean 'loguniform'?",
        id="dist-name",
    ),
    pytest.param(
        _random(C={"dist": "gauss", "low": 0.01, "high": 1.0}),
        "[space] C: unknown distribution 'gauss' (one of loguniform, uniform, randint, choice)",
        id="dist-unknown",
    ),
    pytest.param(
        _random(C={"low": 0.01, "high": 1.0}),
        "[space] C = {'low': 0.01, 'high': 1.0} needs dist = ",
        id="dist-missing",
    ),
    pytest.param(
        _random(C={"dist": "uniform", "low": 1.0, "high": 1.0}),
        "[space] C: low = 1.0 must be less than high = 1.0",
        id="low-eq-high",
    ),
    pytest.param(
        _random(C={"dist": "uniform", "low": 2.0, "high": 1.0}),
        "[space] C: low = 2.0 must be less than high = 1.0",
        id="low-gt-high",
    ),
    pytest.param(
        _random(C={"dist": "loguniform", "low": 0.0, "high": 1.0}),
        "[space] C: loguniform needs low > 0, got low = 0.0",
        id="loguniform-0",
    ),
    pytest.param(
        _random(C={"dist": "loguniform", "low": -2.0, "high": -1.0}),
        "[space] C: loguniform needs low > 0, got low = -2.0",
        id="loguniform-negative",
    ),
    pytest.param(
        _random(max_iter={"dist": "randint", "low": 10, "high": 100.5}),
        "[space] max_iter: randint bounds must be whole numbers, got low = 10, high = 100.5",
        id="randint-float",
    ),
    pytest.param(
        _random(C={"dist": "uniform", "low": 0.1}),
        "[space] C: uniform needs both low and high, high is missing",
        id="no-high",
    ),
    pytest.param(
        _random(C={"dist": "uniform", "high": 1.0}),
        "[space] C: uniform needs both low and high, low is missing",
        id="no-low",
    ),
    pytest.param(
        _random(C={"dist": "uniform", "low": "a", "high": 1.0}),
        "[space] C: low = 'a' must be a finite number",
        id="low-str",
    ),
    pytest.param(
        _random(C={"dist": "uniform", "low": 0.1, "hihg": 1.0}),
        "[space] C: unknown key 'hihg' for dist = 'uniform'; did you mean 'high'?",
        id="dist-key",
    ),
    pytest.param(
        _random(C={"dist": "choice", "values": []}),
        "[space] C: choice needs values = a non-empty list",
        id="choice-empty",
    ),
    pytest.param(
        {"space": {"C": []}}, "[space] C is an empty list; give at least one value", id="empty-list"
    ),
    pytest.param({"space": {}}, "[space] is empty; give at least one parameter", id="empty-space"),
    pytest.param({"space": {"C": 1.0}}, "[space] C = 1.0 must be a list of values (e.g. [1.0])", id="scalar"),
    pytest.param(
        {"estimator": "sklearn.svm:SVC", "space": {"gama": [0.1]}},
        "[space] gama is not a parameter of SVC; did you mean 'gamma'?",
        id="space-typo",
    ),
    pytest.param(
        {"space": {"zzz": [1]}},
        "[space] zzz is not a parameter of LogisticRegression; its parameters are C, class_weight,",
        id="space-unknown",
    ),
    pytest.param(
        {"fixed": {"max_iterr": 200}},
        "[fixed] max_iterr is not a parameter of LogisticRegression; did you mean 'max_iter'?",
        id="fixed-typo",
    ),
    pytest.param(
        {"fixed": {"max_iter": 200, "C": 1.0}},
        "[fixed] C is also in [space]; keep it in one of them",
        id="fixed-and-space",
    ),
    pytest.param({"fixed": 5}, "fixed = 5 must be a [fixed] table", id="fixed-scalar"),
    # estimator
    pytest.param(
        {"estimator": "sklearn.svn:SVC"},
        "estimator = 'sklearn.svn:SVC': cannot import module 'sklearn.svn'; did you mean 'sklearn.svm'?",
        id="estimator-module-typo",
    ),
    pytest.param(
        {"estimator": "nosuchpkg:Model"},
        "estimator = 'nosuchpkg:Model': cannot import module 'nosuchpkg'; check the spelling, install "
        "it, or put nosuchpkg.py beside the spec file",
        id="estimator-no-module",
    ),
    pytest.param(
        {"estimator": "sklearn.svm:SVCC"},
        "estimator = 'sklearn.svm:SVCC': module 'sklearn.svm' has no attribute 'SVCC'; did you mean 'SVC'?",
        id="estimator-attr",
    ),
    pytest.param(
        {"estimator": "sklearn.svm.SVC"},
        "estimator = 'sklearn.svm.SVC' must be 'module:attr' (e.g. 'sklearn.svm:SVC'); did you mean "
        "'sklearn.svm:SVC'?",
        id="estimator-no-colon",
    ),
    pytest.param(
        {"estimator": "a:b:c"}, "estimator = 'a:b:c' must be 'module:attr'", id="estimator-two-colons"
    ),
    pytest.param({"estimator": 3}, "estimator = 3 must be 'module:attr'", id="estimator-type"),
    pytest.param(
        {"estimator": "sklearn.datasets:load_iris"},
        "estimator = 'sklearn.datasets:load_iris' gives a Bunch, not a scikit-learn estimator",
        id="estimator-not-estimator",
    ),
    pytest.param(
        {"estimator": "math:pi"},
        "estimator = 'math:pi' is a float, not a class or a factory function",
        id="estimator-not-callable",
    ),
    pytest.param(
        {"estimator": "sklearn.pipeline:Pipeline"},
        "estimator = 'sklearn.pipeline:Pipeline': calling it with no arguments failed: TypeError:",
        id="estimator-needs-args",
    ),
    # data
    pytest.param(
        {"data": "tinydata:lod"},
        "data = 'tinydata:lod': module 'tinydata' has no attribute 'lod'; did you mean 'load'?",
        id="data-attr",
    ),
    pytest.param(
        {"data": "tinydat:load"},
        "data = 'tinydat:load': cannot import module 'tinydat'; did you mean 'tinydata'?",
        id="data-module-typo",
    ),
    pytest.param({"data": "tinydata.load"}, "did you mean 'tinydata:load'?", id="data-no-colon"),
    pytest.param(
        {"data": "baddata:boom"},
        "data = 'baddata:boom': calling it failed: ValueError: the data server is down",
        id="data-raises",
    ),
    pytest.param(
        {"data": "baddata:scalar"},
        "data = 'baddata:scalar' returned an object of type int; it must return (X, y)",
        id="data-scalar",
    ),
    pytest.param(
        {"data": "baddata:four"},
        "data = 'baddata:four' returned an object of type tuple; it must return (X, y)",
        id="data-4-tuple",
    ),
    pytest.param(
        {"data": "baddata:short_y"},
        "data = 'baddata:short_y': X has 30 samples but y has 29",
        id="data-short-y",
    ),
    pytest.param(
        {"data": "baddata:short_groups", "cv": {"kind": "group", "folds": 2}},
        "data = 'baddata:short_groups': X has 30 samples but groups has 10",
        id="data-short-groups",
    ),
    pytest.param(
        {"data": "baddata:NOT_CALLABLE"},
        "data = 'baddata:NOT_CALLABLE' is not callable",
        id="data-not-callable",
    ),
    # metrics
    pytest.param(
        {"metrics": ["acuracy"]},
        "metrics: 'acuracy' is not a scikit-learn scorer; did you mean 'accuracy'?",
        id="metric-typo",
    ),
    pytest.param(
        {"metrics": ["f1_macro", "accuracy", "f1_macro"]}, "lists 'f1_macro' twice", id="metric-twice"
    ),
    pytest.param(
        {"metrics": []}, "metrics = [] must be a non-empty list of scorer names", id="metrics-empty"
    ),
    pytest.param({"metrics": 5}, "metrics = 5 must be a non-empty list of scorer names", id="metrics-int"),
    pytest.param({"metrics": [1]}, "metrics: 1 is not a scorer name", id="metrics-item"),
    # seed
    pytest.param({"seed": -1}, "seed = -1 must be a whole number from 0 to 2**32 - 1", id="seed-negative"),
    pytest.param({"seed": 2**32}, "seed = 4294967296 must be a whole number", id="seed-big"),
    pytest.param({"seed": 1.5}, "seed = 1.5 must be a whole number", id="seed-float"),
    pytest.param({"seed": True}, "seed = True must be a whole number", id="seed-bool"),
    pytest.param({"seed": "0"}, "seed = '0' must be a whole number", id="seed-str"),
    # name
    pytest.param({"name": ""}, "name = '' has 0 characters; use 1 to 100", id="name-empty"),
    pytest.param(
        {"name": "x" * 101},
        "name = 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'... has 101 characters; use 1 to 100",
        id="name-long",
    ),
    pytest.param(
        {"name": "a:b"}, "name = 'a:b' contains ':', which separates store and study", id="name-colon"
    ),
    pytest.param({"name": "a\x07b"}, "name = 'a\\x07b' contains a control character", id="name-control"),
    pytest.param({"name": "a\tb"}, "name = 'a\\tb' contains a control character", id="name-tab"),
    pytest.param({"name": 7}, "name = 7 must be a string", id="name-int"),
    # [cv]
    pytest.param(
        {"cv": {"kind": "stratified", "fold": 3}},
        "[cv] unknown key 'fold'; did you mean 'folds'?",
        id="cv-typo",
    ),
    pytest.param(
        {"cv": {"kind": "stratified", "n": 3}},
        "[cv] unknown key 'n'; remove it (accepted: kind, folds, shuffle, test_size)",
        id="cv-unknown",
    ),
    pytest.param(
        {"cv": {"kind": "stratifed", "folds": 3}},
        "[cv] kind = 'stratifed' must be one of kfold, "
        "stratified, group, holdout; did you mean 'stratified'?",
        id="cv-kind",
    ),
    pytest.param(
        {"cv": {"kind": "kfold", "folds": 1}}, "[cv] folds = 1 must be a whole number >= 2", id="folds-1"
    ),
    pytest.param(
        {"cv": {"kind": "kfold", "folds": 2.0}},
        "[cv] folds = 2.0 must be a whole number >= 2",
        id="folds-float",
    ),
    pytest.param(
        {"cv": {"kind": "stratified", "folds": 50}},
        "the CV splitter cannot split this data: n_splits=50 cannot be greater than the number of "
        "members in each class",
        id="folds-gt-class",
    ),
    pytest.param(
        {"cv": {"kind": "stratified", "folds": 30}},
        "The least populated class in y has only 29 members, which is less than n_splits=30",
        id="folds-gt-smallest-class",
    ),
    pytest.param(
        {"cv": {"kind": "kfold", "folds": 301}},
        "Cannot have number of splits n_splits=301 greater than the number of samples: n_samples=300",
        id="folds-gt-samples",
    ),
    pytest.param(
        {"cv": {"kind": "stratified", "folds": 3, "shuffle": "yes"}},
        "[cv] shuffle = 'yes' must be true or false",
        id="shuffle-str",
    ),
    pytest.param(
        {"cv": {"kind": "group", "folds": 3}},
        "[cv] kind = 'group' needs groups: the data loader must return (X, y, groups)",
        id="group-no-groups",
    ),
    pytest.param(
        {"data": "tinydata:load_groups", "cv": {"kind": "group", "folds": 10}},
        "greater than the number of groups: 6",
        id="group-folds",
    ),
    pytest.param(
        {"cv": {"kind": "holdout", "folds": 3}},
        "[cv] folds = 3 does not apply to kind = 'holdout' (one split); remove it and set test_size",
        id="holdout-folds",
    ),
    pytest.param(
        {"cv": {"kind": "holdout", "shuffle": False}},
        "[cv] shuffle = false does not apply to kind = 'holdout'",
        id="holdout-no-shuffle",
    ),
    pytest.param(
        {"cv": {"kind": "holdout", "test_size": 0}},
        "[cv] test_size = 0 must be a fraction between 0 and 1",
        id="test_size-0",
    ),
    pytest.param(
        {"cv": {"kind": "holdout", "test_size": 1.5}},
        "[cv] test_size = 1.5 must be a fraction between 0 and 1",
        id="test_size-big",
    ),
    pytest.param(
        {"cv": {"kind": "holdout", "test_size": "0.2"}},
        "[cv] test_size = '0.2' must be a fraction between 0 and 1",
        id="test_size-str",
    ),
    pytest.param(
        {"cv": {"kind": "kfold", "folds": 3, "test_size": 0.2}},
        "[cv] test_size = 0.2 applies only to kind = 'holdout'",
        id="test_size-kfold",
    ),
    pytest.param(
        {"cv": {"kind": "holdout", "test_size": 0.001}},
        "the CV splitter cannot split this data",
        id="test_size-tiny",
    ),
    pytest.param({"cv": 3}, "cv = 3 must be a [cv] table", id="cv-scalar"),
    # train_scores, error_score
    pytest.param(
        {"train_scores": "yes"}, "train_scores = 'yes' must be true or false", id="train_scores-str"
    ),
    pytest.param({"train_scores": 1}, "train_scores = 1 must be true or false", id="train_scores-int"),
    pytest.param(
        {"error_score": "raze"},
        "error_score = 'raze' must be a number (e.g. nan or 0) or 'raise'; did you mean 'raise'?",
        id="error_score-typo",
    ),
    pytest.param({"error_score": "zero"}, "error_score = 'zero' must be a number", id="error_score-str"),
    pytest.param({"error_score": True}, "error_score = True must be a number", id="error_score-bool"),
    pytest.param({"error_score": [0]}, "error_score = [0] must be a number", id="error_score-list"),
]


# A study that runs in a blink, for the tests that need a valid store first.
FAST: dict[str, Any] = {
    "estimator": "sklearn.naive_bayes:GaussianNB",
    "fixed": {},
    "space": {"var_smoothing": [1e-9, 1e-8]},
}


def _assert_refused(result: Result, db: Path, message: str) -> None:
    """Exit 2, one `Error:` line on stderr containing ``message``, no traceback, no store."""
    assert result.exit_code == 2, (result.output, result.stderr)
    assert "Traceback" not in result.output + result.stderr
    assert message in result.stderr, result.stderr
    assert result.stderr.startswith("Error: "), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr  # one line
    assert result.stdout == ""
    assert not db.exists()


@pytest.mark.parametrize(("overrides", "message"), BAD_SPECS)
def test_run_refuses_bad_spec(
    tmp_path: Path, write_spec: SpecWriter, invoke: Invoke, overrides: dict[str, Any], message: str
) -> None:
    (tmp_path / "baddata.py").write_text(BAD_DATA_MODULE)
    spec = write_spec(**overrides)
    db = tmp_path / "hptrack.db"
    result = invoke("run", spec, "--store", db)
    _assert_refused(result, db, message)
    assert "spec.toml" in result.stderr  # names the file


@pytest.mark.parametrize(("overrides", "message"), BAD_SPECS)
def test_library_raises_spec_error(
    tmp_path: Path, write_spec: SpecWriter, overrides: dict[str, Any], message: str
) -> None:
    (tmp_path / "baddata.py").write_text(BAD_DATA_MODULE)
    spec = write_spec(**overrides)
    with pytest.raises(SpecError, match=re.escape(message)) as info:
        plan_from_spec(load_spec(spec))
    assert str(info.value).startswith("spec.toml: ")
    assert "\n" not in str(info.value)


# What load_spec alone can tell (no import, no data): it must refuse without importing.
FILE_ERRORS = [
    pytest.param({"metric": ["accuracy"]}, "did you mean 'metrics'?", id="typo-key"),
    pytest.param({"n_trials": 5}, "n_trials = 5 is only for search = 'random'", id="grid-n_trials"),
    pytest.param({"seed": -1}, "seed = -1 must be a whole number", id="seed"),
    pytest.param({"space": {"C": []}}, "[space] C is an empty list", id="empty-list"),
    pytest.param({"estimator": "sklearn.svm.SVC"}, "did you mean 'sklearn.svm:SVC'?", id="no-colon"),
    pytest.param(
        {"cv": {"kind": "holdout", "folds": 3}}, "[cv] folds = 3 does not apply", id="holdout-folds"
    ),
]


@pytest.mark.parametrize(("overrides", "message"), FILE_ERRORS)
def test_load_spec_refuses_before_importing(
    write_spec: SpecWriter, overrides: dict[str, Any], message: str
) -> None:
    spec = write_spec(data="module_that_does_not_exist:load", **overrides)
    with pytest.raises(SpecError, match=re.escape(message)):
        load_spec(spec)


def test_valid_spec_loads(write_spec: SpecWriter) -> None:
    spec = load_spec(write_spec())
    assert spec.name == "tiny" and spec.search == "grid" and spec.metrics == ("accuracy", "f1_macro")
    assert spec.source == "spec.toml"
    assert spec.to_dict()["space"] == {"C": [0.01, 0.1, 1.0]}
    plan = plan_from_spec(spec)
    assert [c["C"] for c in plan.candidates] == [0.01, 0.1, 1.0]
    assert len(plan.splits) == 3


def test_spec_round_trips_through_to_dict(write_spec: SpecWriter, tmp_path: Path) -> None:
    """What the store keeps (``to_dict``) validates again, for ``hptrack resume``."""
    for overrides in (
        {},
        _random(C={"dist": "loguniform", "low": 0.01, "high": 1.0}, tol=[1e-4, 1e-3]),
        {"cv": {"kind": "holdout", "test_size": 0.25}},
        {"data": "tinydata:load_groups", "cv": {"kind": "group", "folds": 3}},
    ):
        spec = load_spec(write_spec(**overrides))
        again = StudySpec.from_dict(spec.to_dict(), base_dir=tmp_path, source="spec.toml")
        assert again.to_dict() == spec.to_dict()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(
            b"name = \n",
            "spec.toml: not valid TOML: Invalid value (at line 1, column 8); fix the syntax",
            id="toml-value",
        ),
        pytest.param(
            b'name = "a"\nname = "b"\n', "spec.toml: not valid TOML: Cannot overwrite a value", id="toml-dup"
        ),
        pytest.param(b"[space\nC = [1]\n", "spec.toml: not valid TOML: Expected ']'", id="toml-table"),
        pytest.param(
            b'name = "caf\xe9"\n',
            "spec.toml: not a UTF-8 text file (byte b'\\xe9' at offset 11); save it as UTF-8",
            id="latin-1",
        ),
        pytest.param(b"\xff\xfen\x00", "spec.toml: not a UTF-8 text file", id="utf-16"),
        pytest.param(b"", "spec.toml: missing required key 'name'", id="empty-file"),
        pytest.param(
            b'name = "x"\nsearch = "grid"\nwhen = 2024-01-01\n',
            "spec.toml: unknown key 'when'",
            id="unknown-date-key",
        ),
    ],
)
def test_run_refuses_unreadable_spec(tmp_path: Path, invoke: Invoke, content: bytes, message: str) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_bytes(content)
    db = tmp_path / "hptrack.db"
    _assert_refused(invoke("run", spec, "--store", db), db, message)
    with pytest.raises(SpecError, match=re.escape(message)):
        load_spec(spec)


def test_spec_with_byte_order_mark_loads(write_spec: SpecWriter) -> None:
    spec = write_spec()
    spec.write_bytes(b"\xef\xbb\xbf" + spec.read_bytes())
    assert load_spec(spec).name == "tiny"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("C = [2024-01-01]", "[space] C = 2024-01-01 is a TOML date/time; quote it", id="space"),
        pytest.param(
            'C = { dist = "uniform", low = 07:30:00, high = 1.0 }',
            "[space] C = 07:30:00 is a TOML date",
            id="dist",
        ),
    ],
)
def test_run_refuses_toml_dates(
    tmp_path: Path, write_spec: SpecWriter, invoke: Invoke, value: str, message: str
) -> None:
    spec = write_spec(search="random", n_trials=2)
    spec.write_text(spec.read_text().replace("C = [0.01, 0.1, 1.0]", value))
    db = tmp_path / "hptrack.db"
    _assert_refused(invoke("run", spec, "--store", db), db, message)


def test_fixed_date_is_refused(write_spec: SpecWriter) -> None:
    spec = write_spec()
    spec.write_text(spec.read_text().replace("max_iter = 200", "max_iter = 1979-05-27T07:32:00Z"))
    with pytest.raises(
        SpecError, match=re.escape("[fixed] max_iter = 1979-05-27T07:32:00+00:00 is a TOML date")
    ):
        load_spec(spec)


def test_run_refuses_missing_spec_file(tmp_path: Path, invoke: Invoke) -> None:
    spec = tmp_path / "nope.toml"
    db = tmp_path / "hptrack.db"
    message = f"spec file {str(spec)!r} does not exist; check the path"
    _assert_refused(invoke("run", spec, "--store", db), db, message)
    with pytest.raises(SpecError, match=re.escape(message)):
        load_spec(spec)


def test_run_refuses_directory_as_spec(tmp_path: Path, invoke: Invoke) -> None:
    spec = tmp_path / "specs"
    spec.mkdir()
    db = tmp_path / "hptrack.db"
    message = f"spec file {str(spec)!r} is a directory; give the path of a TOML study spec"
    _assert_refused(invoke("run", spec, "--store", db), db, message)
    with pytest.raises(SpecError, match=re.escape(message)):
        load_spec(spec)


def test_module_importing_missing_dependency(tmp_path: Path, write_spec: SpecWriter) -> None:
    """A user module that exists but imports an uninstalled package says which package."""
    (tmp_path / "needsdep.py").write_text("import not_installed_pkg_xyz\n\ndef load():\n    pass\n")
    spec = write_spec(data="needsdep:load")
    with pytest.raises(
        SpecError,
        match=re.escape(
            "data = 'needsdep:load': importing 'needsdep' failed: No module named 'not_installed_pkg_xyz'; "
            "install 'not_installed_pkg_xyz'"
        ),
    ):
        plan_from_spec(load_spec(spec))


def test_module_with_syntax_error(tmp_path: Path, write_spec: SpecWriter) -> None:
    (tmp_path / "brokendata.py").write_text("def load(:\n    pass\n")
    spec = write_spec(data="brokendata:load")
    with pytest.raises(SpecError, match=re.escape("importing 'brokendata' failed: SyntaxError:")) as info:
        plan_from_spec(load_spec(spec))
    assert "\n" not in str(info.value)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_bad_spec_leaves_existing_store_byte_identical(
    tmp_path: Path, write_spec: SpecWriter, invoke: Invoke
) -> None:
    db = tmp_path / "hptrack.db"
    good = invoke("run", write_spec(**FAST), "--store", db)
    assert good.exit_code == 0, good.output
    before = _digest(db)
    files = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("hptrack.db"))
    (tmp_path / "baddata.py").write_text(BAD_DATA_MODULE)
    for overrides in (
        {"space": {"gama": [0.1]}, "filename": "bad1.toml"},
        {"metrics": ["acuracy"], "filename": "bad2.toml"},
        {"data": "baddata:boom", "filename": "bad3.toml"},
        {"cv": {"kind": "stratified", "folds": 50}, "filename": "bad4.toml"},
        {"seed": -1, "filename": "bad5.toml"},
    ):
        result = invoke("run", write_spec(**overrides), "--store", db)
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith("Error: bad"), result.stderr
        assert _digest(db) == before
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("hptrack.db")) == files


def test_same_name_different_spec_leaves_store_byte_identical(
    tmp_path: Path, write_spec: SpecWriter, invoke: Invoke
) -> None:
    db = tmp_path / "hptrack.db"
    assert invoke("run", write_spec(**FAST), "--store", db).exit_code == 0
    before = _digest(db)
    result = invoke(
        "run",
        write_spec(**{**FAST, "space": {"var_smoothing": [1e-7]}}, filename="other.toml"),
        "--store",
        db,
    )
    assert result.exit_code == 2, result.output
    assert "Error: study 'tiny' exists with a different spec (changed: space.var_smoothing)" in result.stderr
    assert _digest(db) == before


# Bugs outside spec.py (see the report): kept here so that they show up as XPASS once fixed.
def test_data_loader_returning_nones(tmp_path: Path, write_spec: SpecWriter) -> None:
    (tmp_path / "nonedata.py").write_text("def load():\n    return None, None\n")
    with pytest.raises(SpecError, match=re.escape("data = 'nonedata:load'")):
        plan_from_spec(load_spec(write_spec(data="nonedata:load")))


def test_data_loader_multiline_error_is_one_line(tmp_path: Path, write_spec: SpecWriter) -> None:
    (tmp_path / "multidata.py").write_text("def load():\n    raise ValueError('first\\nsecond')\n")
    with pytest.raises(SpecError, match=re.escape("calling it failed: ValueError: first")) as info:
        plan_from_spec(load_spec(write_spec(data="multidata:load")))
    assert "\n" not in str(info.value)


def test_same_name_different_spec_is_one_error_line(
    tmp_path: Path, write_spec: SpecWriter, invoke: Invoke
) -> None:
    db = tmp_path / "hptrack.db"
    assert invoke("run", write_spec(**FAST), "--store", db).exit_code == 0
    result = invoke(
        "run",
        write_spec(**{**FAST, "space": {"var_smoothing": [1e-7]}}, filename="other.toml"),
        "--store",
        db,
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: study 'tiny' exists with a different spec")
    assert result.stderr.count("\n") == 1


def test_base_spec_is_valid() -> None:
    """The fixture spec these tests perturb is itself accepted (a sanity check)."""
    spec = StudySpec.from_dict(BASE_SPEC, base_dir=Path.cwd(), source="spec.toml")
    assert spec.cv.folds == 3
