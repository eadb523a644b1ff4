"""Search spaces: grid order and reproducible random sampling.

Grid trials follow ``sklearn.model_selection.ParameterGrid`` order. Random trial ``i``
is drawn from ``np.random.default_rng(np.random.SeedSequence([seed, i]))`` alone, so it
has the same params whatever ran before it and in whatever order workers finish.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

DISTRIBUTIONS = ("loguniform", "uniform", "randint", "choice")


@dataclass(frozen=True)
class Distribution:
    """A distribution declared in a TOML spec: ``{dist = "loguniform", low = 1e-4, high = 1}``."""

    kind: str
    low: float | int | None = None
    high: float | int | None = None
    values: tuple[Any, ...] | None = None

    def sample(self, rng: np.random.Generator) -> Any:
        """One value drawn with ``rng``, as a plain Python scalar."""
        if self.kind == "loguniform":
            assert self.low is not None and self.high is not None
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
            # exp(log(x)) may round one ulp outside [low, high]: keep the bounds exact
            return float(min(max(value, self.low), self.high))
        if self.kind == "uniform":
            assert self.low is not None and self.high is not None
            return float(rng.uniform(self.low, self.high))
        if self.kind == "randint":
            assert self.low is not None and self.high is not None
            return int(rng.integers(int(self.low), int(self.high)))
        assert self.values is not None
        return self.values[int(rng.integers(len(self.values)))]

    def to_dict(self) -> dict[str, Any]:
        """The TOML form of this distribution."""
        if self.kind == "choice":
            return {"dist": "choice", "values": list(self.values or ())}
        return {"dist": self.kind, "low": self.low, "high": self.high}


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def grid_candidates(
    param_grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """Every configuration of a grid, in ``ParameterGrid`` order (keys sorted)."""
    from sklearn.model_selection import ParameterGrid

    return [dict(params) for params in ParameterGrid(param_grid)]


def sample_candidate(
    distributions: Mapping[str, Any] | Sequence[Mapping[str, Any]], seed: int, number: int
) -> dict[str, Any]:
    """Random trial ``number``'s params, drawn from ``SeedSequence([seed, number])`` alone.

    ``distributions`` maps each param to a list (uniform choice), a
    :class:`Distribution`, or an object with ``rvs(random_state=...)`` such as a
    ``scipy.stats`` distribution; a list of such dicts picks one dict uniformly first,
    as scikit-learn's ``ParameterSampler`` does.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, number]))
    if isinstance(distributions, Mapping):
        space: Mapping[str, Any] = distributions
    else:
        space = distributions[int(rng.integers(len(distributions)))]
    params: dict[str, Any] = {}
    for key in sorted(space):
        dist = space[key]
        if isinstance(dist, Distribution):
            params[key] = dist.sample(rng)
        elif hasattr(dist, "rvs"):
            params[key] = _plain(dist.rvs(random_state=rng))
        else:
            values = list(dist)
            params[key] = values[int(rng.integers(len(values)))]
    return params


def random_candidates(
    distributions: Mapping[str, Any] | Sequence[Mapping[str, Any]], seed: int, n_trials: int
) -> list[dict[str, Any]]:
    """Params of random trials ``0..n_trials-1``."""
    return [sample_candidate(distributions, seed, number) for number in range(n_trials)]


def only_lists(distributions: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> bool:
    """True when every param of every space is a list of values (no distribution)."""
    spaces = [distributions] if isinstance(distributions, Mapping) else list(distributions)
    return all(
        not isinstance(v, Distribution) and not hasattr(v, "rvs") for space in spaces for v in space.values()
    )


def distinct_candidates(
    distributions: Mapping[str, Any] | Sequence[Mapping[str, Any]], seed: int, n_trials: int
) -> list[dict[str, Any]]:
    """Lists only: ``n_trials`` distinct configurations, as ``ParameterSampler`` samples.

    Trial ``i`` is ``sample_candidate(seed, i)`` unless an earlier trial has those params;
    then it is redrawn from ``SeedSequence([seed, i, 1])`` among the grid. Either way it
    depends on the seed and ``i`` only, never on which trials ran or in what order.
    ``n_trials`` must not exceed the number of configurations.
    """
    from sklearn.model_selection import ParameterGrid

    grid = ParameterGrid(distributions)
    size = len(grid)
    if n_trials > size:
        raise ValueError(f"n_trials={n_trials} is more than the {size} distinct configurations")
    candidates: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i in range(n_trials):
        params = sample_candidate(distributions, seed, i)
        if _candidate_key(params) in seen:
            rng = np.random.default_rng(np.random.SeedSequence([seed, i, 1]))
            while _candidate_key(params) in seen:
                params = dict(sorted(grid[int(rng.integers(size))].items()))
        seen.add(_candidate_key(params))
        candidates.append(params)
    return candidates


def _candidate_key(params: Mapping[str, Any]) -> str:
    """What tells configurations apart: canonical JSON; for unstable values, also which object."""
    from .._json import describe

    text, unstable = describe(params)
    return f"{text}{sorted((k, id(v)) for k, v in params.items())}" if unstable else text
