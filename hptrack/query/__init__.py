"""The read API: studies, trials, ranking, ties, comparisons, exports.

Layout
------
store       :class:`Store` (``hptrack.Store``): open a store for queries; study references
study       :class:`Study`: a study's provenance and the queries over its trials
trials      :class:`Trial` snapshots built from stored rows
summary     :class:`StudySummary` (``hptrack studies``)
ranking     :func:`min_ranks`, the one ranking routine (scikit-learn's ``min`` ranks), in a
            :class:`Direction` (``hptrack.spec.direction``: maximize, or minimize a loss)
ties        :class:`TiesWithBest`: trials statistically tied with the best (``Study.tied_with_best``)
stats       the corrected resampled t-test (Nadeau & Bengio), stdlib only
compare     :func:`compare_studies` -> :class:`StudyComparison`
export      the ``cv_results_`` layout and flat export rows
provenance  code and data hashes trials were scored under
runs        :class:`Run` history, :class:`PrefixFits` (the pipeline prefix cache's counters)
pending     pages of pending trials, never-claimed ones included (``Study.pending``)

Everything reads through :mod:`hptrack.store.reads` (the SQL lives in the store) on a
plain ``sqlite3`` connection, so query commands start fast and work on read-only files.
"""

from __future__ import annotations

from ..spec.direction import Direction
from ..store import STATUSES, StudyDump, TrialDump
from .compare import BestOf, ConfigDelta, StudyComparison, StudySide, compare_studies, differences
from .curves import Curve, CurveBand, fold_bands
from .export import cv_results_layout, export_rows
from .provenance import HashUse
from .ranking import min_rank, min_ranks
from .runs import RUN_STATUSES, PrefixFits, Run
from .stats import TEST_NAME, TTestResult, corrected_ttest, corrected_ttests
from .store import Store, StudyRef, open_refs
from .study import Study
from .summary import StudySummary, list_studies
from .ties import ALPHA, TiesWithBest, fold_size_ratio
from .trials import Trial

__all__ = [
    "Curve",
    "CurveBand",
    "fold_bands",
    "ALPHA",
    "RUN_STATUSES",
    "STATUSES",
    "TEST_NAME",
    "BestOf",
    "ConfigDelta",
    "Direction",
    "HashUse",
    "PrefixFits",
    "Run",
    "Store",
    "Study",
    "StudyComparison",
    "StudyDump",
    "StudyRef",
    "StudySide",
    "StudySummary",
    "TTestResult",
    "TiesWithBest",
    "Trial",
    "TrialDump",
    "compare_studies",
    "corrected_ttest",
    "corrected_ttests",
    "cv_results_layout",
    "differences",
    "export_rows",
    "fold_size_ratio",
    "list_studies",
    "min_rank",
    "min_ranks",
    "open_refs",
]
