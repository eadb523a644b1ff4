"""Assemble a page's context from the store: a report of studies, or a site's index."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from .._format import number
from ..errors import HptrackError
from .compare_context import comparison_section
from .context import IndexContext, IndexEntry, ReportContext
from .study_context import study_report
from .text import MISSING, timestamp

if TYPE_CHECKING:
    from ..store import Store

__all__ = ["build_context", "build_index"]


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
        One section per study; with several, a comparison of them too.

    Raises
    ------
    StudyNotFoundError
        A name is not a study in the store.
    HptrackError
        No study names were given.

    Examples
    --------
    >>> with Store("hptrack.db", readonly=True) as store:  # doctest: +SKIP
    ...     context = build_context(store, ["digits-svc"])
    >>> context.studies[0].best.scores[0].mean  # doctest: +SKIP
    '0.9833'
    """
    wanted = list(dict.fromkeys(names))
    if not wanted:
        raise HptrackError("no study to report; give at least one study name")
    studies = [store.study(name) for name in wanted]  # every name checked before any work
    sections = tuple(study_report(study, f"study-{i}") for i, study in enumerate(studies, 1))
    several = len(sections) > 1
    return ReportContext(
        title=f"hptrack report: {len(sections)} studies"
        if several
        else f"{sections[0].name} · hptrack report",
        studies=sections,
        store_name=store.path.name,
        generator=_generator(),
        home=home,
        comparison=comparison_section(studies, sections) if several else None,
    )


def build_index(store: Store, pages: Mapping[str, str]) -> IndexContext:
    """The context of a site's index page: a row per study that has a page.

    Parameters
    ----------
    store : Store
        An open store.
    pages : mapping of str to str
        Study name to its page's file name (:func:`hptrack.report.text.page_names`).

    Returns
    -------
    IndexContext
    """
    entries = tuple(
        IndexEntry(
            name=summary.name,
            href=pages[summary.name],
            search=summary.search,
            metric=summary.metric,
            best_score=number(summary.best_score, missing=MISSING),
            n_complete=summary.n_complete,
            n_failed=summary.n_failed,
            n_trials=summary.n_trials,
            created=timestamp(summary.created),
        )
        for summary in store.studies()
        if summary.name in pages
    )
    return IndexContext(
        title=f"hptrack studies in {store.path.name}",
        studies=entries,
        store_name=store.path.name,
        generator=_generator(),
    )


def _generator() -> str:
    """``hptrack 0.1.0``, the page's generator line."""
    from .._version import __version__

    return f"hptrack {__version__}"
