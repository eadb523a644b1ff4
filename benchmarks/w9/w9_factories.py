"""Estimator factories of W9's specs (a user's own module beside them, SPEC section 2).

``benchmarks/pipelines.py`` runs the specs with ``hptrack run`` and builds the same
estimators for scikit-learn's ``GridSearchCV`` from these same functions.
"""

from functools import partial

from sklearn.decomposition import KernelPCA
from sklearn.feature_selection import SelectKBest, mutual_info_classif
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler


def kpca_knn():
    """An RBF kernel PCA (the expensive step, ~0.2-0.5 s on 1437 digits), then k-nearest neighbours."""
    return Pipeline([("kpca", KernelPCA(kernel="rbf")), ("knn", KNeighborsClassifier())])


# mutual_info_classif adds seeded noise to continuous features: a fixed seed makes the
# selection a function of the data alone, so a prefix cache may share it (unseeded, it
# would rightly refuse to)
mutual_info = partial(mutual_info_classif, random_state=0)


def select_logreg():
    """Keep the k features of highest mutual information (~0.5 s on digits), scale, logistic regression."""
    return make_pipeline(SelectKBest(mutual_info), StandardScaler(), LogisticRegression(max_iter=2000))
