"""The ``hptrack`` command line: parse, call one library function, print, pick the exit code.

Exit codes: 0 success; 1 a check failed; 2 bad input or unusable store (one
``Error: ...`` line on stderr); 130 interrupted.
"""

from __future__ import annotations

import contextvars
import json
import shlex
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from . import _format
from ._csv import csv_text
from .errors import DriftError, HptrackError
from .query import Store


class _InputError(click.ClickException):
    exit_code = 2  # SPEC: bad input or unusable store


# How to continue the study this process is running (set by `_run` once the study is
# open), for the Ctrl-C message; None when no study run is in progress.
_RESUME_HINT: contextvars.ContextVar[str | None] = contextvars.ContextVar("resume_hint", default=None)


class _Group(click.Group):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["hptrack.argv"] = list(args)  # the command line a run records in the history
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:  # the one place errors are translated
        _RESUME_HINT.set(None)
        try:
            return super().invoke(ctx)
        except HptrackError as exc:
            raise _InputError(str(exc)) from exc
        except click.UsageError as exc:  # one line, as every other refusal
            where = exc.ctx.command_path if exc.ctx is not None else "hptrack"
            message = " ".join(exc.format_message().split())
            raise _InputError(f"{message} (see '{where} --help')") from exc
        except KeyboardInterrupt:
            hint = _RESUME_HINT.get()
            if hint is None:
                click.echo("Interrupted", err=True)
            else:
                click.echo(f"Interrupted; completed trials are saved (continue with `{hint}`)", err=True)
            ctx.exit(130)


store_option = click.option(
    "--store",
    "store_path",
    envvar="HPTRACK_STORE",
    default="hptrack.db",
    show_default=True,
    type=click.Path(path_type=Path),  # Store gives the one-line errors (directory, unreadable)
    help="Store file (or set HPTRACK_STORE).",
)


def _check_n_jobs(ctx: click.Context, param: click.Parameter, value: int) -> int:
    if value == 0:
        raise click.BadParameter("0 workers cannot run anything; use 1 (this process), N, or -1 (all cores)")
    return value


n_jobs_option = click.option(
    "--n-jobs",
    default=1,
    show_default=True,
    type=int,
    callback=_check_n_jobs,
    help="Parallel worker processes (-1: all cores).",
)
dask_option = click.option(
    "--dask",
    "dask",
    envvar="HPTRACK_DASK",
    metavar="ADDRESS",
    help="Run folds on this Dask scheduler (tcp://host:8786; or set HPTRACK_DASK).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output on stdout.")
no_reuse_option = click.option(
    "--no-reuse",
    is_flag=True,
    help="Fit every fold, even one the store already evaluated with the same key.",
)


def _command() -> str:
    """This invocation's command line, as the history records it (``hptrack run spec.toml ...``)."""
    from .store import command_line

    return command_line(["hptrack", *click.get_current_context().meta.get("hptrack.argv", [])])


def _emit_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, allow_nan=False))


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hptrack")
def cli() -> None:
    """Record, query and resume grid and random hyperparameter searches.

    Every trial, with the score of every fold for every metric, its seeds and the
    hashes of code and data, goes into one SQLite store.

    Example: hptrack run examples/digits_svc.toml
    """


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C: release unfinished trials, exit 130."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _progress(total: int, label: str) -> tuple[Any, Callable[[Any, str | None], None]]:
    bar = click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True)

    def on_fold(result: Any, status: str | None) -> None:
        if status is not None:
            bar.update(1)

    return bar, on_fold


@contextmanager
def _dask_client(address: str | None) -> Iterator[Any]:
    """A client of the Dask scheduler at ``address`` (None: no cluster), connected first."""
    if address is None:
        yield None
        return
    from .run import connect_dask

    client = connect_dask(address)
    try:
        yield client
    finally:
        client.close()


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
    command: tuple[str, str] = ("resume", ""),
    spec_file: str = "SPEC.toml",
) -> None:
    from .run import open_study, run_plan

    if report is not None and not report.parent.is_dir():
        raise HptrackError(f"--report {str(report)!r}: directory {str(report.parent)!r} does not exist")
    again = _command_line(*command, store_path)
    from .store import Writer

    with _dask_client(dask) as client, Writer(store_path) as writer, _sigterm_as_interrupt():
        store = Store.from_writer(writer)  # the read API over the writer's connection
        try:  # a refusal (other spec, changed code) comes before the run is recorded: it writes nothing
            stored, _ = open_study(writer, plan, allow_code_change=allow_code_change)
        except DriftError as exc:
            spec = shlex.quote(spec_file)
            raise exc.with_hints(
                fix=f"{again} --allow-code-change",
                new_study=f'set another name = "..." in {spec}, then hptrack run {spec}',
            ) from exc
        _RESUME_HINT.set(_command_line("resume", plan.name, store_path))
        with writer.run_record(stored.id, _command()) as run:  # exits with 2/130/1 as the CLI will
            counts = writer.counts(stored.id)
            remaining = counts["pending"] + counts["running"] + (counts["failed"] if retry_failed else 0)
            if max_trials is not None:
                remaining = min(remaining, max_trials)
            bar, on_fold = _progress(remaining, plan.name)
            with bar:
                try:
                    summary = run_plan(
                        writer,
                        plan,
                        n_jobs=n_jobs,
                        max_trials=max_trials,
                        retry_failed=retry_failed,
                        allow_code_change=allow_code_change,
                        on_fold=on_fold,
                        dask=client,
                        reuse=reuse,
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
            study = store.study(plan.name)
            all_failed = _all_failed(summary, study)
            run.exit = 0 if all_failed is None else 1
        top = study.trials(status="complete", top=5)
        running = [] if summary.finished else study.trials(status="running")
        if report is not None:  # after the run is finished, so the report's history shows its end
            _write_report(store, [plan.name], report)
    state = _run_state(summary, running, store_path)
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
    if summary.recovered:
        click.echo(f"re-ran trial(s) abandoned by dead workers: {summary.recovered}", err=True)
    if all_failed is not None:  # SPEC section 3: a run in which every trial failed exits 1
        click.echo(f"Error: {all_failed}", err=True)
        sys.exit(1)
    click.echo(_format.trials_table(top, study.metrics))


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
    from .report import write_report

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
def run(
    spec: Path,
    store_path: Path,
    n_jobs: int,
    max_trials: int | None,
    report: Path | None,
    allow_code_change: bool,
    dask: str | None,
    no_reuse: bool,
) -> None:
    """Run the study SPEC (a TOML file), or resume it if it already exists.

    Example: hptrack run examples/digits_svc.toml --store runs.db --n-jobs 2
    """
    from .run import plan_from_spec
    from .spec import load_spec

    plan = plan_from_spec(load_spec(spec))  # validated before the store is touched
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
def resume(
    study: str,
    store_path: Path,
    n_jobs: int,
    max_trials: int | None,
    retry_failed: bool,
    allow_code_change: bool,
    dask: str | None,
    no_reuse: bool,
) -> None:
    """Continue STUDY from the spec stored in the store (no spec file needed).

    Example: hptrack resume digits-svc --store runs.db
    """
    from .run import plan_from_spec, spec_from_store

    with Store(store_path, readonly=True) as store:
        stored = store.require_study(study)
    plan = plan_from_spec(spec_from_store(stored))
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
@store_option
@json_option
def studies(store_path: Path, as_json: bool) -> None:
    """List the studies in the store, with trial counts and best scores.

    Example: hptrack studies --store runs.db --json
    """
    with Store(store_path, readonly=True) as store:
        found = store.studies()
    if as_json:
        _emit_json([s.to_dict() for s in found])
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
def trials(
    study: str,
    store_path: Path,
    sort_metric: str | None,
    top: int | None,
    status: str | None,
    as_json: bool,
    as_csv: bool,
) -> None:
    """List the trials of STUDY: params, mean ± std per metric, rank, status.

    Example: hptrack trials digits-svc --top 5 --sort accuracy
    """
    with Store(store_path, readonly=True) as store:
        found = store.study(study)
        _warn_provenance(found)
        if as_csv:  # the export's rows and CSV, in this listing's order
            click.echo(csv_text(found.to_records(status=status, sort=sort_metric, top=top)), nl=False)
            return
        rows = found.trials(status=status, sort=sort_metric, top=top)
        ties = found.tied_with_best()
    if as_json:
        _emit_json([{**t.to_dict(), **ties.for_trial(t.number)} for t in rows])
    else:
        click.echo(_format.trials_table(rows, found.metrics, ties=ties))
        click.echo(ties.statement())


@cli.command()
@click.argument("study")
@store_option
@json_option
def best(study: str, store_path: Path, as_json: bool) -> None:
    """Show the best trial of STUDY: params, fold scores, mean, std, seed, provenance.

    Example: hptrack best digits-svc --json
    """
    with Store(store_path, readonly=True) as store:
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
        _emit_json(
            {**trial.to_dict(), **ties.for_trial(trial.number), "tied": tied, "tie_test": ties.to_dict()}
        )
    else:
        title = f"best trial of {found.name}: #{trial.number}"
        click.echo(_format.trial_text(trial, found.metrics, title=title))
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
    with Store(store_path, readonly=True) as store:
        found = store.study(study)
        _warn_provenance(found)
        if number is None:
            info = found.to_dict()
            if as_json:
                _emit_json(info)
            else:
                click.echo(_format.study_text(info))
            return
        trial = found.trial(number)
    if as_json:
        _emit_json(trial.to_dict())
    else:
        text = _format.trial_text(trial, found.metrics, title=f"trial #{trial.number} of {found.name}")
        errors = "\n".join(f"\nfold {k} traceback:\n{v}" for k, v in sorted(trial.errors.items()))
        click.echo(text + errors)


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
    with Store(store_path, readonly=True) as store:
        rows = store.study(study).export_rows()
    text = csv_text(rows) if fmt == "csv" else json.dumps(rows, indent=2, allow_nan=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise HptrackError(f"cannot write {str(output)!r}: {exc.strerror}") from exc
        click.echo(f"wrote {len(rows)} trials to {output}", err=True)


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
    from .report import write_report, write_site

    if all_studies == bool(studies):
        raise click.UsageError("give STUDY names or --all (not both)")
    if all_studies and output.suffix.lower() in (".html", ".htm"):
        raise HptrackError(
            f"-o {str(output)!r}: --all writes a directory (index.html + a page per study); "
            "give -o a directory name, e.g. -o reports/"
        )
    with Store(store_path, readonly=True) as store:
        if all_studies:
            write_site(store, output, template_dir=template_dir)
        else:
            write_report(store, list(studies), output, template_dir=template_dir)
    click.echo(f"report written to {output}", err=True)


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
    from .run import verify_study
    from .store import open_to_record

    writer, unrecorded = open_to_record(store_path)
    with writer:
        if unrecorded:
            click.echo(f"Warning: {unrecorded}", err=True)
        store = Store.from_writer(writer)
        with writer.run_record(writer.require_study(study).id, _command()) as run:
            report = verify_study(store, study, n_trials=n_trials, trial=number, tolerance=tolerance)
            run.exit = 0 if report.ok else 1
    if as_json:
        _emit_json(report.to_dict())
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
@click.argument("study")
@store_option
@json_option
def history(study: str, store_path: Path, as_json: bool) -> None:
    """Every run that touched STUDY (run, resume, verify, merge, a Python fit), oldest first.

    Per run: start, finish (or "died": no end recorded and its process is gone; or
    "running"), exit code, trials it finished, user@host:pid, hptrack version, command.

    Example: hptrack history digits-svc --store runs.db --json
    """
    with Store(store_path, readonly=True) as store:
        runs = store.study(study).history()
    if as_json:
        _emit_json([r.to_dict() for r in runs])
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
    help="Largest accepted drop of the best mean score.",
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
    from .query import StudyRef, compare_studies, open_refs

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
        _emit_json(result.to_dict())
    else:
        click.echo(_format.compare_text(result))
    if fail_on_regression and result.regressed:
        click.echo(
            f"regression: B's best {result.metric} is {-result.best_delta:.4g} below A's "  # type: ignore[operator]
            f"(threshold {threshold:g})",
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
    from .store import merge_stores

    report = merge_stores(list(sources), store_path, rename=rename, command=_command())
    if as_json:
        _emit_json(report.to_dict())
    else:
        click.echo(_format.merge_text(report))
    if not report.ok:
        click.echo(
            f"{len(report.conflicts)} conflict(s): results differ between the store and a source; "
            "the store kept its own (see the list above)",
            err=True,
        )
        sys.exit(1)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="hptrack")
