"""Search spaces: grid order and reproducible random sampling.

Grid trials follow ``sklearn.model_selection.ParameterGrid`` order. Random trial ``i``
is drawn from ``np.random.default_rng(np.random.SeedSequence([seed, i]))`` alone, so it
has the same params whatever ran before it and in whatever order workers finish.
"""

from __future__ import annotations

import functools
import itertools
import math
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, overload

if TYPE_CHECKING:
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
    np = sys.modules.get("numpy")  # a numpy scalar means numpy is loaded
    return value.item() if np is not None and isinstance(value, np.generic) else value


def grid_candidates(
    param_grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """Every configuration of a grid, in ``ParameterGrid`` order (keys sorted)."""
    from sklearn.model_selection import ParameterGrid

    return [dict(params) for params in ParameterGrid(param_grid)]


class Candidates(Sequence[dict[str, Any]]):
    """Trial ``i``'s params, computed when asked: a space is never expanded up front.

    ``Candidates(size, item)`` has ``len`` ``size`` and ``c[i] == item(i)``; slices are lists,
    and it equals any sequence with the same items. ``values`` lists every value the
    items draw from (``{param: value}`` each), so the values can be checked once, not per trial.
    """

    def __init__(
        self, size: int, item: Callable[[int], dict[str, Any]], values: Sequence[Mapping[str, Any]] = ()
    ) -> None:
        self._size, self._item, self.values = int(size), item, list(values)

    def __len__(self) -> int:
        return self._size

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [self._item(i) for i in range(*index.indices(self._size))]
        number = index + self._size if index < 0 else index
        if not 0 <= number < self._size:
            raise IndexError(f"trial {index} of {self._size}")
        return self._item(number)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (self._item(i) for i in range(self._size))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str):
            return NotImplemented
        return len(other) == self._size and all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<Candidates: {self._size} trials>"


def grid_size(param_grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]]) -> int:
    """The number of points of a grid (``len(ParameterGrid(param_grid))``)."""
    spaces = [param_grid] if isinstance(param_grid, Mapping) else list(param_grid)
    return sum(math.prod(len(v) for v in space.values()) for space in spaces)


def grid_point(
    param_grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]], index: int
) -> dict[str, Any]:
    """Point ``index`` of a grid: ``ParameterGrid(param_grid)[index]``, keys sorted.

    The same arithmetic as scikit-learn's (the last key in sorted order varies fastest),
    in plain Python, so reading a study's pending trials needs no scikit-learn.

    Parameters
    ----------
    param_grid : dict or list of dict
        As ``ParameterGrid`` takes it.
    index : int
        ``0 <= index < grid_size(param_grid)``.

    Returns
    -------
    dict
    """
    spaces = [param_grid] if isinstance(param_grid, Mapping) else list(param_grid)
    for space in spaces:
        items = sorted(space.items())
        size = math.prod(len(values) for _, values in items)
        if index >= size:
            index -= size
            continue
        point = {}
        for key, values in reversed(items):
            index, offset = divmod(index, len(values))
            point[key] = values[offset]
        return dict(sorted(point.items()))
    raise IndexError(f"grid point {index} is past the end of the grid")


def lazy_grid(param_grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]]) -> Candidates:
    """A grid's configurations in ``ParameterGrid`` order (:func:`grid_point`), each computed
    when asked: a grid of 10^7 points costs nothing until its trials are claimed.

    Parameters
    ----------
    param_grid : dict or list of dict
        As ``ParameterGrid`` takes it.

    Returns
    -------
    Candidates
    """
    spaces = [param_grid] if isinstance(param_grid, Mapping) else list(param_grid)
    values = [{k: v} for space in spaces for k, vs in space.items() for v in vs]
    return Candidates(grid_size(param_grid), functools.partial(grid_point, param_grid), values)


def lazy_random(
    distributions: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    seed: int,
    n_trials: int,
    *,
    distinct: bool = False,
    convert: Callable[[dict[str, Any]], dict[str, Any]] = dict,
) -> Candidates:
    """Random trials ``0..n_trials-1`` (:func:`sample_candidate`, or :func:`distinct_candidates`
    with ``distinct``), each drawn when asked and passed through ``convert``.

    Parameters
    ----------
    distributions : dict or list of dict
        As :func:`sample_candidate` takes them.
    seed, n_trials : int
        The study seed and the number of trials.
    distinct : bool, default=False
        Lists only: trial ``i`` is the ``i``-th of :func:`distinct_candidates` (drawn in
        order up to the highest trial asked for, since it depends on the earlier ones).
    convert : callable, default=dict
        Applied to each trial's params.

    Returns
    -------
    Candidates
    """
    spaces = [distributions] if isinstance(distributions, Mapping) else list(distributions)
    values = [{k: v} for space in spaces for k, vs in space.items() if isinstance(vs, list) for v in vs]
    if not distinct:
        return Candidates(n_trials, lambda i: convert(sample_candidate(distributions, seed, i)), values)
    drawn: list[dict[str, Any]] = []  # as far as the highest trial asked for: at most n_trials
    draws = _distinct_draws(distributions, seed)

    def item(i: int) -> dict[str, Any]:
        drawn.extend(itertools.islice(draws, max(0, i + 1 - len(drawn))))  # any order
        return convert(drawn[i])

    return Candidates(n_trials, item, values)


def space_candidates(
    search: str,
    space: Mapping[str, Any],
    seed: int,
    n_trials: int | None,
    *,
    convert: Callable[[Any], Any],
) -> Candidates:
    """A spec's trials: grid point ``i``, or random draw ``i`` (distinct when the space has
    only lists), each value passed through ``convert`` (:func:`~hptrack.spec.to_param`).

    Parameters
    ----------
    search : {"grid", "random"}
        The spec's search.
    space : dict
        Param -> list of values, or :class:`Distribution` (random search only).
    seed : int
        The study seed.
    n_trials : int or None
        The random search's number of trials (None for a grid).
    convert : callable
        TOML value -> estimator param.

    Returns
    -------
    Candidates
    """
    lists = {k: [convert(v) for v in vs] if isinstance(vs, list) else vs for k, vs in space.items()}
    if search == "grid":
        return lazy_grid(lists)
    assert n_trials is not None

    def params(drawn: dict[str, Any]) -> dict[str, Any]:
        return {k: convert(v) for k, v in drawn.items()}

    return lazy_random(lists, seed, n_trials, distinct=only_lists(lists), convert=params)


def stored_space(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A space as a stored spec holds it (``StudySpec.to_dict``): lists, and :class:`Distribution`
    objects from their dicts."""
    return {
        k: Distribution(
            v["dist"],
            low=v.get("low"),
            high=v.get("high"),
            values=tuple(v["values"]) if "values" in v else None,
        )
        if isinstance(v, dict)
        else list(v)
        for k, v in raw.items()
    }


def sample_candidate(
    distributions: Mapping[str, Any] | Sequence[Mapping[str, Any]], seed: int, number: int
) -> dict[str, Any]:
    """Random trial ``number``'s params, drawn from ``SeedSequence([seed, number])`` alone.

    ``distributions`` maps each param to a list (uniform choice), a
    :class:`Distribution`, or an object with ``rvs(random_state=...)`` such as a
    ``scipy.stats`` distribution; a list of such dicts picks one dict uniformly first,
    as scikit-learn's ``ParameterSampler`` does.
    """
    import numpy as np  # numpy only to draw: reading a grid's trials needs none

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

    size = len(ParameterGrid(distributions))
    if n_trials > size:
        raise ValueError(f"n_trials={n_trials} is more than the {size} distinct configurations")
    return list(itertools.islice(_distinct_draws(distributions, seed), n_trials))


def _distinct_draws(
    distributions: Mapping[str, Any] | Sequence[Mapping[str, Any]], seed: int
) -> Iterator[dict[str, Any]]:
    """:func:`distinct_candidates`' trials one after another (until the grid is exhausted)."""
    import numpy as np
    from sklearn.model_selection import ParameterGrid

    grid = ParameterGrid(distributions)
    size = len(grid)
    seen: set[str] = set()
    for i in range(size):
        params = sample_candidate(distributions, seed, i)
        if _candidate_key(params) in seen:
            rng = np.random.default_rng(np.random.SeedSequence([seed, i, 1]))
            while _candidate_key(params) in seen:
                params = dict(sorted(grid[int(rng.integers(size))].items()))
        seen.add(_candidate_key(params))
        yield params


def _candidate_key(params: Mapping[str, Any]) -> str:
    """What tells configurations apart: canonical JSON; for unstable values, also which object."""
    from .._json import describe

    text, unstable = describe(params)
    return f"{text}{sorted((k, id(v)) for k, v in params.items())}" if unstable else text
