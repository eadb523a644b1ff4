"""The pipeline prefix cache's counters (issue 15): recorded per run by ``Writer.count_prefix_fits``,
listed by ``history``, summed by ``show`` and the report, and kept by ``merge``.

The counters are written through a real :class:`Writer` inside ``run_record``, as the
coordinator and the drop-ins do once per batch and per fit.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape

from hptrack import Store
from hptrack.query import PrefixFits
from hptrack.report import build_context, render
from hptrack.store import Writer, merge_stores

SHOW_LINE = (
    "  prefixes:    86 pipeline prefix fits reused from the cache, 24 fitted "
    "(in memory, over the study's runs)"
)


def history(invoke: Any, db: Path) -> list[dict[str, Any]]:
    result = invoke("history", "tiny", "--store", db, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def counters(runs: list[dict[str, Any]]) -> list[tuple[int, int]]:
    return [(r["prefix_fitted"], r["prefix_reused"]) for r in runs]


@pytest.fixture
def counted(write_spec: Any, db_path: Path, invoke: Any) -> Path:
    """A study run once by ``hptrack run`` (no pipeline: 0, 0), then a run that counted prefix
    fits in three calls (one of them 0, 0), and calls outside any run, which count nothing."""
    assert invoke("run", write_spec(), "--store", db_path, "--max-trials", "1").exit_code == 0
    with Writer(db_path) as writer:
        study = writer.require_study("tiny")
        writer.count_prefix_fits(7, 7)  # no run being recorded: nothing to add to
        with writer.run_record(study.id, "hptrack resume tiny"):
            writer.count_prefix_fits(20, 80)
            writer.count_prefix_fits(0, 0)
            writer.count_prefix_fits(4, 6)
        writer.count_prefix_fits(7, 7)
    with Writer(db_path, readonly=True) as reader:  # read-only: records nothing, raises nothing
        with reader.run_record(study.id, "hptrack verify tiny"):
            reader.count_prefix_fits(5, 5)
    return db_path


def test_each_run_counts_its_own_prefix_fits(counted: Path, invoke: Any):
    runs = history(invoke, counted)
    assert [r["command"].split()[:2] for r in runs] == [["hptrack", "run"], ["hptrack", "resume"]]
    assert counters(runs) == [(0, 0), (24, 86)]
    with Store(counted, readonly=True) as store:
        study = store.study("tiny")
        assert [(r.prefix_fitted, r.prefix_reused) for r in study.history()] == [(0, 0), (24, 86)]
        assert study.prefix_fits() == PrefixFits(fitted=24, reused=86)


def test_show_sums_the_runs_counters_in_text_and_json(counted: Path, invoke: Any):
    shown = json.loads(invoke("show", "tiny", "--store", counted, "--json").stdout)
    assert shown["prefix_fits"] == {"fitted": 24, "reused": 86}
    text = invoke("show", "tiny", "--store", counted).stdout.splitlines()
    assert text.count(SHOW_LINE) == 1
    assert text.index(SHOW_LINE) == 3  # under the trial counts


def test_show_says_nothing_of_prefixes_when_no_run_used_the_cache(
    write_spec: Any, db_path: Path, invoke: Any
):
    assert invoke("run", write_spec(), "--store", db_path).exit_code == 0
    assert counters(history(invoke, db_path)) == [(0, 0)]
    assert "prefix_fits" not in json.loads(invoke("show", "tiny", "--store", db_path, "--json").stdout)
    assert "prefix" not in invoke("show", "tiny", "--store", db_path).stdout
    with Store(db_path, readonly=True) as store:
        assert not store.study("tiny").prefix_fits()
        assert "Pipeline prefixes" not in render(build_context(store, ["tiny"]))


def test_report_says_it_in_the_history_section_escaped_and_deterministic(counted: Path):
    with Store(counted, readonly=True) as store:
        page = render(build_context(store, ["tiny"]))
        assert page == render(build_context(store, ["tiny"]))
    sentence = (
        "Pipeline prefixes, over the study's runs: 86 pipeline prefix fits reused from the cache, "
        "24 fitted. Once fitted on a fold, the steps before a pipeline's final estimator are kept in "
        "memory and reused by the configurations that share them."
    )
    assert page.count(f'<p class="note prefix-fits">{escape(sentence)}</p>') == 1
    history_section = page[page.index('<section class="history"') :]
    assert history_section.index("prefix-fits") < history_section.index("</section>")


def test_merge_copies_the_counters_and_keeps_the_larger_of_a_run_seen_twice(
    write_spec: Any, db_path: Path, tmp_path: Path, invoke: Any
):
    assert invoke("run", write_spec(), "--store", db_path, "--max-trials", "1").exit_code == 0
    early = tmp_path / "early.db"  # a copy taken while the counting run was still going
    with Writer(db_path) as writer:
        with writer.run_record(writer.require_study("tiny").id, "hptrack resume tiny"):
            writer.count_prefix_fits(2, 3)
            with closing(sqlite3.connect(db_path)) as source, closing(sqlite3.connect(early)) as copy:
                source.backup(copy)
            writer.count_prefix_fits(18, 77)
    assert counters(history(invoke, early)) == [(0, 0), (2, 3)]
    fresh = tmp_path / "fresh.db"
    merge_stores([db_path], fresh, command="hptrack merge")
    assert counters(history(invoke, fresh)) == [(0, 0), (20, 80), (0, 0)]  # the merge itself: 0, 0
    merge_stores([early], db_path, command="hptrack merge early")  # nothing new, nothing lowered
    assert counters(history(invoke, db_path)) == [(0, 0), (20, 80)]
    merge_stores([db_path], early, command="hptrack merge late")  # the same run, further on
    runs = history(invoke, early)
    assert counters(runs)[:2] == [(0, 0), (20, 80)] and runs[1]["exit"] == 0
    shown = json.loads(invoke("show", "tiny", "--store", early, "--json").stdout)
    assert shown["prefix_fits"] == {"fitted": 20, "reused": 80}
