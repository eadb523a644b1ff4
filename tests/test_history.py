"""``hptrack history``: one run per invocation that touched a study, with real processes
for the ends that matter (SIGKILL leaves a run that died, Ctrl-C and SIGTERM exit 130)."""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from test_resume import N_TRIALS, hptrack, n_complete, start, wait_for_progress, write_slow_spec

from hptrack import Store
from hptrack.cli import cli
from hptrack.report import build_context, render
from hptrack.store import Writer, merge_stores


def history(invoke: Any, db: Path, study: str = "tiny") -> list[dict[str, Any]]:
    result = invoke("history", study, "--store", db, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_run_resume_verify_are_listed_in_order(write_spec, db_path, invoke):
    spec = write_spec()
    assert invoke("run", spec, "--store", db_path, "--max-trials", "1").exit_code == 0
    assert invoke("resume", "tiny", "--store", db_path).exit_code == 0
    assert invoke("verify", "tiny", "--store", db_path, "--trials", "1").exit_code == 0
    runs = history(invoke, db_path)
    assert [r["command"] for r in runs] == [
        f"hptrack run {spec} --store {db_path} --max-trials 1",
        f"hptrack resume tiny --store {db_path}",
        f"hptrack verify tiny --store {db_path} --trials 1",
    ]
    assert [(r["trials"], r["folds"], r["exit"], r["status"]) for r in runs] == [
        (1, 3, 0, "finished"),
        (2, 6, 0, "finished"),
        (0, 0, 0, "finished"),
    ]
    assert [r["trial_numbers"] for r in runs] == [[0], [1, 2], []]
    assert runs[0]["started"] < runs[0]["finished"] < runs[1]["started"] < runs[2]["started"]
    assert {(r["host"], r["version"]) for r in runs} == {(runs[0]["host"], "0.1.0")}
    assert all(r["user"] and r["pid"] for r in runs)
    text = invoke("history", "tiny", "--store", db_path).stdout.splitlines()
    assert text[0].split() == ["started", "finished", "exit", "trials", "user@host:pid", "version", "command"]
    assert len(text) == 2 + 3 and text[3].endswith(f"hptrack resume tiny --store {db_path}")
    with closing(sqlite3.connect(db_path)) as conn:  # which run committed which fold
        by_run = conn.execute("SELECT run_id, count(*) FROM folds GROUP BY run_id ORDER BY run_id").fetchall()
    assert [n for _, n in by_run] == [3, 6]


def test_max_trials_runs_show_partial_counts(write_spec, db_path, invoke):
    spec = write_spec()
    for extra in (["--max-trials", "2"], ["--max-trials", "0"], []):
        assert invoke("run", spec, "--store", db_path, *extra).exit_code == 0
    runs = history(invoke, db_path)
    assert [(r["trials"], r["trial_numbers"], r["exit"]) for r in runs] == [
        (2, [0, 1], 0),
        (0, [], 0),
        (1, [2], 0),
    ]


def test_an_error_after_the_study_opened_records_exit_2_a_refusal_records_nothing(
    write_spec, db_path, invoke
):
    failing = write_spec(space={"C": [1.0, -1.0, 0.1]}, error_score="raise")
    result = invoke("run", failing, "--store", db_path)
    assert result.exit_code == 2
    runs = history(invoke, db_path)
    assert [(r["exit"], r["status"], r["trials"], r["trial_numbers"]) for r in runs] == [
        (2, "finished", 2, [0, 1])  # trial 1 failed and stopped the run: recorded as finished by it
    ]
    changed = write_spec(space={"C": [5.0]}, error_score="raise", filename="other.toml")
    refused = invoke("run", changed, "--store", db_path)
    assert refused.exit_code == 2 and "exists with a different spec" in refused.stderr
    assert invoke("verify", "nope", "--store", db_path).exit_code == 2
    assert history(invoke, db_path) == runs  # refused before touching the study: not recorded


def test_status_comes_from_the_pid_here_and_the_heartbeat_elsewhere(write_spec, db_path, invoke):
    assert invoke("run", write_spec(), "--store", db_path, "--max-trials", "0").exit_code == 0
    with Writer(db_path) as store:
        study_id = store.require_study("tiny").id
        here_dead = store.start_run(study_id, "hptrack run dead-here")
        elsewhere_fresh = store.start_run(study_id, "hptrack run alive-elsewhere")
        elsewhere_stale = store.start_run(study_id, "hptrack run dead-elsewhere")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    with closing(sqlite3.connect(db_path)) as conn, conn:
        conn.execute("UPDATE runs SET pid = ? WHERE id = ?", (int(dead.stdout), here_dead))
        conn.execute("UPDATE runs SET host = 'node-7' WHERE id = ?", (elsewhere_fresh,))
        conn.execute(
            "UPDATE runs SET host = 'node-7', heartbeat = '2020-01-01T00:00:00+00:00' WHERE id = ?",
            (elsewhere_stale,),
        )
    runs = {r["command"]: r for r in history(invoke, db_path)}
    assert runs["hptrack run dead-here"]["status"] == "died"
    assert runs["hptrack run alive-elsewhere"]["status"] == "running"
    assert runs["hptrack run dead-elsewhere"]["status"] == "died"
    assert all(
        runs[c]["finished"] is None and runs[c]["exit"] is None for c in runs if c.startswith("hptrack run d")
    )


def test_sigkill_leaves_a_run_that_died_and_the_resume_after_it(tmp_path):
    spec = write_slow_spec(tmp_path)
    db = tmp_path / "killed.db"
    proc = start("run", spec, "--store", db, cwd=tmp_path)
    wait_for_progress(db, 2, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    done = n_complete(db)
    resumed = hptrack("resume", "slow", "--store", db, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    listed = hptrack("history", "slow", "--store", db, "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    killed, resume = json.loads(listed.stdout)
    assert killed["command"] == f"hptrack run {spec} --store {db}" and killed["pid"] == proc.pid
    assert (killed["status"], killed["finished"], killed["exit"]) == ("died", None, None)
    assert killed["trials"] == done and killed["trial_numbers"] == list(range(done))
    assert (resume["status"], resume["exit"], resume["trials"]) == ("finished", 0, N_TRIALS - done)
    assert resume["trial_numbers"] == list(range(done, N_TRIALS))
    text = hptrack("history", "slow", "--store", db, cwd=tmp_path).stdout.splitlines()
    assert text[2].split()[2:4] == ["died", "-"]
    with Store(db, readonly=True) as store:  # the report's timeline shows it, the same bytes twice
        html = render(build_context(store, ["slow"]))
        assert html == render(build_context(store, ["slow"]))
    assert html.count('<g class="run run-died run-failed">') == 1
    assert html.count('<g class="run run-finished">') == 1
    assert f"0-{done - 1}" in html and f"{done}-{N_TRIALS - 1}" in html


def test_ctrl_c_and_sigterm_record_exit_130(tmp_path):
    spec = write_slow_spec(tmp_path)
    db = tmp_path / "interrupted.db"
    proc = start("run", spec, "--store", db, cwd=tmp_path)
    wait_for_progress(db, 1, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    done = n_complete(db)
    proc = start("resume", "slow", "--store", db, cwd=tmp_path)
    wait_for_progress(db, done, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    runs = json.loads(hptrack("history", "slow", "--store", db, "--json", cwd=tmp_path).stdout)
    assert [(r["status"], r["exit"]) for r in runs] == [("finished", 130), ("finished", 130)]
    assert runs[0]["trials"] == done and runs[0]["trial_numbers"] == list(range(done))
    assert runs[0]["trials"] + runs[1]["trials"] == n_complete(db)


def test_merge_carries_history_once_and_records_itself(write_spec, tmp_path, invoke):
    spec = write_spec()
    first, second, merged = tmp_path / "first.db", tmp_path / "second.db", tmp_path / "merged.db"
    assert invoke("run", spec, "--store", first, "--max-trials", "2").exit_code == 0
    shutil.copy(first, second)  # the second machine started from a copy, and finished the study
    assert invoke("resume", "tiny", "--store", second).exit_code == 0
    result = invoke("merge", first, second, "--store", merged)
    assert result.exit_code == 0, result.output
    runs = history(invoke, merged)
    merge_command = f"hptrack merge {first} {second} --store {merged}"
    assert [(r["command"], r["origin"], r["trial_numbers"]) for r in runs] == [
        (f"hptrack run {spec} --store {first} --max-trials 2", str(first), [0, 1]),  # once
        (f"hptrack resume tiny --store {second}", str(second), [2]),
        (merge_command, None, []),  # created the study from the first store
        (merge_command, None, []),  # added the second's trial
    ]
    assert [(r["trials"], r["folds"], r["exit"]) for r in runs] == [
        (2, 6, 0),
        (1, 3, 0),
        (2, 6, 0),
        (1, 3, 0),
    ]
    with closing(sqlite3.connect(merged)) as conn:  # copied folds name the runs that computed them
        folds = conn.execute(
            "SELECT r.command FROM folds f JOIN runs r ON r.id = f.run_id ORDER BY f.trial_id, f.fold"
        ).fetchall()
    assert [c for (c,) in folds] == [runs[0]["command"]] * 6 + [runs[1]["command"]] * 3
    report = merge_stores([first, second], merged, command="again")
    assert not report.changed and [s.runs_added for s in report.studies] == [0, 0]
    assert history(invoke, merged) == runs  # idempotent: no copy twice, no no-op merge run
    onward = tmp_path / "onward.db"  # merged again elsewhere: the origin stays where it ran
    merge_stores([merged], onward, command="hptrack merge onward")
    assert [r["origin"] for r in history(invoke, onward)[:4]] == [
        str(first),
        str(second),
        str(merged),
        str(merged),
    ]


DROPIN = textwrap.dedent(
    """
    import sys

    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    import hptrack

    X, y = load_iris(return_X_y=True)
    search = hptrack.GridSearchCV(
        LogisticRegression(max_iter=500), {"C": [0.1, 1.0, 10.0]}, cv=3, store=sys.argv[1], study="iris"
    )
    search.fit(X, y)
    """
)


def test_dropin_fit_records_a_run_with_the_script_command_line(tmp_path):
    (tmp_path / "fit_script.py").write_text(DROPIN)
    db = tmp_path / "dropin.db"
    for _ in range(2):  # the second fit resumes a finished study: a run with nothing to do
        done = subprocess.run(
            [sys.executable, "fit_script.py", str(db), "--flag"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
    listed = hptrack("history", "iris", "--store", db, "--json", cwd=tmp_path)
    runs = json.loads(listed.stdout)
    assert [(r["command"], r["exit"], r["trials"], r["trial_numbers"]) for r in runs] == [
        (f"fit_script.py {db} --flag", 0, 3, [0, 1, 2]),
        (f"fit_script.py {db} --flag", 0, 0, []),
    ]
    assert runs[0]["pid"] != runs[1]["pid"]


def test_history_of_an_unknown_study_is_one_error_line(write_spec, db_path, invoke):
    assert invoke("run", write_spec(), "--store", db_path, "--max-trials", "0").exit_code == 0
    result = CliRunner().invoke(cli, ["history", "tiyn", "--store", str(db_path)])
    assert result.exit_code == 2
    assert result.stderr == f"Error: no study named 'tiyn' in {db_path}; did you mean 'tiny'?\n"


def test_heartbeats_refresh_their_rows_until_stopped_on_one_shared_thread(write_spec, db_path, invoke):
    import threading
    import time

    from hptrack.store import Heartbeat

    assert invoke("run", write_spec(), "--store", db_path, "--max-trials", "1").exit_code == 0

    def beat_of(run_id: int) -> str:
        with closing(sqlite3.connect(db_path)) as conn:
            return str(conn.execute("SELECT heartbeat FROM runs WHERE id = ?", (run_id,)).fetchone()[0])

    def wait_for_change(run_id: int, old: str) -> str:
        deadline = time.monotonic() + 10
        while (new := beat_of(run_id)) == old and time.monotonic() < deadline:
            time.sleep(0.02)
        return new

    with Writer(db_path) as writer:  # two more runs to beat for
        first, second = (writer.start_run(1, "beat test") for _ in range(2))
    before = {run: beat_of(run) for run in (first, second)}
    beats = [
        Heartbeat(db_path, "here", 1, 0.05, run_id=first),
        Heartbeat(db_path, "here", 1, 0.07, run_id=second),
    ]
    for beat in beats:
        beat.start()
    try:
        assert all(wait_for_change(run, before[run]) != before[run] for run in (first, second))
        assert sum(t.name == "hptrack-heartbeat" for t in threading.enumerate()) == 1
    finally:
        for beat in beats:
            beat.stop()
    stopped = {run: beat_of(run) for run in (first, second)}
    time.sleep(0.3)  # several intervals: a stopped heartbeat writes nothing more
    assert {run: beat_of(run) for run in (first, second)} == stopped
