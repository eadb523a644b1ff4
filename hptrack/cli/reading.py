"""Commands that read the store: ``studies``, ``trials``, ``best``, ``show``, ``importance``,
``curves``, ``export``, ``report``, ``history``, ``compare``.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .. import _format
from .._csv import csv_text
from ..errors import HptrackError
from ._app import cli, emit_json, json_option, open_store, store_option

if TYPE_CHECKING:
    pass


@cli.command()
@store_option
@json_option
def studies(store_path: Path, as_json: bool) -> None:
    """List the studies in the store, with trial counts and best scores.

    Example: hptrack studies --store runs.db --json
    """
    with open_store(store_path) as store:
        found = store.studies()
    if as_json:
        emit_json([s.to_dict() for s in found])
    else:
        click.echo(_format.studies_table(found))


@cli.command()
@click.argument("study")
@store_option
@click.option("--sort", "sort_metric", help="Sort by this metric's mean, best first.")
@click.option("--top", type=click.IntRange(min=1), help="Show only the best N trials.")
@click.option(
    "--status",
    type=click.Choice(["pending", "running", "complete", "failed"]),
    help="Only trials with this status.",
)
@json_option
@click.option("--csv", "as_csv", is_flag=True, help="CSV on stdout (cv_results_ columns).")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    help="With --status pending: list this many, never-claimed ones included (params from the space).",
)
@click.option("--offset", type=click.IntRange(min=0), default=0, help="With --limit: skip this many first.")
def trials(
    study: str,
    store_path: Path,
    sort_metric: str | None,
    top: int | None,
    status: str | None,
    as_json: bool,
    as_csv: bool,
    limit: int | None,
    offset: int,
) -> None:
    """List the trials of STUDY: params, mean ± std per metric, rank, status.

    Example: hptrack trials digits-svc --top 5 --sort accuracy

    A large grid stores a trial once it is claimed: page through the others with
    hptrack trials STUDY --status pending --limit 100 --offset 200
    """
    if (limit is not None or offset) and status != "pending":
        raise HptrackError("--limit and --offset page through pending trials; add --status pending")
    with open_store(store_path) as store:
        found = store.study(study)
        _warn_provenance(found)
        if status == "pending":  # stored or never claimed, params from the space
            rows = found.pending(offset=offset, limit=limit or top or _all_pending(found, store_path))
        elif as_csv:  # the export's rows and CSV, in this listing's order
            click.echo(csv_text(found.to_records(status=status, sort=sort_metric, top=top)), nl=False)
            return
        else:
            rows = found.trials(status=status, sort=sort_metric, top=top)
        if as_csv:
            from ..query import export_rows

            click.echo(csv_text(export_rows(rows, found.metrics)), nl=False)
            return
        ties = found.tied_with_best() if rows else None  # nothing listed: no test to describe
    if as_json:
        emit_json([{**t.to_dict(), **(ties.for_trial(t.number) if ties else {})} for t in rows])
    else:
        click.echo(_format.trials_table(rows, found.metrics, ties=ties, direction=found.direction))
        if ties is not None:
            click.echo(ties.statement())


@cli.command()
@click.argument("study")
@store_option
@json_option
def best(study: str, store_path: Path, as_json: bool) -> None:
    """Show the best trial of STUDY: params, fold scores, mean, std, seed, provenance.

    Example: hptrack best digits-svc --json
    """
    with open_store(store_path) as store:
        found = store.study(study)
        _warn_provenance(found)
        trial = found.best()
        ties = found.tied_with_best()
        others = [n for n in ties.tied if n != trial.number]
        params = {t.number: t.params for t in found.trials(status="complete")} if others else {}
    if as_json:
        tied = [
            {"number": n, "params": params[n], "mean": ties.means.get(n), "p_vs_best": ties.p_values[n]}
            for n in others
        ]
        emit_json(
            {**trial.to_dict(), **ties.for_trial(trial.number), "tied": tied, "tie_test": ties.to_dict()}
        )
    else:
        title = f"best trial of {found.name}: #{trial.number}"
        click.echo(_format.trial_text(trial, found.metrics, title=title, direction=found.direction))
        click.echo("\n".join(_format.tied_lines(ties, params)))


@cli.command()
@click.argument("study")
@click.argument("number", required=False, type=int)
@store_option
@json_option
def show(study: str, number: int | None, store_path: Path, as_json: bool) -> None:
    """Show the full provenance of STUDY, or of its trial NUMBER.

    Example: hptrack show digits-svc 3
    """
    with open_store(store_path) as store:
        found = store.study(study)
        _warn_provenance(found)
        if number is None:
            info = found.to_dict()
            if as_json:
                emit_json(info)
            else:
                click.echo(_format.study_text(info))
            return
        trial = found.trial(number)
    if as_json:
        emit_json(trial.to_dict())
    else:
        text = _format.trial_text(
            trial, found.metrics, title=f"trial #{trial.number} of {found.name}", direction=found.direction
        )
        errors = "\n".join(f"\nfold {k} traceback:\n{v}" for k, v in sorted(trial.errors.items()))
        click.echo(text + errors)


# `trials --status pending` without --limit lists every pending trial up to this many;
# more is a one-line error naming --limit (a page), never a partial list that reads as all.
PENDING_AT_ONCE = 1000


def _all_pending(study: Any, store_path: Path) -> int:
    """How many pending trials to list without --limit: all of them, or refuse above the cap."""
    pending = study.counts()["pending"]
    if pending > PENDING_AT_ONCE:
        store = "" if store_path == Path("hptrack.db") else f" --store {shlex.quote(str(store_path))}"
        raise HptrackError(
            f"study {study.name!r} has {pending} pending trials, more than --status pending lists "
            f"without --limit ({PENDING_AT_ONCE}); page through them with "
            f"`hptrack trials {shlex.quote(study.name)}{store} --status pending --limit 100 --offset 0`"
        )
    return max(pending, 1)


@cli.command()
@click.argument("study")
@store_option
@click.option("--metric", help="The metric (default: the ranking metric).")
@json_option
def importance(study: str, store_path: Path, metric: str | None, as_json: bool) -> None:
    """Which parameters of STUDY matter: each one's share of the score's variance.

    Exact for a complete grid; estimated with a seeded random-forest surrogate otherwise.
    Each share has an interval from resampling the folds.

    Example: hptrack importance digits-svc --json
    """
    with open_store(store_path) as store:
        found = store.study(study)
        _warn_provenance(found)
        result = found.importance(metric=metric)
    if as_json:
        emit_json(result.to_dict())
    else:
        click.echo(_format.importance_text(result))


@cli.command()
@click.argument("study")
@click.argument("number", required=False, type=int)
@store_option
@json_option
def curves(study: str, number: int | None, store_path: Path, as_json: bool) -> None:
    """Show the learning curves STUDY's objective reported with fold.report(step, ...).

    Without NUMBER: one row per trial and value, from its first step to its last (the
    median over folds, and the folds' range at the last step). With NUMBER: that trial's
    median and fold range at every step. --json: one object per (trial, fold).

    Example: hptrack curves mlp-numpy 3 --json
    """
    with open_store(store_path) as store:
        found = store.study(study).curves(number)
    if as_json:
        emit_json([c.to_dict() for c in found])
    elif not found:
        message = f"study {study!r} has no learning curves (an objective's fold.report records them)"
        click.echo(message, err=True)
    else:
        from ..query import fold_bands

        click.echo(_format.curves_text(fold_bands(found), by_step=number is not None))


def _warn_provenance(study: Any) -> None:
    """Each of the study's mixed code/data warnings as a ``Warning:`` line on stderr."""
    for warning in study.provenance_warnings():
        click.echo(f"Warning: {warning}", err=True)


@cli.command()
@click.argument("study")
@store_option
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="Write here instead of stdout.",
)
def export(study: str, store_path: Path, fmt: str, output: Path | None) -> None:
    """Export STUDY as a flat table in scikit-learn's cv_results_ naming.

    Columns: param_C, split0_test_accuracy, mean_test_accuracy, std_test_accuracy,
    rank_test_accuracy, ...

    Example: hptrack export digits-svc --format csv -o results.csv
    """
    with open_store(store_path) as store:
        found = store.study(study)
        if output is None:
            found.write_export(sys.stdout, fmt)
            return
        partial = output.with_name(f".{output.name}.partial")  # renamed into place when complete
        try:
            with partial.open("w", encoding="utf-8", newline="") as out:
                n = found.write_export(out, fmt)
            os.replace(partial, output)
        except OSError as exc:
            raise HptrackError(f"cannot write {str(output)!r}: {exc.strerror}") from exc
        finally:
            partial.unlink(missing_ok=True)  # gone once renamed; else what a failure left
    click.echo(f"wrote {n} trials to {output}", err=True)


@cli.command()
@click.argument("studies", nargs=-1)
@store_option
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path),
    help="The HTML file to write (with --all: a directory, created if needed).",
)
@click.option("--all", "all_studies", is_flag=True, help="A static site: index.html + a page per study.")
@click.option(
    "--templates",
    "template_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory of templates overriding the defaults (study.html, base.html, _*.html).",
)
def report(
    studies: tuple[str, ...],
    store_path: Path,
    output: Path,
    all_studies: bool,
    template_dir: Path | None,
) -> None:
    """Write a self-contained HTML report of STUDY... (one file, a section per study).

    \b
    Example: hptrack report digits-svc -o report.html
    A site:  hptrack report --all -o site/
    """
    from ..report import write_report, write_site

    if all_studies == bool(studies):
        raise click.UsageError("give STUDY names or --all (not both)")
    if all_studies and output.suffix.lower() in (".html", ".htm"):
        raise HptrackError(
            f"-o {str(output)!r}: --all writes a directory (index.html + a page per study); "
            "give -o a directory name, e.g. -o reports/"
        )
    with open_store(store_path) as store:
        if all_studies:
            write_site(store, output, template_dir=template_dir)
        else:
            write_report(store, list(studies), output, template_dir=template_dir)
    click.echo(f"report written to {output}", err=True)


@cli.command()
@click.argument("study")
@store_option
@json_option
def history(study: str, store_path: Path, as_json: bool) -> None:
    """Every run that touched STUDY (run, resume, verify, merge, a Python fit), oldest first.

    Per run: start, finish (or "died": no end recorded and its process is gone; or
    "running"), exit code, trials it finished, user@host:pid, hptrack version, command.

    Example: hptrack history digits-svc --store runs.db --json
    """
    with open_store(store_path) as store:
        runs = store.study(study).history()
    if as_json:
        emit_json([r.to_dict() for r in runs])
    else:
        click.echo(_format.history_table(runs))


@cli.command()
@click.argument("a")
@click.argument("b")
@store_option
@click.option("--metric", help="Metric to compare (default: A's ranking metric).")
@click.option(
    "--fail-on-regression",
    is_flag=True,
    help="Exit 1 when B's best is worse than A's by more than --threshold (a CI gate).",
)
@click.option(
    "--threshold",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Largest accepted drop of the best mean score (rise, for a minimized metric).",
)
@json_option
def compare(
    a: str,
    b: str,
    store_path: Path,
    metric: str | None,
    fail_on_regression: bool,
    threshold: float,
    as_json: bool,
) -> None:
    """Compare study B with study A: differing fields, shared configs, the two bests.

    A and B are study names in --store, or STORE.db:NAME for a study in another store.
    Deltas are B - A. When both studies used the same CV splits, fold scores are paired
    and the two bests get a corrected resampled t-test.

    Example: hptrack compare digits-svc baseline.db:digits-svc --fail-on-regression
    """
    from ..query import StudyRef, compare_studies, open_refs

    refs = StudyRef.parse(a, store_path), StudyRef.parse(b, store_path)
    with open_refs(*refs) as (study_a, study_b):
        _warn_provenance(study_a)
        _warn_provenance(study_b)
        result = compare_studies(study_a, study_b, metric=metric, threshold=threshold)
    if fail_on_regression and result.best_delta is None:
        raise HptrackError(
            f"cannot check for a regression: {result.test_note.removeprefix('no paired test: ')}"
        )
    if as_json:
        emit_json(result.to_dict())
    else:
        click.echo(_format.compare_text(result))
    if fail_on_regression and result.regressed:
        click.echo(
            f"regression: B's best {result.metric} is {result.worse_by:.4g} "
            f"{result.direction.worse_word} A's "
            f"(threshold {threshold:g})",
            err=True,
        )
        sys.exit(1)
