"""Estimator factories used by the example specs (a user's own module beside the spec).

A spec names a factory as ``estimator = "models:svc_pipeline"``; its space keys use
scikit-learn's ``step__param`` names.
"""

from sklearn.decomposition import PCA
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC


def svc_pipeline():
    """Scale, reduce with PCA, classify with an RBF SVC."""
    return Pipeline([("scale", StandardScaler()), ("pca", PCA()), ("svc", SVC())])


def mlp():
    """Scale, then a small multi-layer perceptron trained with Adam and early stopping."""
    return Pipeline(
        [
            ("scale", StandardScaler()),
            ("mlp", MLPClassifier(max_iter=300, early_stopping=True, n_iter_no_change=10)),
        ]
    )
