"""Render a context with jinja2 and write the files: one report, or a static site.

A :class:`jinja2.Environment`: a team's ``--templates`` directory first, then the
defaults, which stay reachable as ``default:NAME`` so an override can extend the
original and replace one block; ``StrictUndefined`` and autoescaping throughout. The
defaults-only environment, and so its compiled templates, is kept for the process.
"""

from __future__ import annotations

import contextlib
import functools
import gc
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import HptrackError
from .build import build_context, build_index
from .context import IndexContext, ReportContext
from .text import page_names

if TYPE_CHECKING:
    import jinja2

    from ..store import Store

__all__ = ["render", "write_report", "write_site"]


def _default_template_dir() -> Path:
    """The shipped templates: ``hptrack/templates`` in a wheel, the repository's ``templates/``."""
    package = Path(__file__).resolve().parents[1]  # hptrack/
    bundled = package / "templates"  # installed wheel (pyproject's force-include)
    return bundled if bundled.is_dir() else package.parent / "templates"


def _environment(template_dir: Path | None) -> jinja2.Environment:
    """The jinja2 environment: user templates first, the defaults also as ``default:``.

    The defaults-only environment is built once per process and keeps its compiled
    templates (jinja2 recompiles one whose file changed). One with a team's directory is
    built per call: a file added there later must shadow a default compiled earlier.
    """
    if template_dir is None:
        return _defaults_environment()
    if not Path(template_dir).is_dir():
        raise HptrackError(
            f"template directory {str(template_dir)!r} does not exist; give a directory "
            "holding your study.html, base.html or _*.html overrides"
        )
    return _new_environment(Path(template_dir))


@functools.cache
def _defaults_environment() -> jinja2.Environment:
    """The shipped templates' environment, kept: compiling them takes about 0.1 s."""
    return _new_environment(None)


def _new_environment(template_dir: Path | None) -> jinja2.Environment:
    """A new environment over ``template_dir`` (if any), then the defaults."""
    import jinja2

    defaults = jinja2.FileSystemLoader(_default_template_dir())
    user: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(template_dir)] if template_dir else []
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

    Raises
    ------
    HptrackError
        ``template_dir`` does not exist, or a template failed to render.
    """
    return _render(_environment(template_dir), context)


def _render(environment: jinja2.Environment, context: ReportContext | IndexContext) -> str:
    """Render ``context`` with its page template; a template error becomes one line."""
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


@contextlib.contextmanager
def _cycle_collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a page is built and rendered.

    A large study's page allocates millions of small objects (trials, rows, cells) that
    all stay alive until the page is written, and none of them forms a reference cycle;
    the collector would walk them over and over (a fifth of the time of a 10,000-trial
    report) and free nothing. Reference counting still frees everything as usual; the
    collector is switched back on (if it was on) when the page is done.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _write(path: Path, text: str) -> None:
    """Write ``text`` as UTF-8 with ``\\n`` line ends; an OSError becomes one line."""
    try:
        with open(path, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
    except OSError as exc:
        raise HptrackError(f"cannot write {str(path)!r}: {exc.strerror}") from exc


def _check_output_file(out: Path) -> None:
    """Refuse an output that is a directory, or whose directory does not exist."""
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

    Parameters
    ----------
    store : Store
        An open store (read-only is enough).
    names : sequence of str
        The studies, in page order; with several, the page starts with a comparison.
    out : Path
        The HTML file to write (its directory must exist).
    template_dir : Path, optional
        A team's template overrides (see :func:`render`).

    Returns
    -------
    Path
        ``out``.

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
    with _cycle_collector_paused():
        html = _render(environment, build_context(store, names))
    _write(out, html)
    return out


def write_site(store: Store, out_dir: Path, *, template_dir: Path | None = None) -> list[Path]:
    """Write a static site: ``index.html`` and a page per study, creating ``out_dir``.

    Parameters
    ----------
    store : Store
        An open store with at least one study.
    out_dir : Path
        The site's directory; created if missing (its parent must exist).
    template_dir : Path, optional
        A team's template overrides (see :func:`render`).

    Returns
    -------
    list of Path
        The written pages, ``index.html`` first.

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
    pages = page_names(names)
    rendered = [("index.html", _render(environment, build_index(store, pages)))]
    for name in names:
        with _cycle_collector_paused():
            context = build_context(store, [name], home="index.html")
            rendered.append((pages[name], _render(environment, context)))
    out_dir.mkdir(exist_ok=True)
    written = []
    for filename, html in rendered:
        _write(out_dir / filename, html)
        written.append(out_dir / filename)
    return written
