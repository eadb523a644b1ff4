"""One study's section of a report, built from the query layer's :class:`Study`.

Large studies stay small: the ranking lists the best ``TOP_N`` trials, a collapsible
section the next ones up to ``FULL_TABLE_ROWS``, and every trial is in an embedded CSV
download (a ``data:`` link) written by the same code as ``hptrack export``.
"""

from __future__ import annotations

import functools
import json
import math
import re
import shlex
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._csv import csv_table
from .._format import better_note, number
from ..errors import HptrackError
from ..query import export_rows
from .context import (
    ERROR_LINES,
    FULL_TABLE_ROWS,
    MAX_FAILED_SHOWN,
    TOP_N,
    BestTrial,
    CsvDownload,
    DataArray,
    ErrorExcerpt,
    FailedTrial,
    Field,
    ParamValue,
    Provenance,
    RankedTrial,
    Ranking,
    Score,
    StudyReport,
)
from .curves import curve_section
from .insight import insight
from .ladder import build_ladder
from .plots import param_plots
from .text import MISSING, duration, hash_field, page_names, param_values, timestamp, value_text
from .timeline import history

if TYPE_CHECKING:
    from ..query import Study, Trial
    from ..query.importance import Importance

__all__ = ["study_report"]


def study_report(study: Study, anchor: str) -> StudyReport:
    """The report section of ``study``.

    Parameters
    ----------
    study : Study
        A study of an open store.
    anchor : str
        The section's id in the page (``study-1``).

    Returns
    -------
    StudyReport
    """
    trials = study.trials()  # by number
    counts = study.counts()
    metric = study.metric
    ranked = sorted((t for t in trials if t.rank is not None), key=lambda t: (t.rank, t.number))
    started = sorted(t.started for t in trials if t.started)
    finished = sorted(t.finished for t in trials if t.finished)
    first, last = (started[0] if started else None), (finished[-1] if finished else None)
    failed = [t for t in trials if t.status == "failed"]
    scorer_failed = [t for t in trials if t.score_errors]
    tied, tie_test = _tied_with_best(study, trials, ranked)
    plots = param_plots(ranked, metric, study.direction)
    return StudyReport(
        anchor=anchor,
        name=study.name,
        shell_name=shlex.quote(study.name),
        search=study.search,
        metric=metric,
        metrics=tuple(study.metrics),
        better=better_note(study.direction),
        n_folds=study.n_folds,
        n_trials=study.n_trials,
        n_complete=counts["complete"],
        n_failed=counts["failed"],
        n_pending=counts["pending"],
        n_running=counts["running"],
        created=timestamp(study.created),
        started=timestamp(first) if first else "",
        finished=timestamp(last) if last else "",
        duration=duration(first, last),
        warnings=tuple(study.provenance_warnings()),  # mixed code or data among the trials
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
        history=history(study),
        insight=insight(_importance(study, trials), trials, ranked, metric, study.direction),
        curves=curve_section(study, ranked),
        ladder=build_ladder(study, trials, metric) if study.halving else None,
    )


def _importance(study: Study, trials: Sequence[Trial]) -> Importance | None:
    """The study's importance, or None when it has too few complete trials for one."""
    try:
        return study.importance(trials=trials)
    except HptrackError:
        return None


def _score(value: float | None) -> str:
    """A score on the page (``DECIMALS`` decimals, ``MISSING`` for None or NaN)."""
    return number(value, missing=MISSING)


def _scores(trial: Trial, metrics: Sequence[str]) -> tuple[Score, ...]:
    """A trial's mean, std and fold scores of each metric, formatted."""
    return tuple(
        Score(
            metric=m,
            mean=_score(trial.mean.get(m)),
            std=_score(trial.std.get(m)),
            folds=tuple(_score(v) for v in trial.scores.get(m, [])),
        )
        for m in metrics
    )


# --------------------------------------------------------------------------- ranking


def _tied_with_best(
    study: Study, trials: Sequence[Trial], ranked: Sequence[Trial]
) -> tuple[frozenset[int] | None, str]:
    """Numbers of the trials statistically tied with the best, and the test's statement.

    The test is :meth:`Study.tied_with_best` (as in ``hptrack trials``), on the trials
    already read. The numbers are None when no test was possible (a holdout split has
    one fold), the statement then says why; both are empty without a complete trial.
    """
    if not ranked:
        return frozenset(), ""
    ties = study.tied_with_best(trials=trials)
    return (frozenset(ties.tied) if ties.tested else None), ties.statement()


def _ranking(
    ranked: Sequence[Trial], metrics: Sequence[str], tied: frozenset[int] | None, tie_test: str
) -> Ranking:
    """The ranking table: the best ``TOP_N`` rows, then the rest up to ``FULL_TABLE_ROWS``."""
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
    text = value_text(value)
    if isinstance(value, float) and len(text) > 10 and math.isfinite(value):
        return ParamValue(name, f"{value:.6g}", text)
    return ParamValue(name, text)


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
    """Where a reused fold comes from: ``reused from study a trial 3 in other.db``."""
    if isinstance(origin, Mapping):
        study = origin.get("study")
        number = origin.get("trial", origin.get("number"))
        if study is not None and number is not None:
            store = f" in {origin['store']}" if origin.get("store") else ""
            return f"reused from study {value_text(study)} trial {value_text(number)}{store}"
    return f"reused from {json.dumps(origin, sort_keys=True, ensure_ascii=False)}"


def _best(ranked: Sequence[Trial], metrics: Sequence[str]) -> BestTrial:
    """The best trial, its params ready to copy as JSON."""
    best = ranked[0]
    return BestTrial(
        number=best.number,
        params=param_values(best.params),
        params_json=json.dumps(best.params, indent=2, sort_keys=True, ensure_ascii=False),
        scores=_scores(best, metrics),
        seed_json=json.dumps(best.seed, sort_keys=True),
        started=timestamp(best.started),
        finished=timestamp(best.finished),
        host=best.host or MISSING,
        n_tied=sum(1 for t in ranked[1:] if t.rank == best.rank),
    )


# --------------------------------------------------------------------------- CSV download

_UNSAFE_IN_URL = re.compile(r"[^A-Za-z0-9,._~:=+/-]+")  # what a data: URL must percent-encode
# export columns the download never shows (nor the other metrics' ranks): not computed for it
_NOT_DOWNLOADED = ("params", "std_fit_time", "mean_score_time", "std_score_time")


def _csv_download(study: Study, trials: Sequence[Trial]) -> CsvDownload:
    """Every trial as ``hptrack export`` writes it (:func:`~hptrack.query.export_rows` of the
    trials already read, by number), in a data: URL.

    The download keeps the columns a reader needs: number, status, the rank, params,
    scores at full precision and ``mean_fit_time``; ``seed``, ``code_hash`` and
    ``origin`` when they say something (seeds or code hashes differ between trials,
    reused folds); the error column holds the last line of the error. ``hptrack export``
    writes every column.
    """
    other_ranks = [f"rank_test_{m}" for m in study.metrics[1:]]
    rows = export_rows(
        trials, study.metrics, leave_out=[*_NOT_DOWNLOADED, *other_ranks], direction=study.direction
    )
    columns = _download_columns(rows, study.metrics, study.n_folds)
    values = columns[:-1]  # then the error column, by its last line
    text = csv_table(columns, ([*map(row.get, values), _error_line(row.get("error"))] for row in rows))
    slug = page_names([study.name])[study.name].removesuffix(".html")
    return CsvDownload(
        href="data:text/csv;charset=utf-8," + _UNSAFE_IN_URL.sub(_percent, text),
        filename=f"{slug}-trials.csv",
        n_rows=len(rows),
        size=_size_text(len(text.encode("utf-8"))),
    )


def _download_columns(rows: Sequence[Mapping[str, Any]], metrics: Sequence[str], n_folds: int) -> list[str]:
    """The export columns the report's download keeps, in its order (``error`` last)."""
    params = [k for k in (rows[0] if rows else ()) if k.startswith("param_")]  # every row has them all
    columns = ["number", "status", f"rank_test_{metrics[0]}", *params]
    for m in metrics:
        columns += [f"mean_test_{m}", f"std_test_{m}", *(f"split{k}_test_{m}" for k in range(n_folds))]
    columns.append("mean_fit_time")
    if len({row.get("seed") for row in rows}) > 1:
        columns.append("seed")
    if len({row.get("code_hash") for row in rows if row.get("code_hash")}) > 1:
        columns.append("code_hash")
    if any(row.get("origin") for row in rows):
        columns.append("origin")
    return [*columns, "error"]


def _error_line(value: Any) -> Any:
    """An export's error as the download shows it: by its last line."""
    if isinstance(value, str):
        lines = value.strip().splitlines()
        return lines[-1] if lines else ""
    return value


def _percent(match: re.Match[str]) -> str:
    """Percent-encode the matched text as UTF-8 bytes."""
    return _percent_encoded(match.group())


@functools.lru_cache(maxsize=1024)
def _percent_encoded(text: str) -> str:
    """``text`` percent-encoded as UTF-8 bytes (the same few runs, a newline mostly, recur)."""
    return "".join(f"%{byte:02X}" for byte in text.encode("utf-8"))


def _size_text(n_bytes: int) -> str:
    """``512 bytes``, ``68 kB``, ``1.2 MB``."""
    if n_bytes < 1000:
        return f"{n_bytes} bytes"
    if n_bytes < 1_000_000:
        return f"{n_bytes / 1000:.0f} kB"
    return f"{n_bytes / 1e6:.1f} MB"


# --------------------------------------------------------------------------- provenance and failures


def _provenance(study: Study, trials: Sequence[Trial]) -> Provenance:
    """What the study ran with: seeds, hashes, sources, data, spec, environment, packages."""
    prov = study.provenance
    env: Mapping[str, Any] = prov.get("environment") or {}
    git: Mapping[str, Any] = prov.get("git") or {}
    code = study.code
    dirty = git.get("dirty")
    hosts = tuple(sorted({t.host for t in trials if t.host}))
    return Provenance(
        seed=str(study.seed),
        estimator_seeds=json.dumps(prov.get("seeds") or {}, sort_keys=True),
        code_hash=hash_field("code hash", study.code_hash),
        sources=tuple(
            hash_field(path, digest) for path, digest in sorted((code.get("sources") or {}).items())
        ),
        git_commit=git.get("commit") or "not in a git work tree",
        git_dirty=MISSING if dirty is None else ("yes: uncommitted changes" if dirty else "no"),
        data_hash=hash_field("data fingerprint", study.data_hash),
        data_arrays=tuple(_data_array(item) for item in study.data),
        split_hash=hash_field("split hash", study.split_hash),
        spec_hash=hash_field("spec hash", study.spec_hash),
        spec_file=str(prov.get("spec_file") or MISSING),
        base_dir=str(prov.get("base_dir") or MISSING),
        estimator=str(prov.get("estimator") or study.spec.get("estimator") or MISSING),
        cv=str(prov.get("cv") or MISSING),
        python=_python(env, code),
        platform=str(env.get("platform") or MISSING),
        machine=str(env.get("machine") or MISSING),
        host=str(env.get("host") or MISSING),
        trial_hosts=hosts if hosts != (env.get("host"),) else (),
        packages=tuple(Field(name, version) for name, version in _versions(env, code).items()),
        spec_json=json.dumps(study.spec, indent=2, sort_keys=True, ensure_ascii=False),
    )


def _python(env: Mapping[str, Any], code: Mapping[str, Any]) -> str:
    """``3.11.4 (CPython)``: the Python version, and its implementation when recorded."""
    python = env.get("python") or code.get("python") or MISSING
    if env.get("implementation"):
        python = f"{python} ({env['implementation']})"
    return str(python)


_DISTRIBUTION_OF = {"sklearn": "scikit-learn"}  # import name -> distribution, where they differ


def _versions(env: Mapping[str, Any], code: Mapping[str, Any]) -> dict[str, str]:
    """Package versions: the environment's, then those the code walk met."""
    versions: dict[str, str] = {}
    for name, version in sorted((env.get("versions") or {}).items()):
        # the environment names import packages; the code walk, distributions
        versions[_DISTRIBUTION_OF.get(name, name)] = version or "unknown"
    for name, version in sorted((code.get("packages") or {}).items()):
        if version and name not in versions:
            versions[name] = version
    return versions


def _data_array(item: Mapping[str, Any]) -> DataArray:
    """One input of the data fingerprint (X, y, groups) as page text."""
    shape = item.get("shape")
    return DataArray(
        name=str(item.get("name", MISSING)),
        kind=str(item.get("type", MISSING)),
        dtype=str(item.get("dtype") or ""),
        shape=" × ".join(str(n) for n in shape) if shape else "",
    )


def _failed_trial(trial: Trial) -> FailedTrial:
    """A failed trial: the end of each distinct fold error, with the folds that raised it."""
    by_error: dict[str, list[int]] = {}
    for fold, error in sorted(trial.errors.items()):
        by_error.setdefault(_last_lines(error), []).append(fold)
    return FailedTrial(
        number=trial.number,
        params=param_values(trial.params),
        errors=tuple(
            ErrorExcerpt(
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
        params=param_values(trial.params),
        errors=tuple(
            ErrorExcerpt(
                folds=f"{metric}, fold{'s' if len(folds) > 1 else ''} {', '.join(str(f) for f in folds)}",
                lines=lines,
            )
            for (metric, lines), folds in by_error.items()
        ),
    )


def _last_lines(error: str) -> str:
    """The last ``ERROR_LINES`` non-blank lines of a traceback."""
    lines = [line.rstrip() for line in error.splitlines() if line.strip()]
    return "\n".join(lines[-ERROR_LINES:]) or "(no error text recorded)"
