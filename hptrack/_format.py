"""Small pure functions that turn query results into text: the CLI's tables, and the
number formatting the CLI and the HTML report share.

Stdlib only at import time (the query types are for annotations): the report imports
:func:`number` and :func:`short` from here, so this module sits below both of them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .query import Direction, Run, StudySummary, TiesWithBest, Trial

DECIMALS = 4  # every score is shown with this many decimals, in the terminal and in reports


def short(hash_value: str | None, *, missing: str = "-") -> str:
    """The 12-character form of a sha256 hex digest; ``missing`` when there is none."""
    return hash_value[:12] if hash_value else missing


def number(value: float | None, digits: int = DECIMALS, *, missing: str = "-", signed: bool = False) -> str:
    """A score (or delta) with a fixed number of decimals: the one number format of hptrack.

    Parameters
    ----------
    value : float or None
        The number; None, NaN and infinities have no digits to show.
    digits : int, default 4
        Decimals after the point.
    missing : str, default "-"
        Shown instead of a missing or non-finite value (the HTML report passes "–").
    signed : bool, default False
        Always write the sign (``+0.0123``), for differences such as B − A.

    Returns
    -------
    str

    Examples
    --------
    >>> number(0.91234567), number(None), number(-0.0), number(0.5, signed=True)
    ('0.9123', '-', '0.0000', '+0.5000')
    >>> number(float("nan"), missing="–")
    '–'
    """
    if value is None or not math.isfinite(value):
        return missing
    return f"{value + 0.0:{'+' if signed else ''}.{digits}f}"  # + 0.0 turns -0.0 into 0.0


def _compact(value: Any) -> str:
    if value is None:  # as Python (and a spec's "None") spells it
        return "None"
    if isinstance(value, float):
        return format(value, ".4g")
    if isinstance(value, list):
        return "[" + ", ".join(_compact(v) for v in value) + "]"
    return json.dumps(value, sort_keys=True)


def params_text(params: Mapping[str, Any]) -> str:
    """``C=1 gamma=0.001``: compact (floats to 4 significant digits), keys sorted."""
    return " ".join(f"{k}={_compact(v)}" for k, v in sorted(params.items()))


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain left-aligned text table."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows)
    return "\n".join(lines)


def studies_table(studies: Sequence[StudySummary]) -> str:
    if not studies:
        return "no studies in this store yet (hptrack run SPEC)"
    rows = [
        [
            s.name,
            s.search,
            f"{s.n_complete}/{s.n_failed}/{s.n_trials}",
            number(s.best_score),
            s.metric,
            short(s.code_hash),
            s.created[:19].replace("T", " "),
        ]
        for s in studies
    ]
    return table(["study", "search", "complete/failed/total", "best", "metric", "code", "created"], rows)


def _when(timestamp: str | None) -> str:
    return timestamp[:19].replace("T", " ") if timestamp else "-"


def history_table(runs: Sequence[Run]) -> str:
    """``hptrack history``: one row per run, oldest first; a run without an end says why."""
    if not runs:
        return "no runs recorded (a store written before hptrack recorded history has none)"
    rows = [
        [
            _when(r.started),
            _when(r.finished) if r.status == "finished" else r.status,
            "-" if r.exit is None else str(r.exit),
            str(r.trials),
            f"{r.user or '?'}@{r.host or '?'}:{r.pid if r.pid is not None else '?'}",
            r.version or "-",
            r.command + (f"  (merged from {r.origin})" if r.origin else ""),
        ]
        for r in runs
    ]
    return table(["started", "finished", "exit", "trials", "user@host:pid", "version", "command"], rows)


def better_note(direction: Direction | None, form: str = "{}") -> str:
    """``form`` holding ``lower is better`` for a minimized metric; else "" (maximizing is the
    default, and says nothing)."""
    if direction is None or not direction.minimize:
        return ""
    return form.format(f"{direction.better_word} is better")


def trials_table(
    trials: Sequence[Trial],
    metrics: Sequence[str],
    ties: TiesWithBest | None = None,
    *,
    direction: Direction | None = None,
) -> str:
    """The trials as a table; with ``ties``, a column saying which are tied with the best;
    ``direction``, the ranking (first) metric's, is named in its header when it minimizes."""
    if not trials:
        return "no trials match"
    tie_column = ties is not None and ties.tested
    note = better_note(direction, ", {}")  # of the first metric
    rungs = any(t.rung is not None for t in trials)  # successive halving: each trial's rung
    headers = [
        "#",
        "rank",
        "status",
        *(["rung", "resource"] if rungs else []),
        *(["tied"] if tie_column else []),
        *[f"{m} (mean ± std{note if i == 0 else ''})" for i, m in enumerate(metrics)],
    ]
    headers.append("params")
    rows = []
    for t in trials:
        rows.append(
            [
                str(t.number),
                str(t.rank) if t.rank is not None else "-",
                t.status,
                *([_cell(t.rung), _cell(t.resource)] if rungs else []),
                *([tie_cell(ties, t.number)] if tie_column and ties is not None else []),
                *[
                    f"{number(t.mean[m])} ± {number(t.std[m])}" if t.mean[m] is not None else "-"
                    for m in metrics
                ],
                params_text(t.params),
            ]
        )
    return table(headers, rows)


def _cell(value: int | None) -> str:
    return "-" if value is None else str(value)


def trial_text(
    trial: Trial, metrics: Sequence[str], *, title: str, direction: Direction | None = None
) -> str:
    lines = [title, f"  status:    {trial.status}", f"  rank:      {trial.rank or '-'}"]
    if trial.rung is not None:
        lines.append(f"  rung:      {trial.rung} (resource {trial.resource})")
    lines.append(f"  params:    {json.dumps(trial.params, sort_keys=True)}")
    for i, m in enumerate(metrics):
        folds = ", ".join(number(v) for v in trial.scores[m])
        note = better_note(direction, " ({})") if i == 0 else ""
        lines.append(f"  {m}: {number(trial.mean[m])} ± {number(trial.std[m])}  (folds: {folds}){note}")
        if trial.train_scores and m in trial.train_scores:
            folds = ", ".join(number(v) for v in trial.train_scores[m])
            lines.append(f"  {m} (train): folds {folds}")
    fit = [v for v in trial.fit_time if v is not None]
    if fit:
        lines.append(f"  fit time:  {sum(fit):.3f} s over {len(fit)} folds")
    lines.append(f"  seed:      {json.dumps(trial.seed, sort_keys=True)}")
    lines.append(f"  code hash: {short(trial.code_hash)}   data hash: {short(trial.data_hash)}")
    lines.append(f"  ran:       {trial.started or '-'} -> {trial.finished or '-'} on {trial.host or '-'}")
    for fold, error in sorted(trial.errors.items()):
        last = error.strip().splitlines()[-1] if error.strip() else error
        lines.append(f"  fold {fold} failed: {last}")
    for fold, failed in sorted(trial.score_errors.items()):
        for metric, error in sorted(failed.items()):
            last = error.strip().splitlines()[-1] if error.strip() else error
            lines.append(f"  fold {fold} scorer {metric} failed: {last}")
    for fold, origin in sorted(trial.origins.items()):
        lines.append(f"  fold {fold} reused from {json.dumps(origin, sort_keys=True)}")
    return "\n".join(lines)


def _direction_of(spec: Mapping[str, Any]) -> Direction:
    """The ranking metric's direction in a stored spec (maximize when it has none)."""
    from .query import Direction

    return Direction.of_spec(spec)


def _rung_lines(info: Mapping[str, Any]) -> list[str]:
    """A successive-halving study's rungs: settings, then candidates and resource per rung."""
    if not info.get("rungs"):
        return []
    settings = info["spec"].get("halving") or {}
    lines = ["  halving:     " + ", ".join(f"{k} {v}" for k, v in settings.items())]
    for r in info["rungs"]:
        best = number(r["best_score"]) if r["best_score"] is not None else "-"
        lines.append(
            f"    rung {r['rung']}:   {r['n_trials']} candidates ({r['n_complete']} complete), "
            f"resource {r['resource']}, best {best}"
        )
    return lines


def study_text(info: Mapping[str, Any]) -> str:
    prov = info["provenance"]
    env = prov.get("environment", {})
    git = prov.get("git", {})
    counts = info["counts"]
    versions = ", ".join(f"{k} {v}" for k, v in sorted(env.get("versions", {}).items()) if v)
    lines = [
        f"study {info['name']}",
        f"  search:      {info['search']}, {info['n_trials']} trials x {info['n_folds']} folds",
        f"  trials:      {counts['complete']} complete, {counts['failed']} failed, "
        f"{counts['running']} running, {counts['pending']} pending",
        *_prefix_fits_lines(info),
        *_rung_lines(info),
        f"  metrics:     {', '.join(info['metrics'])} (ranked by {info['metrics'][0]}"
        f"{better_note(_direction_of(info.get('spec') or {}), ', {}')})",
        f"  seed:        {info['seed']}",
        f"  estimator:   {prov.get('estimator', '-')}",
        f"  cv:          {prov.get('cv', '-')}",
        f"  spec file:   {prov.get('spec_file') or prov.get('api') or '-'}",
        f"  code hash:   {short(info['code_hash'])}",
    ]
    if len(info.get("code_hashes", [])) > 1:
        lines.append(
            "  WARNING:     trials ran under mixed code hashes: "
            + ", ".join(short(h) for h in info["code_hashes"])
        )
    for path, digest in sorted(info["code"].get("sources", {}).items()):
        lines.append(f"    source     {path} {short(digest)}")
    lines += [
        f"  data hash:   {short(info['data_hash'])}  "
        + "; ".join(
            f"{d['name']} {d.get('type', '')} {tuple(d['shape'])} {d.get('dtype', '')}".rstrip()
            for d in info["data"]
            if d.get("type") != "none"
        ),
        *(
            ["  WARNING:     trials ran under mixed data: " + ", ".join(map(short, info["data_hashes"]))]
            if len(info.get("data_hashes", [])) > 1
            else []
        ),
        *(
            [f"  unseeded:    {'; '.join(map(str, prov['unseeded']))} (not verifiable bit for bit)"]
            if prov.get("unseeded")
            else []
        ),
        *(
            [f"  unstable:    {'; '.join(map(str, prov['unstable']))} (described only; never reused)"]
            if prov.get("unstable")
            else []
        ),
        f"  split hash:  {short(info['split_hash'])}",
        f"  git:         {git.get('commit') or '-'}" + (" (dirty)" if git.get("dirty") else ""),
        f"  python:      {env.get('python', '-')} on {env.get('platform', '-')}",
        f"  versions:    {versions or '-'}",
        f"  host:        {env.get('host', '-')}",
        f"  created:     {info['created']}",
    ]
    return "\n".join(lines)


def _prefix_fits_lines(info: Mapping[str, Any]) -> list[str]:
    """The pipeline prefix cache's line of ``show``, when a run fitted or reused a prefix."""
    from .query import PrefixFits

    fits = info.get("prefix_fits")
    if not fits:
        return []
    return [f"  prefixes:    {PrefixFits(**fits).describe()} (in memory, over the study's runs)"]


def verify_text(report: Any) -> str:
    """Per trial and fold: the recorded and the new score of each metric."""
    lines = [
        f"verify {report.study}: trials {', '.join(map(str, report.trials))}, tolerance {report.tolerance:g}"
    ]
    if report.code_hash_then != report.code_hash_now:
        lines.append(f"  code hash changed: {short(report.code_hash_then)} -> {short(report.code_hash_now)}")
    if report.data_hash_then != report.data_hash_now:
        lines.append(f"  data hash changed: {short(report.data_hash_then)} -> {short(report.data_hash_now)}")
    rows = [
        [
            str(c.trial),
            str(c.fold),
            c.metric,
            "-" if c.recorded is None else repr(c.recorded),
            "-" if c.new is None else repr(c.new),
            "-" if c.delta is None else f"{c.delta:+.3g}",
            "ok" if c.ok else "DRIFT",
        ]
        for c in report.checks
    ]
    lines.append(table(["trial", "fold", "metric", "recorded", "now", "delta", ""], rows))
    lines.append("all fold scores match" if report.ok else f"{len(report.drifted)} fold score(s) drifted")
    return "\n".join(lines)


def tie_cell(ties: TiesWithBest, number: int) -> str:
    """``best``, ``yes p=0.59``, ``no p=0.003``, ``other data`` (not comparable), or ``-`` (untested)."""
    p = ties.p_values.get(number)
    if number == ties.best:
        return "best"
    if number in ties.not_comparable:
        return "other data"
    if p is None:
        return "-"
    return f"{'yes' if p >= ties.alpha else 'no'} p={p:.2g}"


def tied_lines(ties: TiesWithBest, params: Mapping[int, Mapping[str, Any]]) -> list[str]:
    """The configurations tied with the best, then the one-line statement of the test."""
    lines = []
    if ties.tested:
        others = [n for n in ties.tied if n != ties.best]
        if others:
            lines.append(f"  tied with best: {len(others)} configuration(s)")
            lines.extend(
                f"    #{n}  {ties.metric} {number(ties.means.get(n))}  p={ties.p_values[n]:.2g}  "
                f"{params_text(params.get(n, {}))}"
                for n in others
            )
        else:
            other = "comparable complete trial" if ties.not_comparable else "complete trial"
            lines.append(f"  tied with best: none (every other {other} has p < {ties.alpha:g})")
    lines.append(f"  {ties.statement()}")
    return lines


def compare_text(result: Any) -> str:
    """A :class:`hptrack.compare.Comparison` as text."""
    a, b = result.a, result.b
    lines = [
        f"compare A = {a.name} ({a.store}) with B = {b.name} ({b.store}) on {result.metric}"
        + better_note(result.direction, " ({})"),
        f"  A: {a.search}, {a.n_complete}/{a.n_trials} trials complete, {a.n_folds} folds",
        f"  B: {b.search}, {b.n_complete}/{b.n_trials} trials complete, {b.n_folds} folds",
    ]
    for what in ("spec", "code", "data", "environment"):
        changed = result.differences.get(what, [])
        lines.append(f"  {what + ':':13}" + ("same" if not changed else "differs: " + "; ".join(changed)))
    folds = "comparable (same split hash)" if result.comparable_folds else "differ (no pairing by fold)"
    lines.append(f"  {'folds:':13}{folds}")
    lines.append(
        f"configurations: {len(result.shared)} in both, {len(result.only_a)} only in A, "
        f"{len(result.only_b)} only in B"
    )
    if result.shared:
        rows = [
            [
                f"#{s.a_number}/#{s.b_number}",
                number(s.a_mean),
                number(s.b_mean),
                number(s.delta, signed=True),
                "-" if s.p_value is None else f"{s.p_value:.3g}",
                params_text(s.params),
            ]
            for s in result.shared
        ]
        table_text = table(["A/B", "A mean", "B mean", "delta (B-A)", "p (paired)", "params"], rows)
        lines.extend("  " + line for line in table_text.splitlines())
    if result.importance is not None:
        lines.append(_agreement_line(result.importance))
    for label, best in (("A", result.best_a), ("B", result.best_b)):
        if best is None:
            lines.append(f"best of {label}: none (no ranked trial)")
        else:
            lines.append(
                f"best of {label}: #{best.number} {result.metric} {number(best.mean)} ± {number(best.std)}  "
                f"{params_text(best.params)}"
            )
    if result.best_delta is not None:
        lines.append(f"best delta (B-A): {number(result.best_delta, signed=True)}")
    lines.append(result.test_note)
    return "\n".join(lines)


def _agreement_line(found: Any) -> str:
    """Whether A and B agree on which parameters matter, with the shares."""
    shares = ", ".join(f"{n} {number(a, 2)}/{number(b, 2)}" for n, (a, b) in found.shares.items())
    rho = "" if found.rank_correlation is None else f"; rank correlation {found.rank_correlation:.2f}"
    if found.agree:
        head = f"importance: A and B agree on what matters ({', '.join(found.matters_a) or 'nothing'})"
    else:
        head = (
            f"importance: A and B disagree on what matters (A: {', '.join(found.matters_a) or 'nothing'}; "
            f"B: {', '.join(found.matters_b) or 'nothing'})"
        )
    return f"{head}; shares A/B: {shares}{rho}"


def merge_text(report: Any) -> str:
    """A :class:`hptrack.merge.MergeReport` as text."""
    lines = [f"merged {len(report.sources)} source(s) into {report.store}"]
    for s in report.studies:
        how = s.action
        if s.action == "renamed":
            how += f"; differs in {', '.join(s.differences)}"
        lines.append(
            f"  {s.source}: {s.study} -> {s.into} ({how}): {s.trials_added} trial(s) and "
            f"{s.folds_added} fold(s) added, {s.trials_finished} trial(s) finished, "
            f"{len(s.conflicts)} conflict(s)"
        )
        lines.extend(f"    note: {note}" for note in s.notes)
    if not report.studies:
        lines.append("  (the sources hold no studies)")
    if report.conflicts:
        lines.append(
            "conflicts (the store keeps its own results; those trials took nothing from the source):"
        )
        lines.extend(f"  {c.source}: {c.describe()}" for c in report.conflicts)
    return "\n".join(lines)


def importance_text(result: Any) -> str:
    """``hptrack importance``: a table of shares per parameter and per pair, with intervals."""
    level = f"{round(result.to_dict()['confidence'] * 100)}%"
    if result.resamples:
        how = f"intervals: {level} over {result.resamples} resamples of the {result.n_folds} folds"
    else:
        how = "no intervals: one fold"
    lines = [f"importance of {result.study} ({result.metric}): {result.note}", how, ""]

    interval = [f"{level} interval"] if result.resamples else []  # one fold: no interval column

    def rows(shares: Any) -> list[list[str]]:
        out = []
        for s in shares:
            low_high = [f"{number(s.low, 3)} - {number(s.high, 3)}"] if interval else []
            out.append([" x ".join(s.params), number(s.share, 3), *low_high])
        return out

    lines.append(table(["parameter", "share", *interval], rows(result.params)))
    if result.pairs:
        lines += ["", table(["pair", "share", *interval], rows(result.pairs))]
    rest = 1.0 - sum(s.share for s in result.params) - sum(s.share for s in result.pairs)
    lines += ["", f"higher-order interactions: {number(max(rest, 0.0), 3)}"]
    return "\n".join(lines)


def curves_text(bands: Sequence[Any], *, by_step: bool) -> str:
    """``hptrack curves``: per trial and value, where its curve starts and ends (median over
    folds, the folds' range at the end); ``by_step``: one row per step of each value."""
    if by_step:
        rows = [
            [str(b.trial), b.name, str(step), number(m), f"{number(lo)} - {number(hi)}"]
            for b in bands
            for step, m, lo, hi in zip(b.steps, b.median, b.low, b.high)
        ]
        return table(["#", "value", "step", "median", "fold range"], rows)
    rows = [
        [
            str(b.trial),
            b.name,
            str(b.n_folds),
            f"{len(b.steps)} ({b.steps[0]} - {b.steps[-1]})" if b.steps else "0",
            number(b.median[0]) if b.steps else "-",
            number(b.median[-1]) if b.steps else "-",
            f"{number(b.low[-1])} - {number(b.high[-1])}" if b.steps else "-",
        ]
        for b in bands
    ]
    return table(["#", "value", "folds", "steps", "first", "last", "last fold range"], rows)
