"""pytest plugin that runs scikit-learn's installed search tests against hptrack.

Loaded by ``run.py`` with ``-p compat_plugin`` (this directory on ``PYTHONPATH``):

``--hptrack-outcomes PATH``
    Write every test's outcome (and the first line of its failure) to PATH as JSON.
``--hptrack-dropins``
    While pytest imports scikit-learn's ``model_selection/tests/test_search.py``,
    ``sklearn.model_selection.GridSearchCV`` and ``RandomizedSearchCV`` are hptrack's (for
    ``test_successive_halving.py``: ``HalvingGridSearchCV`` and ``HalvingRandomSearchCV``),
    so the module's own names, and the ``parametrize`` lists built from them at import
    time, hold the drop-ins; scikit-learn's namespace is restored right after. Each test
    gets its own empty store (``HPTRACK_STORE``) and runs in its own temporary directory.

Without ``--hptrack-dropins`` the file runs as shipped and only the outcomes are recorded.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# each target test module and the names of sklearn.model_selection swapped while it is imported
TARGETS = {
    "sklearn/model_selection/tests/test_search.py": ("GridSearchCV", "RandomizedSearchCV"),
    "sklearn/model_selection/tests/test_successive_halving.py": ("HalvingGridSearchCV", "HalvingRandomSearchCV"),
}

_EXCEPTION_ONLY = re.compile(r"[A-Za-z_.]+:")
_QUOTED_ERROR = re.compile(r"[A-Za-z_.]*(Error|Exception|Warning): \S")

_outcomes: dict[str, dict[str, Any]] = {}
_swapped: dict[str, str] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register ``--hptrack-outcomes`` and ``--hptrack-dropins``."""
    group = parser.getgroup("hptrack", "hptrack's scikit-learn compatibility run")
    group.addoption("--hptrack-outcomes", default=None, help="Write per-test outcomes to this JSON file.")
    group.addoption(
        "--hptrack-dropins",
        action="store_true",
        default=False,
        help="Substitute hptrack's drop-ins in sklearn's test_search.py / test_successive_halving.py.",
    )


def _target(collector: pytest.Collector) -> tuple[str, tuple[str, ...]] | None:
    """``(module path, swapped names)`` when ``collector`` is one of scikit-learn's target modules."""
    if not isinstance(collector, pytest.Module):
        return None
    path = collector.path.as_posix()
    return next(((module, names) for module, names in TARGETS.items() if path.endswith(module)), None)


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    """Import the target module with hptrack's classes in ``sklearn.model_selection``."""
    target = _target(collector) if collector.config.getoption("hptrack_dropins") else None
    if target is None:
        return (yield)
    module_path, names = target
    import sklearn.model_selection as model_selection

    import hptrack

    dropins = {name: getattr(hptrack, name) for name in names}  # halving: enables sklearn's first
    originals = {name: getattr(model_selection, name) for name in names}
    for name in names:
        setattr(model_selection, name, dropins[name])
    try:
        report = yield
    finally:
        for name, original in originals.items():
            setattr(model_selection, name, original)
    if report.failed:  # the import failed: pytest reports it
        return report
    module = collector.obj  # type: ignore[attr-defined]
    for name in names:
        found = getattr(module, name)
        if found is not getattr(hptrack, name):
            raise RuntimeError(f"{module_path} still uses {found!r} for {name}; the drop-in swap failed")
        _swapped[name] = f"{found.__module__}.{found.__qualname__}"
    return report


@pytest.fixture(autouse=True)
def _hptrack_private_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """With the drop-ins, each test writes to its own empty store, in its own directory."""
    if not request.config.getoption("hptrack_dropins"):
        yield
        return
    directory = tmp_path_factory.mktemp("hptrack")
    store = directory / "hptrack.db"
    monkeypatch.setenv("HPTRACK_STORE", str(store))
    monkeypatch.chdir(directory)
    yield
    _outcomes.setdefault(_test_id(request.node.nodeid), {})["store_written"] = store.exists()


def _test_id(nodeid: str) -> str:
    """``test_name[params]``: the node id without the file's path."""
    return nodeid.split("::", 1)[-1]


def _message(report: pytest.TestReport | pytest.CollectReport) -> str:
    """A failure's message (or a skip's reason), as pytest shows it after ``E``."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):  # a skip: (path, lineno, reason)
        return str(longrepr[2])
    crash = getattr(longrepr, "reprcrash", None)
    return crash.message if crash is not None else str(longrepr)


def _first_line(text: str) -> str:
    """The first line that says something: ``ValueError:`` alone takes the next line along."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    if len(lines) > 1 and _EXCEPTION_ONLY.fullmatch(lines[0]):
        return f"{lines[0]} {lines[1]}"
    return lines[0]


def _cause(text: str) -> str:
    """The last ``SomeError: ...`` line quoted inside a message (a fit's own error), if any."""
    causes = [line.strip() for line in text.strip().splitlines()[1:] if _QUOTED_ERROR.match(line.strip())]
    return causes[-1] if causes else ""


def _outcome(report: pytest.TestReport) -> str | None:
    """The test's outcome as this phase decides it, or None when the phase decides nothing."""
    if hasattr(report, "wasxfail"):
        return "xfailed" if report.skipped else "xpassed"
    if report.when == "call":
        return report.outcome
    if report.failed:  # setup or teardown
        return "error"
    if report.when == "setup" and report.skipped:
        return "skipped"
    return None


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Keep each test's outcome; a failing teardown turns a pass into an error."""
    outcome = _outcome(report)
    if outcome is None:
        return
    entry = _outcomes.setdefault(_test_id(report.nodeid), {})
    if entry.get("outcome") in {"failed", "error"}:
        return  # the first failure is the one to report
    entry["outcome"] = outcome
    text = "" if outcome == "passed" else _message(report)
    entry["message"] = _first_line(text)
    entry["cause"] = _cause(text)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    """A module that fails to import is recorded as one errored entry."""
    if report.failed:
        _outcomes[f"<collect {report.nodeid}>"] = {
            "outcome": "error",
            "message": _first_line(_message(report)),
            "cause": _cause(_message(report)),
        }


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write the outcomes file."""
    path = session.config.getoption("hptrack_outcomes")
    if not path:
        return
    import sklearn

    data = {
        "sklearn_version": sklearn.__version__,
        "dropins": bool(session.config.getoption("hptrack_dropins")),
        "swapped": dict(_swapped),
        "hptrack_store_env": os.environ.get("HPTRACK_STORE"),
        "tests": {name: _outcomes[name] for name in sorted(_outcomes)},
    }
    Path(path).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
