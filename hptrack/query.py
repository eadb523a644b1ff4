"""Read objects behind :class:`hptrack.Store`: studies, trials, ranking, ``cv_results_``.

Everything here is read-only SQL on a plain ``sqlite3`` connection, so query commands
start fast and work on read-only files. Returned objects are frozen snapshots.
"""

from __future__ import annotations

import bisect
import difflib
import json
import math
import shlex
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import HptrackError, MissingDependencyError, SpecError, StudyNotFoundError, TrialNotFoundError

STATUSES = ("pending", "running", "complete", "failed")
ALPHA = 0.05  # significance level of the tied-with-best test
_CHUNK = 500


@dataclass(frozen=True)
class StudySummary:
    """One row of ``hptrack studies``."""

    name: str
    search: str
    n_trials: int
    n_complete: int
    n_failed: int
    metric: str
    best_score: float | None
    code_hash: str
    data_hash: str
    created: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "search": self.search,
            "n_trials": self.n_trials,
            "n_complete": self.n_complete,
            "n_failed": self.n_failed,
            "metric": self.metric,
            "best_score": self.best_score,
            "code_hash": self.code_hash,
            "data_hash": self.data_hash,
            "created": self.created,
        }


@dataclass(frozen=True)
class Trial:
    """One trial: params, per-fold scores per metric, summary statistics and provenance."""

    number: int
    params: dict[str, Any]
    status: str
    scores: dict[str, list[float | None]]
    mean: dict[str, float | None]
    std: dict[str, float | None]
    rank: int | None
    seed: dict[str, Any]
    code_hash: str | None
    data_hash: str | None = None
    train_scores: dict[str, list[float | None]] | None = None
    fit_time: list[float | None] = field(default_factory=list)
    score_time: list[float | None] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)
    origins: dict[int, Any] = field(default_factory=dict)
    started: str | None = None
    finished: str | None = None
    host: str | None = None
    pid: int | None = None
    # fold -> {metric: traceback}: scorers that failed on a fold whose fit succeeded (the
    # fold is not failed; that metric's score is the study's error_score, NaN by default)
    score_errors: dict[int, dict[str, str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN becomes None)."""
        out = {
            "number": self.number,
            "params": self.params,
            "status": self.status,
            "scores": self.scores,
            "mean": self.mean,
            "std": self.std,
            "rank": self.rank,
            "seed": self.seed,
            "code_hash": self.code_hash,
            "data_hash": self.data_hash,
            "fit_time": self.fit_time,
            "score_time": self.score_time,
            "errors": {str(k): v for k, v in self.errors.items()},
            "score_errors": {str(k): v for k, v in self.score_errors.items()},
            "started": self.started,
            "finished": self.finished,
            "host": self.host,
            "pid": self.pid,
        }
        if self.train_scores is not None:
            out["train_scores"] = self.train_scores
        if self.origins:
            out["origins"] = {str(k): v for k, v in self.origins.items()}
        return _json_safe(out)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def study_not_found(conn: sqlite3.Connection, name: str, path: Path | None) -> StudyNotFoundError:
    names = [row[0] for row in conn.execute("SELECT name FROM studies ORDER BY id")]
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    where = f" in {path}" if path is not None else ""
    if close:
        hint = f"; did you mean {close[0]!r}?"
    elif names:
        hint = f"; studies: {', '.join(names[:10])}{' ...' if len(names) > 10 else ''}"
    else:
        hint = "; the store has no studies yet (hptrack run SPEC)"
    return StudyNotFoundError(f"no study named {name!r}{where}{hint}")


def list_studies(conn: sqlite3.Connection) -> list[StudySummary]:
    """Every study in creation order, with trial counts and best score."""
    rows = conn.execute(
        """
        SELECT s.name, s.search, s.n_trials, s.metrics, s.code_hash, s.data_hash, s.created,
            (SELECT count(*) FROM trials t WHERE t.study_id = s.id AND t.status = 'complete'),
            (SELECT count(*) FROM trials t WHERE t.study_id = s.id AND t.status = 'failed'),
            (SELECT max(score) FROM trials t WHERE t.study_id = s.id AND t.status = 'complete')
        FROM studies s ORDER BY s.id
        """
    ).fetchall()
    return [
        StudySummary(
            name=name,
            search=search,
            n_trials=n_trials,
            n_complete=n_complete,
            n_failed=n_failed,
            metric=json.loads(metrics)[0],
            best_score=best,
            code_hash=code_hash,
            data_hash=data_hash,
            created=created,
        )
        for (
            name,
            search,
            n_trials,
            metrics,
            code_hash,
            data_hash,
            created,
            n_complete,
            n_failed,
            best,
        ) in rows
    ]


@dataclass(frozen=True)
class TiesWithBest:
    """Which complete trials of a study are statistically tied with its best.

    ``p_values`` maps each complete trial's number to its two-sided p-value against
    the best trial (1.0 for the best itself; None when a fold score is NaN). When no
    test is possible (one fold, no complete trial) ``reason`` says why and
    ``p_values`` is empty. Trials scored on other data than the best (another data
    fingerprint, after ``resume --allow-code-change``) are in ``not_comparable``: not
    tested, so neither tied nor not tied.
    """

    study: str
    metric: str
    alpha: float
    best: int | None
    n_folds: int
    test_train_ratio: float | None
    scheme: str
    reason: str | None
    p_values: dict[int, float | None]
    means: dict[int, float | None] = field(default_factory=dict)
    # complete trials scored on other data than the best (data hash): never paired with it
    not_comparable: tuple[int, ...] = ()
    best_data_hash: str | None = None

    @property
    def tested(self) -> bool:
        """True when the test could run (two or more folds, a best trial)."""
        return self.reason is None

    @property
    def tied(self) -> list[int]:
        """Numbers of the trials tied with the best (the best first, then by mean, best first)."""
        numbers = [n for n, p in self.p_values.items() if p is not None and p >= self.alpha]
        return sorted(numbers, key=lambda n: (n != self.best, -_sort_value(self.means.get(n)), n))

    def is_tied(self, number: int) -> bool | None:
        """True/False for a tested complete trial; None when untested."""
        p = self.p_values.get(number)
        return None if p is None else p >= self.alpha

    def for_trial(self, number: int) -> dict[str, Any]:
        """The per-trial JSON keys ``tied_with_best`` and ``p_vs_best``."""
        return {"tied_with_best": self.is_tied(number), "p_vs_best": self.p_values.get(number)}

    def statement(self) -> str:
        """One line: the test, its parameters and assumptions (or why there is none)."""
        if self.reason is not None:
            return f"tied with best: no test ({self.reason})"
        ratio = _fraction(self.test_train_ratio)
        text = (
            f"tied: p >= {self.alpha:g} against best #{self.best} in a two-sided corrected resampled "
            f"t-test (Nadeau & Bengio 2003) of {self.metric} over {self.n_folds} paired folds, "
            f"n_test/n_train = {ratio} ({self.scheme}); assumes every trial used the same splits; "
            "approximate, as folds overlap"
        )
        if self.not_comparable:
            text += (
                f"; {len(self.not_comparable)} trial(s) ({_numbers_text(self.not_comparable)}) were "
                f"scored on other data than the best (data {_short_hash(self.best_data_hash)}): "
                "not comparable, not tested"
            )
        return text

    def to_dict(self) -> dict[str, Any]:
        from .stats import TEST_NAME

        return _json_safe(
            {
                "test": TEST_NAME,
                "metric": self.metric,
                "alpha": self.alpha,
                "best": self.best,
                "n_folds": self.n_folds,
                "test_train_ratio": self.test_train_ratio,
                "scheme": self.scheme,
                "tested": self.tested,
                "reason": self.reason,
                "tied": self.tied,
                "p_values": {str(n): p for n, p in sorted(self.p_values.items())},
                "not_comparable": list(self.not_comparable),
                "statement": self.statement(),
            }
        )


def _fraction(ratio: float | None) -> str:
    if ratio is None:
        return "-"
    if ratio > 0 and abs(1 / ratio - round(1 / ratio)) < 1e-9:
        return f"1/{round(1 / ratio)}"
    return f"{ratio:.4g}"


def _short_hash(value: str | None) -> str:
    return value[:12] if value else "-"


def _numbers_text(numbers: Iterable[int], limit: int = 6) -> str:
    """Trial numbers as ``#0-4, #7, #9`` (runs collapsed), at most ``limit`` runs then ``...``."""
    runs: list[list[int]] = []
    for n in sorted(numbers):
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    parts = [f"#{a}" if a == b else f"#{a}-{b}" for a, b in runs[:limit]]
    return ", ".join(parts) + (", ..." if len(runs) > limit else "")


# A trial with a recorded fold: finished ones have all theirs; only claimed or released
# (running, pending) trials need the folds looked up, so large finished studies stay fast.
_SCORED = "(t.status IN ('complete', 'failed') OR EXISTS (SELECT 1 FROM folds f WHERE f.trial_id = t.id))"


@dataclass(frozen=True)
class HashUse:
    """A code or data hash that trials of a study were scored under."""

    hash: str
    n_trials: int
    first_started: str | None
    last_started: str | None


def _nan_mean(values: Sequence[float]) -> float | None:
    if not values or any(math.isnan(v) for v in values):
        return None
    return math.fsum(values) / len(values)


def fold_size_ratio(study: Study) -> tuple[float | None, str]:
    """``n_test / n_train`` of a study's folds for the corrected t-test, and how it was derived.

    Exact fold sizes are not stored; they follow from the CV scheme: ``1/(k-1)`` for
    k-fold (stratified, group) splits, ``test_size/(1-test_size)`` for a holdout split,
    which has a single fold and so allows no paired test (the ratio is then None).
    """
    cv = study.spec.get("cv") if isinstance(study.spec.get("cv"), Mapping) else {}
    kind = cv.get("kind") if isinstance(cv, Mapping) else None
    k = study.n_folds
    if kind == "holdout" or k < 2:
        size = cv.get("test_size") if isinstance(cv, Mapping) else None
        what = f"a holdout split (test_size {size})" if kind == "holdout" else f"{k} fold"
        return None, f"{what} has one fold, so no paired test is possible"
    scheme = (
        f"{k}-fold" if kind in ("kfold", "stratified", "group", "default") else f"{k} folds, assumed k-fold"
    )
    return 1.0 / (k - 1), scheme


@dataclass(frozen=True)
class TrialDump:
    """A trial's stored rows, as :func:`hptrack.merge.merge_stores` copies them."""

    number: int
    row: dict[str, Any]  # trials columns but id and study_id
    folds: dict[int, dict[str, Any]]  # fold -> folds columns but id and trial_id
    scores: dict[int, dict[str, dict[str, Any]]]  # fold -> metric -> scores columns but trial_id


@dataclass(frozen=True)
class StudyDump:
    """A study's stored rows: its ``studies`` row (but id), its trials and its runs (history)."""

    name: str
    row: dict[str, Any]
    trials: list[TrialDump]
    runs: list[dict[str, Any]] = field(default_factory=list)  # runs columns, id included


RUN_STATUSES = ("finished", "running", "died")


@dataclass(frozen=True)
class Run:
    """One invocation that touched a study (``hptrack history``): who ran what, when, with what end.

    ``status`` is ``finished`` (it recorded its exit code), ``running``, or ``died``: it
    left no end and its process is gone from this host, or (elsewhere) its heartbeat is
    older than the lease, as for abandoned trials. ``trials`` and ``folds`` count what it
    finished and committed; ``numbers`` are the trials it finished that no later run took
    over. ``origin`` names the store it was merged from (None: recorded here).
    """

    id: int
    command: str
    user: str | None
    host: str | None
    pid: int | None
    version: str | None
    started: str
    finished: str | None
    exit: int | None
    status: str
    trials: int
    folds: int
    numbers: tuple[int, ...]
    last_seen: str  # its end, else its last sign of life (heartbeat or last fold committed)
    origin: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (SPEC section 3 ``history --json``)."""
        return {
            "command": self.command,
            "user": self.user,
            "host": self.host,
            "pid": self.pid,
            "version": self.version,
            "started": self.started,
            "finished": self.finished,
            "exit": self.exit,
            "status": self.status,
            "trials": self.trials,
            "folds": self.folds,
            "trial_numbers": list(self.numbers),
            "last_seen": self.last_seen,
            "origin": self.origin,
        }


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    return (
        conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone()
        is not None
    )


class Study:
    """A study in a store: its spec and provenance, and queries over its trials.

    Get one with ``Store.study(name)``.
    """

    def __init__(self, conn: sqlite3.Connection, row: Mapping[str, Any], store_path: Path | None):
        self._conn = conn
        self.store_path = store_path
        self.id: int = row["id"]
        self.name: str = row["name"]
        self.search: str = row["search"]
        self.n_trials: int = row["n_trials"]
        self.n_folds: int = row["n_folds"]
        self.metrics: list[str] = json.loads(row["metrics"])
        self.seed: int = row["seed"]
        self.spec: dict[str, Any] = json.loads(row["spec"])
        self.spec_hash: str = row["spec_hash"]
        self.code_hash: str = row["code_hash"]
        self.code: dict[str, Any] = json.loads(row["code"])
        self.data_hash: str = row["data_hash"]
        self.data: list[dict[str, Any]] = json.loads(row["data"])
        self.split_hash: str = row["split_hash"]
        self.provenance: dict[str, Any] = json.loads(row["provenance"])
        self.created: str = row["created"]

    @classmethod
    def load(cls, conn: sqlite3.Connection, name: str, *, store_path: Path | None = None) -> Study:
        conn.row_factory = None
        cursor = conn.execute("SELECT * FROM studies WHERE name = ?", (name,))
        row = cursor.fetchone()
        if row is None:
            raise study_not_found(conn, name, store_path)
        columns = [d[0] for d in cursor.description]
        return cls(conn, dict(zip(columns, row)), store_path)

    def __repr__(self) -> str:
        return f"<Study {self.name!r}: {self.search}, {self.n_trials} trials>"

    @property
    def metric(self) -> str:
        """The ranking metric (the first one)."""
        return self.metrics[0]

    def counts(self) -> dict[str, int]:
        """Number of trials per status."""
        counts = dict.fromkeys(STATUSES, 0)
        for status, n in self._conn.execute(
            "SELECT status, count(*) FROM trials WHERE study_id = ? GROUP BY status", (self.id,)
        ):
            counts[status] = n
        return counts

    def code_hashes(self) -> list[str]:
        """Distinct code hashes that trials were scored under, in order of first use.

        More than one means mixed code (``resume --allow-code-change``).
        """
        return self._hashes("code")

    def data_hashes(self) -> list[str]:
        """Distinct data fingerprints that trials were scored under, in order of first use.

        More than one means mixed data: the data changed and the study was continued with
        ``resume --allow-code-change``.
        """
        return self._hashes("data")

    def _hashes(self, kind: str) -> list[str]:
        """The distinct ``kind`` hashes of scored trials, in order of first use."""
        distinct = self._distinct_hashes(kind)
        return distinct if len(distinct) < 2 else [use.hash for use in self.hash_uses(kind)]

    def _distinct_hashes(self, kind: str) -> list[str]:
        """Up to two distinct ``kind`` hashes of scored trials: a cheap test for mixed ones."""
        column = {"code": "code_hash", "data": "data_hash"}[kind]
        return [
            row[0]
            for row in self._conn.execute(
                f"SELECT DISTINCT t.{column} FROM trials t WHERE t.study_id = ? AND t.{column} IS NOT "
                f"NULL AND {_SCORED} LIMIT 2",
                (self.id,),
            )
        ]

    def hash_uses(self, kind: str) -> list[HashUse]:
        """The ``"code"`` or ``"data"`` hashes that trials with a recorded fold ran under.

        In order of first use (the earliest trial start), each with its number of trials
        and the first and last start of those trials.
        """
        column = {"code": "code_hash", "data": "data_hash"}[kind]  # our literal, not user input
        rows = self._conn.execute(
            f"SELECT t.{column}, count(*), min(t.started), max(t.started), min(t.number) FROM trials t "
            f"WHERE t.study_id = ? AND t.{column} IS NOT NULL AND {_SCORED} "
            f"GROUP BY t.{column} ORDER BY min(t.started) IS NULL, min(t.started), min(t.number)",
            (self.id,),
        ).fetchall()
        return [HashUse(h, n, first, last) for h, n, first, last, _ in rows]

    def _numbers_by_hash(self, kind: str) -> dict[str, list[int]]:
        """Numbers of the trials (with a recorded fold) scored under each code or data hash."""
        column = {"code": "code_hash", "data": "data_hash"}[kind]
        out: dict[str, list[int]] = {}
        for number, value in self._conn.execute(
            f"SELECT t.number, t.{column} FROM trials t WHERE t.study_id = ? AND t.{column} IS NOT "
            f"NULL AND {_SCORED} ORDER BY t.number",
            (self.id,),
        ):
            out.setdefault(value, []).append(number)
        return out

    def provenance_warnings(self) -> list[str]:
        """Warnings about trials scored under more than one code hash or data fingerprint.

        One text per kind (code, data) that is mixed: how many trials were scored under
        each hash (12-character prefixes) and which ones; and, when the best trial was
        scored under another hash than the current one (that of the latest trials), which.
        A single hash that differs from the one the study was created with is said too.
        ``hptrack trials``, ``best``, ``show``, ``compare`` and the report print these.

        Returns
        -------
        list of str
            Empty when every trial was scored under the study's own code and data.
        """
        warnings: list[str] = []
        best: Trial | None = None
        for kind, label, created in (
            ("code", "code hashes", self.code_hash),
            ("data", "data fingerprints", self.data_hash),
        ):
            distinct = self._distinct_hashes(kind)
            if len(distinct) == 1 and created and distinct[0] != created:
                warnings.append(
                    f"study {self.name!r}: every trial was scored under {kind} {_short_hash(distinct[0])}, "
                    f"not the {kind} the study was created with ({_short_hash(created)})"
                )
            if len(distinct) < 2:
                continue
            uses = self.hash_uses(kind)
            numbers = self._numbers_by_hash(kind)
            listed = "; ".join(
                f"{_short_hash(u.hash)}: {u.n_trials} trial(s) ({_numbers_text(numbers.get(u.hash, []))})"
                for u in uses
            )
            text = (
                f"study {self.name!r}: trials were scored under {len(uses)} different {label} ({listed}); "
                f"scores from different {kind} may not be comparable"
            )
            current = max(uses, key=lambda u: (u.last_started or "", u.n_trials)).hash
            if best is None:
                try:
                    best = self.best()
                except HptrackError:
                    best = None
            best_hash = None if best is None else getattr(best, f"{kind}_hash")
            if best is not None and best_hash and best_hash != current:
                text += (
                    f"; the best trial #{best.number} was scored under {kind} {_short_hash(best_hash)}, "
                    f"not the current {_short_hash(current)}"
                )
            show = f"hptrack show {shlex.quote(self.name)} NUMBER{self._store_option()}"
            warnings.append(f"{text} (`{show}` gives a trial's hashes)")
        return warnings

    def most_common_error(self) -> tuple[str, int] | None:
        """The most common error of the study's failed folds, and on how many folds.

        Errors are told apart by the last line of their traceback (``ValueError: ...``);
        ties go to the error recorded first. None when no fold failed.
        """
        from collections import Counter

        counts: Counter[str] = Counter()
        for (error,) in self._conn.execute(
            "SELECT f.error FROM folds f JOIN trials t ON t.id = f.trial_id "
            "WHERE t.study_id = ? AND f.error IS NOT NULL ORDER BY f.id",
            (self.id,),
        ):
            lines = [line.strip() for line in str(error).splitlines() if line.strip()]
            counts[lines[-1] if lines else "(no error text recorded)"] += 1
        if not counts:
            return None
        line, n = counts.most_common(1)[0]
        return line, n

    def summary(self) -> StudySummary:
        counts = self.counts()
        best = self._conn.execute(
            "SELECT max(score) FROM trials WHERE study_id = ? AND status = 'complete'", (self.id,)
        ).fetchone()[0]
        return StudySummary(
            name=self.name,
            search=self.search,
            n_trials=self.n_trials,
            n_complete=counts["complete"],
            n_failed=counts["failed"],
            metric=self.metric,
            best_score=best,
            code_hash=self.code_hash,
            data_hash=self.data_hash,
            created=self.created,
        )

    def to_dict(self) -> dict[str, Any]:
        """The study's full provenance as JSON-ready data."""
        counts = self.counts()
        return _json_safe(
            {
                "name": self.name,
                "search": self.search,
                "n_trials": self.n_trials,
                "n_folds": self.n_folds,
                "counts": counts,
                "metrics": self.metrics,
                "seed": self.seed,
                "spec": self.spec,
                "spec_hash": self.spec_hash,
                "code_hash": self.code_hash,
                "code": self.code,
                "code_hashes": self.code_hashes(),
                "data_hash": self.data_hash,
                "data_hashes": self.data_hashes(),
                "data": self.data,
                "split_hash": self.split_hash,
                "provenance": self.provenance,
                "created": self.created,
            }
        )

    # ------------------------------------------------------------------ trials

    def _check_metric(self, metric: str) -> str:
        if metric not in self.metrics:
            close = difflib.get_close_matches(metric, self.metrics, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise SpecError(
                f"study {self.name!r} has no metric {metric!r}{hint} (recorded: {', '.join(self.metrics)})"
            )
        return metric

    def trials(
        self,
        *,
        status: str | Iterable[str] | None = None,
        sort: str | None = None,
        top: int | None = None,
        params: Mapping[str, Any] | None = None,
        min_score: Mapping[str, float] | None = None,
    ) -> list[Trial]:
        """Trials of the study.

        Parameters
        ----------
        status : str or list of str, optional
            Keep only these statuses (pending, running, complete, failed).
        sort : str, optional
            A metric: best first by its mean (trials without a mean last). Default: by
            number, unless ``top`` is given, which sorts by the ranking metric.
        top : int, optional
            Keep only the first ``top`` trials after sorting.
        params : dict, optional
            Keep trials whose params include these values (``{"C": 1.0}``).
        min_score : dict, optional
            Keep trials whose mean of each metric is at least the given value.
        """
        statuses = self._statuses(status)
        if top is not None and top < 1:
            raise SpecError(f"top = {top!r} must be >= 1")
        if sort is not None:
            self._check_metric(sort)
        if min_score:
            for metric in min_score:
                self._check_metric(metric)
        if top is not None and sort is None:
            sort = self.metric
        fast = sort == self.metric and not params and not min_score
        where = "study_id = ?"
        args: list[Any] = [self.id]
        if statuses is not None:  # literals from the STATUSES whitelist: lets SQLite use its indexes
            where += f" AND status IN ({','.join(repr(s) for s in statuses)})"
        if fast:
            # complete trials best first through the (study_id, score) index, then the rest
            rows: list[tuple[Any, ...]] = []
            if statuses is None or "complete" in statuses:
                limit = f" LIMIT {int(top)}" if top is not None else ""
                rows = self._trial_rows(
                    f"WHERE study_id = ? AND status = 'complete' ORDER BY score DESC, number{limit}",
                    args,
                )
            others = [s for s in (statuses or STATUSES) if s != "complete"]
            if others and (top is None or len(rows) < top):
                limit = f" LIMIT {int(top) - len(rows)}" if top is not None else ""
                marks = ",".join(repr(s) for s in others)
                rows += self._trial_rows(
                    f"WHERE study_id = ? AND status IN ({marks}) ORDER BY number{limit}", args
                )
            return self._build(rows, whole_study=statuses is None and top is None)
        rows = self._trial_rows(f"WHERE {where} ORDER BY number", args)
        trials = self._build(rows, whole_study=statuses is None)
        if params:
            wanted = json.loads(json.dumps(params))
            trials = [t for t in trials if all(t.params.get(k) == v for k, v in wanted.items())]
        if min_score:
            trials = [
                t
                for t in trials
                if all(t.mean.get(m) is not None and _nan(t.mean[m]) >= v for m, v in min_score.items())
            ]
        if sort is not None:
            trials.sort(key=lambda t: (-_sort_value(t.mean.get(sort)), t.number))
        return trials[:top] if top is not None else trials

    def _statuses(self, status: str | Iterable[str] | None) -> list[str] | None:
        if status is None:
            return None
        statuses = [status] if isinstance(status, str) else list(status)
        for s in statuses:
            if s not in STATUSES:
                close = difflib.get_close_matches(s, STATUSES, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise SpecError(f"unknown status {s!r}{hint} (one of {', '.join(STATUSES)})")
        return statuses

    def trial(self, number: int) -> Trial:
        """Trial ``number``; raise :class:`TrialNotFoundError` if there is none."""
        rows = self._trial_rows("WHERE study_id = ? AND number = ?", [self.id, int(number)])
        if not rows:
            raise TrialNotFoundError(
                f"study {self.name!r} has no trial {number!r} (trials are numbered 0 to {self.n_trials - 1})"
            )
        return self._build(rows, whole_study=False)[0]

    def best(self) -> Trial:
        """The best complete trial by the ranking metric (lowest number among ties)."""
        trials = self.trials(status="complete", top=1)
        if trials and trials[0].rank is None:  # complete, but the ranking scorer failed
            raise HptrackError(
                f"no complete trial of study {self.name!r} has a {self.metric!r} score (its scorer "
                f"failed); see the score_errors of `hptrack trials {self.name} --json`"
            )
        if not trials:
            counts = self.counts()
            name = f"{shlex.quote(self.name)}{self._store_option()}"
            if counts["failed"] and not counts["pending"] and not counts["running"]:
                hint = (
                    f"every trial failed: see why with `hptrack trials {name} --status failed`, "
                    f"fix it, then `hptrack resume {name} --retry-failed`"
                )
            else:
                hint = f"continue it with `hptrack resume {name}`"
            raise HptrackError(
                f"study {self.name!r} has no complete trial yet ({counts['pending']} pending, "
                f"{counts['running']} running, {counts['failed']} failed); {hint}"
            )
        return trials[0]

    def _store_option(self) -> str:
        """`` --store PATH`` for hints, unless the store is ``./hptrack.db`` (the default)."""
        if self.store_path is None or Path(self.store_path).resolve() == Path("hptrack.db").resolve():
            return ""
        return f" --store {shlex.quote(str(self.store_path))}"

    def _trial_rows(self, clause: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        return self._conn.execute(
            "SELECT id, number, params, status, score, seed, code_hash, data_hash, started, "
            f"finished, host, pid FROM trials {clause}",
            list(args),
        ).fetchall()

    def _build(self, rows: list[tuple[Any, ...]], *, whole_study: bool) -> list[Trial]:
        import numpy as np

        if not rows:
            return []
        ids = [row[0] for row in rows]
        scores, folds = self._fold_data(ids, whole_study=whole_study)
        n, k = len(rows), self.n_folds
        test = {m: np.full((n, k), np.nan) for m in self.metrics}
        train: dict[str, Any] = {}
        have = np.zeros((n, k), dtype=bool)
        index = {trial_id: i for i, trial_id in enumerate(ids)}
        for trial_id, fold, metric, test_value, train_value in scores:
            i = index.get(trial_id)
            if i is None or metric not in test or fold >= k:
                continue
            test[metric][i, fold] = _nan(test_value)
            if train_value is not None or metric in train:
                train.setdefault(metric, np.full((n, k), np.nan))[i, fold] = _nan(train_value)
        if train:  # a metric whose train scores are all missing (NaN is stored as NULL)
            train = {m: train.get(m, np.full((n, k), np.nan)) for m in self.metrics}
        fit = np.full((n, k), np.nan)
        score_t = np.full((n, k), np.nan)
        errors: dict[int, dict[int, str]] = {}
        origins: dict[int, dict[int, Any]] = {}
        score_errors: dict[int, dict[int, dict[str, str]]] = {}
        for trial_id, fold, fit_time, score_time, error, origin, scorer_errors in folds:
            i = index.get(trial_id)
            if i is None or fold >= k:
                continue
            have[i, fold] = True
            fit[i, fold] = _nan(fit_time)
            score_t[i, fold] = _nan(score_time)
            if error:
                errors.setdefault(i, {})[fold] = error
            if origin:
                origins.setdefault(i, {})[fold] = json.loads(origin)
            if scorer_errors:
                score_errors.setdefault(i, {})[fold] = json.loads(scorer_errors)
        means = {m: np.average(a, axis=1) for m, a in test.items()}
        stds = {m: np.sqrt(np.average((a - means[m][:, np.newaxis]) ** 2, axis=1)) for m, a in test.items()}
        ranks = self._ranks([row[4] if row[3] == "complete" else None for row in rows])
        out: list[Trial] = []
        for i, row in enumerate(rows):
            (
                _id,
                number,
                params,
                status,
                _score,
                seed,
                code_hash,
                data_hash,
                started,
                finished,
                host,
                pid,
            ) = row
            complete_folds = bool(have[i].all())

            def folds_of(array: Any, i: int = i) -> list[float | None]:
                return [None if math.isnan(v) else float(v) for v in array[i]]

            out.append(
                Trial(
                    number=number,
                    params=json.loads(params),
                    status=status,
                    scores={m: folds_of(a) for m, a in test.items()},
                    mean={m: float(means[m][i]) if complete_folds else None for m in test},
                    std={m: float(stds[m][i]) if complete_folds else None for m in test},
                    rank=ranks[i],
                    seed=json.loads(seed) if seed else {},
                    code_hash=code_hash,
                    data_hash=data_hash,
                    train_scores={m: folds_of(a) for m, a in train.items()} if train else None,
                    fit_time=folds_of(fit),
                    score_time=folds_of(score_t),
                    errors=errors.get(i, {}),
                    origins=origins.get(i, {}),
                    score_errors=score_errors.get(i, {}),
                    started=started,
                    finished=finished,
                    host=host,
                    pid=pid,
                )
            )
        return out

    def _fold_data(
        self, ids: list[int], *, whole_study: bool
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        scores_sql = "SELECT trial_id, fold, metric, test, train FROM scores WHERE trial_id "
        # ``score_errors`` is a schema v3 column; an older store is read as it is
        score_errors = "score_errors" if self._has_fold_column("score_errors") else "NULL"
        folds_sql = (
            f"SELECT trial_id, fold, fit_time, score_time, error, origin, {score_errors} "
            "FROM folds WHERE trial_id "
        )
        if whole_study:
            sub = "IN (SELECT id FROM trials WHERE study_id = ?)"
            return (
                self._conn.execute(scores_sql + sub, (self.id,)).fetchall(),
                self._conn.execute(folds_sql + sub, (self.id,)).fetchall(),
            )
        scores: list[tuple[Any, ...]] = []
        folds: list[tuple[Any, ...]] = []
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            marks = f"IN ({','.join('?' * len(chunk))})"
            scores.extend(self._conn.execute(scores_sql + marks, chunk).fetchall())
            folds.extend(self._conn.execute(folds_sql + marks, chunk).fetchall())
        return scores, folds

    def _has_fold_column(self, name: str) -> bool:
        """Whether the store's ``folds`` table has column ``name`` (older schemas lack some)."""
        return any(row[1] == name for row in self._conn.execute("PRAGMA table_info(folds)"))

    def _ranks(self, scores: list[float | None]) -> list[int | None]:
        """Rank by the ranking metric among complete trials, ties sharing the lowest rank."""
        wanted = [s for s in scores if s is not None]
        if not wanted:
            return [None] * len(scores)
        if len(wanted) <= 200:
            ranks: list[int | None] = []
            for s in scores:
                if s is None:
                    ranks.append(None)
                    continue
                above = self._conn.execute(
                    "SELECT count(*) FROM trials WHERE study_id = ? AND status = 'complete' AND score > ?",
                    (self.id, s),
                ).fetchone()[0]
                ranks.append(1 + int(above))
            return ranks
        everything = sorted(
            row[0]
            for row in self._conn.execute(
                "SELECT -score FROM trials WHERE study_id = ? AND status = 'complete' AND score IS NOT NULL",
                (self.id,),
            )
        )
        return [None if s is None else 1 + bisect.bisect_left(everything, -s) for s in scores]

    # ------------------------------------------------------------------ exports

    def cv_results(self) -> dict[str, Any]:
        """The study as scikit-learn's ``cv_results_`` (trials by number; failed unranked)."""
        trials = self.trials()
        return cv_results_layout(
            [t.params for t in trials],
            n_splits=self.n_folds,
            test_scores={m: [[_nan(v) for v in t.scores[m]] for t in trials] for m in self.metrics},
            train_scores=(
                {
                    m: [[_nan(v) for v in (t.train_scores or {}).get(m, [])] for t in trials]
                    for m in self.metrics
                }
                if any(t.train_scores for t in trials)
                else None
            ),
            fit_time=[[_nan(v) for v in t.fit_time] for t in trials],
            score_time=[[_nan(v) for v in t.score_time] for t in trials],
            ranks={self.metric: [t.rank for t in trials]},
        )

    def export_rows(self) -> list[dict[str, Any]]:
        """One flat row per trial in ``cv_results_`` naming (``param_C``, ``split0_test_...``)."""
        trials = self.trials()
        param_names = sorted({k for t in trials for k in t.params})
        rank_of = _min_ranks_by_metric(trials, self.metrics)
        rows = []
        for t in trials:
            row: dict[str, Any] = {"number": t.number, "status": t.status}
            for name in param_names:
                row[f"param_{name}"] = t.params.get(name)
            row["params"] = json.dumps(t.params, sort_keys=True)
            for m in self.metrics:
                for fold, value in enumerate(t.scores[m]):
                    row[f"split{fold}_test_{m}"] = value
                row[f"mean_test_{m}"] = t.mean[m]
                row[f"std_test_{m}"] = t.std[m]
                row[f"rank_test_{m}"] = rank_of[m].get(t.number)
            if t.train_scores:
                for m in self.metrics:
                    values = t.train_scores.get(m, [])
                    for fold, value in enumerate(values):
                        row[f"split{fold}_train_{m}"] = value
                    row[f"mean_train_{m}"] = _mean_or_none(values)
                    row[f"std_train_{m}"] = _std_or_none(values)
            for label, values in (("fit_time", t.fit_time), ("score_time", t.score_time)):
                row[f"mean_{label}"] = _mean_or_none(values)
                row[f"std_{label}"] = _std_or_none(values)
            row["seed"] = json.dumps(t.seed, sort_keys=True)
            row["code_hash"] = t.code_hash
            row["error"] = next(iter(t.errors.values()), None)
            if t.origins:
                row["origin"] = json.dumps(t.origins, sort_keys=True)
            rows.append(_json_safe(row))
        return rows

    def to_records(self, **filters: Any) -> list[dict[str, Any]]:
        """The trials as a list of flat dicts in ``cv_results_`` naming (as ``hptrack export``).

        Parameters
        ----------
        **filters
            Any of :meth:`trials`' keyword arguments (``status``, ``sort``, ``top``,
            ``params``, ``min_score``); rows follow its order.

        Examples
        --------
        >>> rows = store.study("digits-svc").to_records(status="complete")  # doctest: +SKIP
        >>> rows[0]["mean_test_accuracy"]  # doctest: +SKIP
        """
        rows = self.export_rows()
        if not filters:
            return rows
        order = {t.number: i for i, t in enumerate(self.trials(**filters))}
        return sorted((r for r in rows if r["number"] in order), key=lambda r: order[r["number"]])

    def to_frame(self, **filters: Any) -> Any:
        """The trials as a pandas DataFrame (needs pandas, an optional dependency).

        Takes :meth:`to_records`' filters; one row per trial, ``cv_results_`` columns.

        Raises
        ------
        MissingDependencyError
            pandas is not installed (an ``ImportError``; ``pip install pandas``).
        """
        import importlib

        try:
            pd = importlib.import_module("pandas")
        except ImportError as exc:
            raise MissingDependencyError(
                "Study.to_frame() needs pandas, which is not installed: pip install pandas "
                "(or use Study.to_records(), a list of dicts)"
            ) from exc
        return pd.DataFrame.from_records(self.to_records(**filters))

    # ------------------------------------------------------------------ statistics

    def tied_with_best(self, *, metric: str | None = None, alpha: float = ALPHA) -> TiesWithBest:
        """Which complete trials are statistically indistinguishable from the best.

        Each complete trial's fold scores are paired with the best trial's (every trial
        of a study uses the same splits) and compared with Nadeau and Bengio's corrected
        resampled t-test (:func:`hptrack.stats.corrected_ttest`), ``n_test/n_train``
        derived from the CV scheme (``1/(k-1)`` for k folds). A trial is tied with the
        best when its two-sided p-value is at least ``alpha``.

        Only trials scored on the same data as the best (same data fingerprint) are
        paired: after the data changed and the study was resumed with
        ``--allow-code-change``, fold ``i`` holds other values, so a trial scored on the
        other data is ``not_comparable`` (neither tied nor tested). A different code hash
        does not stop the pairing (the splits and data are what pairing needs; code that
        changes scores is reported by :meth:`provenance_warnings`).

        Parameters
        ----------
        metric : str, optional
            The metric to compare on; default the ranking metric.
        alpha : float, default=0.05
            Significance level.

        Returns
        -------
        TiesWithBest
            p-values by trial number; ``reason`` says why there is no test (a holdout
            split has one fold: nothing to pair).
        """
        from .stats import corrected_ttest

        if not 0.0 < alpha < 1.0:
            raise SpecError(f"alpha = {alpha!r} must be between 0 and 1 (e.g. 0.05)")
        metric = self._check_metric(metric) if metric is not None else self.metric
        folds = self._metric_folds(metric)
        best = self._best_number(metric, folds)
        ratio, scheme = fold_size_ratio(self)
        reason: str | None = None
        if best is None:
            reason = "no complete trial yet"
        elif ratio is None:
            reason = scheme
        p_values: dict[int, float | None] = {}
        not_comparable: list[int] = []
        best_data: str | None = None
        if reason is None and best is not None and ratio is not None:
            best_scores = folds[best]
            data_of = self._complete_data_hashes()
            best_data = data_of.get(best)
            for number, scores in folds.items():
                data = data_of.get(number)
                if data and best_data and data != best_data:  # fold i held other values
                    not_comparable.append(number)
                    continue
                if any(math.isnan(v) for v in scores) or any(math.isnan(v) for v in best_scores):
                    p_values[number] = None
                    continue
                p_values[number] = corrected_ttest(best_scores, scores, test_train_ratio=ratio).p_value
        return TiesWithBest(
            study=self.name,
            metric=metric,
            alpha=alpha,
            best=best,
            n_folds=self.n_folds,
            test_train_ratio=ratio,
            scheme=scheme,
            reason=reason,
            p_values=p_values,
            means={n: _nan_mean(v) for n, v in folds.items()},
            not_comparable=tuple(not_comparable),
            best_data_hash=best_data,
        )

    def _complete_data_hashes(self) -> dict[int, str | None]:
        """The data fingerprint each complete trial was scored under, by number."""
        return dict(
            self._conn.execute(
                "SELECT number, data_hash FROM trials WHERE study_id = ? AND status = 'complete'",
                (self.id,),
            ).fetchall()
        )

    def _metric_folds(self, metric: str) -> dict[int, list[float]]:
        """Fold scores of ``metric`` for each complete trial with every fold recorded."""
        by_number: dict[int, list[float]] = {}
        for number, fold, test in self._conn.execute(
            "SELECT t.number, sc.fold, sc.test FROM scores sc JOIN trials t ON t.id = sc.trial_id "
            "WHERE t.study_id = ? AND t.status = 'complete' AND sc.metric = ? ORDER BY t.number, sc.fold",
            (self.id, metric),
        ):
            if 0 <= fold < self.n_folds:
                by_number.setdefault(number, [math.nan] * self.n_folds)[fold] = _nan(test)
        return by_number

    def _best_number(self, metric: str, folds: Mapping[int, list[float]]) -> int | None:
        """The best complete trial by ``metric`` (as :meth:`best`: lowest number among ties)."""
        if metric == self.metric:
            row = self._conn.execute(
                "SELECT number FROM trials WHERE study_id = ? AND status = 'complete' AND score IS NOT "
                "NULL ORDER BY score DESC, number LIMIT 1",
                (self.id,),
            ).fetchone()
            return None if row is None else int(row[0])
        means = {n: _nan_mean(v) for n, v in folds.items()}
        scored = [(-m, n) for n, m in means.items() if m is not None]
        return min(scored)[1] if scored else None

    # ------------------------------------------------------------------ merging

    def dump(self) -> StudyDump:
        """Every stored row of the study (its studies row, trials, folds and scores), for merging."""
        study_row = self._rows("SELECT * FROM studies WHERE id = ?", (self.id,))[0]
        trials = self._rows("SELECT * FROM trials WHERE study_id = ? ORDER BY number", (self.id,))
        folds = self._rows(
            "SELECT f.* FROM folds f JOIN trials t ON t.id = f.trial_id WHERE t.study_id = ? "
            "ORDER BY f.trial_id, f.fold",
            (self.id,),
        )
        scores = self._rows(
            "SELECT sc.* FROM scores sc JOIN trials t ON t.id = sc.trial_id WHERE t.study_id = ? "
            "ORDER BY sc.trial_id, sc.fold, sc.metric",
            (self.id,),
        )
        fold_rows: dict[int, dict[int, dict[str, Any]]] = {}
        for row in folds:
            fold_rows.setdefault(row.pop("trial_id"), {})[row["fold"]] = row
            row.pop("id", None)
        score_rows: dict[int, dict[int, dict[str, dict[str, Any]]]] = {}
        for row in scores:
            trial_id = row.pop("trial_id")
            score_rows.setdefault(trial_id, {}).setdefault(row["fold"], {})[row["metric"]] = row
        dumped = []
        for row in trials:
            trial_id = row.pop("id")
            row.pop("study_id", None)
            dumped.append(
                TrialDump(
                    number=row["number"],
                    row=row,
                    folds=fold_rows.get(trial_id, {}),
                    scores=score_rows.get(trial_id, {}),
                )
            )
        study_row.pop("id", None)
        runs = (
            self._rows("SELECT * FROM runs WHERE study_id = ? ORDER BY id", (self.id,))
            if _has_table(self._conn, "runs")
            else []
        )
        return StudyDump(name=self.name, row=study_row, trials=dumped, runs=runs)

    def history(self) -> list[Run]:
        """Every run that touched the study (run, resume, verify, merge, drop-in ``fit``), oldest first.

        A store written before history was recorded (schema 2 or older, opened
        read-only) has none: the list is empty.

        Examples
        --------
        >>> [(r.command, r.status, r.trials) for r in study.history()]  # doctest: +SKIP
        [('hptrack run digits.toml', 'finished', 12)]
        """
        if not _has_table(self._conn, "runs"):
            return []
        from .store import worker_gone

        rows = self._rows(
            "SELECT id, command, user, host, pid, version, started, finished, exit, heartbeat, trials, "
            "folds, origin FROM runs WHERE study_id = ? ORDER BY started, id",
            (self.id,),
        )
        numbers: dict[int, list[int]] = {}
        for run_id, number in self._conn.execute(
            "SELECT run_id, number FROM trials WHERE study_id = ? AND run_id IS NOT NULL "
            "AND status IN ('complete', 'failed') ORDER BY number",
            (self.id,),
        ):
            numbers.setdefault(run_id, []).append(number)
        last_fold = dict(
            self._conn.execute(
                "SELECT f.run_id, max(f.finished) FROM folds f JOIN trials t ON t.id = f.trial_id "
                "WHERE t.study_id = ? AND f.run_id IS NOT NULL GROUP BY f.run_id",
                (self.id,),
            ).fetchall()
        )
        runs = []
        for row in rows:
            if row["finished"] is not None:
                status = "finished"
            else:
                status = "died" if worker_gone(row["host"], row["pid"], row["heartbeat"]) else "running"
            seen = [t for t in (row["started"], row["heartbeat"], last_fold.get(row["id"])) if t]
            runs.append(
                Run(
                    id=row["id"],
                    command=row["command"],
                    user=row["user"],
                    host=row["host"],
                    pid=row["pid"],
                    version=row["version"],
                    started=row["started"],
                    finished=row["finished"],
                    exit=row["exit"],
                    status=status,
                    trials=row["trials"],
                    folds=row["folds"],
                    numbers=tuple(numbers.get(row["id"], ())),
                    last_seen=row["finished"] or max(seen),
                    origin=row["origin"],
                )
            )
        return runs

    def _rows(self, sql: str, args: Sequence[Any]) -> list[dict[str, Any]]:
        cursor = self._conn.execute(sql, list(args))
        columns = [d[0] for d in cursor.description]
        return [dict(zip(columns, row)) for row in cursor.fetchall()]


def _sort_value(value: float | None) -> float:
    if value is None or math.isnan(value):
        return -math.inf
    return value


def _mean_or_none(values: Sequence[float | None]) -> float | None:
    import numpy as np

    if not values or any(v is None for v in values):
        return None
    return float(np.average(np.array(values, dtype=np.float64)))


def _std_or_none(values: Sequence[float | None]) -> float | None:
    import numpy as np

    if not values or any(v is None for v in values):
        return None
    array = np.array(values, dtype=np.float64)
    return float(np.sqrt(np.average((array - np.average(array)) ** 2)))


def _min_ranks_by_metric(trials: Sequence[Trial], metrics: Sequence[str]) -> dict[str, dict[int, int]]:
    """Per metric, ``min`` ranks of complete trials with a finite mean."""
    out: dict[str, dict[int, int]] = {}
    for m in metrics:
        scored = [
            (t.number, t.mean[m])
            for t in trials
            if t.status == "complete" and t.mean[m] is not None and math.isfinite(t.mean[m])  # type: ignore[arg-type]
        ]
        negated = sorted(-float(v) for _, v in scored)  # type: ignore[arg-type]
        out[m] = {n: 1 + bisect.bisect_left(negated, -float(v)) for n, v in scored}  # type: ignore[arg-type]
    return out


def min_rank(values: Any) -> Any:
    """scikit-learn's ranking: ``rankdata(-values, method="min")``, NaN tied with the worst.

    Returns an int32 array; all-NaN input ranks every candidate 1, as scikit-learn does.
    """
    import numpy as np

    means = np.asarray(values, dtype=np.float64)
    if means.size == 0:
        return np.zeros(0, dtype=np.int32)
    if np.isnan(means).all():
        return np.ones_like(means, dtype=np.int32)
    filled = np.where(np.isnan(means), np.nanmin(means) - 1, means)
    ordered = np.sort(-filled)
    return (np.searchsorted(ordered, -filled, side="left") + 1).astype(np.int32)


def cv_results_layout(
    candidate_params: Sequence[Mapping[str, Any]],
    *,
    n_splits: int,
    test_scores: Mapping[str, Any],
    train_scores: Mapping[str, Any] | None,
    fit_time: Any,
    score_time: Any,
    ranks: Mapping[str, Sequence[int | None]] | None = None,
    key_names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Build a dict laid out as scikit-learn's ``cv_results_``.

    Parameters
    ----------
    candidate_params : list of dict
        The params of each candidate, in order.
    n_splits : int
        Folds per candidate.
    test_scores, train_scores : dict of metric -> array (n_candidates, n_splits)
        Fold scores (NaN for a failed fold).
    fit_time, score_time : array (n_candidates, n_splits)
    ranks : dict of metric -> list, optional
        Ranks to use instead of scikit-learn's (the store leaves failed trials unranked,
        shown as 0 is not possible in an int array, so such columns become object arrays).
    key_names : dict of metric -> str, optional
        The name each metric gets in the keys (``"score"`` for single-metric searches).
    """
    import numpy as np
    from numpy.ma import MaskedArray

    n_candidates = len(candidate_params)
    names = dict(key_names or {})
    results: dict[str, Any] = {}

    def _store(key_name: str, array: Any, *, splits: bool = False, rank: str | None = None) -> None:
        array = np.array(array, dtype=np.float64).reshape(n_candidates, n_splits)
        if splits:
            for split_idx in range(n_splits):
                results[f"split{split_idx}_{key_name}"] = array[:, split_idx]
        array_means = np.average(array, axis=1)
        results[f"mean_{key_name}"] = array_means
        results[f"std_{key_name}"] = np.sqrt(np.average((array - array_means[:, np.newaxis]) ** 2, axis=1))
        if rank is not None:
            given = (ranks or {}).get(rank)
            if given is None:
                results[f"rank_{key_name}"] = min_rank(array_means)
            else:
                results[f"rank_{key_name}"] = np.array(list(given), dtype=object)

    _store("fit_time", fit_time)
    _store("score_time", score_time)
    param_results: dict[str, dict[int, Any]] = {}
    for index, params in enumerate(candidate_params):
        for name, value in params.items():
            param_results.setdefault(f"param_{name}", {})[index] = value
    for key, values in param_results.items():
        value_list = list(values.values())
        try:
            arr = np.array(value_list)
        except ValueError:
            dtype = np.dtype(object)
        else:
            dtype = arr.dtype if arr.dtype.kind != "U" and arr.ndim == 1 else np.dtype(object)
        masked = MaskedArray(np.empty(n_candidates, dtype=dtype), mask=True)
        for index, value in values.items():
            masked[index] = value
        results[key] = masked
    results["params"] = list(candidate_params)
    for metric, array in test_scores.items():
        label = names.get(metric, metric)
        _store(f"test_{label}", array, splits=True, rank=metric)
        if train_scores is not None and metric in train_scores:
            _store(f"train_{label}", train_scores[metric], splits=True)
    return results
