"""TRANSITIONAL path: comparing studies moved to :mod:`hptrack.query` (import it from there).

Kept only because ``report.py`` still does ``from .compare import compare_studies``;
delete once it imports from ``.query``.
"""

from .query import StudyComparison, StudyRef, compare_studies, differences, open_refs

__all__ = ["StudyComparison", "StudyRef", "compare_studies", "differences", "open_refs"]
