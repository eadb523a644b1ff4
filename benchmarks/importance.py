"""Cross-check: hptrack's parameter importance against Optuna's fANOVA on the same trials.

    pip install optuna            # a benchmark-only dependency, never hptrack's
    python benchmarks/importance.py

Runs a few small searches with the drop-ins (scikit-learn's bundled datasets), computes
``Study.importance()``, feeds the same complete trials (params and mean test score) to
Optuna (``optuna.trial.create_trial``) and ranks them with
``optuna.importance.FanovaImportanceEvaluator(seed=0)``. Prints one markdown table: each
side's shares, Spearman's rank correlation and whether the most important parameter agrees.
"""

from __future__ import annotations

import logging
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


class ShareClassifier:
    """Right on exactly ``0.2 + 0.2a + 0.1b + 0.05ab`` of any test set; ``c`` has no effect.

    The functional ANOVA of its accuracy over a grid of a, b in {0, 1, 2} and c in {0, 1} is
    known: a 0.721, b 0.260, c 0 (and the a x b pair 0.019).
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        import numpy as np
        from sklearn.base import BaseEstimator, ClassifierMixin

        class _Share(ClassifierMixin, BaseEstimator):
            def __init__(self, a: float = 0, b: float = 0, c: float = 0) -> None:
                self.a, self.b, self.c = a, b, c

            def fit(self, X: Any, y: Any) -> Any:
                self.classes_ = np.unique(y)
                return self

            def predict(self, X: Any) -> Any:
                truth = (X[:, 0] % 2).astype(int)
                n_right = round((0.2 + 0.2 * self.a + 0.1 * self.b + 0.05 * self.a * self.b) * len(X))
                out = 1 - truth
                out[:n_right] = truth[:n_right]
                return out

        _Share.__module__ = __name__
        return _Share(*args, **kwargs)


def searches(tmp: Path) -> list[tuple[str, Any]]:
    """(label, fitted drop-in search) for each workload."""
    import numpy as np
    from scipy import stats
    from sklearn.datasets import load_breast_cancer, load_digits, load_wine
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    import hptrack

    Xb, yb = load_breast_cancer(return_X_y=True)
    Xd, yd = load_digits(return_X_y=True)
    Xw, yw = load_wine(return_X_y=True)
    store = tmp / "importance.db"
    tree_space = {
        "max_depth": stats.randint(1, 12),
        "min_samples_leaf": stats.randint(1, 40),
        "criterion": ["gini", "entropy"],
        "max_features": stats.uniform(0.1, 0.9),
    }
    Xs, ys = np.arange(500, dtype=float).reshape(-1, 1), np.arange(500) % 2
    share_space = {"a": stats.uniform(0, 2), "b": stats.uniform(0, 2), "c": stats.uniform(0, 1)}
    out = [
        (
            "known function (truth: a 0.72, b 0.26, c 0), grid 3x3x2",
            hptrack.GridSearchCV(
                ShareClassifier(), {"a": [0, 1, 2], "b": [0, 1, 2], "c": [0, 1]}, cv=5, store=store
            ).fit(Xs, ys),
        ),
        (
            "known function (a > b > c = 0), random 60",
            hptrack.RandomizedSearchCV(
                ShareClassifier(), share_space, n_iter=60, cv=5, random_state=0, store=store
            ).fit(Xs, ys),
        ),
        (
            "breast_cancer DecisionTree, random 80",
            hptrack.RandomizedSearchCV(
                DecisionTreeClassifier(random_state=0),
                tree_space,
                n_iter=80,
                cv=5,
                random_state=0,
                store=store,
            ).fit(Xb, yb),
        ),
        (
            "digits[:600] SVC, random 60 (C, gamma loguniform)",
            hptrack.RandomizedSearchCV(
                SVC(),
                {"C": stats.loguniform(1e-2, 1e3), "gamma": stats.loguniform(1e-5, 1e-1)},
                n_iter=60,
                cv=5,
                random_state=0,
                store=store,
            ).fit(Xd[:600], yd[:600]),
        ),
        (
            "digits[:600] SVC, grid 6x6 (C, gamma)",
            hptrack.GridSearchCV(
                SVC(),
                {"C": list(np.logspace(-2, 3, 6)), "gamma": list(np.logspace(-5, -1, 6))},
                cv=5,
                store=store,
            ).fit(Xd[:600], yd[:600]),
        ),
        (
            "wine GradientBoosting, grid 3x3x2",
            hptrack.GridSearchCV(
                GradientBoostingClassifier(random_state=0, n_estimators=20),
                {"learning_rate": [0.01, 0.1, 1.0], "max_depth": [1, 2, 3], "subsample": [0.5, 1.0]},
                cv=3,
                store=store,
            ).fit(Xw, yw),
        ),
    ]
    return out


def optuna_importance(study: Any) -> dict[str, float]:
    """Optuna's fANOVA importances of the study's complete trials (mean test score)."""
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trials = [t for t in study.trials(status="complete") if t.mean.get(study.metric) is not None]
    names = sorted({k for t in trials for k in t.params})
    distributions: dict[str, Any] = {}
    for name in names:
        values = [t.params[name] for t in trials]
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            distributions[name] = IntDistribution(min(values), max(values))
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            lo, hi = float(min(values)), float(max(values))
            distributions[name] = FloatDistribution(lo, hi, log=lo > 0 and hi / lo >= 100)
        else:
            distributions[name] = CategoricalDistribution(sorted({str(v) for v in values}))
    target = optuna.create_study(direction="maximize")
    for t in trials:
        params = {
            n: (str(t.params[n]) if isinstance(distributions[n], CategoricalDistribution) else t.params[n])
            for n in names
        }
        target.add_trial(
            optuna.trial.create_trial(params=params, distributions=distributions, value=t.mean[study.metric])
        )
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    return dict(optuna.importance.get_param_importances(target, evaluator=evaluator, normalize=True))


def spearman(a: dict[str, float], b: dict[str, float]) -> float:
    from hptrack.query.importance import _spearman

    names = sorted(a)
    value = _spearman([a[n] for n in names], [b[n] for n in names])
    return math.nan if value is None else value


def main() -> int:
    try:
        import optuna  # noqa: F401
    except ImportError:
        print("optuna is not installed: pip install optuna (a benchmark-only dependency)", file=sys.stderr)
        return 1
    from hptrack import Store

    logging.getLogger("hptrack").setLevel(logging.ERROR)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, search in searches(Path(tmp)):
            with Store(search.recorded_study().store_path) as store:
                study = store.study(search.recorded_study().name)
                start = time.perf_counter()
                ours = study.importance()
                seconds = time.perf_counter() - start
                theirs = optuna_importance(study)
            shares = {s.params[0]: s.share for s in ours.params}
            top_ours, top_theirs = max(shares, key=shares.get), max(theirs, key=theirs.get)
            rows.append(
                f"| {label} | {ours.method} | "
                + ", ".join(
                    f"{n} {s.share:.2f} [{s.low:.2f}, {s.high:.2f}]"
                    for n, s in zip(ours.ranking(), ours.params)
                )
                + " | "
                + ", ".join(f"{n} {v:.2f}" for n, v in sorted(theirs.items(), key=lambda kv: -kv[1]))
                + f" | {spearman(shares, theirs):.2f} | {'yes' if top_ours == top_theirs else 'no'}"
                + f" | {seconds:.2f} s |"
            )
    print(
        "| study | hptrack method | hptrack shares [interval] | Optuna fANOVA (normalised) "
        "| Spearman | same top | hptrack time |"
    )
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print("\nOptuna's importances are normalised to sum to 1 (main effects only); hptrack's are shares of")
    print("the variance (main effects; pairs and higher-order terms take the rest), so compare rankings.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
