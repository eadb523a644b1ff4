"""The comparison section of a report on several studies: a side-by-side table, and
``hptrack compare`` of the first study with each other one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._format import number
from .context import (
    TOP_N,
    ComparedStudy,
    ComparisonSection,
    Field,
    PairComparison,
    SharedConfigRow,
    StudyReport,
)
from .text import MISSING, param_values

if TYPE_CHECKING:
    from ..query import Study

__all__ = ["comparison_section"]

_AREA_LABELS = {"spec": "Spec", "code": "Code", "data": "Data", "environment": "Environment"}


def comparison_section(studies: Sequence[Study], sections: Sequence[StudyReport]) -> ComparisonSection:
    """What each study found, side by side, and each later study compared with the first.

    Parameters
    ----------
    studies : sequence of Study
        The studies, in page order; the first is A of every pair.
    sections : sequence of StudyReport
        Their sections, built already (the comparison reuses their formatted values).

    Returns
    -------
    ComparisonSection
    """
    return ComparisonSection(
        studies=tuple(_compared_study(section) for section in sections),
        pairs=tuple(
            _pair(studies[0], b, sections[0], b_section) for b, b_section in zip(studies[1:], sections[1:])
        ),
    )


def _compared_study(section: StudyReport) -> ComparedStudy:
    """A row of the side-by-side table."""
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


def _pair(a: Study, b: Study, a_section: StudyReport, b_section: StudyReport) -> PairComparison:
    """``hptrack compare`` of A with B, as page text."""
    from ..query import compare_studies

    if a.metric not in b.metrics:
        return _pair_without_metric(a_section, b_section)
    result = compare_studies(a, b)
    return PairComparison(
        a_name=a.name,
        b_name=b.name,
        a_anchor=a_section.anchor,
        b_anchor=b_section.anchor,
        metric=result.metric,
        differences=tuple(
            Field(_AREA_LABELS.get(area, area), "; ".join(items))
            for area, items in result.differences.items()
            if items
        ),
        shared=tuple(_shared_row(c) for c in result.shared[:TOP_N]),
        n_shared=len(result.shared),
        n_only_a=len(result.only_a),
        n_only_b=len(result.only_b),
        paired=result.comparable_folds,
        best_a=_best_text(result.best_a),
        best_b=_best_text(result.best_b),
        best_delta=number(result.best_delta, signed=True, missing=MISSING),
        test=result.test_note,
    )


def _shared_row(config: Any) -> SharedConfigRow:
    """A configuration both studies evaluated: means, B − A and the paired test's p-value."""
    return SharedConfigRow(
        params=param_values(config.params),
        a_number=config.a_number,
        b_number=config.b_number,
        a_mean=number(config.a_mean, missing=MISSING),
        b_mean=number(config.b_mean, missing=MISSING),
        delta=number(config.delta, signed=True, missing=MISSING),
        p_value=_p_value(config.p_value),
    )


def _pair_without_metric(a: StudyReport, b: StudyReport) -> PairComparison:
    """A pair that cannot be compared: B does not record A's ranking metric."""
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
    """``0.9512 ± 0.0101 (trial 3)``."""
    if best is None:
        return "no ranked trial"
    return f"{number(best.mean, missing=MISSING)} ± {number(best.std, missing=MISSING)} (trial {best.number})"


def _p_value(value: float | None) -> str:
    """A p-value to 3 significant digits ("" when the configurations were not paired)."""
    return "" if value is None or not math.isfinite(value) else f"{value:.3g}"
