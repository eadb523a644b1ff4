"""The drop-in: scikit-learn's GridSearchCV, with every trial recorded in hptrack.db.

Run it twice: the second run finds every fold in the store and fits only the final
refit. Then look at it from the shell: `hptrack studies`, `hptrack best breast-cancer-lr`.
"""

import sys

from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import hptrack

store = sys.argv[1] if len(sys.argv) > 1 else "hptrack.db"
X, y = load_breast_cancer(return_X_y=True)
search = hptrack.GridSearchCV(
    make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
    {"logisticregression__C": [0.01, 0.1, 1, 10]},
    scoring=["roc_auc", "accuracy"],
    refit="roc_auc",
    cv=5,
    store=store,
    study="breast-cancer-lr",
)
search.fit(X, y)
print(f"best params {search.best_params_}, roc_auc {search.best_score_:.4f}")

with hptrack.Store(store, readonly=True) as results:
    best = results.study("breast-cancer-lr").best()
    print(f"trial #{best.number}: fold roc_auc {[round(s, 4) for s in best.scores['roc_auc']]}")
