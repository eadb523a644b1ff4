"""scikit-learn's own GridSearchCV on a W9 spec: what a user would run without hptrack.

    python benchmarks/w9/sklearn_search.py SPEC.toml OUT.json [--memory DIR]

One process, ``n_jobs=1``, ``refit=False`` (``hptrack run`` does not refit either). The
estimator comes from the spec's factory (beside the spec) with the spec's ``[fixed]``
params; every ``random_state`` the spec leaves at None is set to the study seed, as
``hptrack run`` does (SPEC section 1, ``hptrack.run.plan.seed_params``); the folds are
``StratifiedKFold(folds, shuffle=True, random_state=seed)``, the spec's ``[cv]``. With
``--memory DIR`` the pipeline caches its fitted transformers there (``Pipeline(memory=DIR)``).
Writes ``{"params": [...], "split0_test_score": [...], ...}`` to OUT.json; Python's JSON
keeps every float exactly.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


def resolve(path: str) -> Any:
    """``module:attr`` to the object."""
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def value(v: Any) -> Any:
    """The spec's one reserved string, ``"None"``, is Python's None."""
    return None if v == "None" else v


def seeded(estimator: Any, seed: int, fixed: set[str]) -> None:
    """Set every ``random_state`` left at None and not set by the spec to the study seed."""
    params = estimator.get_params(deep=True)
    estimator.set_params(
        **{
            key: seed
            for key, v in params.items()
            if (key == "random_state" or key.endswith("__random_state")) and v is None and key not in fixed
        }
    )


def main(argv: list[str]) -> None:
    spec_path, out = Path(argv[0]).resolve(), Path(argv[1])
    memory = argv[3] if argv[2:3] == ["--memory"] else None
    spec = tomllib.loads(spec_path.read_text())
    cv_spec = spec["cv"]
    if cv_spec.get("kind") != "stratified" or not cv_spec.get("shuffle"):
        raise SystemExit(f"{spec_path}: this script runs [cv] kind = 'stratified', shuffle = true only")
    sys.path.insert(0, str(spec_path.parent))
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    fixed = {k: value(v) for k, v in spec.get("fixed", {}).items()}
    grid = {k: [value(v) for v in values] for k, values in spec["space"].items()}
    estimator = resolve(spec["estimator"])()
    estimator.set_params(**fixed)
    seeded(estimator, spec["seed"], {*fixed, *grid})
    if memory is not None:
        estimator.set_params(memory=memory)
    data = resolve(spec["data"])()
    X, y = (data.data, data.target) if hasattr(data, "data") else data
    cv = StratifiedKFold(cv_spec["folds"], shuffle=True, random_state=spec["seed"])
    search = GridSearchCV(estimator, grid, scoring=spec["metrics"][0], cv=cv, n_jobs=1, refit=False)
    search.fit(X, y)
    results = search.cv_results_
    folds = {
        key: [float(s) for s in results[key]]
        for key in results
        if key.startswith("split") and "_test_" in key
    }
    out.write_text(json.dumps({"params": list(results["params"]), **folds}))


if __name__ == "__main__":
    main(sys.argv[1:])
