"""Which code and data trials were scored under: hash uses, and warnings when they are mixed."""

from __future__ import annotations

import shlex
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import HptrackError
from ..store.provenance import (
    distinct_hashes,
    fold_errors,
    hash_use_rows,
    numbers_by_hash,
    unscored_metrics,
)
from .ties import numbers_text, short_hash
from .trials import Trial


@dataclass(frozen=True)
class HashUse:
    """A code or data hash that trials of a study were scored under."""

    hash: str
    n_trials: int
    first_started: str | None
    last_started: str | None


@dataclass(frozen=True)
class UnscoredMetric:
    """A metric whose scorer failed on every fitted fold of a study so far.

    ``n_folds`` counts the study's fitted folds, ``error`` is the last line of the first
    recorded traceback of the scorer, and ``ranking`` says whether the metric is the
    study's first one, which ranks it (then no trial has a rank).
    """

    study: str
    metric: str
    n_folds: int
    error: str | None
    ranking: bool
    store_option: str = ""  # `` --store PATH`` for the hint, unless the store is the default

    def text(self) -> str:
        """One line: which metric, on how many folds, the error, what it means, where to look."""
        why = f"; {self.error}" if self.error else ""
        folds = "fold" if self.n_folds == 1 else "folds"
        consequence = (
            "it is the ranking metric, so no trial is ranked"
            if self.ranking
            else "no trial has a mean of it"
        )
        where = f"hptrack trials {shlex.quote(self.study)}{self.store_option} --json"
        return (
            f"study {self.study!r}: metric {self.metric!r} failed on every fold so far "
            f"({self.n_folds} fitted {folds}{why}); {consequence}: see the score_errors of `{where}`"
        )


def hashes_in_order(conn: sqlite3.Connection, study_id: int, kind: str) -> list[str]:
    """The distinct ``kind`` (``"code"``/``"data"``) hashes of scored trials, in order of first use."""
    distinct = distinct_hashes(conn, study_id, kind)
    return distinct if len(distinct) < 2 else [use.hash for use in hash_uses(conn, study_id, kind)]


def hash_uses(conn: sqlite3.Connection, study_id: int, kind: str) -> list[HashUse]:
    """The ``kind`` hashes that trials with a recorded fold ran under, in order of first use."""
    return [HashUse(*row) for row in hash_use_rows(conn, study_id, kind)]


def provenance_warnings(
    conn: sqlite3.Connection,
    *,
    study_id: int,
    name: str,
    created: Mapping[str, str],
    best: Callable[[], Trial | None],
    store_option: str,
) -> list[str]:
    """The warnings of :meth:`Study.provenance_warnings`.

    ``created`` holds the code and data hash the study was created with; ``best`` gives
    its best trial (looked up once, only when hashes are mixed); ``store_option`` is the
    `` --store PATH`` of the hint it gives.
    """
    warnings: list[str] = []
    found: list[Trial | None] = []
    for kind, label in (("code", "code hashes"), ("data", "data fingerprints")):
        distinct = distinct_hashes(conn, study_id, kind)
        if len(distinct) == 1 and created[kind] and distinct[0] != created[kind]:
            warnings.append(
                f"study {name!r}: every trial was scored under {kind} {short_hash(distinct[0])}, "
                f"not the {kind} the study was created with ({short_hash(created[kind])})"
            )
        if len(distinct) < 2:
            continue
        if not found:
            found.append(best())
        text = _mixed_text(conn, study_id, name, kind, label, found[0])
        show = f"hptrack show {shlex.quote(name)} NUMBER{store_option}"
        warnings.append(f"{text} (`{show}` gives a trial's hashes)")
    return warnings


def _mixed_text(
    conn: sqlite3.Connection, study_id: int, name: str, kind: str, label: str, best: Trial | None
) -> str:
    """How many trials were scored under each ``kind`` hash, and whether the best is under an old one."""
    uses = hash_uses(conn, study_id, kind)
    numbers = numbers_by_hash(conn, study_id, kind)
    listed = "; ".join(
        f"{short_hash(u.hash)}: {u.n_trials} trial(s) ({numbers_text(numbers.get(u.hash, []))})" for u in uses
    )
    text = (
        f"study {name!r}: trials were scored under {len(uses)} different {label} ({listed}); "
        f"scores from different {kind} may not be comparable"
    )
    current = max(uses, key=lambda u: (u.last_started or "", u.n_trials)).hash
    best_hash = None if best is None else getattr(best, f"{kind}_hash")
    if best is not None and best_hash and best_hash != current:
        text += (
            f"; the best trial #{best.number} was scored under {kind} {short_hash(best_hash)}, "
            f"not the current {short_hash(current)}"
        )
    return text


class StudyProvenance:
    """:class:`~hptrack.query.Study`'s methods about the code and data its trials ran under."""

    _conn: sqlite3.Connection
    id: int
    name: str
    code_hash: str
    data_hash: str
    provenance: dict[str, Any]
    metrics: list[str]

    if TYPE_CHECKING:  # provided by Study, which mixes this class in

        def best(self) -> Trial: ...

        def _store_option(self) -> str: ...

    def code_hashes(self) -> list[str]:
        """Distinct code hashes that trials were scored under, in order of first use.

        More than one means mixed code (``resume --allow-code-change``).

        Returns
        -------
        list of str
            Full sha256 hex digests; empty before any fold was recorded.
        """
        return hashes_in_order(self._conn, self.id, "code")

    def data_hashes(self) -> list[str]:
        """Distinct data fingerprints that trials were scored under, in order of first use.

        More than one means mixed data: the data changed and the study was continued with
        ``resume --allow-code-change``.

        Returns
        -------
        list of str
            Full sha256 hex digests; empty before any fold was recorded.
        """
        return hashes_in_order(self._conn, self.id, "data")

    def hash_uses(self, kind: str) -> list[HashUse]:
        """The ``"code"`` or ``"data"`` hashes that trials with a recorded fold ran under.

        In order of first use (the earliest trial start), each with its number of trials
        and the first and last start of those trials.

        Parameters
        ----------
        kind : {"code", "data"}
            Which hash.

        Returns
        -------
        list of HashUse
            ``(hash, n_trials, first_started, last_started)`` per distinct hash.
        """
        return hash_uses(self._conn, self.id, kind)

    def provenance_warnings(self) -> list[str]:
        """Warnings about trials scored under more than one code hash or data fingerprint.

        One text per kind (code, data) that is mixed: how many trials were scored under
        each hash (12-character prefixes) and which ones; and, when the best trial was
        scored under another hash than the current one (that of the latest trials), which.
        A single hash that differs from the one the study was created with is said too,
        and so is a study that cannot be verified bit for bit: one a drop-in fitted with
        unseeded randomness (``random_state=None``) or with a value that has no stable
        fingerprint. ``hptrack trials``, ``best``, ``show``, ``compare`` and the report
        print these.

        Returns
        -------
        list of str
            Empty when every trial was scored under the study's own code and data, and the
            study can be verified.
        """
        found = provenance_warnings(
            self._conn,
            study_id=self.id,
            name=self.name,
            created={"code": self.code_hash, "data": self.data_hash},
            best=self._best_or_none,
            store_option=self._store_option(),
        )
        found.extend(u.text() for u in self.unscored_metrics())
        recorded = self.provenance
        for key, what, consequence in (
            ("unseeded", "drew on unseeded randomness", "its scores cannot be reproduced bit for bit"),
            ("unstable", "has values with no stable fingerprint", "they are recorded by description only"),
        ):
            if recorded.get(key):
                where = "; ".join(map(str, recorded[key]))
                found.append(f"study {self.name!r} {what} ({where}): {consequence}")
        return found

    def _best_or_none(self) -> Trial | None:
        """:meth:`best`, or None when there is no ranked complete trial."""
        try:
            return self.best()
        except HptrackError:
            return None

    def unscored_metrics(self) -> list[UnscoredMetric]:
        """The metrics whose scorer failed on every fitted fold so far.

        A scorer that cannot work for the estimator (``neg_log_loss`` without
        ``predict_proba``) or the labels (``f1`` on string labels) scores ``error_score``
        on every fold while the trials complete; this names such metrics. When the first
        metric is one of them, no trial is ranked (``hptrack run`` then exits 1).

        Returns
        -------
        list of UnscoredMetric
            In the study's metric order; empty when every metric scored on some fold, or
            no fold was fitted yet.
        """
        ranking = self.metrics[0] if self.metrics else None
        return [
            UnscoredMetric(self.name, metric, n_folds, error, metric == ranking, self._store_option())
            for metric, n_folds, error in unscored_metrics(self._conn, self.id)
        ]

    def most_common_error(self) -> tuple[str, int] | None:
        """The most common error of the study's failed folds, and on how many folds.

        Errors are told apart by the last line of their traceback (``ValueError: ...``);
        ties go to the error recorded first. None when no fold failed.

        Returns
        -------
        (str, int) or None
            The error's last traceback line and its number of failed folds.
        """
        from collections import Counter

        counts: Counter[str] = Counter()
        for error in fold_errors(self._conn, self.id):
            lines = [line.strip() for line in error.splitlines() if line.strip()]
            counts[lines[-1] if lines else "(no error text recorded)"] += 1
        if not counts:
            return None
        line, n = counts.most_common(1)[0]
        return line, n
