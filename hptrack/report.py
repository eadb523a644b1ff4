"""The HTML report: build the context (frozen dataclasses) first, render templates second.

:func:`build_context` reads the store and computes, sorts and formats everything a page
shows, including the coordinates of every plot, so templates only loop, branch and
place values (autoescaped; nothing user-supplied is ever marked safe). :func:`render`
turns a context into HTML with the templates in ``templates/`` (or a team's own
directory first, see :func:`render`), and :func:`write_report` / :func:`write_site`
write files. The output is self-contained (inline CSS and SVG, no network reference,
no JavaScript) and deterministic: the same store renders the same bytes.

Large studies stay small: the ranking lists the best ``TOP_N`` trials, a collapsible
section the next ones up to ``FULL_TABLE_ROWS``, and every trial is in an embedded CSV
download (a ``data:`` link); plots of more than ``MAX_PLOT_TRIALS`` trials show, per
parameter value (or bin of values), the range, median and best of the trial means.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from .errors import HptrackError

if TYPE_CHECKING:
    import jinja2

    from .query import Study, Trial
    from .store import Store

TOP_N = 50  # configurations in the ranking table
FULL_TABLE_ROWS = 1000  # ranked trials listed in all (collapsible); beyond: the CSV download
MAX_FAILED_SHOWN = 100  # failed trials listed in full; the rest are counted
ERROR_LINES = 5  # last lines of a traceback shown per failed trial
DECIMALS = 4  # every score is shown with this many decimals
MAX_PLOT_TRIALS = 300  # above this many trials a plot aggregates the trials at each value
MAX_FOLD_DOTS = 1500  # fold scores drawn in one plot at most (else means only)
PLOT_BINS = 40  # an aggregated numeric axis with more distinct values is cut into bins
MISSING = "–"  # shown for a value that does not exist
MAX_RUNS_SHOWN = 200  # runs in the history timeline (the latest); the rest are counted
MAX_NUMBER_RANGES = 12  # runs of consecutive trial numbers listed per run

__all__ = [
    "BestTrial",
    "Comparison",
    "ComparedStudy",
    "PairComparison",
    "CsvDownload",
    "DataArray",
    "FailedTrial",
    "Field",
    "FoldError",
    "History",
    "HistoryRun",
    "IndexContext",
    "IndexEntry",
    "ParamPlot",
    "ParamValue",
    "PlotGroup",
    "PlotPoint",
    "Provenance",
    "RankedTrial",
    "Ranking",
    "ReportContext",
    "Score",
    "SharedConfig",
    "StudyReport",
    "Tick",
    "build_context",
    "build_index",
    "render",
    "write_report",
    "write_site",
]


# --------------------------------------------------------------------------- context


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
class FoldError:
    """The last lines of an error shared by one or more folds (``"Folds 0, 1, 2"``)."""

    folds: str
    lines: str


@dataclass(frozen=True)
class FailedTrial:
    """A failed trial: its params and the end of each distinct fold error."""

    number: int
    params: tuple[ParamValue, ...]
    errors: tuple[FoldError, ...]


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


@dataclass(frozen=True)
class StudyReport:
    """One study's section of a report."""

    anchor: str
    name: str
    shell_name: str  # the name quoted for a shell command line
    search: str
    metric: str
    metrics: tuple[str, ...]
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
class SharedConfig:
    """A configuration both studies of a pair evaluated: its means and B − A."""

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
    shared: tuple[SharedConfig, ...]
    n_shared: int
    n_only_a: int
    n_only_b: int
    paired: bool  # same splits: deltas and tests are fold by fold
    best_a: str
    best_b: str
    best_delta: str
    test: str  # the paired test of the two bests, or why there is none


@dataclass(frozen=True)
class Comparison:
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
    comparison: Comparison | None = None

    @property
    def template(self) -> str:
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


# --------------------------------------------------------------------------- building


def build_context(store: Store, names: Sequence[str], *, home: str = "") -> ReportContext:
    """Read studies ``names`` from ``store`` and build the report context.

    Parameters
    ----------
    store : Store
        An open store (read-only is enough).
    names : list of str
        Study names, in the order their sections appear (duplicates are dropped).
    home : str, optional
        Relative link back to a site's index page.

    Returns
    -------
    ReportContext

    Raises
    ------
    StudyNotFoundError
        A name is not a study in the store.
    HptrackError
        No study names were given.
    """
    wanted = list(dict.fromkeys(names))
    if not wanted:
        raise HptrackError("no study to report; give at least one study name")
    studies = [store.study(name) for name in wanted]  # every name checked before any work
    sections = tuple(_study_report(study, f"study-{i}") for i, study in enumerate(studies, 1))
    if len(sections) == 1:
        title = f"{sections[0].name} · hptrack report"
        comparison = None
    else:
        title = f"hptrack report: {len(sections)} studies"
        comparison = Comparison(
            studies=tuple(_compared_study(section) for section in sections),
            pairs=_pairs(studies, sections),
        )
    return ReportContext(
        title=title,
        studies=sections,
        store_name=store.path.name,
        generator=_generator(),
        home=home,
        comparison=comparison,
    )


def _generator() -> str:
    from . import __version__

    return f"hptrack {__version__}"


def _study_report(study: Study, anchor: str) -> StudyReport:
    trials = study.trials()  # by number
    counts = study.counts()
    metric = study.metric
    ranked = sorted((t for t in trials if t.rank is not None), key=lambda t: (t.rank, t.number))
    started = sorted(t.started for t in trials if t.started)
    finished = sorted(t.finished for t in trials if t.finished)
    first, last = (started[0] if started else None), (finished[-1] if finished else None)
    failed = [t for t in trials if t.status == "failed"]
    scorer_failed = [t for t in trials if t.score_errors]
    tied, tie_test = _tied_with_best(study, ranked)
    plots = _plots(ranked, metric)
    return StudyReport(
        anchor=anchor,
        name=study.name,
        shell_name=shlex.quote(study.name),
        search=study.search,
        metric=metric,
        metrics=tuple(study.metrics),
        n_folds=study.n_folds,
        n_trials=study.n_trials,
        n_complete=counts["complete"],
        n_failed=counts["failed"],
        n_pending=counts["pending"],
        n_running=counts["running"],
        created=_timestamp(study.created),
        started=_timestamp(first) if first else "",
        finished=_timestamp(last) if last else "",
        duration=_duration(first, last),
        warnings=_warnings(study, trials),
        ranking=_ranking(ranked, study.metrics, tied, tie_test) if ranked else None,
        best=_best(ranked, study.metrics) if ranked else None,
        plots=plots,
        plots_aggregated=any(plot.aggregated for plot in plots),
        provenance=_provenance(study, trials),
        failures=tuple(_failed_trial(t) for t in failed[:MAX_FAILED_SHOWN]),
        n_failures_hidden=max(0, len(failed) - MAX_FAILED_SHOWN),
        scorer_failures=tuple(_scorer_failures(t) for t in scorer_failed[:MAX_FAILED_SHOWN]),
        n_scorer_failures=len(scorer_failed),
        n_scorer_failures_hidden=max(0, len(scorer_failed) - MAX_FAILED_SHOWN),
        csv=_csv_download(study, trials),
        n_reused_folds=sum(len(t.origins) for t in trials),
        history=_history(study),
    )


def _compared_study(section: StudyReport) -> ComparedStudy:
    best = section.best
    prov = section.provenance
    return ComparedStudy(
        anchor=section.anchor,
        name=section.name,
        metric=section.metric,
        best_score=best.scores[0].mean if best else MISSING,
        best_trial=str(best.number) if best else MISSING,
        best_params=best.params if best else (),
        n_complete=section.n_complete,
        n_trials=section.n_trials,
        code_hash=prov.code_hash,
        data_hash=prov.data_hash,
        split_hash=prov.split_hash,
    )


def _pairs(studies: Sequence[Study], sections: Sequence[StudyReport]) -> tuple[PairComparison, ...]:
    """``hptrack compare`` of the first study (A) with each other one (B)."""
    from .compare import compare_studies

    a, a_section = studies[0], sections[0]
    pairs = []
    for b, b_section in zip(studies[1:], sections[1:]):
        if a.metric not in b.metrics:
            pairs.append(_pair_without_metric(a_section, b_section))
            continue
        result = compare_studies(a, b)
        labels = {"spec": "Spec", "code": "Code", "data": "Data", "environment": "Environment"}
        differences = tuple(
            Field(labels.get(area, area), "; ".join(items))
            for area, items in result.differences.items()
            if items
        )
        pairs.append(
            PairComparison(
                a_name=a.name,
                b_name=b.name,
                a_anchor=a_section.anchor,
                b_anchor=b_section.anchor,
                metric=result.metric,
                differences=differences,
                shared=tuple(
                    SharedConfig(
                        params=_params(c.params),
                        a_number=c.a_number,
                        b_number=c.b_number,
                        a_mean=_number(c.a_mean),
                        b_mean=_number(c.b_mean),
                        delta=_signed(c.delta),
                        p_value=_p_value(c.p_value),
                    )
                    for c in result.shared[:TOP_N]
                ),
                n_shared=len(result.shared),
                n_only_a=len(result.only_a),
                n_only_b=len(result.only_b),
                paired=result.comparable_folds,
                best_a=_best_text(result.best_a),
                best_b=_best_text(result.best_b),
                best_delta=_signed(result.best_delta),
                test=result.test_note,
            )
        )
    return tuple(pairs)


def _pair_without_metric(a: StudyReport, b: StudyReport) -> PairComparison:
    return PairComparison(
        a_name=a.name,
        b_name=b.name,
        a_anchor=a.anchor,
        b_anchor=b.anchor,
        metric=a.metric,
        differences=(),
        shared=(),
        n_shared=0,
        n_only_a=0,
        n_only_b=0,
        paired=False,
        best_a=MISSING,
        best_b=MISSING,
        best_delta=MISSING,
        test=f"not compared: {b.name!r} does not record {a.name!r}'s ranking metric {a.metric}",
    )


def _best_text(best: Any) -> str:
    if best is None:
        return "no complete trial"
    return f"{_number(best.mean)} ± {_number(best.std)} (trial {best.number})"


def _signed(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return MISSING
    return f"{value + 0.0:+.{DECIMALS}f}"


def _p_value(value: float | None) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.3g}"


def _number(value: float | None) -> str:
    """A score with ``DECIMALS`` decimals; ``MISSING`` for None or NaN."""
    if value is None or not math.isfinite(value):
        return MISSING
    return f"{value + 0.0:.{DECIMALS}f}"  # + 0.0 turns -0.0 into 0.0


def _value_text(value: Any) -> str:
    """A parameter value as text: strings as they are, anything else as JSON."""
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if kind is int or (kind is float and math.isfinite(value)):
        return repr(value)  # what json.dumps writes, faster
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def _params(params: Mapping[str, Any]) -> tuple[ParamValue, ...]:
    return tuple(ParamValue(k, _value_text(v)) for k, v in sorted(params.items()))


def _scores(trial: Trial, metrics: Sequence[str]) -> tuple[Score, ...]:
    return tuple(
        Score(
            metric=m,
            mean=_number(trial.mean.get(m)),
            std=_number(trial.std.get(m)),
            folds=tuple(_number(v) for v in trial.scores.get(m, [])),
        )
        for m in metrics
    )


def _parse_time(value: str | None) -> _dt.datetime | None:
    if not value:
        return None
    try:
        parsed = _dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_dt.timezone.utc)
    return parsed.astimezone(_dt.timezone.utc)


def _timestamp(value: str | None) -> str:
    """``2024-05-01 12:30:05 UTC`` (the stored text if it is not ISO-8601)."""
    parsed = _parse_time(value)
    if parsed is None:
        return value or MISSING
    return parsed.strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(start: str | None, end: str | None) -> str:
    """Wall time from ``start`` to ``end``: ``4.2 s``, ``3 min 05 s``, ``2 h 07 min``."""
    begin, finish = _parse_time(start), _parse_time(end)
    if begin is None or finish is None or finish < begin:
        return MISSING
    seconds = (finish - begin).total_seconds()
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    if whole < 86400:
        return f"{whole // 3600} h {whole % 3600 // 60:02d} min"
    return f"{whole // 86400} d {whole % 86400 // 3600:02d} h"


def _short(hash_value: str | None) -> str:
    return hash_value[:12] if hash_value else MISSING


def _hash_field(label: str, hash_value: str | None) -> Field:
    return Field(label, _short(hash_value), hash_value or "")


def _warnings(study: Study, trials: Sequence[Trial]) -> tuple[str, ...]:
    """Mixed code or data among the study's trials (:meth:`Study.provenance_warnings`)."""
    return tuple(study.provenance_warnings())


def _tied_with_best(study: Study, ranked: Sequence[Trial]) -> tuple[frozenset[int] | None, str]:
    """Numbers of the trials statistically tied with the best, and the test's statement.

    The test is :meth:`Study.tied_with_best` (as in ``hptrack trials``). The numbers are
    None when no test was possible (a holdout split has one fold), the statement then
    says why; both are empty without a complete trial.
    """
    if not ranked:
        return frozenset(), ""
    ties = study.tied_with_best()
    return (frozenset(ties.tied) if ties.tested else None), ties.statement()


def _origins_text(origins: Mapping[int, Any], n_folds: int) -> tuple[str, ...]:
    """``("reused from study 'a' trial 3",)``, naming the folds unless all share one origin."""
    by_origin: dict[str, list[int]] = {}
    for fold, origin in sorted(origins.items()):
        by_origin.setdefault(_origin_text(origin), []).append(fold)
    texts = []
    for text, folds in sorted(by_origin.items(), key=lambda item: item[1][0]):
        if len(folds) == n_folds and len(by_origin) == 1:
            texts.append(text)
        else:
            texts.append(f"{text} (fold{'s' if len(folds) > 1 else ''} {', '.join(map(str, folds))})")
    return tuple(texts)


def _origin_text(origin: Any) -> str:
    if isinstance(origin, Mapping):
        study = origin.get("study")
        number = origin.get("trial", origin.get("number"))
        if study is not None and number is not None:
            store = f" in {origin['store']}" if origin.get("store") else ""
            return f"reused from study {_value_text(study)} trial {_value_text(number)}{store}"
    return f"reused from {json.dumps(origin, sort_keys=True, ensure_ascii=False)}"


def _ranking(
    ranked: Sequence[Trial], metrics: Sequence[str], tied: frozenset[int] | None, tie_test: str
) -> Ranking:
    listed = ranked[:FULL_TABLE_ROWS]
    names = tuple(sorted({k for t in listed for k in t.params}))
    best_number = ranked[0].number
    n_folds = max((len(t.scores.get(metrics[0], [])) for t in listed), default=0)
    rows = tuple(
        RankedTrial(
            rank=int(t.rank or 0),
            number=t.number,
            params=tuple(_cell_value(n, t.params) for n in names),
            scores=_scores(t, metrics),
            is_best=t.number == best_number,
            tied=tied is not None and t.number in tied and t.number != best_number,
            reused=_origins_text(t.origins, n_folds) if t.origins else (),
        )
        for t in listed
    )
    return Ranking(
        metric=metrics[0],
        metrics=tuple(metrics),
        param_names=names,
        rows=rows[:TOP_N],
        more_rows=rows[TOP_N:],
        n_ranked=len(ranked),
        n_unlisted=len(ranked) - len(listed),
        truncated=len(ranked) > TOP_N,
        tie_test=tie_test,
        tie_tested=tied is not None,
        n_tied=len(tied - {best_number}) if tied is not None else 0,
    )


def _cell_value(name: str, params: Mapping[str, Any]) -> ParamValue:
    """A param in a table cell: long floats (random search) to 6 significant digits."""
    if name not in params:
        return ParamValue(name, MISSING)
    value = params[name]
    text = _value_text(value)
    if isinstance(value, float) and len(text) > 10 and math.isfinite(value):
        return ParamValue(name, f"{value:.6g}", text)
    return ParamValue(name, text)


def _csv_download(study: Study, trials: Sequence[Trial]) -> CsvDownload:
    """Every trial as CSV in ``cv_results_`` naming (as ``hptrack export``), in a data: URL.

    Scores are written at full precision; the error column holds the last line of the
    first failed fold's error. ``seed``, ``code_hash`` and ``origin`` columns appear when
    they say something (seeds or code hashes differ between trials, reused folds).
    """
    import csv
    import io

    metrics = list(study.metrics)
    names = sorted({k for t in trials for k in t.params})
    n_folds = study.n_folds
    seeds = any(t.seed != trials[0].seed for t in trials)
    mixed = len({t.code_hash for t in trials if t.code_hash}) > 1
    reused = any(t.origins for t in trials)
    header = ["number", "status", f"rank_test_{metrics[0]}", *(f"param_{n}" for n in names)]
    for m in metrics:
        header += [f"mean_test_{m}", f"std_test_{m}", *(f"split{k}_test_{m}" for k in range(n_folds))]
    header.append("mean_fit_time")
    header += ["seed"] * seeds + ["code_hash"] * mixed + ["origin"] * reused + ["error"]

    def cell(value: float | None) -> str:  # full precision; "" for a missing or NaN score
        return repr(value) if value is not None and math.isfinite(value) else ""

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for t in trials:
        row = [str(t.number), t.status, "" if t.rank is None else str(t.rank)]
        row += [_value_text(t.params[n]) if n in t.params else "" for n in names]
        for m in metrics:
            folds = list(t.scores.get(m, []))
            folds += [None] * (n_folds - len(folds))
            row += [cell(t.mean.get(m)), cell(t.std.get(m)), *map(cell, folds[:n_folds])]
        fit = [v for v in t.fit_time if v is not None and math.isfinite(v)]
        row.append(cell(math.fsum(fit) / len(fit)) if fit and len(fit) == len(t.fit_time) else "")
        if seeds:
            row.append(json.dumps(t.seed, sort_keys=True))
        if mixed:
            row.append(t.code_hash or "")
        if reused:
            row.append(
                json.dumps({str(k): v for k, v in sorted(t.origins.items())}, sort_keys=True)
                if t.origins
                else ""
            )
        errors = [e for _, e in sorted(t.errors.items()) if e.strip()]
        row.append(errors[0].strip().splitlines()[-1] if errors else "")
        writer.writerow(row)
    text = buffer.getvalue()
    slug = _page_names([study.name])[study.name].removesuffix(".html")
    return CsvDownload(
        href="data:text/csv;charset=utf-8," + _UNSAFE_IN_URL.sub(_percent, text),
        filename=f"{slug}-trials.csv",
        n_rows=len(trials),
        size=_size_text(len(text.encode("utf-8"))),
    )


_UNSAFE_IN_URL = re.compile(r"[^A-Za-z0-9,._~:=+/-]+")  # what a data: URL must percent-encode


def _percent(match: re.Match[str]) -> str:
    return "".join(f"%{byte:02X}" for byte in match.group().encode("utf-8"))


def _size_text(n_bytes: int) -> str:
    if n_bytes < 1000:
        return f"{n_bytes} bytes"
    if n_bytes < 1_000_000:
        return f"{n_bytes / 1000:.0f} kB"
    return f"{n_bytes / 1e6:.1f} MB"


def _best(ranked: Sequence[Trial], metrics: Sequence[str]) -> BestTrial:
    best = ranked[0]
    return BestTrial(
        number=best.number,
        params=_params(best.params),
        params_json=json.dumps(best.params, indent=2, sort_keys=True, ensure_ascii=False),
        scores=_scores(best, metrics),
        seed_json=json.dumps(best.seed, sort_keys=True),
        started=_timestamp(best.started),
        finished=_timestamp(best.finished),
        host=best.host or MISSING,
        n_tied=sum(1 for t in ranked[1:] if t.rank == best.rank),
    )


def _provenance(study: Study, trials: Sequence[Trial]) -> Provenance:
    prov = study.provenance
    env: Mapping[str, Any] = prov.get("environment") or {}
    git: Mapping[str, Any] = prov.get("git") or {}
    code = study.code
    versions: dict[str, str] = {}
    for name, version in sorted((env.get("versions") or {}).items()):
        versions[name] = version or "unknown"
    for name, version in sorted((code.get("packages") or {}).items()):
        if version and name not in versions:
            versions[name] = version
    dirty = git.get("dirty")
    python = env.get("python") or code.get("python") or MISSING
    if env.get("implementation"):
        python = f"{python} ({env['implementation']})"
    hosts = tuple(sorted({t.host for t in trials if t.host}))
    return Provenance(
        seed=str(study.seed),
        estimator_seeds=json.dumps(prov.get("seeds") or {}, sort_keys=True),
        code_hash=_hash_field("code hash", study.code_hash),
        sources=tuple(
            _hash_field(path, digest) for path, digest in sorted((code.get("sources") or {}).items())
        ),
        git_commit=git.get("commit") or "not in a git work tree",
        git_dirty=MISSING if dirty is None else ("yes: uncommitted changes" if dirty else "no"),
        data_hash=_hash_field("data fingerprint", study.data_hash),
        data_arrays=tuple(_data_array(item) for item in study.data),
        split_hash=_hash_field("split hash", study.split_hash),
        spec_hash=_hash_field("spec hash", study.spec_hash),
        spec_file=str(prov.get("spec_file") or MISSING),
        base_dir=str(prov.get("base_dir") or MISSING),
        estimator=str(prov.get("estimator") or study.spec.get("estimator") or MISSING),
        cv=str(prov.get("cv") or MISSING),
        python=python,
        platform=str(env.get("platform") or MISSING),
        machine=str(env.get("machine") or MISSING),
        host=str(env.get("host") or MISSING),
        trial_hosts=hosts if hosts != (env.get("host"),) else (),
        packages=tuple(Field(name, version) for name, version in versions.items()),
        spec_json=json.dumps(study.spec, indent=2, sort_keys=True, ensure_ascii=False),
    )


def _data_array(item: Mapping[str, Any]) -> DataArray:
    shape = item.get("shape")
    return DataArray(
        name=str(item.get("name", MISSING)),
        kind=str(item.get("type", MISSING)),
        dtype=str(item.get("dtype") or ""),
        shape=" × ".join(str(n) for n in shape) if shape else "",
    )


def _failed_trial(trial: Trial) -> FailedTrial:
    by_error: dict[str, list[int]] = {}
    for fold, error in sorted(trial.errors.items()):
        by_error.setdefault(_last_lines(error), []).append(fold)
    return FailedTrial(
        number=trial.number,
        params=_params(trial.params),
        errors=tuple(
            FoldError(
                folds=f"Fold{'s' if len(folds) > 1 else ''} {', '.join(str(f) for f in folds)}",
                lines=lines,
            )
            for lines, folds in sorted(by_error.items(), key=lambda item: item[1][0])
        ),
    )


def _scorer_failures(trial: Trial) -> FailedTrial:
    """A trial's failed scorers: per metric and distinct error, the folds and its last lines."""
    by_error: dict[tuple[str, str], list[int]] = {}
    for fold, failed in sorted(trial.score_errors.items()):
        for metric, error in sorted(failed.items()):
            by_error.setdefault((metric, _last_lines(error)), []).append(fold)
    return FailedTrial(
        number=trial.number,
        params=_params(trial.params),
        errors=tuple(
            FoldError(
                folds=f"{metric}, fold{'s' if len(folds) > 1 else ''} {', '.join(str(f) for f in folds)}",
                lines=lines,
            )
            for (metric, lines), folds in by_error.items()
        ),
    )


def _last_lines(error: str) -> str:
    lines = [line.rstrip() for line in error.splitlines() if line.strip()]
    return "\n".join(lines[-ERROR_LINES:]) or "(no error text recorded)"


# --------------------------------------------------------------------------- plots

_WIDTH, _HEIGHT, _HEIGHT_ROTATED = 480, 290, 310  # rotated tick labels need more room
_LEFT, _RIGHT, _TOP, _BOTTOM = 64.0, 464.0, 16.0, 240.0  # the plot area
_INSET = 12.0  # keeps points off the frame
_MAX_LABEL = 12  # characters of a categorical tick label


def _px(value: float) -> str:
    return f"{value + 0.0:.1f}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _plots(ranked: Sequence[Trial], metric: str) -> tuple[ParamPlot, ...]:
    scored = [
        (t, mean)
        for t in sorted(ranked, key=lambda t: t.number)
        if (mean := t.mean.get(metric)) is not None and math.isfinite(mean)
    ]
    names = sorted({k for t, _ in scored for k in t.params})
    return tuple(_param_plot(name, scored, metric) for name in names)


def _nice_ticks(lo: float, hi: float, max_ticks: int = 7) -> tuple[float, float, list[tuple[float, str]]]:
    """Round ticks (1, 2 or 5 times a power of ten apart) covering ``[lo, hi]``.

    Returns the axis ends and ``(value, label)`` pairs, the finest spacing that needs at
    most ``max_ticks`` ticks.
    """
    if hi - lo <= 1e-9 * max(1.0, abs(lo), abs(hi)):  # one value (up to rounding error)
        middle = (lo + hi) / 2
        pad = abs(middle) * 0.05 or 0.5
        lo, hi = middle - pad, middle + pad
    exponent = math.floor(math.log10((hi - lo) / 10))
    while True:
        for factor in (1, 2, 5):
            step = factor * 10.0**exponent
            start, stop = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
            if stop - start + 1 <= max_ticks:
                decimals = max(0, -exponent)
                ticks = [(k * step, f"{k * step + 0.0:.{decimals}f}") for k in range(start, stop + 1)]
                return ticks[0][0], ticks[-1][0], ticks
        exponent += 1


def _pow10_label(exponent: int) -> str:
    return f"{10.0**exponent:g}" if -4 <= exponent <= 4 else f"1e{exponent}"


def _log_scale(values: Sequence[Any]) -> bool:
    """Whether positive numbers are better drawn on a log axis.

    Yes from three decades on; from one decade on when the median distinct value sits
    nearer the middle of a log axis than of a linear one (geometric grids such as
    ``[1e-4, 3e-4, 1e-3, 3e-3]``, log-uniform samples), no for arithmetic ones.
    """
    distinct = sorted({float(v) for v in values})
    lo, hi = distinct[0], distinct[-1]
    if lo <= 0 or hi / lo < 10:
        return False
    if hi / lo >= 1000:
        return True
    middle = len(distinct) // 2
    median = distinct[middle] if len(distinct) % 2 else math.sqrt(distinct[middle - 1] * distinct[middle])
    on_log = (math.log10(median) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))
    on_linear = (median - lo) / (hi - lo)
    return abs(on_log - 0.5) <= abs(on_linear - 0.5)


def _log_ticks(e_lo: float, e_hi: float, to_x: Callable[[float], float]) -> list[tuple[float, str]]:
    """Ticks at powers of ten; at 1, 2 and 5 times them when the axis spans under two decades."""
    factors = (1, 2, 5) if e_hi - e_lo < 2 else (1,)
    ticks = []
    for exponent in range(math.floor(e_lo), math.ceil(e_hi) + 1):
        for factor in factors:
            position = exponent + math.log10(factor)
            if e_lo - 1e-9 <= position <= e_hi + 1e-9:
                label = _pow10_label(exponent) if factor == 1 else f"{factor * 10.0**exponent:g}"
                ticks.append((to_x(position), label))
    return ticks


def _linear(lo: float, hi: float, a: float, b: float) -> Callable[[float], float]:
    """Map ``[lo, hi]`` onto pixels ``[a, b]`` (a single value maps to the middle)."""

    def to_pixel(value: float) -> float:
        return a + (value - lo) / (hi - lo) * (b - a) if hi > lo else (a + b) / 2

    return to_pixel


def _x_axis(values: Sequence[Any]) -> tuple[str, list[float], list[tuple[float, str]], bool]:
    """Scale, the pixel x of each value, the ticks, and whether tick labels are rotated.

    Numbers get a log axis when they are positive, span a decade or more and sit more
    evenly on it than on a linear one (see :func:`_log_scale`), else a linear one;
    anything else (strings, booleans, None, mixed) gets evenly spaced categories in
    order of first appearance.
    """
    a, b = _LEFT + _INSET, _RIGHT - _INSET
    if values and all(_is_number(v) for v in values):
        lo, hi = float(min(values)), float(max(values))
        if _log_scale(values):
            e_lo, e_hi = math.log10(lo), math.log10(hi)
            to_x = _linear(e_lo, e_hi, a, b)
            return "log", [to_x(math.log10(v)) for v in values], _log_ticks(e_lo, e_hi, to_x), False
        start, stop, nice = _nice_ticks(lo, hi)
        to_x = _linear(start, stop, a, b)
        ticks = [(to_x(v), label) for v, label in nice]
        return "linear", [to_x(float(v)) for v in values], ticks, False
    keys = [json.dumps(v, sort_keys=True) for v in values]
    labels: dict[str, str] = {}
    for key, value in zip(keys, values):
        labels.setdefault(key, _value_text(value))
    slot = (_RIGHT - _LEFT) / max(len(labels), 1)
    position = {key: _LEFT + (i + 0.5) * slot for i, key in enumerate(labels)}
    rotate = len(labels) > 6 or any(len(label) > 8 for label in labels.values())
    ticks = [(position[key], _truncate(label)) for key, label in labels.items()]
    return "categorical", [position[key] for key in keys], ticks, rotate


def _param_plot(name: str, scored: Sequence[tuple[Trial, float]], metric: str) -> ParamPlot:
    points = [(t, mean) for t, mean in scored if name in t.params]
    scale, xs, x_ticks, rotate = _x_axis([t.params[name] for t, _ in points])
    aggregated = len(points) > MAX_PLOT_TRIALS
    n_fold_scores = sum(len(t.scores.get(metric, [])) for t, _ in points)
    with_folds = not aggregated and n_fold_scores <= MAX_FOLD_DOTS
    folds = [
        (x, t, v)
        for x, (t, _) in zip(xs, points)
        for v in (t.scores.get(metric, []) if with_folds else [])
        if v is not None and math.isfinite(v)
    ]
    y_values = [mean for _, mean in points] + [v for _, _, v in folds]
    y_lo, y_hi, y_ticks = _nice_ticks(min(y_values, default=0.0), max(y_values, default=1.0))
    y_of = _linear(y_lo, y_hi, _BOTTOM - _INSET / 2, _TOP + _INSET / 2)

    def value_of(t: Trial) -> str:
        return f"trial {t.number}: {name} = {_value_text(t.params[name])}"

    groups: list[PlotGroup] = []
    if aggregated:
        means, groups, binned = _aggregate(name, metric, scale, xs, points, y_of)
        best_line = " ".join(f"{p.x},{p.y}" for p in means) if len(means) > 1 else ""
    else:
        binned = False
        best_at: dict[str, tuple[float, float]] = {}  # pixel x -> (x, best mean there)
        for x, (_, mean) in zip(xs, points):
            if _px(x) not in best_at or mean > best_at[_px(x)][1]:
                best_at[_px(x)] = (x, mean)
        line = sorted(best_at.values())
        best_line = " ".join(f"{_px(x)},{_px(y_of(m))}" for x, m in line) if len(line) > 1 else ""
        means = [
            PlotPoint(
                _px(x),
                _px(y_of(mean)),
                f"{value_of(t)}, mean {metric} {_number(mean)} ± {_number(t.std.get(metric))}",
            )
            for x, (t, mean) in zip(xs, points)
        ]
    label_y = _BOTTOM + 16
    n_missing = len(scored) - len(points)
    note = {"log": "log scale", "linear": "linear scale", "categorical": "categories"}[scale]
    if n_missing:
        note += f"; {n_missing} trial{'s' if n_missing != 1 else ''} without {name} not shown"
    if aggregated:
        per = f"{len(groups)} bins of values" if binned else "each value"
        note += f"; {len(points)} trials summarised at {per}"
        description = (
            f"mean {metric} against {name}: {len(points)} complete trials summarised at {per} "
            "(line: range of trial means; dash: median; point: best)"
        )
    else:
        if not with_folds:
            note += f"; fold scores not drawn for {len(points)} trials"
        description = f"mean {metric} against {name} ({len(points)} complete trials" + (
            "; dots: fold scores)" if with_folds else ")"
        )

    return ParamPlot(
        param=name,
        metric=metric,
        scale=scale,
        description=description,
        note=note,
        width=_WIDTH,
        height=_HEIGHT_ROTATED if rotate else _HEIGHT,
        left=_px(_LEFT),
        right=_px(_RIGHT),
        top=_px(_TOP),
        bottom=_px(_BOTTOM),
        frame_width=_px(_RIGHT - _LEFT),
        frame_height=_px(_BOTTOM - _TOP),
        x_ticks=tuple(
            Tick(_px(x), label, f"rotate(-30 {_px(x)} {_px(label_y)})" if rotate else "")
            for x, label in x_ticks
        ),
        y_ticks=tuple(Tick(_px(y_of(v)), label) for v, label in y_ticks),
        x_tick_label_y=_px(label_y),
        x_tick_label_anchor="end" if rotate else "middle",
        y_tick_label_x=_px(_LEFT - 6),
        x_title_x=_px((_LEFT + _RIGHT) / 2),
        x_title_y=_px(_HEIGHT_ROTATED - 6 if rotate else label_y + 24),
        y_title_x=_px(14),
        y_title_y=_px((_TOP + _BOTTOM) / 2),
        y_title_transform=f"rotate(-90 {_px(14)} {_px((_TOP + _BOTTOM) / 2)})",
        means=tuple(means),
        folds=tuple(
            PlotPoint(_px(x), _px(y_of(v)), f"{value_of(t)}, fold {metric} {_number(v)}") for x, t, v in folds
        ),
        best_line=best_line,
        aggregated=aggregated,
        groups=tuple(groups),
    )


def _aggregate(
    name: str,
    metric: str,
    scale: str,
    xs: Sequence[float],
    points: Sequence[tuple[Trial, float]],
    y_of: Callable[[float], float],
) -> tuple[list[PlotPoint], list[PlotGroup], bool]:
    """Summarise many trials per x: the best point, and the range and median of means.

    Trials group by value when there are at most ``PLOT_BINS`` distinct positions (a
    grid, categories), else by equal-width bins of the axis. Returns the best points,
    the groups (both left to right) and whether values were binned.
    """
    positions = {round(x, 1) for x in xs}
    binned = scale != "categorical" and len(positions) > PLOT_BINS
    a, b = _LEFT + _INSET, _RIGHT - _INSET
    width = (b - a) / PLOT_BINS
    members: dict[float, list[tuple[Trial, float]]] = {}
    for x, point in zip(xs, points):
        if binned:
            k = min(PLOT_BINS - 1, max(0, int((x - a) / width)))
            x = a + (k + 0.5) * width
        members.setdefault(round(x, 1), []).append(point)
    best_points, groups = [], []
    for x, group in sorted(members.items()):
        best_trial, best_mean = min(group, key=lambda item: (-item[1], item[0].number))
        values = sorted(mean for _, mean in group)
        middle = len(values) // 2
        median = values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2
        raw = [t.params[name] for t, _ in group]
        if binned:
            low, high = min(raw), max(raw)
            where = f"{name} {low:.3g} to {high:.3g}" if low != high else f"{name} = {low:.3g}"
        else:
            where = f"{name} = {_value_text(raw[0])}"
        n = len(group)
        label = (
            f"{where}: {n} trial{'s' if n != 1 else ''}; best mean {metric} {_number(best_mean)} "
            f"(trial {best_trial.number}), median {_number(median)}, worst {_number(values[0])}"
        )
        best_points.append(PlotPoint(_px(x), _px(y_of(best_mean)), label))
        groups.append(
            PlotGroup(
                x=_px(x),
                low=_px(y_of(values[0])),
                high=_px(y_of(values[-1])),
                median=_px(y_of(median)),
                left=_px(x - 5),
                right=_px(x + 5),
                label=label,
            )
        )
    return best_points, groups, binned


# --------------------------------------------------------------------------- history

_HISTORY_WIDTH, _HISTORY_LEFT, _HISTORY_RIGHT = 720, 40.0, 708.0
_HISTORY_TOP, _HISTORY_ROW, _HISTORY_BAR = 8.0, 22.0, 14.0


def _number_ranges(numbers: Sequence[int]) -> str:
    """``0-4, 7, 9-10``: consecutive trial numbers as ranges (at most MAX_NUMBER_RANGES)."""
    ranges: list[list[int]] = []
    for number in sorted(numbers):
        if ranges and number == ranges[-1][1] + 1:
            ranges[-1][1] = number
        else:
            ranges.append([number, number])
    shown = [str(a) if a == b else f"{a}-{b}" for a, b in ranges[:MAX_NUMBER_RANGES]]
    more = len(ranges) - MAX_NUMBER_RANGES
    return ", ".join(shown) + (f" and {more} more range{'s' if more != 1 else ''}" if more > 0 else "")


def _history(study: Study) -> History | None:
    """The timeline of :meth:`Study.history`: a bar per run on one time axis."""
    runs = study.history()
    if not runs:
        return None
    shown = runs[-MAX_RUNS_SHOWN:]
    times = [_parse_time(r.started) for r in shown] + [_parse_time(r.last_seen) for r in shown]
    known = [t for t in times if t is not None]
    first, last = min(known), max(known)
    seconds = max((last - first).total_seconds(), 1e-6)
    scale = (_HISTORY_RIGHT - _HISTORY_LEFT) / seconds

    def x_of(value: str | None) -> float:
        moment = _parse_time(value) or first
        return _HISTORY_LEFT + (moment - first).total_seconds() * scale

    bars = []
    for index, run in enumerate(shown, start=len(runs) - len(shown) + 1):
        row = len(bars)
        start, end = x_of(run.started), x_of(run.last_seen)
        outcome = run.status if run.status != "finished" else f"exit {run.exit}"
        who = f"{run.user or '?'}@{run.host or '?'}:{run.pid if run.pid is not None else '?'}"
        ended = _timestamp(run.last_seen)
        bars.append(
            HistoryRun(
                label=f"#{index}",
                command=run.command,
                who=who,
                version=run.version or MISSING,
                started=_timestamp(run.started),
                ended=ended if run.status == "finished" else f"{ended} (last seen)",
                status=run.status,
                outcome=outcome,
                failed=run.status == "died" or bool(run.exit),
                trials=run.trials,
                folds=run.folds,
                numbers=_number_ranges(run.numbers) or MISSING,
                origin=run.origin or "",
                description=(
                    f"#{index} {run.command} ({who}): {_timestamp(run.started)} to {ended}, {outcome}, "
                    f"{run.trials} trial{'s' if run.trials != 1 else ''} finished"
                ),
                x=_px(start),
                y=_px(_HISTORY_TOP + row * _HISTORY_ROW),
                width=_px(max(end - start, 2.0)),
                text_y=_px(_HISTORY_TOP + row * _HISTORY_ROW + _HISTORY_BAR / 2),
            )
        )
    axis = _HISTORY_TOP + len(bars) * _HISTORY_ROW
    n_died = sum(r.status == "died" for r in runs)
    return History(
        runs=tuple(bars),
        n_hidden=len(runs) - len(shown),
        width=_HISTORY_WIDTH,
        height=int(axis + 24),
        left=_px(_HISTORY_LEFT),
        right=_px(_HISTORY_RIGHT),
        bar_height=_px(_HISTORY_BAR),
        axis_y=_px(axis),
        label_x=_px(_HISTORY_LEFT - 6),
        tick_y=_px(axis + 16),
        first=_timestamp(first.isoformat()),
        last=_timestamp(last.isoformat()),
        span=_duration(first.isoformat(), last.isoformat()),
        description=(
            f"{len(runs)} run{'s' if len(runs) != 1 else ''} of {study.name} over time"
            + (f", {n_died} of them died" if n_died else "")
        ),
    )


def _truncate(text: str) -> str:
    return text if len(text) <= _MAX_LABEL else text[: _MAX_LABEL - 1] + "…"


# --------------------------------------------------------------------------- site index


def build_index(store: Store, pages: Mapping[str, str]) -> IndexContext:
    """The context of a site's index page; ``pages`` maps study name to page file name."""
    entries = []
    for summary in store.studies():
        if summary.name not in pages:
            continue
        entries.append(
            IndexEntry(
                name=summary.name,
                href=pages[summary.name],
                search=summary.search,
                metric=summary.metric,
                best_score=_number(summary.best_score),
                n_complete=summary.n_complete,
                n_failed=summary.n_failed,
                n_trials=summary.n_trials,
                created=_timestamp(summary.created),
            )
        )
    return IndexContext(
        title=f"hptrack studies in {store.path.name}",
        studies=tuple(entries),
        store_name=store.path.name,
        generator=_generator(),
    )


def _page_names(names: Iterable[str]) -> dict[str, str]:
    """A distinct, filesystem-safe page file name per study (case-insensitively distinct)."""
    taken = {"index"}
    pages: dict[str, str] = {}
    for name in names:
        slug = re.sub(r"[^a-z0-9_.-]+", "-", name.lower()).strip("-.")[:80] or "study"
        candidate, n = slug, 2
        while candidate in taken:
            candidate, n = f"{slug}-{n}", n + 1
        taken.add(candidate)
        pages[name] = f"{candidate}.html"
    return pages


# --------------------------------------------------------------------------- rendering


def _default_template_dir() -> Path:
    bundled = Path(__file__).with_name("templates")  # installed wheel
    return bundled if bundled.is_dir() else Path(__file__).resolve().parents[1] / "templates"


def _environment(template_dir: Path | None) -> jinja2.Environment:
    import jinja2

    defaults = jinja2.FileSystemLoader(_default_template_dir())
    user: list[jinja2.BaseLoader] = []
    if template_dir is not None:
        if not Path(template_dir).is_dir():
            raise HptrackError(
                f"template directory {str(template_dir)!r} does not exist; give a directory "
                "holding your study.html, base.html or _*.html overrides"
            )
        user = [jinja2.FileSystemLoader(template_dir)]
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [*user, defaults, jinja2.PrefixLoader({"default": defaults}, delimiter=":")]
        ),
        autoescape=jinja2.select_autoescape(default_for_string=True, default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(context: ReportContext | IndexContext, *, template_dir: Path | None = None) -> str:
    """Render a context to HTML.

    Parameters
    ----------
    context : ReportContext or IndexContext
        From :func:`build_context` or :func:`build_index`.
    template_dir : Path, optional
        A team's templates, looked up before the defaults. A ``study.html`` there can
        ``{% extends "default:study.html" %}`` and replace single blocks (``header``,
        ``ranking``, ``best``, ``plots``, ``provenance``, ``failures``, ...).

    Returns
    -------
    str
        The page (the context is available to templates as ``report``).
    """
    return _render(_environment(template_dir), context)


def _render(environment: jinja2.Environment, context: ReportContext | IndexContext) -> str:
    import jinja2

    try:
        return environment.get_template(context.template).render(report=context)
    except jinja2.TemplateError as exc:
        where = ""
        if isinstance(exc, jinja2.TemplateSyntaxError):
            where = f" ({exc.filename or exc.name}, line {exc.lineno})"
        message = " ".join(str(exc.message or exc).split())  # one line
        raise HptrackError(
            f"cannot render the report with template {context.template!r}: "
            f"{type(exc).__name__}: {message}{where}; check your --templates directory"
        ) from exc


def _write(path: Path, text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
    except OSError as exc:
        raise HptrackError(f"cannot write {str(path)!r}: {exc.strerror}") from exc


def _check_output_file(out: Path) -> None:
    if out.is_dir():
        raise HptrackError(
            f"output {str(out)!r} is a directory; give a file such as {str(out / 'report.html')!r} "
            "(or use --all -o DIR for a site)"
        )
    parent = out.parent
    if not parent.is_dir():
        raise HptrackError(
            f"cannot write report {str(out)!r}: directory {str(parent)!r} does not exist; create it first"
        )


def write_report(store: Store, names: Sequence[str], out: Path, *, template_dir: Path | None = None) -> Path:
    """Write one self-contained HTML file with a section per study; return its path.

    Raises
    ------
    StudyNotFoundError
        A name is not a study in the store.
    HptrackError
        The output's directory does not exist, or writing or rendering failed.

    Examples
    --------
    >>> with Store("hptrack.db", readonly=True) as store:  # doctest: +SKIP
    ...     write_report(store, ["digits-svc"], Path("report.html"))
    """
    out = Path(out)
    _check_output_file(out)
    environment = _environment(template_dir)  # a missing template directory fails early too
    _write(out, _render(environment, build_context(store, names)))
    return out


def write_site(store: Store, out_dir: Path, *, template_dir: Path | None = None) -> list[Path]:
    """Write a static site: ``index.html`` and a page per study, creating ``out_dir``.

    Returns the written paths, index first.

    Raises
    ------
    HptrackError
        The store has no studies, ``out_dir`` is a file or its parent does not exist.
    """
    out_dir = Path(out_dir)
    names = [s.name for s in store.studies()]
    if not names:
        raise HptrackError(f"store {store.path} has no studies; nothing to report (hptrack run SPEC)")
    if out_dir.exists() and not out_dir.is_dir():
        raise HptrackError(f"output {str(out_dir)!r} is a file; --all needs a directory")
    if not out_dir.parent.is_dir():
        raise HptrackError(
            f"cannot create {str(out_dir)!r}: directory {str(out_dir.parent)!r} does not exist"
        )
    environment = _environment(template_dir)
    pages = _page_names(names)
    rendered = [("index.html", _render(environment, build_index(store, pages)))]
    for name in names:
        context = build_context(store, [name], home="index.html")
        rendered.append((pages[name], _render(environment, context)))
    out_dir.mkdir(exist_ok=True)
    written = []
    for filename, html in rendered:
        _write(out_dir / filename, html)
        written.append(out_dir / filename)
    return written
