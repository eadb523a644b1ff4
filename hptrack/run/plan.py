"""The study plan: everything needed to run a study, its identities computed once.

A :class:`StudyPlan` is frozen: its scorer identities, fold-key base and split hashes
are computed when it is built and passed down to the record, the claims, the reuse
look-ups and the fold commits. :func:`build_plan` is the one builder, shared by
:func:`~hptrack.run.plan_from_spec` (TOML specs) and the drop-in search classes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from .._json import canonical_json, describe
from ..identity import (
    environment,
    fold_key,
    fold_key_base,
    fold_keys,
    fold_split_hashes,
    git_state,
    package_version,
    scorer_identity,
    split_fingerprint,
)
from ..spec import Candidates
from ..store import StudyRecord
from .evaluate import FoldInputs, FoldResult, FoldTask
from .objective import Objective, ObjectiveInputs
from .prefix import DEFAULT_CACHE_BYTES, plan_prefix
from .reprs import estimator_repr
from .scoring import ScoreKey

logger = logging.getLogger(__name__)

Split = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True, eq=False)
class StudyPlan:
    """Everything needed to run (or resume) a study; frozen, identities computed once.

    Build one with :func:`build_plan` (or :func:`~hptrack.run.plan_from_spec`); derive a
    changed plan with :func:`dataclasses.replace`, which computes the identities again.

    Attributes
    ----------
    inputs : FoldInputs or ObjectiveInputs
        What every fold evaluation reads (estimator, data, splits, scorers, options); an
        objective study's (:class:`~hptrack.run.objective.Objective` as its estimator).
    scorer_ids : dict
        Each metric's scorer identity (None: unknown, so its folds are never reused).
    unstable : list of str
        The values of the estimator, the candidates or the data with no stable identity
        (:func:`unstable_values`); when there are any, folds get no content key, so they
        are never reused (and the study cannot be verified bit for bit).
    """

    name: str
    search: str
    spec: dict[str, Any]
    estimator: Any
    candidates: Sequence[dict[str, Any]]  # a lazy Candidates for specs: trial i computed when claimed
    trial_seeds: Sequence[dict[str, Any]]
    scorers: dict[str, Any]
    splits: list[Split]
    X: Any
    y: Any
    fit_params: dict[str, Any] = field(default_factory=dict)
    error_score: float | str = math.nan
    return_train_score: bool = False
    data_hash: str = ""
    data_info: list[dict[str, Any]] = field(default_factory=list)
    code_hash: str = ""
    code_info: dict[str, Any] = field(default_factory=dict)
    split_hash: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    user_modules: list[str] = field(default_factory=list)  # files a remote worker must import
    unstable: list[str] = field(default_factory=list)
    cache_bytes: int = DEFAULT_CACHE_BYTES  # the prefix cache's cap; 0 shares no pipeline prefix
    inputs: FoldInputs | ObjectiveInputs = field(init=False, repr=False)
    scorer_ids: dict[str, str | None] = field(init=False, repr=False)
    _key_base: str | None = field(init=False, repr=False)
    _split_hashes: list[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        """Compute the derived identities once."""
        inputs: FoldInputs | ObjectiveInputs
        if isinstance(self.estimator, Objective):  # fn(params, fold) in place of fit and score
            inputs = ObjectiveInputs(
                self.estimator, self.X, self.y, self.splits, tuple(self.scorers), self.error_score
            )
        else:
            inputs = FoldInputs(
                estimator=self.estimator,
                X=self.X,
                y=self.y,
                splits=self.splits,
                scorers=self.scorers,
                error_score=self.error_score,
                return_train_score=self.return_train_score,
                fit_params=self.fit_params,
                prefix=self._prefix(),
                cache_bytes=self.cache_bytes,
            )
        key_base = self._fold_key_base()
        object.__setattr__(self, "inputs", inputs)
        object.__setattr__(self, "scorer_ids", {m: _scorer_identity(s) for m, s in self.scorers.items()})
        object.__setattr__(self, "_key_base", key_base)
        object.__setattr__(self, "_split_hashes", [] if key_base is None else fold_split_hashes(self.splits))

    def _prefix(self) -> str | None:
        """The plan's pipeline prefix identity (None: no prefix is shared between configurations)."""
        if self.cache_bytes <= 0 or self.unstable:
            return None
        return plan_prefix(
            self.estimator, code_hash=self.code_hash, data_hash=self.data_hash, split_hash=self.split_hash
        )

    def _fold_key_base(self) -> str | None:
        """The part of every fold key this plan shares; None if a value cannot be fingerprinted."""
        if self.unstable:
            logger.info("folds of study %r get no content key, so no reuse: %s", self.name, self.unstable)
            return None
        try:
            return fold_key_base(
                estimator=_identity(self.estimator),
                estimator_version=package_version(_module(self.estimator)),
                code_hash=self.code_hash,
                data_hash=self.data_hash,
                train_scores=self.return_train_score,
                error_score=self.error_score,
            )
        except TypeError as exc:
            logger.info("folds of study %r get no content key, so no reuse: %s", self.name, exc)
            return None

    @property
    def metrics(self) -> list[str]:
        """The metric names, the ranking metric first."""
        return list(self.scorers)

    @property
    def has_fold_keys(self) -> bool:
        """Whether folds get content keys (False: a value has no stable identity)."""
        return self._key_base is not None

    def fold_key(self, number: int, fold: int) -> str | None:
        """The content key of fold ``fold`` of trial ``number`` (:func:`hptrack.identity.fold_key`).

        Parameters
        ----------
        number, fold : int
            The trial number and the 0-based fold.

        Returns
        -------
        str or None
            None when a value of the plan has no stable identity (:attr:`unstable`).
        """
        if self._key_base is None:
            return None
        return fold_key(self._key_base, self.candidates[number], self._split_hashes[fold])

    def fold_keys_for(self, params: Mapping[str, Any], split_hashes: Sequence[str]) -> list[str] | None:
        """The content keys of ``params`` on the folds whose split hashes are ``split_hashes``.

        For candidates that are not this plan's (a search asking for more as it goes);
        None when folds get no key.
        """
        return None if self._key_base is None else fold_keys(self._key_base, params, split_hashes)

    def fold_keys(self, folds: Iterable[tuple[int, int]]) -> dict[tuple[int, int], str]:
        """The content keys of these ``(number, fold)`` pairs; empty when folds get no key.

        Parameters
        ----------
        folds : iterable of (int, int)
            Trial numbers and folds.

        Returns
        -------
        dict
            ``(number, fold) -> key``.
        """
        base = self._key_base
        if base is None:
            return {}
        by_number: dict[int, list[int]] = {}
        for n, f in folds:
            by_number.setdefault(n, []).append(f)
        keys: dict[tuple[int, int], str] = {}
        for n, wanted in by_number.items():  # a trial's params are fingerprinted once for all its folds
            found = fold_keys(base, self.candidates[n], [self._split_hashes[f] for f in wanted])
            keys.update(zip(((n, f) for f in wanted), found))
        return keys

    def scorer_identities(self) -> dict[str, str | None]:
        """Each metric's scorer identity (None: unknown, so its folds are never reused)."""
        return dict(self.scorer_ids)

    def record(self) -> StudyRecord:
        """What the store writes when this study is created.

        Returns
        -------
        StudyRecord
        """
        return StudyRecord(
            name=self.name,
            search=self.search,
            n_folds=len(self.splits),
            metrics=self.metrics,
            seed=self.seed,
            spec=self.spec,
            code_hash=self.code_hash,
            code=self.code_info,
            data_hash=self.data_hash,
            data=self.data_info,
            split_hash=self.split_hash,
            provenance=self.provenance,
            trial_params=[],  # trials exist once claimed (:meth:`trial_row`)
            trial_seeds=[],
            scorers=self.scorer_identities(),
            n_trials=len(self.candidates),
            # stored once: a claimed trial whose seeds equal it stores none of its own
            trial_seed=canonical_json(self.trial_seeds[0]) if len(self.trial_seeds) else None,
        )

    def trial_row(self, number: int) -> tuple[str, str]:
        """Trial ``number``'s params and seeds as the store writes them when it is claimed.

        Parameters
        ----------
        number : int
            The trial number, ``0..len(candidates) - 1``.

        Returns
        -------
        params, seeds : str
            Canonical JSON (a value with no stable identity is described).
        """
        return describe(self.candidates[number]).text, canonical_json(self.trial_seeds[number])

    def evaluate(
        self,
        task: FoldTask,
        *,
        error_score: float | str | None = None,
        return_train_score: bool | None = None,
    ) -> FoldResult:
        """Evaluate ``task`` on its fold of this plan (:meth:`FoldInputs.evaluate`).

        Parameters
        ----------
        task : FoldTask
            The trial's params and the fold.
        error_score : float or "raise", optional
            Instead of the plan's.
        return_train_score : bool, optional
            Instead of the plan's.

        Returns
        -------
        FoldResult
        """
        return self.inputs.evaluate(task, error_score=error_score, return_train_score=return_train_score)

    def with_code(self, code_hash: str, code_info: Mapping[str, Any]) -> StudyPlan:
        """This plan under another code identity (a stored study's, when it still matches)."""
        return replace(self, code_hash=code_hash, code_info=dict(code_info))


def _identity(estimator: Any) -> Any:
    """What fingerprints ``estimator``: itself, or an objective's function and seed."""
    return estimator.identity if isinstance(estimator, Objective) else estimator


def _module(estimator: Any) -> str:
    """The module whose package version is recorded: the estimator's class's, or the objective's."""
    return estimator.module if isinstance(estimator, Objective) else type(estimator).__module__


def _scorer_identity(scorer: Any) -> str | None:
    """A scorer's identity; one key of a dict-returning callable is the callable's plus the key."""
    if isinstance(scorer, ScoreKey):
        inner = scorer_identity(scorer.scorer)
        return None if inner is None else f"{inner}[{scorer.key!r}]"
    return scorer_identity(scorer)


def seed_params(estimator: Any, seed: int, fixed: Sequence[str] = ()) -> dict[str, int]:
    """``random_state`` params (top level or nested) left at None: set to the study seed.

    Parameters
    ----------
    estimator : estimator
        Read with ``get_params(deep=True)``; not changed.
    seed : int
        The study seed.
    fixed : sequence of str
        Params the user set (``[fixed]``, ``[space]``): never seeded.

    Returns
    -------
    dict
        ``{param: seed}``, sorted by param.
    """
    params = estimator.get_params(deep=True)
    return {
        key: int(seed)
        for key, value in sorted(params.items())
        if (key == "random_state" or key.endswith("__random_state")) and value is None and key not in fixed
    }


def apply_seeds(estimator: Any, seed: int, fixed: Sequence[str] = ()) -> dict[str, int]:
    """Set :func:`seed_params` on ``estimator``; return them (they are recorded)."""
    seeds = seed_params(estimator, seed, fixed)
    if seeds:
        estimator.set_params(**seeds)
    return seeds


def unstable_values(
    estimator: Any, candidates: Sequence[Mapping[str, Any]], data_info: Sequence[Mapping[str, Any]] = ()
) -> list[str]:
    """What in a plan has no stable identity (:func:`hptrack._json.describe`), once each.

    Parameters
    ----------
    estimator : estimator
        Its params, at any depth.
    candidates : sequence of dict
        Each trial's params (of a lazy :class:`~hptrack.spec.Candidates`, the values it
        draws from: checked once each, not per trial).
    data_info : sequence of dict
        :func:`data_identity`'s descriptions (an object array lists its ``"unstable"``).

    Returns
    -------
    list of str
        ``"estimator.params.x: <repr>"``, ``"param x: <repr>"``, ``"data fit:x ..."``
        lines; empty when every fingerprint is stable.
    """
    found = [f"estimator.{u}" for u in describe(_identity(estimator)).unstable]
    for params in candidates.values if isinstance(candidates, Candidates) else candidates:
        found += [f"param {u}" for u in describe(params).unstable]
    found += [f"data {d.get('name')} {u}" for d in data_info for u in d.get("unstable", ())]
    return list(dict.fromkeys(found))


def build_plan(
    name: str,
    *,
    search: str,
    spec: dict[str, Any],
    estimator: Any,
    candidates: Sequence[dict[str, Any]],
    samples: Sequence[Mapping[str, Any]],
    seeds: Mapping[str, int],
    seed: int,
    scorers: dict[str, Any],
    cv: Any,
    splits: list[Split],
    X: Any,
    y: Any,
    data: tuple[str, list[dict[str, Any]]],
    code: tuple[str, dict[str, Any]],
    base_dir: Path,
    origin: Mapping[str, Any],
    fit_params: Mapping[str, Any] | None = None,
    error_score: float | str = math.nan,
    return_train_score: bool = False,
    unstable: Sequence[str] | None = None,
) -> StudyPlan:
    """The one plan builder, shared by specs and the drop-in search classes.

    Parameters
    ----------
    name : str
        The study name.
    search : {"grid", "random"}
        How the candidates were chosen.
    spec : dict
        The study's identity as stored (JSON-able).
    estimator : estimator
        The unfitted estimator, its seeds (``seeds``) already set.
    candidates : sequence of dict
        Trial ``i``'s params: a list, or a lazy :class:`~hptrack.spec.Candidates` (a spec's
        space, never expanded: trial ``i`` is computed when it is claimed).
    samples : sequence of dict
        Trial ``i``'s own seeds (``{"sample": [seed, i]}`` for random search, else ``{}``),
        lazy like ``candidates``.
    seeds : mapping
        The ``random_state`` params set from the study seed (:func:`apply_seeds`).
    seed : int
        The study seed.
    scorers : dict
        Scorer callables by metric, the ranking metric first.
    cv : object
        The CV splitter; its repr is recorded.
    splits : list of (train, test)
        The folds as index arrays.
    X, y : array-like
        The data.
    data : (str, list)
        :func:`data_identity` of the data.
    code : (str, dict)
        :func:`hptrack.identity.code_fingerprint` of what the study runs.
    base_dir : Path
        The spec's directory (the working directory for the drop-ins): recorded, its git
        state too, and the user's module files under it are shipped to Dask workers.
    origin : mapping
        Provenance that says where the plan came from (``spec_file``, ``api``, ...).
    fit_params : mapping, optional
        Passed to the estimator's ``fit``.
    error_score : float or "raise", default=NaN
        What a failed fit scores.
    return_train_score : bool, default=False
        Also score the training rows.
    unstable : sequence of str, optional
        :func:`unstable_values` of ``estimator``, ``candidates`` and ``data``, when the
        caller computed them already.

    Returns
    -------
    StudyPlan
    """
    data_hash, data_info = data
    code_hash, code_info = code
    unstable = list(unstable) if unstable is not None else unstable_values(estimator, candidates, data_info)
    provenance = {
        "base_dir": str(base_dir),
        **origin,
        "git": git_state(base_dir),
        "environment": environment(_module(estimator)),
        "estimator": estimator_repr(estimator),
        "cv": repr(cv),
        "seeds": dict(seeds),
        **({"unstable": unstable} if unstable else {}),  # recorded, never reused or verified
    }
    return StudyPlan(
        name=name,
        search=search,
        spec=spec,
        estimator=estimator,
        candidates=candidates,
        trial_seeds=Candidates(len(samples), partial(_trial_seed, dict(seeds), samples)),
        scorers=scorers,
        splits=splits,
        X=X,
        y=y,
        fit_params=dict(fit_params or {}),
        error_score=error_score,
        return_train_score=return_train_score,
        data_hash=data_hash,
        data_info=data_info,
        code_hash=code_hash,
        code_info=code_info,
        split_hash=split_fingerprint(splits),
        provenance=provenance,
        seed=seed,
        user_modules=_user_module_files(code_info, base_dir),
        unstable=unstable,
    )


def _trial_seed(seeds: dict[str, int], samples: Sequence[Mapping[str, Any]], number: int) -> dict[str, Any]:
    """Trial ``number``'s seeds: the study's ``random_state`` params and its own sample seed."""
    return {**seeds, **samples[number]}


def _user_module_files(code_info: Mapping[str, Any], base_dir: Path) -> list[str]:
    """The recorded source files under ``base_dir`` (what a remote worker must import)."""
    return [
        str(base_dir / relative)
        for relative in code_info.get("sources", {})
        if (base_dir / relative).is_file()
    ]
