"""What a report page shows, as frozen dataclasses: every number computed, sorted and formatted.

The builders (:mod:`.build`, :mod:`.study_context`, :mod:`.compare_context`, :mod:`.plots`,
:mod:`.timeline`) fill these from the query layer; templates only loop, branch and place
their values (autoescaped). Nothing here reads a store or imports jinja2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

TOP_N = 50  # configurations in the ranking table
FULL_TABLE_ROWS = 1000  # ranked trials listed in all (collapsible); beyond: the CSV download
MAX_FAILED_SHOWN = 100  # failed trials listed in full; the rest are counted
ERROR_LINES = 5  # last lines of a traceback shown per failed trial


@dataclass(frozen=True)
class ParamValue:
    """One parameter of a trial, its value as display text (strings unquoted, else JSON).

    ``full`` is the exact value when ``value`` is a shortened float (ranking tables).
    """

    name: str
    value: str
    full: str = ""


@dataclass(frozen=True)
class Score:
    """One metric of one trial: ``mean ± std`` and the fold scores, formatted."""

    metric: str
    mean: str
    std: str
    folds: tuple[str, ...]


@dataclass(frozen=True)
class RankedTrial:
    """A row of the ranking table; ``params`` follows ``Ranking.param_names``.

    ``tied``: statistically tied with the best (see ``Ranking.tie_test``); ``reused``:
    where folds reused from earlier fits come from (``"reused from study X trial 3"``).
    """

    rank: int
    number: int
    params: tuple[ParamValue, ...]
    scores: tuple[Score, ...]
    is_best: bool
    tied: bool = False
    reused: tuple[str, ...] = ()


@dataclass(frozen=True)
class Ranking:
    """Complete trials, best first (rank, then number).

    ``rows`` are the best ``TOP_N``; ``more_rows`` the next ones up to
    ``FULL_TABLE_ROWS`` (a collapsible section); ``n_unlisted`` ranked trials are only
    in the CSV download. ``tie_test`` states how ``tied`` marks were decided, or, when
    ``tie_tested`` is false, why no trial could be tested (a single holdout fold).
    """

    metric: str
    metrics: tuple[str, ...]
    param_names: tuple[str, ...]
    rows: tuple[RankedTrial, ...]
    more_rows: tuple[RankedTrial, ...]
    n_ranked: int  # complete trials with a rank
    n_unlisted: int  # ranked trials in neither table
    truncated: bool  # more ranked trials than rows
    tie_test: str
    tie_tested: bool
    n_tied: int  # trials tied with the best, the best excluded


@dataclass(frozen=True)
class CsvDownload:
    """Every trial of a study as CSV (``cv_results_`` column names) in a ``data:`` link."""

    href: str
    filename: str
    n_rows: int
    size: str


@dataclass(frozen=True)
class BestTrial:
    """The best configuration, with its params as JSON ready to copy."""

    number: int
    params: tuple[ParamValue, ...]
    params_json: str
    scores: tuple[Score, ...]
    seed_json: str
    started: str
    finished: str
    host: str
    n_tied: int  # other complete trials sharing rank 1


@dataclass(frozen=True)
class Tick:
    """An axis tick: pixel position along its axis, label and (x axis) text transform."""

    position: str
    label: str
    transform: str = ""


@dataclass(frozen=True)
class PlotPoint:
    """A point in SVG pixel coordinates, with a tooltip."""

    x: str
    y: str
    label: str


@dataclass(frozen=True)
class PlotGroup:
    """The trials at one parameter value (or bin) of an aggregated plot, in pixels.

    A vertical line from ``low`` to ``high`` (the range of trial means) at ``x``, and a
    short horizontal one from ``left`` to ``right`` at ``median``.
    """

    x: str
    low: str
    high: str
    median: str
    left: str
    right: str
    label: str


@dataclass(frozen=True)
class ParamPlot:
    """Mean score of the ranking metric against one parameter, as SVG coordinates.

    ``scale`` is ``"log"``, ``"linear"`` or ``"categorical"``; ``means`` are trial
    means, ``folds`` the fold scores, ``best_line`` the polyline through the best mean
    at each value. Past ``MAX_PLOT_TRIALS`` trials ``aggregated`` is true: ``groups``
    hold the range and median per value (or bin), ``means`` the best trial of each.
    """

    param: str
    metric: str
    scale: str
    description: str
    note: str
    width: int
    height: int
    left: str
    right: str
    top: str
    bottom: str
    frame_width: str
    frame_height: str
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    x_tick_label_y: str
    x_tick_label_anchor: str
    y_tick_label_x: str
    x_title_x: str
    x_title_y: str
    y_title_x: str
    y_title_y: str
    y_title_transform: str
    means: tuple[PlotPoint, ...]
    folds: tuple[PlotPoint, ...]
    best_line: str
    aggregated: bool = False
    groups: tuple[PlotGroup, ...] = ()


@dataclass(frozen=True)
class Field:
    """A labelled provenance value; ``full`` is the unabbreviated form (hashes)."""

    label: str
    value: str
    full: str = ""


@dataclass(frozen=True)
class DataArray:
    """One input of the data fingerprint (X, y, groups); ``dtype``/``shape`` may be ""."""

    name: str
    kind: str
    dtype: str
    shape: str


@dataclass(frozen=True)
class Provenance:
    """Everything needed to audit or reproduce the study."""

    seed: str
    estimator_seeds: str
    code_hash: Field
    sources: tuple[Field, ...]
    git_commit: str
    git_dirty: str
    data_hash: Field
    data_arrays: tuple[DataArray, ...]
    split_hash: Field
    spec_hash: Field
    spec_file: str
    base_dir: str
    estimator: str
    cv: str
    python: str
    platform: str
    machine: str
    host: str
    trial_hosts: tuple[str, ...]  # hosts trials ran on, when not just ``host``
    packages: tuple[Field, ...]
    spec_json: str


@dataclass(frozen=True)
class ErrorExcerpt:
    """The last lines of an error shared by one or more folds (``"Folds 0, 1, 2"``).

    A piece of page text, not an exception: ``folds`` says where, ``lines`` what.
    """

    folds: str
    lines: str


@dataclass(frozen=True)
class FailedTrial:
    """A failed trial: its params and the end of each distinct fold error."""

    number: int
    params: tuple[ParamValue, ...]
    errors: tuple[ErrorExcerpt, ...]


@dataclass(frozen=True)
class HistoryRun:
    """One run in a study's history: a table row, and a bar of the timeline.

    The bar spans ``x``..``x + width`` (SVG user units) on row ``y``: from the run's start
    to its end, or to its last sign of life (heartbeat, last fold) when it died.
    """

    label: str  # "#1", in start order
    command: str
    who: str  # user@host:pid
    version: str
    started: str
    ended: str  # the end, or the last sign of life of a run that died or still runs
    status: str  # "finished", "died" or "running"
    outcome: str  # "exit 0", "exit 130", "died", "running"
    failed: bool  # a non-zero exit, or died
    trials: int
    folds: int
    numbers: str  # the trial numbers it finished, as ranges: "0-4, 7"
    origin: str  # the store it was merged from ("" if recorded here)
    description: str  # the bar's tooltip
    x: str
    y: str
    width: str
    text_y: str


@dataclass(frozen=True)
class History:
    """A study's history as a timeline (inline SVG) and a table, oldest run first."""

    runs: tuple[HistoryRun, ...]
    n_hidden: int  # older runs not shown (beyond MAX_RUNS_SHOWN)
    width: int
    height: int
    left: str
    right: str
    bar_height: str
    axis_y: str
    label_x: str
    tick_y: str
    first: str  # the axis' first and last times, and the span between them
    last: str
    span: str
    description: str
    prefix_fits: str = ""  # the pipeline prefix cache over all the runs ("" when it did nothing)


@dataclass(frozen=True)
class StudyReport:
    """One study's section of a report."""

    anchor: str
    name: str
    shell_name: str  # the name quoted for a shell command line
    search: str
    metric: str
    metrics: tuple[str, ...]
    better: str  # "lower is better" when the study minimizes its ranking metric, else ""
    n_folds: int
    n_trials: int
    n_complete: int
    n_failed: int
    n_pending: int
    n_running: int
    created: str
    started: str  # first trial start ("" if none started)
    finished: str  # last trial finish ("" if none finished)
    duration: str
    warnings: tuple[str, ...]
    ranking: Ranking | None  # None: no complete trial yet
    best: BestTrial | None
    plots: tuple[ParamPlot, ...]
    plots_aggregated: bool  # some plot summarises trials per value instead of drawing each
    provenance: Provenance
    failures: tuple[FailedTrial, ...]
    n_failures_hidden: int
    # trials that fit but where a scorer failed (that metric is error_score, the trial is
    # not failed, as in scikit-learn); ``errors`` label each by metric and folds
    scorer_failures: tuple[FailedTrial, ...]
    n_scorer_failures: int
    n_scorer_failures_hidden: int
    csv: CsvDownload
    n_reused_folds: int  # folds taken from earlier fits instead of refitting
    history: History | None = None  # None: the store recorded no run of this study
    insight: Any = None  # report.insight.Insight: importance and the analysis figures (built there)
    curves: Any = None  # report.curves.CurvesSection: an objective's learning curves (None: none)
    ladder: Any = None  # report.ladder.Ladder: a successive-halving study's rungs (None otherwise)


@dataclass(frozen=True)
class ComparedStudy:
    """One study in the comparison table of a several-study report."""

    anchor: str
    name: str
    metric: str
    best_score: str
    best_trial: str
    best_params: tuple[ParamValue, ...]
    n_complete: int
    n_trials: int
    code_hash: Field
    data_hash: Field
    split_hash: Field


@dataclass(frozen=True)
class SharedConfigRow:
    """A row of a pair's table: a configuration both studies evaluated, its means and B − A.

    (:class:`hptrack.compare.SharedConfig` holds the numbers; this their page text.)
    """

    params: tuple[ParamValue, ...]
    a_number: int
    b_number: int
    a_mean: str
    b_mean: str
    delta: str
    p_value: str  # corrected resampled t-test of the fold deltas ("" when not paired)


@dataclass(frozen=True)
class PairComparison:
    """``hptrack compare A B`` as a report section: B (a later study) against A (the first).

    ``differences`` has one Field per area (spec, code, data, environment) that differs;
    ``shared`` the best ``TOP_N`` shared configurations by B's mean.
    """

    a_name: str
    b_name: str
    a_anchor: str
    b_anchor: str
    metric: str
    differences: tuple[Field, ...]
    shared: tuple[SharedConfigRow, ...]
    n_shared: int
    n_only_a: int
    n_only_b: int
    paired: bool  # same splits: deltas and tests are fold by fold
    best_a: str
    best_b: str
    best_delta: str
    test: str  # the paired test of the two bests, or why there is none


@dataclass(frozen=True)
class ComparisonSection:
    """The comparison section of a report on several studies.

    ``studies`` is a side-by-side table of what each study found; ``pairs`` compares
    the first study with each other one, as ``hptrack compare`` does.
    """

    studies: tuple[ComparedStudy, ...]
    pairs: tuple[PairComparison, ...] = ()


@dataclass(frozen=True)
class ReportContext:
    """A report page: one section per study. ``home`` links back to a site's index.

    With several studies, ``comparison`` compares them and the page template is
    ``compare.html`` (``study.html`` plus a ``comparison`` block).
    """

    title: str
    studies: tuple[StudyReport, ...]
    store_name: str
    generator: str
    home: str = ""
    comparison: ComparisonSection | None = None

    @property
    def template(self) -> str:
        """The page template: ``study.html``, or ``compare.html`` with a comparison."""
        return "study.html" if self.comparison is None else "compare.html"


@dataclass(frozen=True)
class IndexEntry:
    """A study on a site's index page."""

    name: str
    href: str
    search: str
    metric: str
    best_score: str
    n_complete: int
    n_failed: int
    n_trials: int
    created: str


@dataclass(frozen=True)
class IndexContext:
    """A site's ``index.html``: one row per study."""

    template: ClassVar[str] = "index.html"

    title: str
    studies: tuple[IndexEntry, ...]
    store_name: str
    generator: str
