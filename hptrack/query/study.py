"""A study in a store and the queries over its trials (:class:`Study`), and study summaries.

Every query is read-only SQL from :mod:`hptrack.store.reads` on the store's
connection; returned trials and summaries are frozen snapshots. Methods with a module of
their own are mixed in from it: pending pages, ties, run history, provenance, tables,
importance, paged exports and learning curves.
"""

from __future__ import annotations

import json
import shlex
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import HptrackError, SpecError, TrialNotFoundError
from ..spec.direction import MAXIMIZING, Direction
from ..store import STATUSES, StudyDump, json_safe, reads
from ..store.dumps import dump_study
from .curves import StudyCurves
from .export import StudyTables
from .halving import StudyHalving
from .importance import StudyImportance
from .pending import StudyPending
from .provenance import StudyProvenance
from .ranking import min_ranks
from .runs import StudyHistory
from .streaming import StudyExport
from .summary import StudySummary
from .ties import StudyTies
from .trials import Trial, build_trials, check_params_filter, check_statuses, nan_for_none, unknown_name


class Study(
    StudyProvenance,
    StudyTables,
    StudyImportance,
    StudyExport,
    StudyTies,
    StudyHistory,
    StudyPending,
    StudyCurves,
    StudyHalving,
):
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
        # the ranking metric's: lowest first for direction = "minimize" (absent: maximize)
        self.direction: Direction = Direction.of_spec(self.spec)
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
        """Study ``name`` of the store behind ``conn``.

        Parameters
        ----------
        conn : sqlite3.Connection
            An open connection to an hptrack store.
        name : str
            The study's name.
        store_path : Path, optional
            The store file, named in messages and hints (``--store``).

        Returns
        -------
        Study
            A snapshot of the study's row; its trials are read when asked for.

        Raises
        ------
        StudyNotFoundError
            No such study (the message suggests close names).
        """
        row = reads.study_row(conn, name)
        if row is None:
            raise reads.study_not_found(conn, name, store_path)
        return cls(conn, row, store_path)

    def __repr__(self) -> str:
        return f"<Study {self.name!r}: {self.search}, {self.n_trials} trials>"

    @property
    def metric(self) -> str:
        """The ranking metric (the first one)."""
        return self.metrics[0]

    def direction_of(self, metric: str) -> Direction:
        """Which way ``metric`` is better.

        Parameters
        ----------
        metric : str
            A metric of the study.

        Returns
        -------
        Direction
            The study's :attr:`direction` (``spec["direction"]``, maximize when absent) for
            the ranking metric; greater-is-better for every other metric.
        """
        return self.direction if metric == self.metric else MAXIMIZING

    def counts(self) -> dict[str, int]:
        """Number of trials per status.

        Returns
        -------
        dict of str to int
            ``{"pending": n, "running": n, "complete": n, "failed": n}``, every status present.
        """
        return reads.status_counts(self._conn, self.id)

    def summary(self) -> StudySummary:
        """The study's row of ``hptrack studies``.

        Returns
        -------
        StudySummary
            Name, search, trial counts, best score, metric, hashes, creation time.
        """
        counts = self.counts()
        return StudySummary(
            name=self.name,
            search=self.search,
            n_trials=self.n_trials,
            n_complete=counts["complete"],
            n_failed=counts["failed"],
            metric=self.metric,
            best_score=reads.best_score(self._conn, self.id, self.direction, last_rung=self.halving),
            code_hash=self.code_hash,
            data_hash=self.data_hash,
            created=self.created,
        )

    def to_dict(self) -> dict[str, Any]:
        """The study's full provenance as JSON-ready data.

        Returns
        -------
        dict
            Spec, seed, metrics, hashes (``code_hashes`` and ``data_hashes`` list those the
            trials were scored under), git, environment and trial counts; what
            ``hptrack show STUDY --json`` prints. ``prefix_fits`` (``{fitted, reused}``,
            :meth:`prefix_fits`) is there only when a run fitted or reused a pipeline prefix.
        """
        counts = self.counts()
        fits = self.prefix_fits()
        return json_safe(
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
                **({"prefix_fits": fits.to_dict()} if fits else {}),
                **({"rungs": [r.to_dict() for r in self.rungs()]} if self.halving else {}),
            }
        )

    # ------------------------------------------------------------------ trials

    def _check_metric(self, metric: str) -> str:
        """``metric``, if the study records it; else a SpecError naming the closest one."""
        if metric not in self.metrics:
            raise unknown_name(self.name, "metric", metric, self.metrics)
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
            A metric: best first by its mean (trials without a mean last; lowest first for
            the ranking metric of a ``direction = "minimize"`` study). Default: by number,
            unless ``top`` is given, which sorts by the ranking metric.
        top : int, optional
            Keep only the first ``top`` trials after sorting.
        params : dict, optional
            Keep trials whose params include these values (``{"C": 1.0}``).
        min_score : dict, optional
            Keep trials whose mean of each metric is at least the given value (a bound
            from below whatever the direction).

        Returns
        -------
        list of Trial

        Raises
        ------
        SpecError
            An unknown status, metric or parameter (with the closest name), a ``params``
            value of a type the parameter never has, or ``top < 1``.
        """
        statuses = check_statuses(status)
        if top is not None and top < 1:
            raise SpecError(f"top = {top!r} must be >= 1")
        if sort is not None:
            self._check_metric(sort)
        if min_score:
            for metric in min_score:
                self._check_metric(metric)
        if top is not None and sort is None:
            sort = self.metric
        if sort == self.metric and not params and not min_score:
            return self._best_first(statuses, top)
        rows = reads.trial_rows(self._conn, self.id, statuses=statuses)
        trials = self._build(rows, whole_study=statuses is None)
        if params:
            check_params_filter(self.name, params, trials, self.spec)
            wanted = json.loads(json.dumps(params))
            trials = [t for t in trials if all(t.params.get(k) == v for k, v in wanted.items())]
        if min_score:
            trials = [
                t
                for t in trials
                if all(
                    t.mean.get(m) is not None and nan_for_none(t.mean[m]) >= v for m, v in min_score.items()
                )
            ]
        if sort is not None:
            best_first = self.direction_of(sort).sort_key
            trials.sort(key=lambda t: (best_first(t.mean.get(sort)), t.number))
        return trials[:top] if top is not None else trials

    def _best_first(self, statuses: list[str] | None, top: int | None) -> list[Trial]:
        """Complete trials best first through the (study_id, score) index, then the rest by number."""
        rows: list[tuple[Any, ...]] = []
        if statuses is None or "complete" in statuses:
            order = self.direction
            rows = reads.trial_rows(
                self._conn, self.id, statuses=["complete"], best_first=True, direction=order, limit=top
            )
        others = [s for s in (statuses or STATUSES) if s != "complete"]
        if others and (top is None or len(rows) < top):
            limit = top - len(rows) if top is not None else None
            rows += reads.trial_rows(self._conn, self.id, statuses=others, limit=limit)
        return self._build(rows, whole_study=statuses is None and top is None)

    def trial(self, number: int) -> Trial:
        """Trial ``number``.

        Parameters
        ----------
        number : int
            The trial's number, ``0..n_trials - 1``.

        Returns
        -------
        Trial
            Its params, fold scores, mean, std, rank, status, seed and provenance.

        Raises
        ------
        TrialNotFoundError
            The study has no such trial, or trial ``number`` is pending and was never
            claimed (so it has no row yet; :meth:`pending` lists it).
        """
        rows = reads.trial_rows(self._conn, self.id, number=int(number))
        if not rows and 0 <= int(number) < self.n_trials:  # stored once claimed (lazy trials)
            raise TrialNotFoundError(
                f"trial {int(number)} of study {self.name!r} is pending (not run yet); continue the study with "
                f"`hptrack resume {shlex.quote(self.name)}{self._store_option()}`"
            )
        if not rows:
            raise TrialNotFoundError(
                f"study {self.name!r} has no trial {number!r} (trials are numbered 0 to {self.n_trials - 1})"
            )
        return self._build(rows, whole_study=False)[0]

    @property
    def halving(self) -> bool:
        """Whether this is a successive-halving study (a trial per candidate and rung)."""
        return self.search in ("halving", "halving-random")

    def best(self) -> Trial:
        """The best complete trial by the ranking metric (lowest number among ties); in a
        successive-halving study, the best of the last rung, as scikit-learn's ``best_index_``.

        Returns
        -------
        Trial
            The complete trial of rank 1 by the first metric.

        Raises
        ------
        HptrackError
            No complete trial yet (the message says how to continue), or none has a
            score of the ranking metric (its scorer failed).
        """
        trials = self.trials(status="complete", top=1)
        if self.halving and trials:  # scikit-learn's best_index_: the best of the last rung
            number = reads.best_number(self._conn, self.id, self.direction, last_rung=True)
            trials = [self.trial(number)] if number is not None else trials
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

    def _build(self, rows: list[tuple[Any, ...]], *, whole_study: bool) -> list[Trial]:
        """Trials from trial rows, with their folds, scores and ranks."""
        if not rows:
            return []
        ids = [row[0] for row in rows]
        scores, folds = reads.fold_data(self._conn, self.id, ids, whole_study=whole_study)
        ranks = self._ranks([row[4] if row[3] == "complete" else None for row in rows])
        return build_trials(rows, scores, folds, metrics=self.metrics, n_folds=self.n_folds, ranks=ranks)

    def _ranks(self, scores: list[float | None]) -> list[int | None]:
        """Rank among the study's complete trials by the ranking score, ties sharing the lowest rank.

        Only the scores at least as good as the worst one ranked are read (an indexed
        range): the best trial's rank reads one row, not the whole study.
        """
        wanted = [s for s in scores if s is not None]
        if not wanted:
            return [None] * len(scores)
        worst = self.direction.worst(wanted)
        among = reads.complete_scores(self._conn, self.id, at_least=worst, direction=self.direction)
        return min_ranks(scores, among=among, direction=self.direction)

    # ------------------------------------------------------------------ merging

    def dump(self) -> StudyDump:
        """Every stored row of the study (its studies row, trials, folds and scores), for merging.

        Returns
        -------
        StudyDump
            The rows, as plain data, that :func:`hptrack.store.merge_stores` copies.
        """
        return dump_study(self._conn, self.id, self.name)
