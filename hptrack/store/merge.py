"""Merge stores made on several machines into one.

The same study (same name, spec, data and CV splits) merges trial by trial and fold
by fold: what the destination lacks is copied, what it has is kept. A fold recorded
in both with different results is a *conflict*: reported, never overwritten (the
destination keeps that whole trial as it was) while everything else still merges, so
the result is a usable store and the report says exactly what to look at. A study of
the same name but a different spec, data or splits is refused before anything is
written, unless ``rename=True`` merges it under a new name (``name@host``). Sources
are opened read-only and never modified; each study merges in one transaction; a
second merge of the same sources changes nothing.

History travels too: a source's runs of a merged study are copied once (a run is
identified by its host, pid, start and command), ``origin`` naming the source store,
and copied trials and folds keep pointing at the runs that computed them. A merge that
writes to a study records itself as a run of it (exit 1 when it found conflicts).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import HptrackError, MergeRefusedError, StoreError
from . import reads
from ._sqlite import header_user_version, open_readonly
from .dumps import dump_study
from .history import command_line
from .records import StudyDump, json_safe
from .schema import SCHEMA_VERSION
from .writer import Writer

_NAME_LIMIT = 100


@dataclass(frozen=True)
class Conflict:
    """A fold (or a trial's params) recorded differently in the store and in a source."""

    source: str
    study: str
    trial: int
    fold: int | None
    metric: str | None
    kind: str  # "params", "test", "train" or "error"
    store_value: Any
    source_value: Any

    def to_dict(self) -> dict[str, Any]:
        return json_safe(
            {
                "source": self.source,
                "study": self.study,
                "trial": self.trial,
                "fold": self.fold,
                "metric": self.metric,
                "kind": self.kind,
                "store_value": self.store_value,
                "source_value": self.source_value,
            }
        )

    def describe(self) -> str:
        where = f"{self.study} trial {self.trial}"
        if self.kind == "params":
            return f"{where}: params differ (store {self.store_value}, source {self.source_value})"
        what = "status" if self.kind == "error" else f"{self.metric} {self.kind} score"
        return f"{where} fold {self.fold} {what}: store {self.store_value!r}, source {self.source_value!r}"


@dataclass(frozen=True)
class StudyMerge:
    """What merging one study of one source did."""

    source: str
    study: str
    into: str
    action: str  # "created", "merged" or "renamed" (merged under a new name)
    created: bool  # the study was new in the destination
    differences: tuple[str, ...]  # why it was renamed (empty otherwise)
    trials_added: int
    folds_added: int
    trials_finished: int
    conflicts: tuple[Conflict, ...]
    notes: tuple[str, ...]  # e.g. the code differs (trials keep their own code hash)
    runs_added: int = 0  # the source's runs (history) copied into the destination

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "study": self.study,
            "into": self.into,
            "action": self.action,
            "created": self.created,
            "differences": list(self.differences),
            "trials_added": self.trials_added,
            "folds_added": self.folds_added,
            "trials_finished": self.trials_finished,
            "conflicts": len(self.conflicts),
            "notes": list(self.notes),
            "runs_added": self.runs_added,
        }


@dataclass(frozen=True)
class MergeReport:
    """The outcome of :func:`merge_stores`; ``ok`` is False when any conflict was found."""

    store: str
    sources: tuple[str, ...]
    studies: tuple[StudyMerge, ...]

    @property
    def conflicts(self) -> list[Conflict]:
        return [c for s in self.studies for c in s.conflicts]

    @property
    def ok(self) -> bool:
        return not self.conflicts

    @property
    def changed(self) -> bool:
        """True when anything was written."""
        return any(s.created or s.trials_added or s.folds_added or s.runs_added for s in self.studies)

    def to_dict(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "sources": list(self.sources),
            "ok": self.ok,
            "studies": [s.to_dict() for s in self.studies],
            "conflicts": [c.to_dict() for c in self.conflicts],
        }


@dataclass(frozen=True)
class _Planned:
    source: str
    dump: StudyDump
    into: str
    action: str
    differences: tuple[str, ...]
    notes: tuple[str, ...]


def merge_stores(
    sources: Sequence[str | Path], store: str | Path, *, rename: bool = False, command: str | None = None
) -> MergeReport:
    """Merge the studies of ``sources`` into the store file ``store`` (created if missing).

    Parameters
    ----------
    sources : list of paths
        Store files to merge from; opened read-only, never modified.
    store : path
        The destination store; created if it does not exist.
    rename : bool, default=False
        Merge a study whose name is taken by a different study (other spec, data or
        splits) under a new name, ``name@host`` (``name@<source stem>``, then
        ``name@host-2``... if that is taken too), instead of refusing.
    command : str, optional
        The command line recorded as this merge's run in each destination study it
        writes to (default: this process's ``sys.argv``). The sources' runs are copied
        into the destination's history too, once, ``origin`` naming their store.

    Returns
    -------
    MergeReport
        Per source study: where it went and what was added; every conflict.

    Raises
    ------
    MergeRefusedError
        A same-named study differs and ``rename`` is False; nothing is written.
    StoreError
        A source or the destination is not a usable store, or a source is the destination.

    Examples
    --------
    >>> report = merge_stores(["node1.db", "node2.db"], "all.db")  # doctest: +SKIP
    >>> report.ok, [c.describe() for c in report.conflicts]  # doctest: +SKIP
    """
    if not sources:
        raise HptrackError("give at least one SRC store to merge (hptrack merge SRC... --store DST)")
    target = Path(store)
    source_paths = [Path(s) for s in sources]
    for path in source_paths:
        if _same_file(path, target):
            raise StoreError(f"source {str(path)!r} is the destination store itself; give another --store")
    dumps = [(str(path), _read_studies(path)) for path in source_paths]
    if target.exists():
        with Writer(target) as dst:  # checks (and upgrades) the file before planning
            plan = _plan(dumps, _identities(dst), rename=rename)
            return _apply(dst, plan, source_paths, command)
    plan = _plan(dumps, {}, rename=rename)  # refuse before creating the file
    with Writer(target) as dst:
        return _apply(dst, plan, source_paths, command)


def _apply(dst: Writer, plan: list[_Planned], sources: list[Path], command: str | None) -> MergeReport:
    if command is None:
        command = command_line(sys.argv)
    done = []
    for item in plan:
        outcome = dst.merge_study(item.dump, name=item.into, source=item.source, command=command)
        conflicts = tuple(
            Conflict(
                source=item.source,
                study=item.into,
                trial=c.trial,
                fold=c.fold,
                metric=c.metric,
                kind=c.kind,
                store_value=c.store_value,
                source_value=c.source_value,
            )
            for c in outcome.conflicts
        )
        done.append(
            StudyMerge(
                source=item.source,
                study=item.dump.name,
                into=item.into,
                action="merged" if item.action == "created" and not outcome.created else item.action,
                created=outcome.created,
                differences=item.differences,
                trials_added=outcome.trials_added,
                folds_added=outcome.folds_added,
                trials_finished=outcome.trials_finished,
                conflicts=conflicts,
                notes=item.notes,
                runs_added=outcome.runs_added,
            )
        )
    return MergeReport(store=str(dst.path), sources=tuple(str(s) for s in sources), studies=tuple(done))


# --------------------------------------------------------------------------- reading


def _read_studies(path: Path) -> list[StudyDump]:
    """Every study of the store at ``path``, read without changing the file."""
    with _readable(path) as readable:
        conn = open_readonly(readable)
        try:
            return [dump_study(conn, row["id"], row["name"]) for row in reads.study_rows(conn)]
        finally:
            conn.close()


@contextmanager
def _readable(path: Path) -> Iterator[Path]:
    """``path``, or an upgraded temporary copy of it when it has an older schema."""
    version = header_user_version(path)
    if version is None or not 0 < version < SCHEMA_VERSION:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="hptrack-merge-") as tmp:
        copy = Path(tmp) / path.name
        for suffix in ("", "-wal"):
            if Path(f"{path}{suffix}").exists():
                shutil.copyfile(f"{path}{suffix}", f"{copy}{suffix}")
        Writer(copy).close()  # upgrade the copy; the source stays as it is
        yield copy


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


# --------------------------------------------------------------------------- planning


def _identity(row: dict[str, Any]) -> dict[str, Any]:
    """What makes two stored studies the same study (their names aside), from a studies row."""
    return _identity_of(
        spec=json.loads(row["spec"]),
        data_hash=row["data_hash"],
        split_hash=row["split_hash"],
        code=json.loads(row["code"]),
        provenance=json.loads(row["provenance"]),
    )


def _identity_of(
    *, spec: dict[str, Any], data_hash: str, split_hash: str, code: dict[str, Any], provenance: dict[str, Any]
) -> dict[str, Any]:
    spec = {k: v for k, v in spec.items() if k != "name"}
    host = provenance.get("environment", {}).get("host") if isinstance(provenance, dict) else None
    return {"spec": spec, "data_hash": data_hash, "split_hash": split_hash, "code": code, "host": host}


def _identities(dst: Writer) -> dict[str, dict[str, Any]]:
    """The identity of every study in the destination, by name."""
    return {row["name"]: _identity(row) for row in reads.study_rows(dst.connection)}


def _differences(here: dict[str, Any], there: dict[str, Any]) -> list[str]:
    from ..spec import diff_specs

    fields = [f"spec {name}" for name in diff_specs(here["spec"], there["spec"])]
    if here["data_hash"] != there["data_hash"]:
        fields.append("data fingerprint")
    elif here["split_hash"] != there["split_hash"]:
        fields.append("CV splits")
    return fields


def _plan(
    dumps: list[tuple[str, list[StudyDump]]], existing: dict[str, dict[str, Any]], *, rename: bool
) -> list[_Planned]:
    """Decide where each source study goes; refuse (nothing written) on a different same-named study."""
    from ..identity import diff_code

    known = dict(existing)  # name -> identity, as the destination will be after each step
    plan: list[_Planned] = []
    for source, studies in dumps:
        for dump in studies:
            mine = _identity(dump.row)
            here = known.get(dump.name)
            if here is None:
                known[dump.name] = mine
                plan.append(_Planned(source, dump, dump.name, "created", (), ()))
                continue
            differences = _differences(here, mine)
            if not differences:
                notes: tuple[str, ...] = ()
                changed = diff_code(here["code"], mine["code"])
                if changed:
                    notes = (f"code differs ({', '.join(changed)}); each trial keeps its own code hash",)
                plan.append(_Planned(source, dump, dump.name, "merged", (), notes))
                continue
            if not rename:
                raise MergeRefusedError(
                    f"cannot merge study {dump.name!r} from {source}: the destination holds a study of "
                    f"that name that differs in {', '.join(differences)}; pass --rename "
                    f"(rename=True) to merge it as {_candidates(dump, source)[0]!r}",
                    study=dump.name,
                    source=source,
                    fields=differences,
                )
            for name in _candidates(dump, source):
                taken = known.get(name)
                if taken is None:
                    known[name] = mine
                    break
                if not _differences(taken, mine):
                    break
            plan.append(_Planned(source, dump, name, "renamed", tuple(differences), ()))
    return plan


def _candidates(dump: StudyDump, source: str) -> list[str]:
    """New names for a study whose name is taken: ``name@host``, ``name@stem``, ``name@host-2``..."""
    host = _identity(dump.row)["host"] or "elsewhere"
    stem = Path(source).stem
    tags = [host, stem] + [f"{host}-{i}" for i in range(2, 1000)]
    names = []
    for tag in dict.fromkeys(tags):
        clean = "".join("_" if c == ":" or unicodedata.category(c).startswith("C") else c for c in tag)
        suffix = f"@{clean}"[: _NAME_LIMIT - 1]
        names.append(dump.name[: _NAME_LIMIT - len(suffix)] + suffix)
    return names
