"""Fitted pipeline prefixes, shared between the configurations of a run (issue 15).

A grid over a :class:`~sklearn.pipeline.Pipeline` usually varies the final step more than
the ones before it, and scikit-learn refits every step for every configuration and fold.
Here a fold's fit gives the pipeline a :class:`FoldMemory` as its ``memory``: scikit-learn's
own ``Pipeline._fit`` then asks it for each step before the final one (the joblib.Memory
protocol ``memory.cache(func)(transformer, X, y, ...)``), and it answers from a
process-wide :class:`PrefixCache` when the same step was already fitted on the same input.

How a prefix is identified. A fold's root key hashes the plan's code hash, data
fingerprint and split fingerprint, and the fold's number. Each step's key hashes the key
of the step before it (the root for the first) with the step's canonical form
(:func:`hptrack._json.canonical_json`: class and params, process-local params such as
``n_jobs`` left out). Two fits share a step exactly when the code, the data, the fold and
every param of that step and of all the steps before it are equal, so a cached step is the
step scikit-learn would have fitted, bit for bit.

What is never shared: a step whose randomness is not fixed by its params (a
``random_state`` that is None or a ``RandomState`` instance: said once per process), a
step given fit params, a verbose pipeline (its timing lines stay as scikit-learn prints
them), a fit with scikit-learn callbacks, and any step after one that was not shared.
Outputs are copied in and out of the cache, so a later step that writes to its input in
place cannot change a cached value.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._json import canonical_json
from .randomness import unseeded_params

logger = logging.getLogger("hptrack")

DEFAULT_CACHE_BYTES = 1 << 30
"""The default memory cap of the prefix cache: 1 GiB per process (``--cache-mem``)."""

_SAID: set[str] = set()


class PrefixCache:
    """A least-recently-used map of fitted prefix steps and their outputs, bounded in bytes.

    One per process (:func:`shared_cache`): joblib and Dask workers keep theirs between
    tasks. Thread-safe.

    Parameters
    ----------
    max_bytes : int
        The cap. An entry larger than the cap is not kept; older entries are evicted to
        make room for a new one.
    """

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.max_bytes = int(max_bytes)
        self.nbytes = 0
        self.peak_bytes = 0
        self._entries: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> Any:
        """The value stored under ``key`` (now the most recently used), or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: str, value: Any, nbytes: int) -> None:
        """Store ``value`` (about ``nbytes`` large), evicting the least recently used entries."""
        with self._lock:
            if key in self._entries or nbytes > self.max_bytes:
                return
            self._entries[key] = (value, nbytes)
            self.nbytes += nbytes
            self._evict()
            self.peak_bytes = max(self.peak_bytes, self.nbytes)

    def resize(self, max_bytes: int) -> None:
        """Change the cap, evicting what no longer fits."""
        with self._lock:
            self.max_bytes = int(max_bytes)
            self._evict()

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._entries.clear()
            self.nbytes = 0

    def _evict(self) -> None:
        while self.nbytes > self.max_bytes and self._entries:
            _, (_, size) = self._entries.popitem(last=False)
            self.nbytes -= size


_SHARED = PrefixCache()


def shared_cache(max_bytes: int | None = None) -> PrefixCache:
    """This process's prefix cache, its cap set to ``max_bytes`` when given."""
    if max_bytes is not None and max_bytes != _SHARED.max_bytes:
        _SHARED.resize(max_bytes)
    return _SHARED


def fold_root(prefix: str, fold: int | str) -> str:
    """The root key of fold ``fold`` (its number, or its split's fingerprint) of a plan whose
    prefix identity is ``prefix``."""
    return _sha(f"{prefix}/fold/{fold}")


def fold_memory(prefix: str | None, estimator: Any, train: Any, test: Any) -> FoldMemory | None:
    """A :class:`FoldMemory` for fitting ``estimator`` on the split ``(train, test)``, or None.

    What a drop-in search gives the pipeline of each of scikit-learn's own fold fits (the
    cache capped at :data:`DEFAULT_CACHE_BYTES`); None when ``prefix`` is None (nothing is
    shared) or ``estimator`` is not a pipeline.
    """
    if prefix is None or not pipeline_steps(estimator):
        return None
    from ..identity import fold_split_hash

    return FoldMemory(shared_cache(DEFAULT_CACHE_BYTES), fold_root(prefix, fold_split_hash(train, test)))


def plan_prefix(estimator: Any, *, code_hash: str, data_hash: str, split_hash: str) -> str | None:
    """The prefix identity of a plan (code, data and splits), or None when nothing can be shared.

    Only a :class:`~sklearn.pipeline.Pipeline` with at least one step before its final one
    has a prefix to share.
    """
    if not pipeline_steps(estimator):
        return None
    return _sha(f"{code_hash}/{data_hash}/{split_hash}")


def pipeline_steps(estimator: Any) -> list[str]:
    """The names of ``estimator``'s steps before its final one (empty: not a pipeline)."""
    from sklearn.pipeline import Pipeline

    if not isinstance(estimator, Pipeline):
        return []
    steps = getattr(estimator, "steps", None)
    if not isinstance(steps, list) or len(steps) < 2:
        return []
    return [str(step[0]) for step in steps[:-1]]


def prefix_group(params: Mapping[str, Any], steps: list[str]) -> str:
    """What configurations that can share a fitted prefix have in common: their prefix params.

    Tasks sorted by this run the configurations sharing a prefix one after the other (a
    ``steps`` or ``memory`` param shares nothing: each such configuration is a group of its own).
    """
    own = {}
    for key, value in params.items():
        head = key.split("__", 1)[0]
        if key in ("steps", "memory"):
            return f"~{id(params)}"
        if head in steps:
            own[key] = value
    try:
        return canonical_json(own)
    except TypeError:
        return f"~{id(params)}"


def schedule(tasks: Sequence[Any], inputs: Any, workers: int = 1) -> list[list[Any]]:
    """``tasks`` in chunks that each run in one process, in the order that shares the most.

    Without a prefix to share (``inputs.prefix`` is None) every task is a chunk of its own,
    in the given order. Otherwise tasks are sorted by their prefix params, then fold, then
    trial number (trial numbers themselves never change), and each chunk holds the tasks
    of one prefix on one fold: the chunk fits that prefix once, and its configurations take
    it from the cache. A chunk larger than an even share of the tasks among ``workers`` is
    cut, so that one prefix does not hold back the other workers.
    """
    steps = pipeline_steps(inputs.estimator) if inputs.prefix is not None else []
    if not steps:
        return [[task] for task in tasks]
    keyed = sorted(((prefix_group(t.params, steps), t.fold, t.number), t) for t in tasks)
    groups: dict[tuple[str, int], list[Any]] = {}
    for (group, fold, _), task in keyed:
        groups.setdefault((group, fold), []).append(task)
    largest = max(1, -(-len(tasks) // max(1, 2 * workers))) if workers > 1 else len(tasks) or 1
    return [chunk[i : i + largest] for chunk in groups.values() for i in range(0, len(chunk), largest)]


class FoldMemory:
    """A pipeline's ``memory`` for one fold's fit: answers scikit-learn's joblib.Memory calls.

    Parameters
    ----------
    cache : PrefixCache
        Where fitted steps are kept.
    root : str
        The fold's root key (:func:`fold_root`).

    Attributes
    ----------
    key : str or None
        The key of the last step shared so far (None once a step could not be shared).
    fitted, reused : int
        Prefix steps this fit fitted (and kept) and took from the cache.
    steps : int
        Prefix steps that went through this memory.
    """

    def __init__(self, cache: PrefixCache, root: str) -> None:
        self.shared = cache
        self.key: str | None = root
        self.fitted = self.reused = self.steps = 0
        self._last: Any = None

    def __deepcopy__(self, memo: dict[int, Any]) -> FoldMemory:
        return self  # scikit-learn's clone deep-copies params: the same memory, not a copy of the cache

    def __repr__(self) -> str:
        return "FoldMemory()"

    def cache(self, func: Callable[..., Any], ignore: Any = None, **kwargs: Any) -> Callable[..., Any]:
        """``func`` (scikit-learn's ``_fit_transform_one``), answered from the cache when it can be."""

        def cached(transformer: Any, X: Any, y: Any, *args: Any, **kw: Any) -> Any:
            return self._call(func, transformer, X, y, args, kw)

        return cached

    def _call(self, func: Callable[..., Any], transformer: Any, X: Any, y: Any, args: tuple, kw: dict) -> Any:
        self.steps += 1
        key = self._step_key(transformer, X, args, kw)
        if key is None:
            self.key = None
            return func(transformer, X, y, *args, **kw)
        found = self.shared.get(key)
        if found is not None:
            Xt, fitted = found
            self.reused += 1
            out = (_copied(Xt), fitted)
        else:
            out = func(transformer, X, y, *args, **kw)
            self.shared.put(key, (_copied(out[0]), out[1]), _size(out[0]) + _size(out[1]))
            self.fitted += 1
        self.key, self._last = key, out[0]
        return out

    def _step_key(self, transformer: Any, X: Any, args: tuple, kw: dict) -> str | None:
        """This step's key, or None when it must be fitted as scikit-learn would, unshared."""
        if self.key is None or (self.steps > 1 and X is not self._last):
            return None
        weight, _, message, params = (*args, *([None] * 4))[:4]
        weight, message = kw.get("weight", weight), kw.get("message", message)
        params = kw.get("params", params)
        if weight is not None or message is not None or _any_value(params):
            return None
        if getattr(kw.get("callback_ctx"), "_callbacks", None):
            return None
        unseeded = unseeded_randomness(transformer)
        if unseeded:
            _say_once(
                f"pipeline step {type(transformer).__name__} has {unseeded}: its fits are not shared "
                "between configurations; set it to an int to share them"
            )
            return None
        try:
            form = canonical_json(transformer)
        except TypeError:
            return None
        return _sha(f"{self.key}/{form}")

    def complete(self, n_steps: int) -> bool:
        """Whether every one of the pipeline's ``n_steps`` prefix steps was shared or kept."""
        return self.key is not None and self.steps == n_steps


@dataclass(frozen=True)
class SharedPrefix:
    """A fitted pipeline whose prefix steps all came from the prefix cache (or went into it).

    Scoring calls the final step on the prefix's transform of the rows, which the cache
    keeps per fold: ``pipeline.predict(X)`` is ``final.predict(prefix.transform(X))``
    (scikit-learn's ``Pipeline`` applies each step's ``transform`` in turn), so the scores
    are the pipeline's, bit for bit.
    """

    final: Any
    steps: Any  # the pipeline without its final step
    memory: FoldMemory

    def transform(self, X: Any, rows: str) -> Any:
        """The prefix's transform of this fold's ``rows`` ("test" or "train") ``X``, cached."""
        key = f"{self.memory.key}/{rows}"
        found = self.memory.shared.get(key)
        if found is None:
            found = self.steps.transform(X)
            self.memory.shared.put(key, _copied(found), _size(found))
            return found
        return _copied(found)


def shared_prefix(fitted: Any, memory: FoldMemory | None) -> SharedPrefix | None:
    """``fitted`` as a :class:`SharedPrefix` when every prefix step was shared, else None."""
    if memory is None:
        return None
    from sklearn.utils import get_tags

    steps = pipeline_steps(fitted)
    if not steps or get_tags(fitted).input_tags.pairwise:
        return None
    active = sum(1 for _, step in fitted.steps[:-1] if step is not None and step != "passthrough")
    if not memory.complete(active):
        return None
    return SharedPrefix(final=fitted.steps[-1][1], steps=fitted[:-1], memory=memory)


def plain_scorer(scorer: Any) -> bool:
    """Whether ``scorer`` is one of scikit-learn's scorer objects, which only call the
    estimator's ``predict``/``predict_proba``/``decision_function``/``score`` (a user's
    callable may look inside the pipeline: it gets the pipeline itself)."""
    return type(scorer).__module__ == "sklearn.metrics._scorer" and type(scorer).__name__ in (
        "_Scorer",
        "_PassthroughScorer",
    )


def unseeded_randomness(estimator: Any) -> str:
    """``"random_state=None"`` (or a RandomState) if ``estimator`` draws from unfixed randomness, else "".

    A ``random_state`` that :mod:`hptrack.run.randomness` shows unused (``PCA`` with the
    full solver, ...) does not count.
    """
    try:
        params = estimator.get_params(deep=True)
    except Exception:  # not an estimator we can read: treat as unfixed
        return "params that cannot be read"
    found = unseeded_params(estimator, params, instances=True)
    return found[0] if found else ""


def _any_value(params: Any) -> bool:
    """Whether routed fit params hold anything (``{"fit": {}, "transform": {}}`` holds nothing)."""
    if not params:
        return False
    if isinstance(params, Mapping):
        return any(_any_value(v) for v in params.values())
    return True


def _copied(value: Any) -> Any:
    """A copy of a step's output (arrays, sparse matrices and frames have ``copy()``)."""
    method = getattr(value, "copy", None)
    return method() if callable(method) else copy.deepcopy(value)


def _size(value: Any, depth: int = 0) -> int:
    """About how many bytes ``value`` holds: its arrays, at any depth of its attributes."""
    nbytes = getattr(value, "nbytes", None)
    if isinstance(nbytes, int):
        return nbytes
    data = getattr(value, "data", None)  # sparse matrices
    if hasattr(value, "indices") and isinstance(getattr(data, "nbytes", None), int):
        return int(data.nbytes) + int(value.indices.nbytes) + int(getattr(value, "indptr", data).nbytes)
    if depth > 3:
        return sys.getsizeof(value)
    if isinstance(value, Mapping):
        return sum(_size(v, depth + 1) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_size(v, depth + 1) for v in value)
    attributes = getattr(value, "__dict__", None)
    if attributes:
        return sum(_size(v, depth + 1) for v in attributes.values())
    return sys.getsizeof(value)


def _say_once(text: str) -> None:
    if text not in _SAID:
        _SAID.add(text)
        logger.warning("hptrack: %s", text)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
