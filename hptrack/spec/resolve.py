"""``module:attr`` paths of a spec (estimator, data) resolved to Python objects, a module
beside the spec file included, with hints that name what to do when one cannot be found.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
from pathlib import Path
from typing import Any

from ..errors import SpecError
from .study import StudySpec, _did_you_mean, _one_line, to_param

# --------------------------------------------------------------------------- imports


_SPEC_DIRS: set[str] = set()  # folders of specs put on sys.path: a spec's own, not installed code


def spec_folders() -> list[str]:
    """The folders of specs this process put on ``sys.path`` (their modules are the user's)."""
    return sorted(_SPEC_DIRS)


def _importable_from(base_dir: Path, module_name: str) -> None:
    """Let ``module:attr`` name a module beside the spec file (a user's own code).

    The directory stays on ``sys.path`` so that worker processes can unpickle the
    user's classes. A module of the same name imported earlier from elsewhere (another
    spec's directory) is dropped, so this spec gets its own.
    """
    entry = str(base_dir)
    if entry not in sys.path:
        sys.path.insert(0, entry)
        _SPEC_DIRS.add(entry)
    top = module_name.split(".")[0]
    local = base_dir / f"{top}.py"
    package = base_dir / top / "__init__.py"
    loaded = sys.modules.get(top)
    if loaded is not None and (local.is_file() or package.is_file()):
        current = Path(getattr(loaded, "__file__", "") or "").resolve()
        if current not in (local.resolve(), package.resolve()):
            for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
                del sys.modules[name]


def resolve(path: str, *, base_dir: Path, key: str, source: str = "<spec>") -> Any:
    """Import ``module:attr`` (``base_dir`` first on the path); raise :class:`SpecError`."""
    module_name, _, attr = path.partition(":")
    where = f"{source}: {key} = {path!r}"
    _importable_from(base_dir, module_name)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or module_name
        if module_name != missing and not module_name.startswith(missing + "."):
            # the module exists but imports something that is not installed
            raise SpecError(
                f"{where}: importing {module_name!r} failed: {_one_line(exc)}; "
                f"install {missing.split('.')[0]!r} or fix the import"
            ) from exc
        if "." not in missing and not base_dir.is_dir():
            raise SpecError(_moved_folder_message(where, missing, base_dir, source)) from exc
        raise SpecError(
            f"{where}: cannot import module {missing!r}{_module_hint(missing, base_dir)}"
        ) from exc
    except Exception as exc:
        raise SpecError(
            f"{where}: importing {module_name!r} failed: {type(exc).__name__}: {_one_line(exc)}"
        ) from exc
    if _from_another_spec(module_name, base_dir):  # on sys.path from an earlier spec, not this one's
        raise SpecError(f"{where}: cannot import module {module_name!r}{_module_hint(module_name, base_dir)}")
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            names = [n for n in dir(obj) if not n.startswith("_")]
            raise SpecError(
                f"{where}: module {module_name!r} has no attribute {attr!r}"
                f"{_did_you_mean(part, names) or '; check the name after the colon'}"
            )
        obj = getattr(obj, part)
    return obj


def _from_another_spec(module_name: str, base_dir: Path) -> bool:
    """True when ``module_name`` was found in another spec's folder, not beside this spec."""
    top = sys.modules.get(module_name.split(".")[0])
    file = getattr(top, "__file__", None)
    if not file:
        return False
    path = Path(file).resolve()
    folder = path.parent.parent if path.name == "__init__.py" else path.parent
    others = {Path(d).resolve() for d in _SPEC_DIRS} - {base_dir.resolve()}
    return folder in others


def _moved_folder_message(where: str, missing: str, base_dir: Path, source: str) -> str:
    """The refusal when the spec's folder (so its own modules) is gone from ``base_dir``."""
    spec_file = Path(source).name if source.endswith(".toml") else "SPEC.toml"
    return (
        f"{where}: cannot import module {missing!r} from {str(base_dir)!r} (the spec's folder, "
        "recorded when the study was created): the folder moved or was deleted; run the spec "
        f"from its new location with hptrack run NEW_FOLDER/{spec_file} (same name and spec: "
        "the study continues)"
    )


def _module_hint(missing: str, base_dir: Path) -> str:
    """A close module name next to ``missing`` (a sibling submodule, or a file by the spec)."""
    parent, _, last = missing.rpartition(".")
    try:
        if parent:
            search = getattr(importlib.import_module(parent), "__path__", None)
            names = [f"{parent}.{m.name}" for m in pkgutil.iter_modules(search)] if search else []
        else:  # a file beside the spec, or an installed package (never the standard library:
            # 'models' is a user's file gone missing, not a typo of 'codecs')
            names = [m.name for m in pkgutil.iter_modules([str(base_dir)])]
            paths = [p for p in sys.path if p not in _SPEC_DIRS]  # not other specs' folders
            installed = {m.name for m in pkgutil.iter_modules(paths)} - set(sys.stdlib_module_names)
            names += sorted(installed - set(names))
    except Exception:  # the parent itself fails to import: no suggestion
        names = []
    close = _did_you_mean(missing, [n for n in names if not n.rpartition(".")[2].startswith("_")])
    if close:
        return close
    if parent:
        return "; check the module name before the colon"
    return f"; check the spelling, install it, or put {last}.py beside the spec file ({str(base_dir)!r})"


def make_estimator(spec: StudySpec) -> Any:
    """The spec's estimator with its ``[fixed]`` params set, every space key checked.

    Raises
    ------
    SpecError
        The estimator cannot be imported or built, or a ``[fixed]``/``[space]`` key is not
        one of its parameters (the message names the valid ones).
    """
    factory = resolve(spec.estimator, base_dir=spec.base_dir, key="estimator", source=spec.source)
    if not callable(factory):
        raise SpecError(
            f"{spec.source}: estimator = {spec.estimator!r} is a {type(factory).__name__}, not "
            "a class or a factory function; name an estimator class such as 'sklearn.svm:SVC'"
        )
    try:
        estimator = factory()
    except Exception as exc:
        raise SpecError(
            f"{spec.source}: estimator = {spec.estimator!r}: calling it with no arguments "
            f"failed: {type(exc).__name__}: {_one_line(exc)}; name a class or a factory "
            "function that takes no arguments"
        ) from exc
    if not (hasattr(estimator, "fit") and hasattr(estimator, "get_params")):
        raise SpecError(
            f"{spec.source}: estimator = {spec.estimator!r} gives a "
            f"{type(estimator).__name__}, not a scikit-learn estimator (no fit/get_params); "
            "name an estimator class such as 'sklearn.svm:SVC'"
        )
    valid = estimator.get_params(deep=True)
    label = type(estimator).__name__
    for section, keys in (("[fixed]", spec.fixed), ("[space]", spec.space)):
        for key in keys:
            if key not in valid:
                shown = ", ".join(sorted(k for k in valid if "__" not in k or "__" in key))
                raise SpecError(
                    f"{spec.source}: {section} {key} is not a parameter of {label}"
                    f"{_did_you_mean(key, valid) or f'; its parameters are {shown}'}"
                )
    if spec.fixed:
        estimator.set_params(**{k: to_param(v) for k, v in spec.fixed.items()})
    return estimator


def make_objective(spec: StudySpec) -> Any:
    """The spec's objective function, checked to be callable as ``fn(params, fold)``.

    Raises
    ------
    SpecError
        It cannot be imported (close names suggested), is not a function, or does not take
        two positional arguments.
    """
    assert spec.objective is not None
    fn = resolve(spec.objective, base_dir=spec.base_dir, key="objective", source=spec.source)
    where = f"{spec.source}: objective = {spec.objective!r}"
    if isinstance(fn, type) or not callable(fn):
        raise SpecError(
            f"{where} is a {type(fn).__name__}, not a function; name a function "
            "fn(params, fold) that returns a dict of metric -> float"
        )
    try:
        inspect.signature(fn).bind(None, None)
    except TypeError as exc:
        raise SpecError(
            f"{where} cannot be called as fn(params, fold): {_one_line(exc)}; give it two "
            "parameters, e.g. def objective(params, fold)"
        ) from exc
    except ValueError:  # no signature to read (a builtin): calling it will tell
        pass
    return fn
