"""The HTML report: build the context (frozen dataclasses) first, render templates second.

:func:`build_context` reads the store and computes, sorts and formats everything a page
shows, including the coordinates of every plot, so templates only loop, branch and
place values (autoescaped; nothing user-supplied is ever marked safe). :func:`render`
turns a context into HTML with the templates in ``templates/`` (or a team's own
directory first, see :func:`render`), and :func:`write_report` / :func:`write_site`
write files. The output is self-contained (inline CSS and SVG, no network reference,
no JavaScript) and deterministic: the same store renders the same bytes.

Modules, each importing only those above it in this list:

- ``context``: the page dataclasses and the page limits (``TOP_N``, ...);
- ``text``: how values read on a page (params, times, hashes, page names);
- ``plots``: score-against-parameter geometry; ``timeline``: the history's bars;
- ``study_context`` and ``compare_context``: a study's section, the comparison section;
- ``build``: :func:`build_context`, :func:`build_index`;
- ``rendering``: jinja2, :func:`render`, :func:`write_report`, :func:`write_site`.

Large studies stay small: the ranking lists the best ``TOP_N`` trials, a collapsible
section the next ones up to ``FULL_TABLE_ROWS``, and every trial is in an embedded CSV
download (a ``data:`` link, written by the ``hptrack export`` code); plots of more than
``MAX_PLOT_TRIALS`` trials show, per parameter value (or bin of values), the range,
median and best of the trial means.
"""

from __future__ import annotations

from .build import build_context, build_index
from .context import (
    ERROR_LINES,
    FULL_TABLE_ROWS,
    MAX_FAILED_SHOWN,
    TOP_N,
    BestTrial,
    ComparedStudy,
    ComparisonSection,
    CsvDownload,
    DataArray,
    ErrorExcerpt,
    FailedTrial,
    Field,
    History,
    HistoryRun,
    IndexContext,
    IndexEntry,
    PairComparison,
    ParamPlot,
    ParamValue,
    PlotGroup,
    PlotPoint,
    Provenance,
    RankedTrial,
    Ranking,
    ReportContext,
    Score,
    SharedConfigRow,
    StudyReport,
    Tick,
)
from .plots import MAX_FOLD_DOTS, MAX_PLOT_TRIALS, PLOT_BINS
from .rendering import render, write_report, write_site
from .text import DECIMALS, MISSING
from .timeline import MAX_NUMBER_RANGES, MAX_RUNS_SHOWN

__all__ = [
    "DECIMALS",
    "ERROR_LINES",
    "FULL_TABLE_ROWS",
    "MAX_FAILED_SHOWN",
    "MAX_FOLD_DOTS",
    "MAX_NUMBER_RANGES",
    "MAX_PLOT_TRIALS",
    "MAX_RUNS_SHOWN",
    "MISSING",
    "PLOT_BINS",
    "TOP_N",
    "BestTrial",
    "ComparedStudy",
    "ComparisonSection",
    "CsvDownload",
    "DataArray",
    "ErrorExcerpt",
    "FailedTrial",
    "Field",
    "History",
    "HistoryRun",
    "IndexContext",
    "IndexEntry",
    "PairComparison",
    "ParamPlot",
    "ParamValue",
    "PlotGroup",
    "PlotPoint",
    "Provenance",
    "RankedTrial",
    "Ranking",
    "ReportContext",
    "Score",
    "SharedConfigRow",
    "StudyReport",
    "Tick",
    "build_context",
    "build_index",
    "render",
    "write_report",
    "write_site",
]
