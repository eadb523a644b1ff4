"""The store: one SQLite file, and the only SQL in hptrack.

Layout
------
_sqlite   open, check and refuse files (foreign, corrupt, newer: untouched), read-only
          and ``immutable=1`` opening, SQLite errors translated to StoreError
schema    ordered migrations keyed on ``PRAGMA user_version``, and the tables documented
_compact  schema 4, the compact layout: its tables, views and the migration from schema 3
_codec    how schema 4 encodes times and fold keys (integers), and decodes them
records   frozen dataclasses the store takes and returns (StudyRecord, StoredStudy,
          FoldRecord, ReusableFold, Claim, RunHandle, StudyDump, MergeOutcome...)
reads     the parameterised SELECTs of studies, trials, folds and runs (query layer, writer)
provenance
          which code and data hashes trials were scored under; failed folds' tracebacks
dumps     a study's rows in a form that does not depend on the store's ids, for merging
fold_keys reuse's reads: stored folds found by their content keys
writer    :class:`Writer`, the coordinator's write protocol
commits   fold commits: a batch of folds, scores, keys and finished trials in a few statements
rows      row writing shared by fold commits and merges (trial finishing is one routine)
history   heartbeats, leases, exit codes, command lines and pipeline prefix counters of runs
merge     :func:`merge_stores`: stores from several machines into one

Reading and writing are two objects
-----------------------------------
Users read through :class:`hptrack.Store` (``hptrack.query``), which has no write
method. Only the coordinating process writes, through a :class:`Writer`::

    from hptrack.store import Writer

    with Writer(path) as writer:               # creates or upgrades the file
        stored = writer.stored_study(name) or writer.create_study(record)
        with writer.run_record(stored.id, command):
            for claim in writer.claim(stored.id, 8, code_hash=..., data_hash=...):
                ...                            # claim.trial_id, .number, .params_json, .folds_done
                writer.commit_fold(claim.trial_id, fold_record, n_folds=5, rank_metric="accuracy")

A coordinator that also reads its study wraps the same connection:
``hptrack.query.Store.from_writer(writer).study(name)``. :func:`open_to_record` opens a
writer for commands that record their run when they can (``verify``): on a store it
cannot write, it returns a read-only writer whose ``run_record`` records nothing.

The store never imports the query, run, report or CLI layers.
"""

from __future__ import annotations

from typing import Any

from ._codec import rounded_seconds
from ._kept import keep_wal_open
from ._sqlite import (
    BUSY_TIMEOUT_SECONDS,
    DEFAULT_STORE,
    default_store_path,
    header_user_version,
    open_readonly,
    open_writable,
)
from .history import (
    HEARTBEAT_SECONDS,
    LEASE_SECONDS,
    Heartbeat,
    command_line,
    exit_code_of,
    utcnow,
    worker_gone,
)
from .recording import open_to_record
from .records import (
    STATUSES,
    Claim,
    FoldConflict,
    FoldRecord,
    MergeOutcome,
    ReusableFold,
    RunHandle,
    StoredStudy,
    StudyDump,
    StudyRecord,
    TrialDump,
    json_safe,
)
from .schema import SCHEMA_VERSION
from .writer import Writer

__all__ = [
    "BUSY_TIMEOUT_SECONDS",
    "DEFAULT_STORE",
    "HEARTBEAT_SECONDS",
    "LEASE_SECONDS",
    "SCHEMA_VERSION",
    "STATUSES",
    "Claim",
    "Conflict",
    "FoldConflict",
    "FoldRecord",
    "Heartbeat",
    "MergeOutcome",
    "MergeReport",
    "ReusableFold",
    "RunHandle",
    "StoredStudy",
    "StudyDump",
    "StudyMerge",
    "StudyRecord",
    "TrialDump",
    "Writer",
    "command_line",
    "default_store_path",
    "exit_code_of",
    "header_user_version",
    "keep_wal_open",
    "json_safe",
    "merge_stores",
    "open_readonly",
    "open_to_record",
    "open_writable",
    "rounded_seconds",
    "utcnow",
    "worker_gone",
]


_MERGE_NAMES = {"Conflict", "MergeReport", "StudyMerge", "merge_stores"}


def __getattr__(name: str) -> Any:
    if name in _MERGE_NAMES:  # loaded when asked: merging needs tempfile and shutil, queries don't
        from . import merge

        return getattr(merge, name)
    raise AttributeError(f"module 'hptrack.store' has no attribute {name!r}")
