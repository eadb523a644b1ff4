"""A run with nothing to do, answered without building a plan (so without scikit-learn).

``hptrack run SPEC`` on a finished study used to import the estimator, scikit-learn
and the scorers, split the data and walk the code, only to find nothing to run.
:func:`run_unchanged` gives the same answer from what the store recorded, when it can
prove the full path would find nothing to do:

- the study is finished: every one of its ``n_trials`` is complete or failed (a run
  does not retry failed trials), none pending or running;
- the spec is the same (:func:`hptrack.spec.diff_specs` against the stored spec; a
  ``[cv] kind`` left to its default is compared through the kind the study was created
  with, recorded as ``provenance["spec_cv_kind"]``);
- the code is the same (:func:`hptrack.identity.code_unchanged`: the recorded files'
  bytes and the installed distributions' versions, nothing imported);
- the data is the same: the loader runs, as on the full path (a loader is a function,
  and only running it tells what it returns today), and its data is fingerprinted.
  So a loader that imports scikit-learn (``sklearn.datasets:load_digits``) still costs
  that import; one that reads a file with numpy or pandas does not.

Any doubt (another schema, script code, a file outside the spec's folder, a loader
that fails) returns None, and the caller takes the full path, which then gives its
own answer or error. The CV splits are not recomputed: they follow from the spec, the
data and scikit-learn's version, all checked.
"""

from __future__ import annotations

import time
from pathlib import Path

from .._json import spec_identity
from ..errors import HptrackError
from ..identity import code_unchanged
from ..spec import HALVING_SEARCHES, StudySpec, diff_specs
from ..store import SCHEMA_VERSION, StoredStudy, Writer, header_user_version
from .data import data_identity, forget_user_modules, load_data, resolve_loader
from .summary import RunSummary


def run_unchanged(spec: StudySpec, store_path: Path, *, command: str) -> RunSummary | None:
    """Record and summarise a run of ``spec`` with nothing to do, or return None.

    Parameters
    ----------
    spec : StudySpec
        The loaded spec (:func:`hptrack.spec.load_spec`).
    store_path : Path
        The store file.
    command : str
        The command line the history records.

    Returns
    -------
    RunSummary or None
        What :func:`~hptrack.run.run_plan` would return for the finished study (nothing
        run, fitted or reused); the run is recorded in the history with exit code 1 when
        every trial failed, else 0. None when that cannot be shown without building the
        plan: the caller runs it.

    Raises
    ------
    StoreError
        The store cannot be opened for writing (as on the full path).
    """
    stored = unchanged_study(spec, store_path)
    if stored is None:
        return None
    start = time.perf_counter()
    with Writer(store_path) as writer:
        counts = writer.counts(stored.id)
        if not _finished(counts, stored.n_trials):  # another process changed it meanwhile
            return None
        with writer.run_record(stored.id, command) as run:
            run.exit = 1 if counts["failed"] and not counts["complete"] else 0
    return RunSummary(
        study=stored.name,
        created=False,
        n_trials=stored.n_trials,
        n_complete=counts["complete"],
        n_failed=counts["failed"],
        n_pending=0,
        trials_finished=0,
        folds_fitted=0,
        recovered=[],
        elapsed=time.perf_counter() - start,
    )


def unchanged_study(spec: StudySpec, store_path: Path) -> StoredStudy | None:
    """The stored study running ``spec`` would leave as it is, or None; writes nothing.

    Parameters
    ----------
    spec : StudySpec
        The loaded spec.
    store_path : Path
        The store file (read only).

    Returns
    -------
    StoredStudy or None
        None unless the study is finished and its spec, code and data are unchanged
        (see the module's docstring), or on any doubt.
    """
    if not store_path.is_file() or header_user_version(store_path) != SCHEMA_VERSION:
        return None  # no store yet, or one the full path upgrades first
    if spec.search in HALVING_SEARCHES:  # its next rung exists once the last one is scored: the
        return None  # full path serves what is stored and runs what is left

    try:
        with Writer(store_path, readonly=True) as reader:
            stored = reader.stored_study(spec.name)
            if stored is None or not _finished(reader.counts(stored.id), stored.n_trials):
                return None
    except HptrackError:
        return None  # the full path reports it
    if not _same_spec(spec, stored):
        return None
    if not code_unchanged(stored.code, stored.code_hash, base_dir=spec.base_dir):
        return None
    try:
        forget_user_modules(spec)  # as the full path: the loader that runs is the one on disk
        X, y, groups = load_data(spec, resolve_loader(spec))
        data_hash, _ = data_identity(X, y, groups)
    except Exception:  # the full path reports it
        return None
    return stored if data_hash == stored.data_hash else None


def _finished(counts: dict[str, int], n_trials: int) -> bool:
    """Every trial complete or failed: what a run without ``--retry-failed`` leaves alone."""
    done = counts["complete"] + counts["failed"]
    return not counts["pending"] and not counts["running"] and done == n_trials


def _same_spec(spec: StudySpec, stored: StoredStudy) -> bool:
    """Whether the full path would find the spec unchanged (no :class:`SpecMismatchError`)."""
    identity = spec_identity(spec.to_dict())
    if spec.cv.kind is None:  # resolved from the estimator and y, both checked unchanged
        if "spec_cv_kind" not in stored.provenance or stored.provenance["spec_cv_kind"] is not None:
            return False  # created with an explicit kind (or before it was recorded)
        identity["cv"] = {**identity["cv"], "kind": stored.spec.get("cv", {}).get("kind")}
    return not diff_specs(stored.spec, identity)
