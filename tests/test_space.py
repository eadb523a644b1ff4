"""Search spaces: grid order is ParameterGrid's; random trial i depends only on (seed, i)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.stats
from click.testing import Result
from conftest import SpecWriter
from sklearn.model_selection import ParameterGrid

from hptrack.run import plan_from_spec
from hptrack.spec import load_spec
from hptrack.spec.space import Distribution, grid_candidates, random_candidates, sample_candidate

SPACE: dict[str, Any] = {
    "C": Distribution("loguniform", low=1e-3, high=1e2),
    "tol": Distribution("uniform", low=1e-5, high=1e-3),
    "max_iter": Distribution("randint", low=50, high=60),
    "penalty": Distribution("choice", values=("l2", None)),
    "fit_intercept": [True, False],
}


# --------------------------------------------------------------------------- grid


@pytest.mark.parametrize(
    "grid",
    [
        {"C": [0.1, 1, 10]},
        {"gamma": [1e-3, 1e-2], "C": [0.1, 1, 10], "kernel": ["rbf", "linear"]},
        {"b": [1, 2], "a": ["x", "y", "z"]},
        [{"kernel": ["linear"], "C": [1, 10]}, {"kernel": ["rbf"], "gamma": [0.1, 1], "C": [1]}],
    ],
)
def test_grid_order_is_parameter_grid_order(grid: Any) -> None:
    assert grid_candidates(grid) == list(ParameterGrid(grid))


def test_spec_grid_candidates_follow_parameter_grid(write_spec: SpecWriter) -> None:
    space = {"tol": [1e-4, 1e-3], "C": [0.01, 0.1, 1.0], "fit_intercept": [True, False]}
    plan = plan_from_spec(load_spec(write_spec(space=space)))
    assert plan.candidates == list(ParameterGrid(space))
    assert len(plan.candidates) == 12


def test_grid_list_values_become_tuples(write_spec: SpecWriter) -> None:
    """TOML arrays inside a list are parameter values such as ``hidden_layer_sizes``."""
    spec = write_spec(
        estimator="sklearn.neural_network:MLPClassifier",
        fixed={"max_iter": 5},
        space={"hidden_layer_sizes": [[8], [8, 4]]},
    )
    plan = plan_from_spec(load_spec(spec))
    assert [c["hidden_layer_sizes"] for c in plan.candidates] == [(8,), (8, 4)]


# --------------------------------------------------------------------------- random


def test_random_trial_depends_only_on_seed_and_number() -> None:
    five = random_candidates(SPACE, 7, 5)
    twenty = random_candidates(SPACE, 7, 20)
    assert twenty[:5] == five
    assert [sample_candidate(SPACE, 7, i) for i in range(20)] == twenty


def test_sample_candidate_is_the_same_first_or_after_others() -> None:
    first = sample_candidate(SPACE, 3, 5)
    for number in (0, 1, 9, 4, 6, 5, 2):
        sample_candidate(SPACE, 3, number)
    np.random.seed(123)  # the global numpy state plays no part
    assert sample_candidate(SPACE, 3, 5) == first
    assert list(reversed(random_candidates(SPACE, 3, 6)))[0] == first


def test_random_trials_differ_by_number_and_seed() -> None:
    by_number = random_candidates(SPACE, 0, 10)
    assert len({json.dumps(c, sort_keys=True) for c in by_number}) == 10
    assert random_candidates(SPACE, 1, 10) != by_number


def test_random_trials_ignore_the_key_order() -> None:
    reordered = dict(reversed(list(SPACE.items())))
    assert random_candidates(reordered, 11, 8) == random_candidates(SPACE, 11, 8)


def test_list_of_spaces_picks_one_per_trial() -> None:
    spaces = [{"kernel": ["linear"], "C": [1, 10]}, {"kernel": ["rbf"], "gamma": [0.1, 1.0]}]
    trials = random_candidates(spaces, 0, 40)
    assert {c["kernel"] for c in trials} == {"linear", "rbf"}
    assert all(
        set(c) == ({"kernel", "C"} if c["kernel"] == "linear" else {"kernel", "gamma"}) for c in trials
    )
    assert random_candidates(spaces, 0, 10) == trials[:10]


# --------------------------------------------------------------------------- distributions

N_DRAWS = 2000


def _draws(dist: Any, seed: int = 0) -> list[Any]:
    return [c["x"] for c in random_candidates({"x": dist}, seed, N_DRAWS)]


@pytest.mark.parametrize(("low", "high"), [(1e-4, 1e-1), (0.5, 2.0), (1.0, 1.0000001), (3.0, 3e6)])
def test_loguniform_stays_within_bounds(low: float, high: float) -> None:
    values = _draws(Distribution("loguniform", low=low, high=high))
    assert all(type(v) is float for v in values)
    assert all(low <= v <= high for v in values)
    if high / low > 10:  # spread over the decades, not the linear range
        logs = np.log10(values)
        middle = (math.log10(low) + math.log10(high)) / 2
        assert 0.4 < np.mean(logs < middle) < 0.6


def test_uniform_stays_within_bounds() -> None:
    values = _draws(Distribution("uniform", low=-2.0, high=3))
    assert all(type(v) is float for v in values)
    assert all(-2.0 <= v <= 3 for v in values)
    assert min(values) < -1.9 and max(values) > 2.9


def test_randint_high_is_exclusive_and_ints_are_python_ints() -> None:
    values = _draws(Distribution("randint", low=-1, high=3))
    assert all(type(v) is int for v in values)
    assert set(values) == {-1, 0, 1, 2}


def test_randint_of_width_one() -> None:
    assert set(_draws(Distribution("randint", low=5, high=6))) == {5}


def test_choice_and_lists_pick_every_value() -> None:
    values = ("a", 1, None, 2.5, True)
    assert set(_draws(Distribution("choice", values=values))) == set(values)
    assert set(_draws(list(values))) == set(values)
    assert all(type(v) is int for v in _draws([1, 2, 3]))


@pytest.mark.parametrize(
    ("dist", "kind"),
    [
        (scipy.stats.randint(0, 4), int),
        (scipy.stats.uniform(0, 1), float),
        (scipy.stats.loguniform(1e-3, 1), float),
    ],
)
def test_scipy_distributions_give_python_scalars(dist: Any, kind: type) -> None:
    values = _draws(dist)
    assert all(type(v) is kind for v in values)
    assert _draws(dist) == values  # reproducible


def test_distribution_to_dict_round_trip() -> None:
    assert Distribution("loguniform", low=1e-4, high=1.0).to_dict() == {
        "dist": "loguniform",
        "low": 1e-4,
        "high": 1.0,
    }
    assert Distribution("choice", values=("a", "b")).to_dict() == {"dist": "choice", "values": ["a", "b"]}


def test_spec_random_params_respect_bounds_and_n_trials(write_spec: SpecWriter) -> None:
    space = {
        "C": {"dist": "loguniform", "low": 0.01, "high": 10.0},
        "max_iter": {"dist": "randint", "low": 100, "high": 103},
        "tol": {"dist": "uniform", "low": 1e-5, "high": 1e-3},
        "fit_intercept": {"dist": "choice", "values": [True, False]},
    }
    plan = plan_from_spec(load_spec(write_spec(search="random", n_trials=200, space=space, fixed={})))
    three = plan_from_spec(load_spec(write_spec(search="random", n_trials=3, space=space, fixed={})))
    assert plan.candidates[:3] == three.candidates  # trial i is the same whatever n_trials
    assert plan.trial_seeds[:3] == three.trial_seeds
    assert three.trial_seeds[2]["sample"] == [0, 2]
    for params in plan.candidates:
        assert 0.01 <= params["C"] <= 10.0
        assert type(params["max_iter"]) is int and 100 <= params["max_iter"] < 103
        assert 1e-5 <= params["tol"] <= 1e-3
        assert params["fit_intercept"] in (True, False)
    assert {p["max_iter"] for p in plan.candidates} == {100, 101, 102}


# --------------------------------------------------------------------------- end to end

VOLATILE = ("fit_time", "score_time", "started", "finished", "host", "pid")


def _trials_json(invoke: Callable[..., Result], db: Path) -> list[dict[str, Any]]:
    result = invoke("trials", "tiny", "--store", db, "--json")
    assert result.exit_code == 0, result.output
    return [{k: v for k, v in trial.items() if k not in VOLATILE} for trial in json.loads(result.stdout)]


def test_same_random_spec_into_two_stores_gives_identical_results(
    tmp_path: Path, write_spec: SpecWriter, invoke: Callable[..., Result]
) -> None:
    # SGDClassifier's random_state is left to the study seed: the folds' scores depend on it.
    space = {"alpha": {"dist": "loguniform", "low": 0.01, "high": 1.0}, "average": [True, False]}
    spec = write_spec(
        search="random",
        n_trials=3,
        seed=5,
        estimator="sklearn.linear_model:SGDClassifier",
        fixed={},
        space=space,
    )
    first, second = tmp_path / "first.db", tmp_path / "second.db"
    for db in (first, second):
        result = invoke("run", spec, "--store", db)
        assert result.exit_code == 0, result.output
    one, two = _trials_json(invoke, first), _trials_json(invoke, second)
    assert [t["number"] for t in one] == [0, 1, 2]
    assert all(t["status"] == "complete" for t in one)
    assert one == two
    assert [t["params"] for t in one] == random_candidates(
        {"alpha": Distribution("loguniform", low=0.01, high=1.0), "average": [True, False]}, 5, 3
    )
    assert all(len(t["scores"]["accuracy"]) == 3 for t in one)
    assert all(t["seed"]["random_state"] == 5 for t in one)


def test_distinct_random_trials_read_in_any_order_are_the_ones_read_in_order():
    """A released claim is taken again after later trials were drawn: trial 0 asked after
    trial 3 is the same trial 0 (it raised ValueError from islice)."""
    from hptrack.spec.space import lazy_random

    space = {"a": [1, 2, 3], "b": ["x", "y"]}
    in_order = lazy_random(space, 0, 5, distinct=True)
    expected = [in_order[i] for i in range(5)]
    shuffled = lazy_random(space, 0, 5, distinct=True)
    assert [shuffled[i] for i in (3, 0, 4, 1, 2)] == [expected[i] for i in (3, 0, 4, 1, 2)]
