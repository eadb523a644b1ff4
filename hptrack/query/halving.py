"""A successive-halving study read as its rungs and its ladder.

A halving study has a trial per (candidate, rung), numbered as the rows of scikit-learn's
``cv_results_``, each with its rung and resource (schema 7). :meth:`StudyHalving.rungs`
counts the trials of each rung; :meth:`StudyHalving.ladder` follows each candidate from
rung 0 to the rung where it stopped (dropped) or to the last rung (kept), with its score
there. A candidate is its params without the resource param (``[halving] resource``),
which halving sets per rung.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._json import canonical_json

if TYPE_CHECKING:
    from .trials import Trial


@dataclass(frozen=True)
class Rung:
    """One rung: its resource, how many trials (candidates) it holds, complete and best score."""

    rung: int
    resource: int
    n_trials: int
    n_complete: int
    best_score: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "rung": self.rung,
            "resource": self.resource,
            "n_trials": self.n_trials,
            "n_complete": self.n_complete,
            "best_score": self.best_score,
        }


@dataclass(frozen=True)
class LadderEntry:
    """One candidate's way up the ladder: the rung where it stopped and its score there.

    ``kept`` is True for the candidates of the last rung (the survivors); the others were
    dropped after ``last_rung``. ``numbers`` are its trials, one per rung it reached.
    """

    params: dict[str, Any]
    numbers: tuple[int, ...]
    last_rung: int
    score: float | None
    kept: bool


class StudyHalving:
    """:class:`~hptrack.Study` methods of a successive-halving study (empty for any other)."""

    _conn: sqlite3.Connection
    id: int
    spec: dict[str, Any]

    def rungs(self) -> list[Rung]:
        """The study's rungs, in order (empty unless it is a successive-halving study).

        Returns
        -------
        list of Rung
            Per rung: resource, number of trials, complete ones, best mean ranking score.
        """
        from ..store import reads

        return [Rung(*row) for row in reads.rung_rows(self._conn, self.id)]

    def ladder(self, trials: list[Trial] | None = None) -> list[LadderEntry]:
        """Each candidate of rung 0 followed to the rung where it stopped.

        Parameters
        ----------
        trials : list of Trial, optional
            The study's trials, when already read.

        Returns
        -------
        list of LadderEntry
            In order of rung 0's trials; empty unless it is a successive-halving study.
        """
        trials = trials if trials is not None else self.trials()  # type: ignore[attr-defined]
        staged = [t for t in trials if t.rung is not None]
        if not staged:
            return []
        resource = (self.spec.get("halving") or {}).get("resource", "n_samples")
        last = max(t.rung for t in staged)
        paths: dict[str, list[Trial]] = {}
        for trial in sorted(staged, key=lambda t: t.number):
            key = canonical_json({k: v for k, v in trial.params.items() if k != resource})
            paths.setdefault(key, []).append(trial)
        metric = self.metric  # type: ignore[attr-defined]
        return [
            LadderEntry(
                params=json.loads(key),
                numbers=tuple(t.number for t in path),
                last_rung=path[-1].rung,  # type: ignore[arg-type]
                score=path[-1].mean.get(metric),
                kept=path[-1].rung == last,
            )
            for key, path in paths.items()
        ]


MIN_IMPORTANCE_CONFIGS = 8  # a rung needs this many complete configurations to carry importance


def one_rung(study: Any, trials: list[Trial] | None) -> tuple[list[Trial], str]:
    """The complete trials importance uses in a halving study, and why (one sentence).

    Scores of different rungs come from different resources, so one rung is used: the last
    with at least :data:`MIN_IMPORTANCE_CONFIGS` complete configurations (the most resource
    per fit while still spanning the space), else rung 0, where every configuration ran at
    the first rung's resource. The resource param is left out of the params (constant there).
    """
    from dataclasses import replace

    complete = [t for t in (trials if trials is not None else study.trials()) if t.status == "complete"]
    by_rung: dict[int, list[Trial]] = {}
    for trial in complete:
        by_rung.setdefault(trial.rung if trial.rung is not None else 0, []).append(trial)
    if not by_rung:
        return [], "halving study: no complete trial yet"
    wide = [r for r, ts in by_rung.items() if len(ts) >= MIN_IMPORTANCE_CONFIGS]
    rung = max(wide) if wide else min(by_rung)
    chosen = by_rung[rung]
    why = (
        f"the last rung with at least {MIN_IMPORTANCE_CONFIGS} complete configurations"
        if wide
        else f"no rung has {MIN_IMPORTANCE_CONFIGS} complete configurations, and rung {rung} holds "
        "every configuration at the first rung's resource"
    )
    resource = (study.spec.get("halving") or {}).get("resource", "n_samples")
    stripped = [replace(t, params={k: v for k, v in t.params.items() if k != resource}) for t in chosen]
    return stripped, (
        f"halving study: rung {rung} only ({len(chosen)} configurations at resource "
        f"{chosen[0].resource}), {why}; rungs differ in resource, so their scores are not pooled"
    )
