"""One row per study (``hptrack studies``): :class:`StudySummary`."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from ..store import reads


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
        """JSON-ready dict (``hptrack studies --json``)."""
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


def list_studies(conn: sqlite3.Connection) -> list[StudySummary]:
    """Every study in creation order, with trial counts and best score."""
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
        ) in reads.study_summary_rows(conn)
    ]
