"""The report in real headless Chromium: no console error, no network request, a screenshot.

Chromium is driven over its DevTools protocol on a pipe (``--remote-debugging-pipe``), so
no extra Python package is needed: the test sees console messages, uncaught exceptions,
log entries (a failed resource load, a blocked request) and every request the page
makes, and takes screenshots. Without a Chromium binary the test skips (Debian:
``apt-get install chromium``; ``.ci/run`` installs it).

The README's screenshot comes from the same code; refresh it with::

    python tests/test_report_browser.py          # writes docs/report.png
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from hptrack.cli import cli

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "docs" / "report.png"
WIDTH = 1280  # CSS pixels; screenshots at device scale 1
FLAGS = (  # as root in a container, without network: no sandbox, no background traffic
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--force-color-profile=srgb",
    "--remote-debugging-pipe",
)
TIMEOUT = 60.0


def find_chromium() -> str | None:
    """A Chromium (or Chrome) binary: ``$HPTRACK_CHROMIUM``, else the usual names on PATH."""
    for candidate in (os.environ.get("HPTRACK_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and (found := shutil.which(candidate)):
            return found
    return None


@dataclass
class PageCheck:
    """What a page load produced: problems (console errors, exceptions, error log
    entries), requests to anything but ``file:`` and ``data:``, and measured facts."""

    problems: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)


class Chromium:
    """A headless Chromium driven through the DevTools protocol on a pipe."""

    # Chromium reads protocol commands on its fd 3 and writes replies on its fd 4. This
    # trampoline puts the pipe ends there (they arrive numbered above 4, so neither dup2
    # clobbers the other) and becomes Chromium.
    TRAMPOLINE = (
        "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
        "os.execv(sys.argv[3], sys.argv[3:])"
    )

    def __init__(self, executable: str, profile: Path) -> None:
        commands_read, self._commands = os.pipe()
        self._replies, replies_write = os.pipe()
        commands_read, replies_write = _above_4(commands_read), _above_4(replies_write)
        profile.mkdir(parents=True, exist_ok=True)
        self.log = profile / "chromium.log"
        self._buffer = b""
        self._id = 0
        self._events: list[dict[str, Any]] = []
        with self.log.open("wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-c", self.TRAMPOLINE, str(commands_read), str(replies_write),
                 executable, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                pass_fds=(commands_read, replies_write),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )  # fmt: skip
        os.close(commands_read)
        os.close(replies_write)
        try:
            target = self.call("Target.createTarget", url="about:blank")["targetId"]
            self._session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            for domain in ("Runtime", "Log", "Network", "Page"):
                self.page(f"{domain}.enable")
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=10)
        except (OSError, RuntimeError, TimeoutError, EOFError):
            pass
        try:
            self._process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        os.close(self._commands)
        os.close(self._replies)

    # -- protocol

    def call(
        self, method: str, *, timeout: float = TIMEOUT, session: str | None = None, **params: Any
    ) -> Any:
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self._events.append(reply)

    def page(self, method: str, **params: Any) -> Any:
        return self.call(method, session=self._session, **params)

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self._replies], [], [], left)
            if ready:
                chunk = os.read(self._replies, 1 << 20)
                if not chunk:
                    tail = self.log.read_text(errors="replace").splitlines()[-15:]
                    raise EOFError("Chromium closed the DevTools pipe; its log ends:\n" + "\n".join(tail))
                self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def _wait_for(self, method: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not any(e.get("method") == method for e in self._events):
            self._events.append(self._read(deadline))

    def evaluate(self, expression: str) -> Any:
        result = self.page("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    # -- pages

    def open(self, url: str, *, dark: bool = False, width: int = WIDTH, height: int = 900) -> PageCheck:
        """Load ``url`` in light or dark mode; return the problems and requests seen."""
        self.page(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        scheme = "dark" if dark else "light"
        self.page(
            "Emulation.setEmulatedMedia",
            media="",
            features=[{"name": "prefers-color-scheme", "value": scheme}],
        )
        self._events.clear()
        self.page("Page.navigate", url=url)
        self._wait_for("Page.loadEventFired")
        self.evaluate("document.fonts.ready.then(() => true)")
        check = PageCheck()
        for event in self._events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in {"error", "assert", "warning"}:
                texts = [str(a.get("value", a.get("description", ""))) for a in params.get("args", [])]
                check.problems.append(f"console.{params['type']}: {' '.join(texts)}")
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                text = details.get("exception", {}).get("description") or details.get("text")
                check.problems.append(f"exception: {text}")
            elif method == "Log.entryAdded" and params["entry"].get("level") in {"error", "warning"}:
                entry = params["entry"]
                check.problems.append(f"log {entry['level']}: {entry.get('text')} {entry.get('url', '')}")
            elif method == "Network.requestWillBeSent":
                request_url = params["request"]["url"]
                if not request_url.startswith(("file:", "data:")):
                    check.requests.append(request_url)
        check.facts = self.evaluate(
            """(() => {
              const style = getComputedStyle(document.documentElement);
              const rows = [...document.querySelectorAll("table.ranking-table tbody tr")];
              return {
                background: style.backgroundColor,
                color: style.color,
                scrollWidth: document.documentElement.scrollWidth,
                innerWidth: window.innerWidth,
                height: document.documentElement.scrollHeight,
                title: document.title,
                rows: rows.length,
                firstRow: rows.length ? rows[0].innerText : "",
                plots: document.querySelectorAll("figure.plot svg").length,
                insight: [...document.querySelectorAll("figure.insight-figure svg")].map(
                  (svg) => Math.round(svg.getBoundingClientRect().width)),
              };
            })()"""
        )
        return check

    def screenshot(self, path: Path, *, height: int | None = None) -> Path:
        """A PNG of the page from its top: ``height`` pixels, or the whole page."""
        full = int(self.evaluate("document.documentElement.scrollHeight"))
        clip = {"x": 0, "y": 0, "width": WIDTH, "height": min(height or full, full), "scale": 1}
        shot = self.page("Page.captureScreenshot", format="png", clip=clip, captureBeyondViewport=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def pdf(self) -> bytes:
        """The page printed to PDF (print CSS applied)."""
        return base64.b64decode(self.page("Page.printToPDF", printBackground=False)["data"])


def _above_4(fd: int) -> int:
    """The same pipe end on a descriptor numbered 5 or more (the original is closed)."""
    if fd > 4:
        return fd
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD, 5)
    os.close(fd)
    return moved


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


# --------------------------------------------------------------------------- the report

DEMO_DATA = textwrap.dedent(
    """
    from sklearn.datasets import load_digits


    def load():
        X, y = load_digits(return_X_y=True)
        return X[:600], y[:600]
    """
)
DEMO_SPEC = textwrap.dedent(
    """
    # An RBF support-vector classifier on 600 of scikit-learn's digits
    name = "digits-svc"
    search = "grid"
    seed = 0
    estimator = "sklearn.svm:SVC"
    data = "digits600:load"
    metrics = ["accuracy", "f1_macro"]

    [fixed]
    kernel = "rbf"

    [cv]
    kind = "stratified"
    folds = 5
    shuffle = true

    [space]
    C = [0.1, 1, 10]
    gamma = [0.0001, 0.0003, 0.001, 0.003]
    """
)


def make_report(workdir: Path) -> Path:
    """Run a small real study with ``hptrack run SPEC --report`` and return the report."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "digits600.py").write_text(DEMO_DATA)
    spec = workdir / "digits_svc.toml"
    spec.write_text(DEMO_SPEC)
    out = workdir / "report.html"
    result = CliRunner().invoke(
        cli,
        ["run", str(spec), "--store", str(workdir / "hptrack.db"), "--report", str(out)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert out.is_file(), result.stderr
    return out


def capture(chromium: Chromium, report: Path, out_dir: Path) -> dict[str, PageCheck]:
    """Open the report light, dark and narrow; write report.png (the README's crop),
    report-full.png, report-dark.png and report.pdf to ``out_dir``."""
    url = report.resolve().as_uri()
    checks = {"light": chromium.open(url)}
    plots_end = chromium.evaluate('document.querySelector("section.plots").getBoundingClientRect().bottom')
    chromium.screenshot(out_dir / "report.png", height=round(plots_end) + 24)  # down to the plots
    chromium.screenshot(out_dir / "report-full.png")
    (out_dir / "report.pdf").write_bytes(chromium.pdf())
    checks["dark"] = chromium.open(url, dark=True)
    chromium.screenshot(out_dir / "report-dark.png")
    checks["narrow"] = chromium.open(url, width=420)
    return checks


# --------------------------------------------------------------------------- the test

CHROMIUM = find_chromium()


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed (Debian: apt-get install chromium; .ci/run installs it); "
    "this browser check is skipped",
)
def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    assert CHROMIUM is not None
    report = make_report(tmp_path / "study")
    bad = tmp_path / "bad.html"  # the checker must catch what it is meant to catch
    bad.write_text(
        '<!DOCTYPE html><title>bad</title><img src="http://192.0.2.1/x.png">'
        '<script>console.error("planted error"); undefined_name();</script>'
    )
    with Chromium(CHROMIUM, tmp_path / "profile") as chromium:
        planted = chromium.open(bad.as_uri())
        checks = capture(chromium, report, tmp_path)

    assert any("planted error" in p for p in planted.problems), planted.problems
    assert any("undefined_name" in p for p in planted.problems), planted.problems
    assert planted.requests == ["http://192.0.2.1/x.png"]

    for mode, check in checks.items():
        assert check.problems == [], (mode, check.problems)
        assert check.requests == [], (mode, check.requests)
        facts = check.facts
        assert facts["title"] == "digits-svc · hptrack report"
        assert facts["rows"] == 12 and facts["plots"] == 2, facts
        assert len(facts["insight"]) == 4, facts  # importance, heatmap, history, parallel coordinates
        assert all(0 < w <= facts["innerWidth"] for w in facts["insight"]), (mode, facts)
        assert facts["firstRow"].split()[0] == "1", facts  # rank 1 first
        assert facts["scrollWidth"] <= facts["innerWidth"], (mode, facts)  # tables scroll inside
    assert checks["light"].facts["background"] == "rgb(255, 255, 255)"
    assert checks["dark"].facts["background"] == "rgb(13, 17, 23)"  # prefers-color-scheme: dark

    for name in ("report.png", "report-full.png", "report-dark.png"):
        width, height = png_size(tmp_path / name)
        assert width == 1280 and height >= 600, (name, width, height)
    assert png_size(tmp_path / "report.png")[1] < png_size(tmp_path / "report-full.png")[1]
    assert (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF")


def main() -> int:
    """Write docs/report.png (and the other captures beside a temporary report)."""
    if CHROMIUM is None:
        print("Chromium is not installed (apt-get install chromium)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        report = make_report(work / "study")
        with Chromium(CHROMIUM, work / "profile") as chromium:
            checks = capture(chromium, report, work)
        problems = [p for check in checks.values() for p in check.problems + check.requests]
        if problems:
            print("\n".join(problems), file=sys.stderr)
            return 1
        SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(work / "report.png", SCREENSHOT)
        keep = os.environ.get("HPTRACK_KEEP_CAPTURES")  # a directory to keep every capture in
        if keep:
            shutil.copytree(work, keep, dirs_exist_ok=True, ignore=shutil.ignore_patterns("profile"))
    print(f"wrote {SCREENSHOT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install chromium)")
def test_objective_report_with_learning_curves_renders_in_headless_chromium(tmp_path: Path) -> None:
    examples = ROOT / "examples"
    db, out = tmp_path / "mlp.db", tmp_path / "mlp.html"
    result = CliRunner().invoke(
        cli,
        ["run", str(examples / "numpy_mlp.toml"), "--store", str(db), "--max-trials", "2", "--report", str(out)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    with Chromium(CHROMIUM, tmp_path / "profile") as chromium:
        check = chromium.open(out.resolve().as_uri())
        curves = chromium.evaluate('document.querySelectorAll("section.curves figure.curve-plot").length')
        lines = chromium.evaluate('document.querySelectorAll("section.curves polyline.curve-line").length')
    assert check.problems == [] and check.requests == [], (check.problems, check.requests)
    assert curves == 3 and lines == 3 * 2  # train_loss, val_loss, val_accuracy; the 2 trials run
