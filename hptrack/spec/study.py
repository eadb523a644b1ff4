"""What a study is: a TOML spec parsed into a :class:`StudySpec`, every field validated
up front, so a bad spec is one clear line before anything is written.
"""

from __future__ import annotations

import datetime
import difflib
import math
import sys
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SpecError
from ._objective import check_plain_metric, code_key
from .direction import MAXIMIZE, MINIMIZE, parse_direction
from .halving import HALVING_SEARCHES, HalvingSpec, base_search, parse_halving
from .space import DISTRIBUTIONS, Distribution

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


SEARCH_KINDS = ("grid", "random", *HALVING_SEARCHES)


CV_KINDS = ("kfold", "stratified", "group", "holdout")


TOP_KEYS = (
    "name",
    "search",
    "n_trials",
    "seed",
    "estimator",
    "objective",
    "data",
    "metrics",
    "direction",
    "train_scores",
    "error_score",
    "fixed",
    "cv",
    "space",
    "halving",
)


CV_KEYS = ("kind", "folds", "shuffle", "test_size")


DEFAULT_METRIC = "score"  # the estimator's own ``score`` method


REQUIRED_KEYS = {  # key: an example of what to add
    "name": 'name = "digits-svc"',
    "search": 'search = "grid"',
    "data": 'data = "sklearn.datasets:load_digits"',
    "space": "a [space] table, e.g. C = [0.1, 1, 10]",
}


def _did_you_mean(word: object, options: Any) -> str:
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _one_line(text: object) -> str:
    """``text`` with every run of whitespace (newlines included) as one space."""
    return " ".join(str(text).split())


def _unknown(key: str, options: Any) -> str:
    """``; did you mean 'x'?`` or, with no close match, the keys that are accepted."""
    return _did_you_mean(key, options) or f"; remove it (accepted: {', '.join(options)})"


def check_study_name(name: object, where: str = "study name") -> str:
    """Return ``name`` if it is a valid study name, else raise :class:`SpecError`."""
    if not isinstance(name, str):
        raise SpecError(
            f"{where} = {name!r} must be a string ({type(name).__name__} given), e.g. 'digits-svc'"
        )
    if not 1 <= len(name) <= 100:
        raise SpecError(
            f"{where} = {name[:40]!r}{'...' if len(name) > 40 else ''} has {len(name)} "
            "characters; use 1 to 100, e.g. 'digits-svc'"
        )
    if ":" in name:
        raise SpecError(
            f"{where} = {name!r} contains ':', which separates store and study "
            "('other.db:name'); use another character such as '-'"
        )
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise SpecError(f"{where} = {name!r} contains a control character (tab, newline, ...); remove it")
    invisible = [ch for ch in name if unicodedata.category(ch) == "Cf"]
    if invisible:  # zero-width spaces and joiners, BOM, bidi marks: two names that look equal
        codes = ", ".join(dict.fromkeys(f"U+{ord(ch):04X}" for ch in invisible))
        raise SpecError(
            f"{where} = {name!r} contains an invisible formatting character ({codes}); remove it, "
            "e.g. 'digits-svc'"
        )
    if not name.strip():
        raise SpecError(f"{where} = {name!r} is blank; give a visible name, e.g. 'digits-svc'")
    return name


@dataclass(frozen=True)
class CVSpec:
    """The cross-validation scheme of a spec."""

    kind: str | None = None  # None: stratified for classifiers, kfold otherwise
    folds: int = 5
    shuffle: bool = False
    test_size: float = 0.2

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "holdout":
            return {"kind": "holdout", "test_size": self.test_size}
        return {"kind": self.kind, "folds": self.folds, "shuffle": self.shuffle}


@dataclass(frozen=True)
class StudySpec:
    """A validated study spec, as read from TOML (SPEC section 2)."""

    name: str
    search: str
    estimator: str
    data: str
    space: dict[str, list[Any] | Distribution]
    n_trials: int | None = None
    seed: int = 0
    metrics: tuple[str, ...] = (DEFAULT_METRIC,)
    direction: str = MAXIMIZE  # of the first metric (SPEC section 11)
    train_scores: bool = False
    error_score: float | str = math.nan
    fixed: dict[str, Any] = field(default_factory=dict)
    cv: CVSpec = field(default_factory=CVSpec)
    base_dir: Path = field(default_factory=Path.cwd)
    source: str = "<spec>"
    objective: str | None = None  # "module:fn", called as fn(params, fold), instead of an estimator
    halving: HalvingSpec | None = None  # search = "halving" / "halving-random" (spec/halving.py)

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain data: what is stored, compared and hashed (no paths)."""
        return {
            "name": self.name,
            "search": self.search,
            "n_trials": self.n_trials,
            "seed": self.seed,
            **({"objective": self.objective} if self.objective else {"estimator": self.estimator}),
            "data": self.data,
            "metrics": list(self.metrics),
            # only when minimizing: a maximizing spec (the default) stays as every store holds it
            **({"direction": MINIMIZE} if self.direction == MINIMIZE else {}),
            "train_scores": self.train_scores,
            "error_score": self.error_score,
            "fixed": dict(self.fixed),
            "cv": self.cv.to_dict(),
            "space": {
                key: value.to_dict() if isinstance(value, Distribution) else list(value)
                for key, value in self.space.items()
            },
            **({"halving": self.halving.to_dict()} if self.halving is not None else {}),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, base_dir: Path, source: str = "<spec>") -> StudySpec:
        """Validate a parsed spec (every field) and return it; raise :class:`SpecError`."""
        return _parse(raw, base_dir=base_dir, source=source)


def load_spec(path: str | Path) -> StudySpec:
    """Read and validate a TOML study spec.

    Raises
    ------
    SpecError
        The file is missing, is not valid TOML, or any field is invalid.
    """
    path = Path(path)
    if path.is_dir():
        raise SpecError(f"spec file {str(path)!r} is a directory; give the path of a TOML study spec")
    if not path.exists():
        raise SpecError(
            f"spec file {str(path)!r} does not exist; check the path "
            "(examples/digits_svc.toml shows the format)"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SpecError(f"cannot read spec file {str(path)!r}: {exc.strerror}") from exc
    try:
        text = data.decode("utf-8-sig")  # a leading byte-order mark is harmless
    except UnicodeDecodeError as exc:
        raise SpecError(
            f"{path.name}: not a UTF-8 text file (byte {data[exc.start : exc.start + 1]!r} at "
            f"offset {exc.start}); save it as UTF-8"
        ) from exc
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path.name}: not valid TOML: {_one_line(exc)}; fix the syntax") from exc
    return _parse(raw, base_dir=path.resolve().parent, source=path.name)


def _parse(raw: Mapping[str, Any], *, base_dir: Path, source: str) -> StudySpec:
    def fail(message: str) -> SpecError:
        return SpecError(f"{source}: {message}")

    for key in raw:
        if key not in TOP_KEYS:
            raise fail(f"unknown key {key!r}{_unknown(key, TOP_KEYS)}")
    for key, example in REQUIRED_KEYS.items():
        if key not in raw:
            raise fail(f"missing required key {key!r}; add {example}")
    try:
        name = check_study_name(raw["name"], where="name")
    except SpecError as exc:
        raise fail(str(exc)) from None
    search = raw["search"]
    if not isinstance(search, str) or search not in SEARCH_KINDS:
        kinds = ", ".join(repr(kind) for kind in SEARCH_KINDS)
        raise fail(f"search = {search!r} must be one of {kinds}{_did_you_mean(search, SEARCH_KINDS)}")
    n_trials = _parse_n_trials(raw.get("n_trials"), base_search(search), fail)  # in the file's order
    seed = _parse_seed(raw.get("seed", 0), fail)
    runs = code_key(raw, fail)
    for key in (runs, "data"):
        _check_import_path(raw[key], key, fail)
    metrics = _parse_metrics(raw, fail, objective=runs == "objective")
    direction = parse_direction(raw.get("direction", MAXIMIZE), f"{source}: ")
    train_scores = _parse_train_scores(raw.get("train_scores", False), fail)
    if train_scores and runs == "objective":
        raise fail("train_scores applies to an estimator; an objective returns train metrics itself")
    error_score = _parse_error_score(raw.get("error_score", math.nan), fail)
    fixed = raw.get("fixed", {})
    cv = _parse_cv(raw.get("cv", {}), fail)
    space = _parse_space(raw["space"], base_search(search), fail)
    _check_fixed(fixed, space, fail)
    if runs == "objective" and search in HALVING_SEARCHES:
        raise fail(f"search = {search!r} fits an estimator on growing resources; use an estimator, "
                   "or search = 'grid' / 'random' with an objective")
    halving = parse_halving(raw.get("halving"), search, fail, cv_kind=cv.kind, metrics=metrics)
    return StudySpec(
        name=name,
        search=search,
        estimator=raw.get("estimator", ""),
        objective=raw.get("objective"),
        data=raw["data"],
        space=space,
        n_trials=n_trials,
        seed=seed,
        metrics=metrics,
        direction=direction,
        train_scores=train_scores,
        error_score=error_score,
        fixed=dict(fixed),
        cv=cv,
        base_dir=base_dir,
        source=source,
        halving=halving,
    )


def _check_fixed(fixed: object, space: Mapping[str, Any], fail: Any) -> None:
    """``[fixed]`` is a table of params with spec values, none of them also in ``[space]``."""
    if not isinstance(fixed, dict):
        raise fail(f"fixed = {fixed!r} must be a [fixed] table of parameter = value")
    for key, value in fixed.items():
        _check_value(value, f"[fixed] {key}", fail)
    overlap = sorted(set(space) & set(fixed))
    if overlap:
        raise fail(
            f"[fixed] {overlap[0]} is also in [space]; keep it in one of them "
            "([fixed] holds it constant, [space] searches it)"
        )


def _parse_n_trials(n_trials: object, search: str, fail: Any) -> int | None:
    if search == "random":
        if n_trials is None:
            raise fail("n_trials is required for a random search; add e.g. n_trials = 40")
        if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
            raise fail(f"n_trials = {n_trials!r} must be a whole number >= 1, e.g. n_trials = 40")
        return n_trials
    if n_trials is not None:
        raise fail(
            f"n_trials = {n_trials!r} is only for search = 'random'; remove it "
            "(a grid study runs every combination)"
        )
    return None


def _parse_seed(seed: object, fail: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise fail(f"seed = {seed!r} must be a whole number from 0 to 2**32 - 1, e.g. seed = 0")
    return seed


def _parse_metrics(raw: Mapping[str, Any], fail: Any, *, objective: bool = False) -> tuple[str, ...]:
    if objective and "metrics" not in raw:
        raise fail('an objective needs metrics = the keys its fn returns (the first ranks), e.g. ["loss"]')
    metrics = raw.get("metrics", [DEFAULT_METRIC])
    if isinstance(metrics, str):
        metrics = [metrics]
    if not isinstance(metrics, list) or not metrics:
        raise fail(
            f"metrics = {raw.get('metrics')!r} must be a non-empty list of scorer names, "
            'e.g. metrics = ["accuracy"]'
        )
    for metric in metrics:
        if not isinstance(metric, str):
            raise fail(f'metrics: {metric!r} is not a scorer name; use strings such as "accuracy"')
        if objective:
            check_plain_metric(metric, fail)
    duplicates = sorted({m for m in metrics if metrics.count(m) > 1})
    if duplicates:
        raise fail(f"metrics = {metrics!r} lists {duplicates[0]!r} twice; keep one")
    return tuple(metrics)


def _parse_train_scores(train_scores: object, fail: Any) -> bool:
    if not isinstance(train_scores, bool):
        raise fail(f"train_scores = {train_scores!r} must be true or false")
    return train_scores


def _parse_error_score(error_score: Any, fail: Any) -> float | str:
    if error_score != "raise" and (
        isinstance(error_score, bool) or not isinstance(error_score, (int, float))
    ):
        hint = _did_you_mean(error_score, ["raise"]) if isinstance(error_score, str) else ""
        raise fail(f"error_score = {error_score!r} must be a number (e.g. nan or 0) or 'raise'{hint}")
    return float(error_score) if isinstance(error_score, int) else error_score


def _check_import_path(value: object, key: str, fail: Any) -> None:
    if not isinstance(value, str) or value.count(":") != 1 or not all(value.split(":")):
        hint = ""
        if isinstance(value, str) and ":" not in value and "." in value:
            module, _, attr = value.rpartition(".")
            hint = f"; did you mean '{module}:{attr}'?"
        raise fail(f"{key} = {value!r} must be 'module:attr' (e.g. 'sklearn.svm:SVC'){hint}")


_TOML_TIMES = (datetime.date, datetime.time)  # datetime.datetime is a date


def _check_value(value: object, where: str, fail: Any) -> None:
    """Refuse TOML dates and times as parameter values (nothing can record or pass them)."""
    if isinstance(value, _TOML_TIMES):
        raise fail(
            f"{where} = {value.isoformat()} is a TOML date/time; quote it if you mean "
            f"the string ({str(value)!r})"
        )
    if isinstance(value, list):
        for item in value:
            _check_value(item, where, fail)
    elif isinstance(value, dict):
        for item in value.values():
            _check_value(item, where, fail)


def _parse_cv(raw: object, fail: Any) -> CVSpec:
    if not isinstance(raw, dict):
        raise fail(f"cv = {raw!r} must be a [cv] table, e.g. kind = 'stratified' and folds = 5")
    for key in raw:
        if key not in CV_KEYS:
            raise fail(f"[cv] unknown key {key!r}{_unknown(key, CV_KEYS)}")
    kind = raw.get("kind")
    if kind is not None and (not isinstance(kind, str) or kind not in CV_KINDS):
        raise fail(
            f"[cv] kind = {kind!r} must be one of {', '.join(CV_KINDS)}{_did_you_mean(kind, CV_KINDS)}"
        )
    folds = raw.get("folds", 5)
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise fail(f"[cv] folds = {folds!r} must be a whole number >= 2")
    shuffle = raw.get("shuffle", False)
    if not isinstance(shuffle, bool):
        raise fail(f"[cv] shuffle = {shuffle!r} must be true or false")
    test_size = raw.get("test_size", 0.2)
    if isinstance(test_size, bool) or not isinstance(test_size, (int, float)) or not (0 < test_size < 1):
        raise fail(f"[cv] test_size = {test_size!r} must be a fraction between 0 and 1")
    if kind == "holdout" and "folds" in raw:
        raise fail(
            f"[cv] folds = {folds!r} does not apply to kind = 'holdout' (one split); "
            "remove it and set test_size"
        )
    if kind == "holdout" and shuffle is False and "shuffle" in raw:
        raise fail(
            "[cv] shuffle = false does not apply to kind = 'holdout' (the split is always "
            "shuffled with the study seed); remove it"
        )
    if kind != "holdout" and "test_size" in raw:
        raise fail(
            f"[cv] test_size = {test_size!r} applies only to kind = 'holdout'; remove it, "
            "or set kind = 'holdout'"
        )
    return CVSpec(kind=kind, folds=folds, shuffle=shuffle, test_size=float(test_size))


def _parse_space(raw: object, search: str, fail: Any) -> dict[str, list[Any] | Distribution]:
    if not isinstance(raw, dict):
        raise fail(f"space = {raw!r} must be a [space] table of parameter = [values]")
    if not raw:
        raise fail("[space] is empty; give at least one parameter, e.g. C = [0.1, 1, 10]")
    space: dict[str, list[Any] | Distribution] = {}
    for key, value in raw.items():
        where = f"[space] {key}"
        _check_value(value, where, fail)
        if isinstance(value, list):
            if not value:
                raise fail(f"{where} is an empty list; give at least one value")
            space[key] = value
        elif isinstance(value, dict):
            if search == "grid":
                raise fail(
                    f"{where} is a distribution, which only a random search can sample; "
                    "a grid study takes a list of values"
                )
            space[key] = _parse_distribution(value, where, fail)
        else:
            raise fail(
                f"{where} = {value!r} must be a list of values (e.g. [{value!r}]) or a distribution table"
            )
    return space


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _parse_distribution(raw: dict[str, Any], where: str, fail: Any) -> Distribution:
    kind = raw.get("dist")
    if kind is None:
        raise fail(
            f"{where} = {raw!r} needs dist = one of {', '.join(DISTRIBUTIONS)}, or use a list of values"
        )
    if not isinstance(kind, str) or kind not in DISTRIBUTIONS:
        raise fail(
            f"{where}: unknown distribution {kind!r}{_did_you_mean(kind, DISTRIBUTIONS)} "
            f"(one of {', '.join(DISTRIBUTIONS)})"
        )
    allowed = ("dist", "values") if kind == "choice" else ("dist", "low", "high")
    for key in raw:
        if key not in allowed:
            raise fail(
                f"{where}: unknown key {key!r} for dist = {kind!r}"
                f"{_did_you_mean(key, allowed[1:])} (takes {', '.join(allowed[1:])})"
            )
    if kind == "choice":
        values = raw.get("values")
        if not isinstance(values, list) or not values:
            raise fail(f"{where}: choice needs values = a non-empty list, got {values!r}")
        return Distribution("choice", values=tuple(values))
    for key in ("low", "high"):
        if key not in raw:
            raise fail(f"{where}: {kind} needs both low and high, {key} is missing")
        if not _number(raw[key]):
            raise fail(f"{where}: {key} = {raw[key]!r} must be a finite number")
    low, high = raw["low"], raw["high"]
    if kind == "randint" and not (isinstance(low, int) and isinstance(high, int)):
        raise fail(
            f"{where}: randint bounds must be whole numbers, got low = {low!r}, high = {high!r}; "
            "use uniform for real numbers"
        )
    if not low < high:
        raise fail(
            f"{where}: low = {low!r} must be less than high = {high!r}"
            + ("; randint's high is exclusive" if kind == "randint" else "")
        )
    if kind == "loguniform" and low <= 0:
        raise fail(f"{where}: loguniform needs low > 0, got low = {low!r}; use uniform")
    return Distribution(kind, low=low, high=high)


# TOML has no null: this exact string in [fixed] or [space] (list and choice values) is
# Python None (SPEC section 2). The spec keeps the string, so a stored spec re-parses the same.
NONE_STRING = "None"


def to_param(value: Any) -> Any:
    """A TOML value as an estimator param: ``"None"`` is None, arrays become tuples.

    Examples
    --------
    >>> to_param(["None", 4]), to_param("none"), to_param([10, 10])
    ((None, 4), 'none', (10, 10))
    """
    if isinstance(value, str) and value == NONE_STRING:
        return None
    if isinstance(value, list):
        return tuple(to_param(v) for v in value)
    return value
