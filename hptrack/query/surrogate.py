"""The random-forest surrogate behind estimated importances (:mod:`.importance`).

A forest of the mean test score over the encoded params (scikit-learn, seeded), and its
predictions over a product design of each parameter's levels, for any vector of targets.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import SpecError

MAX_DESIGN_CELLS = 20_000  # surrogate predictions per resample
MAX_LEVELS = 10  # a numeric parameter's levels in the surrogate's design (quantiles)
LOG_SPAN = 100.0  # positive numeric values spanning >= 2 decades are read on a log scale
N_TREES = 32
MAX_TREE_SAMPLES = 2000  # trials each tree is grown on (a bootstrap sample of at most this many)


class _Absent:
    """A parameter that a configuration does not set (a list-of-dicts grid)."""

    def __repr__(self) -> str:
        return "<absent>"


ABSENT = _Absent()


def category(value: Any) -> Any:
    """A value as a hashable, comparable key: numbers as they are, anything else as JSON."""
    if value is ABSENT or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return value
    if isinstance(value, str):  # the same few choices, trial after trial
        return _string_category(value)
    return json.dumps(value, sort_keys=True, default=str)


@functools.lru_cache(maxsize=1024)
def _string_category(value: str) -> str:
    """A string's :func:`category`: its JSON."""
    return json.dumps(value)


class Surrogate:
    """A random forest of the mean score over encoded params, and its product design.

    Categorical values are coded in the order of their mean score (so a tree's ordinal
    splits can separate any two groups of categories, Breiman et al. 1984); numeric values
    are used as they are, or as logarithms when log-scaled. Predictions for any vector of
    targets reuse the fitted partitions: each tree predicts the mean target of the trials
    in the same leaf.
    """

    def __init__(
        self,
        names: list[str],
        numbers: list[int],
        params: Mapping[int, Mapping[str, Any]],
        log_scaled: set[str],
        seed: int,
    ) -> None:
        raw = {name: [params[n].get(name, ABSENT) for n in numbers] for name in names}
        self.columns = [_Column(name, raw[name], name in log_scaled) for name in names]
        self.seed = seed

    def predict_cells(self, targets: Any) -> Any:
        """Per-resample predictions over the product design: shape (levels..., resamples)."""
        import numpy as np
        from sklearn.ensemble import RandomForestRegressor

        for column in self.columns:
            column.order_by(targets[:, 0])
        X = np.column_stack([c.encoded for c in self.columns])
        forest = RandomForestRegressor(
            n_estimators=N_TREES,
            max_features=0.6 if len(self.columns) > 1 else 1.0,
            max_samples=min(len(X), MAX_TREE_SAMPLES),  # large studies: each tree sees a sample
            min_samples_leaf=min(max(3, len(X) // 200), 20),  # smooth: less spurious importance
            random_state=self.seed,
        ).fit(X, targets[:, 0])
        levels = _design_levels(self.columns)
        grid = np.stack(np.meshgrid(*levels, indexing="ij"), axis=-1).reshape(-1, len(levels))
        out = np.zeros((len(grid), targets.shape[1]))
        train_leaves = forest.apply(X)
        grid_leaves = forest.apply(grid)
        for t in range(train_leaves.shape[1]):  # each tree: the mean target of its leaf's trials
            size = max(train_leaves[:, t].max(), grid_leaves[:, t].max()) + 1
            counts = np.maximum(np.bincount(train_leaves[:, t], minlength=size), 1)
            leaf_means = np.column_stack(
                [np.bincount(train_leaves[:, t], weights=column, minlength=size) for column in targets.T]
            )
            out += (leaf_means / counts[:, None])[grid_leaves[:, t]]
        out /= train_leaves.shape[1]
        return out.reshape([len(lv) for lv in levels] + [targets.shape[1]])


class _Column:
    """One parameter: its values encoded as numbers for the forest, and its design levels."""

    def __init__(self, name: str, raw: list[Any], log_scaled: bool) -> None:
        import numpy as np

        self.name = name
        numeric = [v for v in raw if isinstance(v, (int, float)) and not isinstance(v, bool)]
        self.numeric = len(numeric) == len(raw)
        self.raw = raw
        if self.numeric:
            values = np.array(numeric, dtype=float)
            positive = bool((values > 0).all())
            self.log = positive and (log_scaled or values.max() / values.min() >= LOG_SPAN)
            self.encoded = np.log10(values) if self.log else values
        else:
            self.log = False
            self.keys = [category(v) if v is not ABSENT else "<absent>" for v in raw]
            self.codes: dict[Any, int] = {}
            self.encoded = np.zeros(len(raw))

    def order_by(self, target: Any) -> None:
        """Code categories by their mean target (numeric columns are left as they are)."""
        import numpy as np

        if self.numeric:
            return
        means: dict[Any, list[float]] = {}
        for key, y in zip(self.keys, target):
            means.setdefault(key, []).append(float(y))
        ranked = sorted(means, key=lambda key: (sum(means[key]) / len(means[key]), str(key)))
        self.codes = {key: code for code, key in enumerate(ranked)}
        self.encoded = np.array([self.codes[key] for key in self.keys], dtype=float)

    def levels(self, n: int) -> Any:
        """``n`` design levels: every category, or the observed values (quantiles when many)."""
        import numpy as np

        distinct = np.unique(self.encoded)
        if not self.numeric or len(distinct) <= n:
            return distinct
        return np.quantile(self.encoded, np.linspace(0.0, 1.0, n))


def _design_levels(columns: Sequence[_Column]) -> list[Any]:
    """Each column's levels, numeric ones thinned until the product design is small enough."""
    n = MAX_LEVELS
    while True:
        levels = [c.levels(n) for c in columns]
        cells = math.prod(len(lv) for lv in levels)
        if cells <= MAX_DESIGN_CELLS or n <= 2:
            break
        n -= 1
    if cells > MAX_DESIGN_CELLS:
        raise SpecError(
            f"{len(columns)} parameters give a design of {cells} cells even at 2 levels each; "
            f"importance is computed for at most {MAX_DESIGN_CELLS} cells"
        )
    return levels
