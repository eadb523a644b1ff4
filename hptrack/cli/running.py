"""Commands that run trials or write the store: ``run``, ``resume``, ``verify``, ``merge``."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import click

from .. import _format
from ..errors import DriftError, HptrackError
from ..spec.halving import HALVING_SEARCHES
from ._app import (
    RESUME_HINT,
    cache_mem_option,
    cli,
    dask_client,
    dask_option,
    emit_json,
    invoked_command,
    json_option,
    n_jobs_option,
    no_reuse_option,
    open_store,
    progress_bar,
    sigterm_as_interrupt,
    store_option,
)

if TYPE_CHECKING:
    from ..query import Store


def _run(
    store_path: Path,
    plan: Any,
    *,
    n_jobs: int,
    max_trials: int | None,
    retry_failed: bool,
    allow_code_change: bool,
    report: Path | None,
    dask: str | None = None,
    reuse: bool = True,
    cache_mem: int | None = None,
    command: tuple[str, str] = ("resume", ""),
    spec_file: str = "SPEC.toml",
) -> None:
    from ..store import Writer

    if report is not None and not report.parent.is_dir():
        raise HptrackError(f"--report {str(report)!r}: directory {str(report.parent)!r} does not exist")
    with dask_client(dask) as client, Writer(store_path) as writer, sigterm_as_interrupt():
        from ..query import Store

        store = Store.from_writer(writer)  # the read API over the writer's connection
        stored = _open(
            writer, plan, allow_code_change, again=_command_line(*command, store_path), spec=spec_file
        )
        RESUME_HINT.set(_command_line("resume", plan.name, store_path))
        with writer.run_record(stored.id, invoked_command()) as run:  # exits with 2/130/1 as the CLI will
            counts = writer.counts(stored.id)
            remaining = counts["pending"] + counts["running"] + (counts["failed"] if retry_failed else 0)
            bar, on_fold = progress_bar(
                remaining if max_trials is None else min(remaining, max_trials), plan.name
            )
            with bar:
                options = {
                    "n_jobs": n_jobs,
                    "max_trials": max_trials,
                    "retry_failed": retry_failed,
                    "cache_mem": cache_mem,
                }
                summary = _run_plan(writer, plan, options, allow_code_change, on_fold, client, reuse)
            study = store.study(plan.name)
            outcome = _Outcome.of(summary, study)
            run.exit = 0 if outcome.error is None else 1
        top = study.trials(status="complete", top=5)
        running = [] if summary.finished else study.trials(status="running")
        if report is not None:  # after the run is finished, so the report's history shows its end
            _write_report(store, [plan.name], report)
    _print_outcome(summary, _run_state(summary, running, store_path), outcome, top, study)


class _Outcome(NamedTuple):
    """What a run's end says beyond its summary: an error (exit 1) and warnings."""

    error: str | None
    warnings: list[str]

    @classmethod
    def of(cls, summary: Any, study: Any) -> _Outcome:
        """Every trial failed, or the ranking metric scored on no fold: exit 1 (SPEC section 3).

        A metric that failed on every fitted fold so far is a warning; the ranking one is
        an error, as no trial can be ranked.
        """
        unscored = study.unscored_metrics()
        error = _all_failed(summary, study)
        if error is None:
            error = next((u.text() for u in unscored if u.ranking), None)
        return cls(error, [u.text() for u in unscored if not u.ranking])


def _print_outcome(summary: Any, state: str, outcome: _Outcome, top: list[Any], study: Any) -> None:
    """What a run did on stderr, then the top configurations on stdout (or exit 1)."""
    _print_summary(summary, state)
    for warning in outcome.warnings:
        click.echo(f"Warning: {warning}", err=True)
    if outcome.error is not None:
        click.echo(f"Error: {outcome.error}", err=True)
        sys.exit(1)
    click.echo(_format.trials_table(top, study.metrics, direction=study.direction))


def _answer_unchanged(spec: Any, store_path: Path) -> bool:
    """Answer ``run`` on a finished, unchanged study from the store, as the full path would.

    False when that cannot be shown without building the plan (``run_unchanged``).
    """
    from ..run import run_unchanged

    summary = run_unchanged(spec, store_path, command=invoked_command())
    if summary is None:
        return False
    bar, _ = progress_bar(0, spec.name)
    with bar:  # the (empty) bar the full path shows
        pass
    with open_store(store_path) as store:
        study = store.study(spec.name)
        outcome = _Outcome.of(summary, study)
        top = study.trials(status="complete", top=5)
    _print_outcome(summary, "finished", outcome, top, study)
    return True


def _open(writer: Any, plan: Any, allow_code_change: bool, *, again: str, spec: str) -> Any:
    """The plan's stored study; a refusal (other spec, changed code) names the command to fix it."""
    from ..run import open_study

    try:  # it comes before the run is recorded: a refused command writes nothing
        stored, _ = open_study(writer, plan, allow_code_change=allow_code_change)
    except DriftError as exc:
        quoted = shlex.quote(spec)
        raise exc.with_hints(
            fix=f"{again} --allow-code-change",
            new_study=f'set another name = "..." in {quoted}, then hptrack run {quoted}',
        ) from exc
    return stored


def _run_plan(
    writer: Any,
    plan: Any,
    options: dict[str, Any],
    allow_code_change: bool,
    on_fold: Any,
    client: Any,
    reuse: bool,
) -> Any:
    """``run_plan``; with ``error_score = 'raise'``, a fit's error is one line (it is recorded)."""
    from ..run import run_plan

    try:
        if plan.search in HALVING_SEARCHES:  # scikit-learn's halving loop, through the drop-in
            from ..search import run_halving

            return run_halving(writer, plan, n_jobs=options["n_jobs"], reuse=reuse, on_fold=on_fold)
        return run_plan(
            writer,
            plan,
            allow_code_change=allow_code_change,
            on_fold=on_fold,
            dask=client,
            reuse=reuse,
            **options,
        )
    except (HptrackError, KeyboardInterrupt):
        raise
    except Exception as exc:
        if plan.error_score != "raise":
            raise
        message = " ".join(str(exc).split())[:300]
        raise HptrackError(
            f"a fit failed and the spec sets error_score = 'raise' ({type(exc).__name__}: "
            f"{message}); the failure is recorded: hptrack trials {plan.name} --status failed"
        ) from exc


def _check_halving(plan: Any, max_trials: int | None, dask: str | None) -> None:
    """Refuse options a halving study cannot honour, before anything is written."""
    if plan.search in HALVING_SEARCHES:
        from ..search import check_halving_options

        check_halving_options(plan, max_trials=max_trials, dask=dask)


def _print_summary(summary: Any, state: str) -> None:
    """What the run did, on stderr."""
    click.echo(
        f"{summary.study}: {summary.trials_finished} trial(s) run now "
        f"({summary.folds_fitted} folds fitted), {summary.folds_reused} reused from the store, "
        f"in {summary.elapsed:.1f} s; "
        f"{summary.n_complete} complete, {summary.n_failed} failed of {summary.n_trials}; {state}",
        err=True,
    )
    if summary.folds_refit:
        click.echo(
            f"{summary.folds_refit} fold(s) refit for new metric(s) {', '.join(summary.refit_metrics)}: "
            "the store had them evaluated without those scores",
            err=True,
        )
    if summary.prefix_reused:
        click.echo(
            f"pipeline prefixes: {summary.prefix_reused} step fit(s) taken from the cache, "
            f"{summary.prefix_fitted} fitted",
            err=True,
        )
    if summary.recovered:
        click.echo(f"re-ran trial(s) abandoned by dead workers: {summary.recovered}", err=True)


def _command_line(command: str, argument: str, store_path: Path) -> str:
    """``hptrack COMMAND ARGUMENT``, with ``--store`` when the store is not the default one."""
    words = ["hptrack", command, shlex.quote(argument)]
    if store_path != Path("hptrack.db"):
        words += ["--store", shlex.quote(str(store_path))]
    return " ".join(words)


def _run_state(summary: Any, running: list[Any], store_path: Path) -> str:
    """How the study stands after this run: finished, left to resume, or running elsewhere."""
    if summary.finished:
        return "finished"
    elsewhere = sorted({f"{t.host}:{t.pid}" for t in running})
    where = ", ".join(elsewhere[:3]) + (" ..." if len(elsewhere) > 3 else "")
    check = f"`{_command_line('trials', summary.study, store_path)} --status running`"
    pending = summary.n_pending - len(running)
    if pending <= 0 and running:
        return (
            f"{len(running)} trial(s) are running in another process ({where}); wait for it, "
            f"or check with {check}"
        )
    state = f"{pending} trial(s) left; continue with `{_command_line('resume', summary.study, store_path)}`"
    if running:
        state += f"; {len(running)} more are running in another process ({where}): see {check}"
    return state


def _all_failed(summary: Any, study: Any) -> str | None:
    """The one line for a study with failed trials and no complete one, else None."""
    if summary.n_complete or not summary.n_failed:
        return None
    import shlex

    which = "" if summary.finished else " run so far"
    trials = "trial" if summary.n_failed == 1 else "trials"
    line = f"all {summary.n_failed} {trials} of {summary.study!r}{which} failed"
    common = study.most_common_error()
    if common is not None:
        error, n_folds = common
        line += f"; most common error ({n_folds} fold{'s' if n_folds != 1 else ''}): {error[:300]}"
    return f"{line}; see hptrack trials {shlex.quote(summary.study)} --status failed"


def _write_report(store: Store, names: list[str], out: Path) -> None:
    from ..report import write_report

    write_report(store, names, out)
    click.echo(f"report written to {out}", err=True)


@cli.command()
@click.argument("spec", type=click.Path(path_type=Path))
@store_option
@n_jobs_option
@click.option("--max-trials", type=click.IntRange(min=0), help="Stop after this many more trials.")
@click.option(
    "--report",
    type=click.Path(path_type=Path),
    help="Write an HTML report when done.",
)
@click.option("--allow-code-change", is_flag=True, help="Continue although code or data changed.")
@dask_option
@no_reuse_option
@cache_mem_option
def run(
    spec: Path,
    store_path: Path,
    n_jobs: int,
    max_trials: int | None,
    report: Path | None,
    allow_code_change: bool,
    dask: str | None,
    no_reuse: bool,
    cache_mem: int,
) -> None:
    """Run the study SPEC (a TOML file), or resume it if it already exists.

    A finished study whose spec, code and data are unchanged is answered from the
    store without importing scikit-learn; its data loader still runs (README: "Running
    a finished study's spec again").

    Example: hptrack run examples/digits_svc.toml --store runs.db --n-jobs 2
    """
    from ..spec import load_spec

    loaded = load_spec(spec)
    if report is None and dask is None and _answer_unchanged(loaded, store_path):
        return  # finished, and spec, code and data unchanged: nothing to run

    from ..run import plan_from_spec

    plan = plan_from_spec(loaded)  # validated before the store is touched
    _check_halving(plan, max_trials, dask)
    _run(
        store_path,
        plan,
        n_jobs=n_jobs,
        max_trials=max_trials,
        retry_failed=False,
        allow_code_change=allow_code_change,
        report=report,
        dask=dask,
        reuse=not no_reuse,
        cache_mem=cache_mem,
        command=("run", str(spec)),
        spec_file=str(spec),
    )


@cli.command()
@click.argument("study")
@store_option
@n_jobs_option
@click.option("--max-trials", type=click.IntRange(min=0), help="Stop after this many more trials.")
@click.option("--retry-failed", is_flag=True, help="Run failed trials again.")
@click.option("--allow-code-change", is_flag=True, help="Continue although code or data changed.")
@dask_option
@no_reuse_option
@cache_mem_option
def resume(
    study: str,
    store_path: Path,
    n_jobs: int,
    max_trials: int | None,
    retry_failed: bool,
    allow_code_change: bool,
    dask: str | None,
    no_reuse: bool,
    cache_mem: int,
) -> None:
    """Continue STUDY from the spec stored in the store (no spec file needed).

    Example: hptrack resume digits-svc --store runs.db
    """
    from ..run import plan_from_spec, spec_from_store

    with open_store(store_path) as store:
        stored = store.require_study(study)
    plan = plan_from_spec(spec_from_store(stored))
    _check_halving(plan, max_trials, dask)
    _run(
        store_path,
        plan,
        n_jobs=n_jobs,
        max_trials=max_trials,
        retry_failed=retry_failed,
        allow_code_change=allow_code_change,
        report=None,
        dask=dask,
        reuse=not no_reuse,
        cache_mem=cache_mem,
        command=("resume", study),
        spec_file=_stored_spec_file(stored.provenance),
    )


def _stored_spec_file(provenance: dict[str, Any]) -> str:
    """Where the spec a study was created from was (``SPEC.toml`` when unknown)."""
    name = provenance.get("spec_file")
    if not name:
        return "SPEC.toml"
    return str(Path(provenance.get("base_dir") or ".") / name)


@cli.command()
@click.argument("study")
@store_option
@click.option(
    "--trials",
    "n_trials",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Re-run this many complete trials, sampled with the study seed.",
)
@click.option("--trial", "number", type=int, help="Re-run exactly this trial.")
@click.option(
    "--tolerance",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Largest accepted absolute difference per fold score.",
)
@json_option
def verify(
    study: str, store_path: Path, n_trials: int, number: int | None, tolerance: float, as_json: bool
) -> None:
    """Re-run recorded trials of STUDY with today's code and data; compare fold scores.

    Exit 1 on any drift beyond the tolerance, naming the trial, fold and delta.

    Example: hptrack verify digits-svc --trials 2
    """
    from ..query import Store
    from ..run import verify_study
    from ..store import open_to_record

    writer, unrecorded = open_to_record(store_path)
    with writer:
        if unrecorded:
            click.echo(f"Warning: {unrecorded}", err=True)
        store = Store.from_writer(writer)
        with writer.run_record(writer.require_study(study).id, invoked_command()) as run:
            report = verify_study(store, study, n_trials=n_trials, trial=number, tolerance=tolerance)
            run.exit = 0 if report.ok else 1
    if as_json:
        emit_json(report.to_dict())
    else:
        click.echo(_format.verify_text(report))
    if not report.ok:
        first = report.drifted[0]
        click.echo(
            f"drift: {len(report.drifted)} fold score(s) differ; first: trial {first.trial} fold "
            f"{first.fold} {first.metric} recorded {first.recorded!r} now {first.new!r}"
            + (f" (delta {first.delta:+.3g})" if first.delta is not None else ""),
            err=True,
        )
        sys.exit(1)


@cli.command()
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
@store_option
@click.option("--rename", is_flag=True, help="Merge a same-named study with another spec as NAME@host.")
@json_option
def merge(sources: tuple[Path, ...], store_path: Path, rename: bool, as_json: bool) -> None:
    """Merge the stores SRC... (e.g. from several machines) into --store (created if missing).

    The same study (same name, spec, data and splits) merges trial by trial and fold
    by fold without duplicates; sources are only read. A fold recorded differently in
    the store and a source is a conflict: reported, never overwritten (the store keeps
    that trial as it was), everything else still merges, and the exit code is 1.

    Example: hptrack merge node1.db node2.db --store all.db
    """
    from ..store import merge_stores

    report = merge_stores(list(sources), store_path, rename=rename, command=invoked_command())
    if as_json:
        emit_json(report.to_dict())
    else:
        click.echo(_format.merge_text(report))
    if not report.ok:
        click.echo(
            f"{len(report.conflicts)} conflict(s): results differ between the store and a source; "
            "the store kept its own (see the list above)",
            err=True,
        )
        sys.exit(1)
