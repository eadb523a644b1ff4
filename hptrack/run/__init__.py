"""Running studies: the plan, the fold work, the coordinator loop, reuse, executors, verify.

Layers inside, each importing only those above it:

- ``scoring``: a fitted estimator scored on some rows, each metric on its own
  (:class:`~hptrack.run.scoring.FoldScorer`), :class:`ScoreKey`, sample weights.
- ``evaluate``: pure fold work; :class:`FoldInputs` ``.evaluate(task)`` is the one
  evaluation path (executors, ``verify`` and the drop-ins all call it).
- ``plan``: the frozen :class:`StudyPlan`, its identities computed once, and
  :func:`build_plan`, the one builder shared by specs and the drop-in search classes.
- ``data`` and ``from_spec``: a TOML spec's data, folds and candidates, validated up
  front (:func:`plan_from_spec`), and the spec of a stored study (:func:`spec_from_store`).
- ``reuse``, ``executors``, ``coordinator``: :func:`run_plan` claims trials from the
  store's writer, copies folds the store already holds, runs the rest in this process,
  joblib workers or on Dask, and commits each fold as it arrives.
- ``verify``: re-run recorded trials and compare fold scores (:func:`verify_study`).
- ``unchanged``: ``hptrack run`` on a finished study whose spec, code and data are
  unchanged, answered from the store (:func:`run_unchanged`) without importing
  ``evaluate`` and so scikit-learn; this package loads its modules when a name is asked for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # editors and mypy see the real names; at run time they load when asked
    from .coordinator import OnFold, check_compatible, open_study, run_plan
    from .data import (
        check_cv_target,
        compute_splits,
        data_identity,
        load_data,
        make_splitter,
        resolved_cv_kind,
    )
    from .evaluate import FoldInputs, FoldResult, FoldTask, evaluate_fold, evaluate_task
    from .executors import connect_dask, make_executor
    from .from_spec import build_scorers, plan_from_spec, spec_candidates, spec_from_store
    from .plan import StudyPlan, apply_seeds, build_plan, seed_params, unstable_values
    from .reuse import ReuseChoice, choose_reused, copy_of
    from .scoring import SEARCH_WEIGHTS_SCORES, ScoreKey, accepts_sample_weight
    from .summary import RunSummary
    from .unchanged import run_unchanged, unchanged_study
    from .verify import FoldCheck, VerifyReport, choose_trials, verify_study

__all__ = [
    "SEARCH_WEIGHTS_SCORES",
    "FoldCheck",
    "FoldInputs",
    "FoldResult",
    "FoldTask",
    "OnFold",
    "ReuseChoice",
    "RunSummary",
    "ScoreKey",
    "StudyPlan",
    "VerifyReport",
    "accepts_sample_weight",
    "apply_seeds",
    "build_plan",
    "build_scorers",
    "check_compatible",
    "choose_reused",
    "check_cv_target",
    "choose_trials",
    "compute_splits",
    "connect_dask",
    "copy_of",
    "data_identity",
    "evaluate_fold",
    "evaluate_task",
    "load_data",
    "make_executor",
    "make_splitter",
    "open_study",
    "plan_from_spec",
    "resolved_cv_kind",
    "run_plan",
    "run_unchanged",
    "seed_params",
    "spec_candidates",
    "spec_from_store",
    "unchanged_study",
    "unstable_values",
    "verify_study",
]

# name -> submodule: loaded on first use (PEP 562), so that `hptrack run` on a study with
# nothing to do (``unchanged``) imports no scikit-learn, which ``evaluate`` and ``scoring`` need
_SUBMODULE = {
    **dict.fromkeys(["OnFold", "check_compatible", "open_study", "run_plan"], "coordinator"),
    "RunSummary": "summary",
    **dict.fromkeys(
        [
            "check_cv_target",
            "compute_splits",
            "data_identity",
            "load_data",
            "make_splitter",
            "resolved_cv_kind",
        ],
        "data",
    ),
    **dict.fromkeys(["FoldInputs", "FoldResult", "FoldTask", "evaluate_fold", "evaluate_task"], "evaluate"),
    **dict.fromkeys(["SEARCH_WEIGHTS_SCORES", "ScoreKey", "accepts_sample_weight"], "scoring"),
    **dict.fromkeys(["connect_dask", "make_executor"], "executors"),
    **dict.fromkeys(["build_scorers", "plan_from_spec", "spec_candidates", "spec_from_store"], "from_spec"),
    **dict.fromkeys(["StudyPlan", "apply_seeds", "build_plan", "seed_params", "unstable_values"], "plan"),
    **dict.fromkeys(["ReuseChoice", "choose_reused", "copy_of"], "reuse"),
    **dict.fromkeys(["run_unchanged", "unchanged_study"], "unchanged"),
    **dict.fromkeys(["FoldCheck", "VerifyReport", "choose_trials", "verify_study"], "verify"),
}


def __getattr__(name: str) -> Any:
    module = _SUBMODULE.get(name)
    if module is None:
        raise AttributeError(f"module 'hptrack.run' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
