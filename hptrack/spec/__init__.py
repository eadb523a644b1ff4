"""What a study is: its TOML spec, validated up front, its ``module:attr`` paths, its
metrics, and its search space (trial ``i`` of a grid or a random search, never expanded).
"""

from __future__ import annotations

from .diff import diff_specs
from .direction import DIRECTIONS, MAXIMIZE, MAXIMIZING, MINIMIZE, MINIMIZING, Direction, parse_direction
from .halving import HALVING_SEARCHES, HalvingSpec, base_search
from .metrics import check_metrics, check_metrics_fit, check_scorer_direction, metric_kind
from .resolve import make_estimator, make_objective, resolve
from .space import (
    DISTRIBUTIONS,
    Candidates,
    Distribution,
    distinct_candidates,
    grid_candidates,
    lazy_grid,
    lazy_random,
    only_lists,
    random_candidates,
    sample_candidate,
    space_candidates,
    stored_space,
)
from .study import (
    DEFAULT_METRIC,
    NONE_STRING,
    CVSpec,
    StudySpec,
    check_study_name,
    load_spec,
    to_param,
)

__all__ = [
    "DEFAULT_METRIC",
    "DIRECTIONS",
    "DISTRIBUTIONS",
    "HALVING_SEARCHES",
    "MAXIMIZE",
    "MAXIMIZING",
    "MINIMIZE",
    "MINIMIZING",
    "NONE_STRING",
    "CVSpec",
    "Candidates",
    "Direction",
    "Distribution",
    "HalvingSpec",
    "StudySpec",
    "base_search",
    "check_metrics",
    "check_metrics_fit",
    "check_scorer_direction",
    "check_study_name",
    "diff_specs",
    "distinct_candidates",
    "grid_candidates",
    "lazy_grid",
    "lazy_random",
    "load_spec",
    "make_estimator",
    "make_objective",
    "metric_kind",
    "only_lists",
    "parse_direction",
    "random_candidates",
    "resolve",
    "sample_candidate",
    "space_candidates",
    "stored_space",
    "to_param",
]
