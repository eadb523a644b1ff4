"""Digests of canonical values are pinned: a hash changes only when someone means it to.

Every stored identity (study spec, data, splits, fold keys) is a sha256 of canonical
JSON or of array bytes; if one of these digests changes, every store written before
stops matching (no reuse, resume refused). Changing one is a deliberate, documented
act: update the digest here in the same commit that explains why.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import BaseEstimator

from hptrack._json import canonical_json, describe, hash_value, identity_params, sha256_text
from hptrack.identity import (
    data_fingerprint,
    fold_key,
    fold_key_base,
    fold_keys,
    fold_split_hash,
    split_fingerprint,
)


class Model(BaseEstimator):
    """An estimator whose params do not change with the scikit-learn version."""

    def __init__(self, alpha: float = 1.0, n_jobs: Any = None, verbose: int = 0) -> None:
        self.alpha = alpha
        self.n_jobs = n_jobs
        self.verbose = verbose

    def fit(self, X: Any, y: Any = None) -> Model:
        return self


CANONICAL = [
    (
        {"kernel": "rbf", "C": 1, "gamma": 0.001},
        '{"C":1,"gamma":0.001,"kernel":"rbf"}',
        "2a0e56aa9e6f8a470ce94a0caa0160da945da124d48003d75f8546faed146364",
    ),
    (
        [1.0, 1, True, None, math.nan, math.inf],
        '[1.0,1,true,null,"NaN","Infinity"]',
        "7c3ea1d32d63b2ff9400c3925324f79817a2fdfeb8b32834ff179e502e04c4ef",
    ),
    (
        {"a": np.float64(0.5), "b": np.int64(3), "c": np.array([1, 2]), "t": (1, 2)},
        '{"a":0.5,"b":3,"c":[1,2],"t":[1,2]}',
        None,
    ),
]


@pytest.mark.parametrize(("value", "text", "digest"), CANONICAL)
def test_canonical_json_and_its_digest_are_pinned(value: Any, text: str, digest: str | None) -> None:
    assert canonical_json(value) == text
    assert hash_value(value) == sha256_text(text)
    if digest is not None:
        assert hash_value(value) == digest


def test_an_estimator_as_a_value_is_its_class_and_identity_params() -> None:
    text = canonical_json(Model(alpha=2.0, n_jobs=4, verbose=3))
    assert text == f'{{"class":"{__name__}.Model","params":{{"alpha":2.0}}}}'
    assert canonical_json(Model(alpha=2.0)) == text  # n_jobs and verbose are process-local


def test_process_local_params_are_dropped_at_any_depth() -> None:
    params = {"C": 1, "n_jobs": 2, "clf__verbose": 1, "memory": "/tmp/cache", "pre_dispatch": 4}
    assert identity_params(params) == {"C": 1}


def test_data_fingerprint_is_pinned() -> None:
    X = np.arange(12, dtype=np.float64).reshape(4, 3)
    y = np.array([0, 1, 0, 1], dtype=np.int64)
    digest, described = data_fingerprint({"X": X, "y": y, "groups": None})
    assert digest == "a70bc08fda18da35db5a7a8cb08484baa5a5b609d112828e2fa8b56e124f370f"
    assert described == [
        {"name": "X", "type": "array", "shape": [4, 3], "dtype": "float64"},
        {"name": "groups", "type": "none"},
        {"name": "y", "type": "array", "shape": [4], "dtype": "int64"},
    ]
    assert data_fingerprint({"X": X, "y": y[::-1].copy(), "groups": None})[0] != digest


def test_split_and_fold_digests_are_pinned() -> None:
    splits = [(np.array([0, 1]), np.array([2, 3])), (np.array([2, 3]), np.array([0, 1]))]
    assert split_fingerprint(splits) == "9448b9e6131feacc6a01da421103b846ba7f68ad4022310155d03e37d0b5e099"
    first = fold_split_hash(*splits[0])
    assert first == "e45291b5979c3cc9744257f23f970344fb1a47e6e60677ea3144adb7fce4f2c7"
    base = fold_key_base(
        estimator=Model(alpha=0.5),
        estimator_version="1.0",
        code_hash="c" * 64,
        data_hash="d" * 64,
        train_scores=False,
        error_score=math.nan,
    )
    key = fold_key(base, {"alpha": 1}, first)
    assert base == "8eefea4ae88401332be1fda1dd5fcb0680633dc5a4530ed5982d494437ad1e63"
    assert key == "e9ea5475ca3e0bf5d6600cdaab3e6692a8ad2b75f6fdb0a24c849ee2ec5f0bef"
    assert fold_key(base, {"alpha": 1.0}, first) != key  # 1 and 1.0 stay distinct


@pytest.mark.parametrize(
    "params",
    [
        {"alpha": 1},
        {"kernel": 'r"b\\f\u00e9\n', "gamma": [0.1, None, True], "nested": {"b": 1, "a": range(3)}},
        {"z": np.float64(0.25), "a": {"set": 1}, "C": float("inf")},
        {},
    ],
)
def test_fold_keys_of_several_folds_equal_the_canonical_key_of_each(params: dict[str, Any]) -> None:
    base, splits = "b" * 64, ["s" * 64, "t" * 64, 'a "quoted" split']
    expected = [
        sha256_text(canonical_json({"base": base, "params": params, "split": split})) for split in splits
    ]
    assert fold_keys(base, params, splits) == expected
    assert [fold_key(base, params, split) for split in splits] == expected


# Issue 12: values scikit-learn accepts get forms of their own (the forms above are unchanged).
NEW_FORMS = [
    (
        range(1, 10, 2),
        '{"range":[1,10,2]}',
        "2ca7aaf3c7bad50dfcb512212ae89eb717bba9d1ec31bbfe7346b42d61e548b2",
    ),
    ({3, 1, 2}, '{"set":[1,2,3]}', "d107ad2e6f03cbdf9f12d1184fcefea0dd6dcc83404ab2ff4a4c8e630402501a"),
    (
        np.random.RandomState(0),  # MT19937's seeding is fixed by numpy's stream-compatibility policy
        '{"rng":"RandomState","state":"4d97bb9998a08d313625bea2c7276e92db02d5f39758c71bc6100b889328384f"}',
        "24456230a3f7e99404bceef8a255f6235c1f8001b0ca2469d2887cc60b5422db",
    ),
    (
        sp.coo_matrix(([1.0, 2.0, 3.0], ([0, 1, 2], [2, 0, 1])), shape=(3, 3)),
        '{"sparse":{"dtype":"<f8","sha256":"9b6fe2a9710c4c82505ba2c3b5f731ae99c21b2ac62f3a9c45053628562b09ec",'
        '"shape":[3,3]}}',
        "10eac4cb5678c1df7dcb055f95a7067f99bd4e3c9ae267c0aabad2f204609959",
    ),
]


@pytest.mark.parametrize(
    ("value", "text", "digest"), NEW_FORMS, ids=["range", "set", "RandomState", "sparse"]
)
def test_new_value_forms_and_their_digests_are_pinned(value: Any, text: str, digest: str) -> None:
    assert canonical_json(value) == text
    assert hash_value(value) == digest


def test_a_sparse_matrix_is_hashed_whatever_its_format() -> None:
    dense = np.array([[0.0, 2.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 3.0]])
    forms = [sp.coo_matrix(dense), sp.csc_matrix(dense), sp.csr_array(dense), sp.lil_matrix(dense)]
    with_duplicates = sp.coo_matrix(([1.0, 1.0, 2.0, 3.0], ([1, 1, 0, 2], [0, 0, 1, 2])), shape=(3, 3))
    assert len({canonical_json(m) for m in [*forms, with_duplicates * 1]}) == 2  # duplicates: 1+1
    assert canonical_json(with_duplicates) == canonical_json(sp.coo_matrix(dense * [[1], [2], [1]]))
    assert canonical_json(sp.csr_matrix(dense, dtype=np.float32)) != canonical_json(forms[0])


def test_a_random_state_is_its_state_when_fingerprinted() -> None:
    rng = np.random.RandomState(0)
    before = canonical_json(rng)
    assert canonical_json(np.random.RandomState(0)) == before != canonical_json(np.random.RandomState(1))
    rng.rand()  # a fit draws from it: another state, another identity
    assert canonical_json(rng) != before
    assert canonical_json(np.random.default_rng(3)) == canonical_json(np.random.default_rng(3))
    assert canonical_json(np.random.default_rng(3)) != canonical_json(np.random.default_rng(4))


def test_arrays_small_as_lists_large_as_digests() -> None:
    assert canonical_json(np.array([[1, 2], [3, 4]])) == "[[1,2],[3,4]]"
    large = np.arange(2000, dtype=np.int32).reshape(40, 50)
    text = canonical_json(large)
    assert text.startswith('{"array":{"dtype":"<i4","sha256":"') and text.endswith('"shape":[40,50]}}')
    assert canonical_json(np.asfortranarray(large)) == text  # the content counts, not the layout
    assert canonical_json(large.astype(np.int64)) != text
    assert canonical_json(np.array(["a", None], dtype=object)) == '["a",null]'


def test_kernels_classes_memory_and_bytes_have_stable_forms(tmp_path: Path) -> None:
    from joblib import Memory
    from sklearn.gaussian_process.kernels import RBF, ExpSineSquared
    from sklearn.svm import SVC

    kernel = ExpSineSquared(1.0, 5.0) + RBF(2.0)
    assert canonical_json(kernel) == canonical_json(ExpSineSquared(1.0, 5.0) + RBF(2.0))
    assert canonical_json(kernel) != canonical_json(ExpSineSquared(1.0, 6.0) + RBF(2.0))
    assert json.loads(canonical_json(kernel))["class"] == "sklearn.gaussian_process.kernels.Sum"
    assert canonical_json(SVC) == '{"callable":"sklearn.svm._classes.SVC"}'
    assert canonical_json(Memory(tmp_path / "a", verbose=0)) == canonical_json(
        Memory(tmp_path / "b", verbose=0)
    )
    assert canonical_json(b"ab") != canonical_json(b"ba")


def test_a_value_with_no_stable_identity_is_described_or_refused() -> None:
    class Opaque:
        pass

    value = {"a": [1, Opaque()], "b": {Opaque()}}
    with pytest.raises(TypeError, match=r"cannot fingerprint a Opaque \(<.*Opaque object>\)"):
        canonical_json(value)
    text, unstable = describe(value)
    marker = {
        "unhashable": f"{__name__}.{Opaque.__qualname__}",
        "repr": f"<{__name__}.{Opaque.__qualname__} object>",
    }
    assert json.loads(text) == {"a": [1, marker], "b": {"set": [marker]}}
    assert unstable == [f"a[1]: {marker['repr']}", f"b{{}}: {marker['repr']}"]
    assert describe({"C": 1}) == (canonical_json({"C": 1}), [])


def test_a_tuple_of_arrays_as_a_fit_param_is_fingerprinted_item_by_item() -> None:
    X = np.arange(8, dtype=np.float64).reshape(4, 2)
    y = np.array([0, 1, 0, 1])
    digest, described = data_fingerprint({"X": X, "fit:eval_set": (X, y)})
    (item,) = [d for d in described if d["name"] == "fit:eval_set"]
    assert item["type"] == "sequence" and item["shape"] == [2]
    assert [part["shape"] for part in item["items"]] == [[4, 2], [4]]
    assert data_fingerprint({"X": X, "fit:eval_set": (X, y[::-1].copy())})[0] != digest
    assert data_fingerprint({"X": X, "fit:eval_set": (X, y)})[0] == digest


class _OwnParams(BaseEstimator):
    """An estimator whose get_params is not scikit-learn's."""

    def __init__(self, a: int = 1) -> None:
        self.a = a

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"a": self.a, "extra": "reported"}


def test_shallow_params_are_get_params_of_any_estimator() -> None:
    from sklearn.gaussian_process.kernels import RBF, ExpSineSquared
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from hptrack._json import shallow_params

    values = [
        SVC(C=3, kernel="linear"),
        Model(alpha=0.25, n_jobs=2),
        make_pipeline(StandardScaler(), SVC()),
        RBF(2.0) + ExpSineSquared(),
        _OwnParams(a=5),
    ]
    for value in values * 2:  # the second time from what was kept per class
        assert shallow_params(value) == value.get_params(deep=False)
    changed = SVC(C=3)
    changed.set_params(C=7)
    assert shallow_params(changed)["C"] == 7


def test_deep_params_are_get_params_deep_of_any_estimator() -> None:
    """Keys, values and scikit-learn's order, nested estimators and overridden get_params included."""
    from sklearn.ensemble import BaggingClassifier
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ExpSineSquared
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from hptrack._json import deep_params

    values = [
        SVC(C=3, kernel="linear"),
        BaggingClassifier(SVC(gamma=0.5), n_estimators=3),
        GaussianProcessRegressor(RBF(2.0) + ExpSineSquared()),
        make_pipeline(StandardScaler(), BaggingClassifier(SVC())),
        _OwnParams(a=5),
        Model(alpha=0.25, n_jobs=2),
    ]
    for value in values * 2:  # the second time from the names kept per class
        expected = value.get_params(deep=True)
        assert list(deep_params(value).items()) == list(expected.items())
    assert canonical_json(_OwnParams(a=5)) == (
        '{"class":"test_fingerprint._OwnParams","params":{"a":5,"extra":"reported"}}'
    )


def test_estimator_repr_kept_per_process_is_repr_whatever_changed() -> None:
    """The provenance's repr of a drop-in's estimator, kept per class and plain params: equal
    to ``repr`` after a set_params, under either print setting, for a class defined again with
    other defaults under the same name, and for params it does not keep (an estimator)."""
    import sklearn
    from sklearn.base import BaseEstimator
    from sklearn.ensemble import BaggingClassifier
    from sklearn.svm import SVC

    from hptrack.run.reprs import estimator_repr

    def defined(default: float) -> type:
        class Tuned(BaseEstimator):
            def __init__(self, alpha: float = default, kind: str = "a") -> None:
                self.alpha, self.kind = alpha, kind

        return Tuned

    first, again = defined(1.0), defined(2.0)  # a notebook cell run twice, edited between
    values = [SVC(), SVC(C=3), SVC(C=3.0), first(alpha=2.0), again(alpha=2.0), BaggingClassifier(SVC(C=2))]
    for changed_only in (True, False):
        with sklearn.config_context(print_changed_only=changed_only):
            for value in values * 2:
                assert estimator_repr(value) == repr(value)
    svc = SVC(C=3)
    estimator_repr(svc)
    svc.set_params(C=5, kernel="linear")
    assert estimator_repr(svc) == repr(svc) == "SVC(C=5, kernel='linear')"
    assert estimator_repr(first(alpha=2.0)) != estimator_repr(again(alpha=2.0))
