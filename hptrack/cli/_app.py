"""The ``hptrack`` group: the one place errors become exit codes, the shared options, and
the helpers every command uses (JSON on stdout, progress on stderr, SIGTERM as Ctrl-C).

Exit codes: 0 success; 1 a check failed; 2 bad input or unusable store (one
``Error: ...`` line on stderr); 130 interrupted.
"""

from __future__ import annotations

import contextvars
import json
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import HptrackError

if TYPE_CHECKING:
    from ..query import Store


class _InputError(click.ClickException):
    exit_code = 2  # SPEC: bad input or unusable store


# How to continue the study this process is running (set by `_run` once the study is
# open), for the Ctrl-C message; None when no study run is in progress.
RESUME_HINT: contextvars.ContextVar[str | None] = contextvars.ContextVar("resume_hint", default=None)


class _Group(click.Group):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["hptrack.argv"] = list(args)  # the command line a run records in the history
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:  # the one place errors are translated
        RESUME_HINT.set(None)
        try:
            return super().invoke(ctx)
        except HptrackError as exc:
            raise _InputError(str(exc)) from exc
        except click.UsageError as exc:  # one line, as every other refusal
            where = exc.ctx.command_path if exc.ctx is not None else "hptrack"
            message = " ".join(exc.format_message().split())
            raise _InputError(f"{message} (see '{where} --help')") from exc
        except KeyboardInterrupt:
            hint = RESUME_HINT.get()
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
    help="Fit every fold, even one the store already evaluated with the same key, and every "
    "pipeline step, even one another configuration fitted on the same fold.",
)

_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


class ByteSize(click.ParamType):
    """A memory size: ``512M``, ``2G``, ``1.5GiB``, ``100000`` (bytes); 0 turns a cache off."""

    name = "size"

    def convert(self, value: Any, param: Any, ctx: Any) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip().upper().removesuffix("IB").removesuffix("B")
        unit = text[-1:] if text[-1:] in _SIZE_UNITS else ""
        try:
            number = float(text[: len(text) - len(unit)])
        except ValueError:
            number = -1.0
        if not number >= 0 or number == float("inf"):
            self.fail(f"{value!r} is not a size: give bytes or a number with K, M, G or T (512M, 2G; 0: off)")
        return int(number * _SIZE_UNITS[unit])


cache_mem_option = click.option(
    "--cache-mem",
    type=ByteSize(),
    default="1G",
    show_default=True,
    help="Memory for fitted pipeline steps shared between configurations, per process (0: off).",
)


def invoked_command() -> str:
    """This invocation's command line, as the history records it (``hptrack run spec.toml ...``)."""
    from ..store import command_line

    return command_line(["hptrack", *click.get_current_context().meta.get("hptrack.argv", [])])


def open_store(path: Path) -> Store:
    """The store at ``path``, read-only (imported here: ``hptrack --help`` needs no store code)."""
    from ..query import Store

    return Store(path, readonly=True)


def emit_json(value: Any) -> None:
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
def sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C: release unfinished trials, exit 130."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def progress_bar(total: int, label: str) -> tuple[Any, Callable[[Any, str | None], None]]:
    """A progress bar on stderr, and the ``on_fold`` callback that moves it per finished trial.

    The callback also says at once, with one ``Warning:`` line, when a metric's scorer failed
    on every fold of the first trial that finished: a long run need not end to show it.
    """
    bar = click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True)
    watch = _ScorerWatch()

    def on_fold(result: Any, status: str | None) -> None:
        watch.fold(result)
        if status is not None:
            bar.update(1)
            for line in watch.trial_finished():
                newline = "" if getattr(bar, "is_hidden", True) else "\n"  # off the bar's line
                click.echo(f"{newline}Warning: {line}", err=True)

    return bar, on_fold


class _ScorerWatch:
    """Which metrics have scored on some fitted fold of this run, until the first trial ends."""

    def __init__(self) -> None:
        self.fitted = 0
        self.scored: dict[str, int] = {}
        self.errors: dict[str, str] = {}
        self.done = False

    def fold(self, result: Any) -> None:
        if self.done or getattr(result, "error", None) is not None or not hasattr(result, "test"):
            return
        self.fitted += 1
        for metric, value in result.test.items():
            self.scored[metric] = self.scored.get(metric, 0) + (value == value)  # NaN != NaN
        for metric, error in (getattr(result, "score_errors", None) or {}).items():
            lines = [line.strip() for line in str(error).splitlines() if line.strip()]
            self.errors.setdefault(metric, lines[-1] if lines else "")

    def trial_finished(self) -> list[str]:
        if self.done or not self.fitted:
            return []
        self.done = True
        return [
            f"metric {metric!r} failed on every fold of the first trial ({self.errors.get(metric, 'no score')}); "
            "the run goes on (Ctrl-C stops it, keeping what is done)"
            for metric, n in self.scored.items()
            if n == 0
        ]


@contextmanager
def dask_client(address: str | None) -> Iterator[Any]:
    """A client of the Dask scheduler at ``address`` (None: no cluster), connected first."""
    if address is None:
        yield None
        return
    from ..run import connect_dask

    client = connect_dask(address)
    try:
        yield client
    finally:
        client.close()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="hptrack")
