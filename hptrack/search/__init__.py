"""``GridSearchCV`` and ``RandomizedSearchCV``: scikit-learn's, recording every trial.

They take scikit-learn's arguments plus ``store``, ``study`` and ``seed``, keep its
fitted attributes, and their ``cv_results_`` equal scikit-learn's on the same splits.
Every fold is committed to the store as it finishes, so re-running the same script
resumes where it stopped instead of starting over.
"""

from __future__ import annotations

from ._classes import GridSearchCV, RandomizedSearchCV

__all__ = ["GridSearchCV", "RandomizedSearchCV"]
