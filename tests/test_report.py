"""The HTML report: ranking, provenance, failures, escaping, overrides, determinism, exit codes."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import re
import shutil
import subprocess
import sys
import textwrap
import urllib.parse
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from hptrack import Store, StudyNotFoundError
from hptrack._csv import csv_text
from hptrack.query import Trial
from hptrack.report import build_context, render
from hptrack.report.plots import param_plot

VOID = {"meta", "link", "br", "hr", "img", "input", "source", "wbr", "area", "base", "col"}


class Node:
    def __init__(self, tag: str, attrs: dict[str, str], parent: Node | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node | str] = []

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def find_all(self, tag: str | None = None, cls: str | None = None) -> list[Node]:
        found = []
        for child in self.children:
            if isinstance(child, Node):
                classes = child.attrs.get("class", "").split()
                if (tag is None or child.tag == tag) and (cls is None or cls in classes):
                    found.append(child)
                found.extend(child.find_all(tag, cls))
        return found

    def find(self, tag: str | None = None, cls: str | None = None) -> Node:
        found = self.find_all(tag, cls)
        assert found, f"no <{tag} class={cls!r}>"
        return found[0]


class TreeBuilder(HTMLParser):
    """A small DOM from the stdlib parser; also records every tag and attribute seen."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {}, None)
        self.current = self.root
        self.tags: list[str] = []
        self.attr_values: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, self.current)
        self.tags.append(tag)
        self.attr_values.extend((k, v or "") for k, v in attrs)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        node: Node | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        assert node is not None and node.parent is not None, f"unbalanced </{tag}>"
        self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


def parse(html: str) -> TreeBuilder:
    builder = TreeBuilder()
    builder.feed(html)
    builder.close()
    assert builder.current is builder.root, "unclosed elements"
    return builder


def run_study(invoke: Any, spec: Path, db: Path, *extra: str) -> None:
    result = invoke("run", spec, "--store", db, *extra)
    assert result.exit_code == 0, result.output


def report(invoke: Any, db: Path, out: Path, *args: str) -> str:
    result = invoke("report", *args, "-o", out, "--store", db)
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == f"report written to {out}"
    return out.read_text(encoding="utf-8")


def assert_self_contained(page: TreeBuilder, html: str) -> None:
    assert not re.search(r"https?:", html, re.IGNORECASE)
    assert "script" not in page.tags and "iframe" not in page.tags and "img" not in page.tags
    for name, value in page.attr_values:
        if name in {"href", "src", "action", "srcset", "xlink:href"}:
            assert value.startswith(("#", "data:")) or "/" not in value, (name, value)
    assert "@import" not in html and "url(" not in html


def csv_rows(href: str) -> list[dict[str, str]]:
    prefix = "data:text/csv;charset=utf-8,"
    assert href.startswith(prefix)
    assert not re.search(r"[^A-Za-z0-9,._~:=+/%-]", href[len(prefix) :])  # nothing left unencoded
    return list(csv.DictReader(io.StringIO(urllib.parse.unquote(href[len(prefix) :]))))


def assert_csv_matches(href: str, study: Any) -> None:
    """The embedded CSV holds every trial with full-precision scores."""
    rows = csv_rows(href)
    trials = study.trials()
    assert [int(r["number"]) for r in rows] == [t.number for t in trials]
    for row, trial in zip(rows, trials):
        assert row["status"] == trial.status
        assert row[f"rank_test_{study.metric}"] == ("" if trial.rank is None else str(trial.rank))
        for metric in study.metrics:
            for fold, value in enumerate(trial.scores[metric]):
                cell = row[f"split{fold}_test_{metric}"]
                assert cell == ("" if value is None or value != value else repr(value))
            if trial.status == "complete":
                assert float(row[f"mean_test_{metric}"]) == trial.mean[metric]
        if trial.status == "failed":
            assert row["error"] == next(iter(trial.errors.values())).strip().splitlines()[-1]
    exported = list(csv.DictReader(io.StringIO(csv_text(study.export_rows()))))  # as `hptrack export`
    for row, export in zip(rows, exported):
        assert {k: v for k, v in row.items() if k != "error"} == {k: export[k] for k in row if k != "error"}


def test_report_ranks_configurations_with_provenance_and_failures(write_spec, db_path, invoke, tmp_path):
    spec = write_spec(  # C=-1 raises at fit
        space={"C": [0.001, 0.01, 0.1, -1.0]},
        cv={"kind": "stratified", "folds": 2, "shuffle": True},
    )
    run_study(invoke, spec, db_path)
    html = report(invoke, db_path, tmp_path / "report.html", "tiny")
    page = parse(html)
    assert_self_contained(page, html)

    with Store(db_path, readonly=True) as store:
        study = store.study("tiny")
        expected = study.trials(status="complete", sort="accuracy")
        failed = study.trials(status="failed")
    assert [t.number for t in failed] == [3]

    root = page.root
    header = root.find("header", "study-header")
    assert header.find("h1").text() == "tiny"
    facts = {
        dt.text(): " ".join(dd.text().split()) for dt, dd in zip(header.find_all("dt"), header.find_all("dd"))
    }
    assert facts["Trials"] == "3 complete, 1 failed, 4 total"
    assert facts["Ranking metric"] == "accuracy"
    assert facts["Search"] == "grid"
    assert re.fullmatch(r"[0-9.]+ s \(\S+ \S+ UTC to \S+ \S+ UTC\)", facts["Duration"])

    table = root.find("table", "ranking-table")
    headers = [th.text() for th in table.find("thead").find_all("th")]
    assert headers == ["Rank", "Trial", "vs best", "C", "accuracy", "f1_macro"]
    trs = table.find("tbody").find_all("tr")
    rows = [[td.text() for td in tr.find_all("td")] for tr in trs]
    assert [int(r[1]) for r in rows] == [t.number for t in expected]
    assert [int(r[0]) for r in rows] == [t.rank for t in expected]
    assert [int(r[0]) for r in rows] == sorted(int(r[0]) for r in rows)
    for tr, row, trial in zip(trs, rows, expected):
        assert row[3] == json.dumps(trial.params["C"])
        for cell, metric in zip(tr.find_all("td", "score"), ("accuracy", "f1_macro")):
            assert cell.find("span", "mean").text() == f"{trial.mean[metric]:.4f} ± {trial.std[metric]:.4f}"
            assert cell.find("span", "folds").text().split() == [f"{v:.4f}" for v in trial.scores[metric]]
    assert trs[0].attrs.get("class") == "best" and rows[0][2] == "best"
    with Store(db_path, readonly=True) as store:
        ties = store.study("tiny").tied_with_best()
    assert ties.tested and ties.best == expected[0].number
    marked = [int(r[1]) for r in rows if r[2] == "≈ best"]
    assert marked == [n for n in ties.tied if n != ties.best]
    assert [tr.attrs.get("class") == "tied" for tr in trs[1:]] == [r[2] == "≈ best" for r in rows[1:]]
    assert "statistically tied with the best" in root.find("p", "tie-note").text()
    assert "corrected resampled t-test" in root.find("p", "tie-note").text()
    assert not root.find_all("details")  # 3 trials: no collapsed rest

    link = root.find("a", "csv")  # every trial, failed ones too, as a data: URL download
    assert link.attrs["download"] == "tiny-trials.csv"
    with Store(db_path, readonly=True) as store:
        assert_csv_matches(link.attrs["href"], store.study("tiny"))

    best = root.find("section", "best")
    assert f"trial {expected[0].number}" in best.find("h2").text()
    assert json.loads(best.find("pre", "copy").text()) == expected[0].params

    plot = root.find("figure", "plot-log")  # C spans two decades
    assert "C" in plot.find("figcaption").text()
    assert [t.text() for t in plot.find_all("text", "x-tick")] == ["0.001", "0.01", "0.1"]
    assert len(plot.find_all("circle", "mean")) == 3
    assert len(plot.find_all("circle", "fold")) == 6  # 3 trials x 2 folds

    provenance = root.find("section", "provenance")
    facts = {
        tr.find("th").text(): " ".join(tr.find("td").text().split())
        for tr in provenance.find("table").find_all("tr")
    }
    for label in (
        "Seed", "Code hash", "Git commit", "Uncommitted changes", "Data fingerprint",
        "Split hash", "Cross-validation", "Estimator", "Spec file", "Python", "Platform",
        "Host", "package scikit-learn", "package numpy", "data X", "data y",
    ):  # fmt: skip
        assert label in facts, label
    assert facts["data X"] == "array, float64, shape 300 × 64"
    assert facts["Spec file"].startswith("spec.toml in ")
    titles = {c.attrs.get("title") for c in provenance.find_all("code")}
    with Store(db_path, readonly=True) as store:
        study = store.study("tiny")
        assert {study.code_hash, study.data_hash, study.split_hash} <= titles
        assert facts["Seed"].startswith(f"{study.seed} ")
        assert facts["Code hash"] == study.code_hash[:12]
        assert facts["package scikit-learn"] == study.provenance["environment"]["versions"]["sklearn"]

    failures = root.find("section", "failures")
    assert [h.text() for h in failures.find_all("h3")] == ["Trial 3"]
    assert "C=-1.0" in failures.text()
    assert "'C' parameter" in failures.find("pre", "error").text()
    assert not root.find_all("p", "warning")  # one code hash

    report(invoke, db_path, tmp_path / "again.html", "tiny")
    assert (tmp_path / "again.html").read_bytes() == (tmp_path / "report.html").read_bytes()
    with Store(db_path, readonly=True) as store:
        assert render(build_context(store, ["tiny"])) == html


TAGGED_MODULE = textwrap.dedent(
    """
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.dummy import DummyClassifier


    class Tagged(ClassifierMixin, BaseEstimator):
        def __init__(self, tag="plain"):
            self.tag = tag

        def fit(self, X, y):
            self.model_ = DummyClassifier().fit(X, y)
            self.classes_ = self.model_.classes_
            return self

        def predict(self, X):
            return self.model_.predict(X)
    """
)


def tagged_spec(write_spec: Any, **overrides: Any) -> Path:
    """A spec whose estimator fits instantly and takes any string as ``tag``."""
    spec = write_spec(estimator="tagmodel:Tagged", metrics=["accuracy"], drop=("fixed",), **overrides)
    spec.with_name("tagmodel.py").write_text(TAGGED_MODULE)
    return spec


def test_report_escapes_user_text_and_team_templates(write_spec, db_path, invoke, tmp_path):
    name = "<script>alert(1)</script>"
    spec = tagged_spec(write_spec, name=name, space={"tag": ["<b>bold</b>", "plain"]})
    run_study(invoke, spec, db_path)
    html = report(invoke, db_path, tmp_path / "report.html", name)
    assert "<script" not in html.lower() and "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    page = parse(html)
    assert_self_contained(page, html)
    assert {"script", "b"}.isdisjoint(page.tags)
    root = page.root
    assert root.find("title").text().startswith(name)
    assert root.find("h1").text() == name
    cells = [td.text() for td in root.find("table", "ranking-table").find_all("td", "param")]
    assert sorted(cells) == ["<b>bold</b>", "plain"]
    plot = root.find("figure", "plot-categorical")
    assert "<b>bold</b>" in [t.text() for t in plot.find_all("text", "x-tick")]
    y_labels = [t.text() for t in plot.find_all("text", "y-tick")]  # equal means: a short axis
    assert y_labels and all(len(label) <= 6 for label in y_labels), y_labels
    assert "<b>bold</b>" in " ".join(t.text() for t in plot.find_all("title"))
    assert name in root.find("section", "provenance").find("pre", "spec").text()

    # a second hostile name: the comparison section escapes names and shared params too
    other = "<img src=x onerror=alert(2)>"
    run_study(
        invoke,
        tagged_spec(write_spec, name=other, space={"tag": ["<b>bold</b>"]}, filename="o.toml"),
        db_path,
    )
    html = report(invoke, db_path, tmp_path / "both.html", name, other)
    assert "<script" not in html.lower() and "<img" not in html.lower() and "<b>" not in html
    page = parse(html)
    assert_self_contained(page, html)
    assert {"script", "img", "b"}.isdisjoint(page.tags)
    comparison = page.root.find("section", "comparison")
    assert [tr.find("td").text() for tr in comparison.find("tbody").find_all("tr")] == [name, other]
    assert f"{other} against {name}" == " ".join(comparison.find("section", "pair").find("h2").text().split())
    shared = comparison.find("table", "shared-table").find("tbody").find_all("tr")
    assert [tr.find("td").text() for tr in shared] == ["tag=<b>bold</b>"]

    # a team's template replaces one block; what it prints is escaped all the same
    templates = tmp_path / "team"
    templates.mkdir()
    (templates / "study.html").write_text(
        '{% extends "default:study.html" %}\n'
        '{% block provenance %}<p class="team">Audited: {{ study.name }} '
        "{{ study.provenance.code_hash.value }}</p>{% endblock %}\n"
    )
    html = report(invoke, db_path, tmp_path / "team.html", name, "--templates", templates)
    assert "<script" not in html.lower()
    page = parse(html)
    with Store(db_path, readonly=True) as store:
        code_hash = store.study(name).code_hash
    assert page.root.find("p", "team").text() == f"Audited: {name} {code_hash[:12]}"
    assert not page.root.find_all("section", "provenance")
    assert page.root.find("table", "ranking-table")  # the other blocks are the defaults
    assert "script" not in page.tags

    (templates / "_best.html").write_text("{{ study.no_such_field }}")
    result = invoke("report", name, "-o", tmp_path / "bad.html", "--store", db_path,
                    "--templates", templates)  # fmt: skip
    assert result.exit_code == 2
    assert "no_such_field" in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "bad.html").exists()


def test_no_complete_trial_still_renders_and_lists_failures(write_spec, db_path, invoke, tmp_path):
    result = invoke("run", write_spec(space={"C": [-1.0, -2.0]}), "--store", db_path)
    assert result.exit_code == 1, result.output  # every trial failed (SPEC section 3)
    html = report(invoke, db_path, tmp_path / "report.html", "tiny")
    root = parse(html).root
    assert "No complete trials yet" in root.find("p", "empty").text()
    assert not root.find_all("table", "ranking-table")
    assert not root.find_all("section", "best") and not root.find_all("figure", "plot")
    assert len(root.find_all("figure", "timeline")) == 1  # the history: the run that failed them
    failures = root.find("section", "failures")
    assert [h.text() for h in failures.find_all("h3")] == ["Trial 0", "Trial 1"]
    assert "Folds 0, 1, 2:" in failures.text()  # identical fold errors are shown once
    with Store(db_path, readonly=True) as store:
        context = build_context(store, ["tiny"])
    assert context.studies[0].ranking is None and context.studies[0].best is None


def test_several_studies_in_one_file_and_as_a_site(write_spec, db_path, invoke, tmp_path):
    run_study(invoke, tagged_spec(write_spec, name="first", space={"tag": ["a", "b"]}), db_path,
              "--max-trials", "1")  # fmt: skip
    # tag "a" ran in "first" under the same code: "Second Run" reuses its folds
    second_spec = tagged_spec(write_spec, name="Second Run", space={"tag": ["a", "c"]}, filename="2.toml")
    run_study(invoke, second_spec, db_path)
    with open(tmp_path / "tinydata.py", "a") as module:
        module.write("\n# edited between two runs\n")
    result = invoke("resume", "first", "--store", db_path, "--allow-code-change")
    assert result.exit_code == 0, result.output

    html = report(invoke, db_path, tmp_path / "both.html", "first", "Second Run")
    page = parse(html)
    assert_self_contained(page, html)
    root = page.root
    sections = root.find_all("section", "study")
    assert [s.attrs["id"] for s in sections] == ["study-1", "study-2"]
    assert [s.find("h1").text() for s in sections] == ["first", "Second Run"]
    nav = [a.attrs["href"] for a in root.find("nav").find_all("a")]
    assert nav == ["#comparison", "#study-1", "#study-2"]
    warnings = [s.find_all("p", "warning") for s in sections]
    assert len(warnings[0]) == 1 and not warnings[1]  # only "first" mixed code
    assert "2 different code hashes" in warnings[0][0].text()

    with Store(db_path, readonly=True) as store:
        first, second = store.study("first"), store.study("Second Run")
        reused = second.trial(0)
        assert reused.params == {"tag": "a"} and reused.origins  # the fold cache reused it
        assert {o["study"] for o in reused.origins.values()} == {"first"}
        assert {o["trial"] for o in reused.origins.values()} == {0}
        bests = [first.best(), second.best()]
        code_hashes = [first.code_hash, second.code_hash]
    rows = sections[1].find("table", "ranking-table").find("tbody").find_all("tr")
    origin = {
        tr.find("td", "number").find("span", "reused").text() for tr in rows if tr.find_all("span", "reused")
    }
    assert origin == {"reused from study first trial 0"}
    facts = {dt.text(): dd.text() for dt, dd in zip(sections[1].find_all("dt"), sections[1].find_all("dd"))}
    assert facts["Reused folds"].startswith("3 ")

    comparison = root.find("section", "comparison")  # before the studies, as in `hptrack compare`
    assert comparison.attrs["id"] == "comparison"
    side_by_side = [[td.text() for td in tr.find_all("td")] for tr in comparison.find("tbody").find_all("tr")]
    assert [r[0] for r in side_by_side] == ["first", "Second Run"]
    assert [r[2] for r in side_by_side] == [f"{b.mean['accuracy']:.4f}" for b in bests]
    assert [r[3] for r in side_by_side] == [str(b.number) for b in bests]
    assert [r[6] for r in side_by_side] == [h[:12] for h in code_hashes]
    pair = comparison.find("section", "pair")
    assert " ".join(pair.find("h2").text().split()) == "Second Run against first"
    differences = {tr.find("th").text(): tr.find("td").text() for tr in pair.find("table").find_all("tr")}
    assert set(differences) == {"Spec"}  # "first" was created before the code changed
    assert "space" in differences["Spec"]
    shared = pair.find("table", "shared-table")
    assert [th.text() for th in shared.find_all("th")] == [
        "Params",
        "Trial A",
        "Trial B",
        "A",
        "B",
        "B − A",
        "p",
    ]
    assert [[td.text() for td in tr.find_all("td")] for tr in shared.find("tbody").find_all("tr")] == [
        [
            "tag=a",
            "0",
            "0",
            f"{bests[0].mean['accuracy']:.4f}",
            f"{bests[1].mean['accuracy']:.4f}",
            "+0.0000",
            "1",
        ]
    ]
    assert "corrected resampled t-test" in pair.find("p", "test-note").text()
    assert report(invoke, db_path, tmp_path / "again.html", "first", "Second Run") == html  # same bytes

    site = tmp_path / "site"
    result = invoke("report", "--all", "-o", site, "--store", db_path)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in site.iterdir()) == ["first.html", "index.html", "second-run.html"]
    index_html = (site / "index.html").read_text(encoding="utf-8")
    index = parse(index_html)
    assert_self_contained(index, index_html)
    links = [(a.attrs["href"], a.text()) for a in index.root.find_all("a")]
    assert links == [("first.html", "first"), ("second-run.html", "Second Run")]
    page = parse((site / "second-run.html").read_text(encoding="utf-8")).root
    assert page.find("nav").find("a").attrs["href"] == "index.html"
    assert page.find("h1").text() == "Second Run"


def test_report_errors_exit_2_with_one_line(store, db_path, invoke, tmp_path):
    store.close()  # an empty store: the checks need no study run
    cases = [
        (["tiny", "-o", tmp_path / "missing" / "r.html"], "does not exist"),
        (["tiny", "-o", tmp_path], "is a directory"),
        (["tiny", "-o", tmp_path / "r.html", "--templates", tmp_path / "nope"], "nope"),
        (["tiny", "-o", tmp_path / "r.html"], "no study named 'tiny'"),
        (["-o", tmp_path / "r.html"], "give STUDY names or --all"),
    ]
    for args, message in cases:
        result = invoke("report", *args, "--store", db_path)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr, (args, result.stderr)
        if "STUDY" not in message:  # a usage error also prints the usage line
            assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert not (tmp_path / "missing").exists() and not (tmp_path / "r.html").exists()
    with Store(db_path, readonly=True) as readonly, pytest.raises(StudyNotFoundError, match="tiny"):
        build_context(readonly, ["tiny"])


def _trial(number: int, value: Any, mean: float) -> Trial:
    return Trial(
        number=number,
        params={"p": value},
        status="complete",
        scores={"m": [mean - 0.01, mean + 0.01]},
        mean={"m": mean},
        std={"m": 0.01},
        rank=1,
        seed={},
        code_hash=None,
    )


@pytest.mark.parametrize(
    ("values", "scale", "labels"),
    [
        ([0.001, 0.01, 0.1], "log", ["0.001", "0.01", "0.1"]),
        ([1, 10, 50], "log", ["1", "2", "5", "10", "20", "50"]),  # under two decades: 1-2-5 ticks
        ([0.0001, 0.0003, 0.001, 0.003], "log", ["0.0001", "0.0002", "0.0005", "0.001", "0.002"]),
        ([10, 20, 30, 40, 50, 60, 70, 80, 90, 100], "linear", ["0", "20", "40", "60", "80", "100"]),
        ([1e-5, 1e-3, 0.1, 1.0], "log", ["1e-5", "0.0001", "0.001", "0.01", "0.1", "1"]),
        ([1, 5, 9], "linear", ["0", "2", "4", "6", "8", "10"]),
        (["rbf", "linear", True, None], "categorical", ["rbf", "linear", "true", "null"]),
        ([-1.0, 100.0], "linear", ["-20", "0", "20", "40", "60", "80", "100"]),
        (
            [0.1, 0.1 + 1e-17, 0.30000000000000004 - 0.2],
            "linear",
            ["0.094", "0.096", "0.098", "0.100", "0.102", "0.104", "0.106"],
        ),
    ],
)
def test_plot_axes(values: list[Any], scale: str, labels: list[str]) -> None:
    scored = [(_trial(i, v, 0.5 + i / 10), 0.5 + i / 10) for i, v in enumerate(values)]
    plot = param_plot("p", scored, "m")
    assert plot.scale == scale
    assert [t.label for t in plot.x_ticks] == labels
    xs = [float(p.x) for p in plot.means]
    assert all(float(plot.left) <= x <= float(plot.right) for x in xs)
    ys = [float(p.y) for p in [*plot.means, *plot.folds]]
    assert all(float(plot.top) <= y <= float(plot.bottom) for y in ys)
    assert len(plot.folds) == 2 * len(values)
    if scale != "categorical":
        assert xs == sorted(xs)  # increasing values left to right


def load_benchmark() -> Any:
    """``benchmarks/report.py``, whose ``build_store`` makes large synthetic studies."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "report.py"
    spec = importlib.util.spec_from_file_location("hptrack_report_benchmark", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_writing_a_report_leaves_the_cycle_collector_as_it_was(tmp_path):
    """The collector is paused while a page is built and is on again after, a failure too."""
    import gc

    from hptrack.report import write_report

    db = tmp_path / "small.db"
    name = load_benchmark().build_store(db, n_trials=30, n_folds=3)
    with Store(db, readonly=True) as store:
        assert gc.isenabled()
        write_report(store, [name], tmp_path / "r.html")
        assert gc.isenabled()
        with pytest.raises(StudyNotFoundError):
            write_report(store, [name, "missing"], tmp_path / "r.html")
        assert gc.isenabled()
        gc.disable()
        try:
            write_report(store, [name], tmp_path / "r.html")
            assert not gc.isenabled()  # the caller's choice is kept
        finally:
            gc.enable()


def test_large_study_report_stays_small(tmp_path):
    """2,000 trials: the top ranked, a collapsed rest, a CSV of all, aggregated plots."""
    from hptrack.report import FULL_TABLE_ROWS, PLOT_BINS, TOP_N, write_report

    benchmark = load_benchmark()
    db = tmp_path / "large.db"
    name = benchmark.build_store(db, n_trials=2000, n_folds=5)
    out = tmp_path / "large.html"
    with Store(db, readonly=True) as store:
        write_report(store, [name], out)
        study = store.study(name)
        ranked = study.trials(status="complete", sort=study.metric)
        failed = study.trials(status="failed")
        html = out.read_text(encoding="utf-8")
        assert render(build_context(store, [name])) == html  # deterministic
        page = parse(html)
        assert_csv_matches(page.root.find("a", "csv").attrs["href"], study)
    assert len(failed) == 2000 // benchmark.FAIL_EVERY
    assert out.stat().st_size < 1_600_000, out.stat().st_size  # about 0.6 kB a trial, CSV included
    assert_self_contained(page, html)
    root = page.root

    tables = root.find_all("table", "ranking-table")
    numbers = [[int(tr.find("td", "number").text()) for tr in t.find("tbody").find_all("tr")] for t in tables]
    assert numbers[0] == [t.number for t in ranked[:TOP_N]]
    assert numbers[1] == [t.number for t in ranked[TOP_N:FULL_TABLE_ROWS]]
    assert tables[1] in root.find("details", "more-trials").find_all("table")
    unlisted = len(ranked) - FULL_TABLE_ROWS
    assert (
        f"{unlisted} more ranked trials are only in the CSV download"
        in root.find("section", "ranking").text()
    )

    plots = root.find_all("figure", "plot")
    assert [p.find("figcaption").text().split()[0] for p in plots] == ["C", "degree", "gamma", "kernel"]
    for plot in plots:
        assert "plot-aggregated" in plot.attrs["class"]
        assert not plot.find_all("circle", "fold")
        best_points = plot.find_all("circle", "mean")
        assert 1 < len(best_points) <= PLOT_BINS
        assert len(plot.find_all("g", "group")) == len(best_points)
    scales = [p.attrs["class"].split()[1] for p in plots]
    assert scales == ["plot-log", "plot-linear", "plot-log", "plot-categorical"]
    kernel = plots[3].find_all("circle", "mean")
    assert [c.find("title").text().split(":")[0] for c in kernel] == [
        "kernel = rbf",
        "kernel = poly",
        "kernel = sigmoid",
    ]
    failures = root.find("section", "failures")
    assert len(failures.find_all("article", "failed-trial")) == len(failed)
    assert "synthetic benchmark failure" in failures.find("pre", "error").text()


def test_run_writes_the_report_when_the_study_finishes(write_spec, db_path, invoke, tmp_path):
    spec = write_spec(cv={"kind": "holdout", "test_size": 0.25})  # one fold: no tie test
    out = tmp_path / "run.html"
    result = invoke("run", spec, "--store", db_path, "--report", out)
    assert result.exit_code == 0, result.output
    assert f"report written to {out}" in result.stderr
    html = out.read_text(encoding="utf-8")
    root = parse(html).root
    table = root.find("table", "ranking-table")
    assert len(table.find("tbody").find_all("tr")) == 3
    assert "vs best" not in [th.text() for th in table.find_all("th")]
    assert "no test" in root.find("p", "tie-note").text()
    assert report(invoke, db_path, tmp_path / "again.html", "tiny") == html  # as `hptrack report`

    missing = tmp_path / "nowhere" / "r.html"
    other = tmp_path / "other.db"
    result = invoke("run", spec, "--store", other, "--report", missing)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --report") and "does not exist" in result.stderr
    assert not other.exists() and not missing.parent.exists()  # refused before anything ran


def test_templates_are_found_in_the_wheel_layout(tmp_path):
    """pyproject force-includes templates/ as hptrack/templates; the checkout has them beside hptrack/."""
    root = Path(__file__).resolve().parents[1]
    shutil.copytree(root / "hptrack", tmp_path / "hptrack", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(root / "templates", tmp_path / "hptrack" / "templates")
    code = "from hptrack.report.rendering import _default_template_dir as d; print(d())"
    found = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert Path(found) == tmp_path / "hptrack" / "templates"
    from hptrack.report.rendering import _default_template_dir

    assert _default_template_dir() == root / "templates"
