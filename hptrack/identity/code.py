"""Code identity (SPEC section 1): every user module and installed distribution a study runs.

The walk starts from the estimator (or its factory), the data loader and the scorers
and follows the user's own modules transitively; code in ``__main__`` counts object by
object. Installed distributions count by version, with their requirements.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import inspect
import os
import re
import sys
import types
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .._json import canonical_json, hash_value, identity_params, sha256_text, shallow_params

# --------------------------------------------------------------------------- code


def _is_user_module(module: Any) -> bool:
    """True for a module that is the user's own code, not stdlib or an installed package."""
    path = getattr(module, "__file__", None)
    if not path or not os.path.isabs(path):  # torch.ops' namespaces say __file__ = "_ops.py"
        return False
    top = str(getattr(module, "__name__", "")).partition(".")[0]
    parent = sys.modules.get(top)
    if parent is not None and parent is not module and not _is_user_module(parent):
        return False  # a submodule of an installed package is the package's, wherever it says it is
    resolved = real_path(path)
    if "site-packages" in resolved or "dist-packages" in resolved:
        return False
    return not any(resolved.startswith(root + os.sep) for root in _interpreter_roots())


@functools.lru_cache(maxsize=4096)
def real_path(path: str) -> str:
    """``os.path.realpath``, once per path and process (a module's file does not move)."""
    return os.path.realpath(path)


@functools.lru_cache(maxsize=1)
def _interpreter_roots() -> frozenset[str]:
    """Where the standard library and installed packages live."""
    return frozenset(
        real_path(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)
    )


@functools.lru_cache(maxsize=1)
def _distributions() -> Mapping[str, list[str]]:
    """Top-level module -> distributions (slow to compute: ~0.5 s, so once per process)."""
    try:
        return importlib.metadata.packages_distributions()
    except Exception:  # pragma: no cover - broken metadata
        return {}


@functools.lru_cache(maxsize=256)
def package_version(module_name: str) -> str | None:
    """Installed version of the distribution that provides a top-level module."""
    top = module_name.split(".")[0]
    dists = _distributions().get(top, [top])
    for dist in dists:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    module = sys.modules.get(top)
    return getattr(module, "__version__", None)


def code_fingerprint(
    objects: Iterable[Any], *, base_dir: Path | None = None, modules: Iterable[str] = ()
) -> tuple[str, dict[str, Any]]:
    """Hash of all the code a study runs: the user's own sources and package versions.

    Starting from ``objects`` (the estimator or its factory, the data loader, the
    scorers), the walk follows, transitively, every module the user wrote (not the
    standard library, not an installed distribution) that they reference: module
    globals that are modules, classes and functions defined in a user module, the
    params of estimators, the functions inside scorers and partials. Each user module
    is hashed by the bytes of its file. Code defined in ``__main__`` (a script or a
    notebook) is hashed object by object (the source of the class or function used,
    and the plain values it reads from the script's globals), so an edit elsewhere in
    the script changes nothing. Every installed distribution referenced on the way is
    recorded with its version, with its installed requirements, transitively.
    Process-local estimator params (:func:`identity_params`) are not followed.

    Parameters
    ----------
    objects : iterable
        What the study runs: estimators, classes, functions, scorers, modules.
    base_dir : Path, optional
        Directory that source paths are shown relative to (the spec's directory).
        Files outside it are shown by their module path (``pkg/helper.py``).
    modules : iterable of str, optional
        Names of modules also to start from (those imported while resolving a
        spec's ``module:attr`` paths); only the user's own among them count.

    Returns
    -------
    code_hash, components
        ``components`` holds ``{"sources": {path: sha256}, "packages": {name: version},
        "python": "3.11"}``, so a changed hash can be explained file by file.
        ``sources`` keys of script code are ``"script.py:qualname"``; ``packages`` keys
        are distribution names (``scikit-learn``, ``scipy``).

    Examples
    --------
    >>> from sklearn.svm import SVC
    >>> code_hash, components = code_fingerprint([SVC()])
    >>> "scipy" in components["packages"]
    True
    """
    walk = _CodeWalk(base_dir)
    for name in sorted(set(modules)):
        module = sys.modules.get(name)
        if module is not None and _is_user_module(module):
            walk.add(module)
    for obj in objects:
        walk.add(obj)
    walk.run()
    packages = _packages_of(walk.tops)
    components = {
        "sources": walk.digests(),
        "packages": packages,
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
    }
    return hash_value(components), components


_PLAIN = (bool, int, float, complex, str, bytes, type(None))


_CORE_DISTRIBUTIONS = ("numpy", "scikit-learn")


class _CodeWalk:
    """The user modules, script objects and package roots reachable from some objects."""

    def __init__(self, base_dir: Path | None) -> None:
        self.base_dir = base_dir.resolve() if base_dir is not None else None
        self.sources: dict[str, set[str]] = {}  # shown name -> digests (two lambdas share one)
        self.tops: set[str] = set()  # top-level names of installed modules referenced
        self._pending: list[Any] = []
        self._seen: set[int] = set()
        self._alive: list[Any] = []  # keeps visited objects alive, so their ids stay unique

    def add(self, value: Any) -> None:
        self._pending.append(value)

    def digests(self) -> dict[str, str]:
        """One sha256 per shown name, whatever order the walk met them in."""
        return {
            name: next(iter(found)) if len(found) == 1 else sha256_text(",".join(sorted(found)))
            for name, found in sorted(self.sources.items())
        }

    def run(self) -> None:
        while self._pending:
            value = self._pending.pop()
            if isinstance(value, _PLAIN) or id(value) in self._seen:
                continue
            self._seen.add(id(value))
            self._alive.append(value)
            self._visit(value)

    def _visit(self, value: Any) -> None:
        if isinstance(value, types.ModuleType):
            self._module(value)
        elif isinstance(value, (staticmethod, classmethod)):
            self.add(value.__func__)
        elif isinstance(value, type) or inspect.isroutine(value):
            self._definition(value)
        elif isinstance(value, functools.partial):
            self._pending.extend([value.func, *value.args, *value.keywords.values()])
        elif isinstance(value, (list, tuple, set, frozenset)):
            self._pending.extend(value)
        elif isinstance(value, Mapping):
            self._pending.extend(value.values())
        else:  # an instance: its class, and what it holds when that is code
            cls = type(value)
            self.add(cls)
            if hasattr(value, "get_params") and hasattr(value, "fit"):
                try:
                    params = shallow_params(value)
                except Exception:  # a broken get_params: its class is all we know
                    params = {}
                self._pending.extend(identity_params(params).values())
            elif callable(value) or _is_script(cls.__module__) or _user_module_named(cls.__module__):
                self._pending.extend(getattr(value, "__dict__", {}).values())

    def _definition(self, value: Any) -> None:
        """A class or a function: its module, or its own source when it lives in a script."""
        module_name = getattr(value, "__module__", None)
        if not module_name or module_name == "builtins":
            return
        if _is_script(module_name):
            self._script_object(value, module_name)
            return
        self.add(sys.modules[module_name])

    def _module(self, module: types.ModuleType) -> None:
        name = module.__name__
        top = name.split(".")[0]
        if name == "__main__" or top == "hptrack":  # a script counts object by object
            return
        if not _is_user_module(module):
            self.tops.add(top)
            return
        path = Path(module.__file__ or "")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        self.sources.setdefault(self._shown(path, name), set()).add(digest)
        parent = name.rpartition(".")[0]
        if parent and parent in sys.modules:  # a package's __init__ runs before its submodules
            self.add(sys.modules[parent])
        for value in list(vars(module).values()):
            if isinstance(value, (types.ModuleType, type)) or inspect.isroutine(value):
                self.add(value)
            elif not isinstance(value, _PLAIN):
                self.add(type(value))

    def _script_object(self, value: Any, module_name: str) -> None:
        """Hash one class or function defined in ``__main__``, and follow what it uses."""
        module = sys.modules.get(module_name)
        namespace: Mapping[str, Any] = getattr(value, "__globals__", None) or (vars(module) if module else {})
        functions = _functions_of(value)
        names: set[str] = set()
        for function in functions:
            code = getattr(function, "__code__", None)
            if code is not None:
                names.update(_global_names(code))
            self._pending.extend(function.__defaults__ or ())
            self._pending.extend((function.__kwdefaults__ or {}).values())
            for cell in function.__closure__ or ():
                try:
                    self.add(cell.cell_contents)
                except ValueError:  # an empty cell
                    pass
        if isinstance(value, type):
            self._pending.extend(b for b in value.__bases__ if b is not object)
        plain: dict[str, str] = {}
        for name in sorted(names):
            if name not in namespace:
                continue
            used = namespace[name]
            if _is_plain_data(used):
                plain[name] = _plain_repr(used)
            else:
                self.add(used)
        text = _source_text(value) + (canonical_json(plain) if plain else "")
        script = getattr(module, "__file__", None) if module else None
        where = self._shown(Path(script), None) if script else module_name
        self.sources.setdefault(f"{where}:{value.__qualname__}", set()).add(sha256_text(text))

    def _shown(self, path: Path, module_name: str | None) -> str:
        """A source file's name in the components: relative to ``base_dir``, else by module."""
        resolved = path.resolve()
        if self.base_dir is not None and resolved.is_relative_to(self.base_dir):
            return resolved.relative_to(self.base_dir).as_posix()
        if module_name is None:
            return path.name
        shown = module_name.replace(".", "/")
        return f"{shown}/{path.name}" if path.stem == "__init__" else f"{shown}{path.suffix}"


def _is_script(module_name: str) -> bool:
    """True for code defined in a script or notebook (``__main__``) or no importable module."""
    return module_name == "__main__" or module_name not in sys.modules


def _user_module_named(module_name: str) -> bool:
    module = sys.modules.get(module_name)
    return module is not None and _is_user_module(module)


def _is_plain_data(value: Any) -> bool:
    """True for a value whose ``repr`` is its identity (numbers, text, containers of them)."""
    if isinstance(value, _PLAIN):
        return True
    if isinstance(value, (list, tuple, frozenset, set)):
        return all(_is_plain_data(v) for v in value)
    if isinstance(value, dict):
        return all(_is_plain_data(k) and _is_plain_data(v) for k, v in value.items())
    return False


def _plain_repr(value: Any) -> str:
    """``repr`` of plain data, with sets in a stable order (string hashes vary by process)."""
    if isinstance(value, (set, frozenset)):
        return "{" + ", ".join(sorted(_plain_repr(v) for v in value)) + "}"
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__}[{', '.join(_plain_repr(v) for v in value)}]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_plain_repr(k)}: {_plain_repr(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _functions_of(value: Any) -> list[Any]:
    """The plain functions of a function (itself) or of a class (its methods, properties)."""
    if not isinstance(value, type):
        return [value] if hasattr(value, "__code__") else []
    found: list[Any] = []
    for member in vars(value).values():
        if isinstance(member, (staticmethod, classmethod)):
            member = member.__func__
        if isinstance(member, property):
            found.extend(f for f in (member.fget, member.fset, member.fdel) if f is not None)
        elif hasattr(member, "__code__"):
            found.append(member)
    return found


def _global_names(code: types.CodeType) -> set[str]:
    """Names a code object (and the code nested in it) may look up in its globals."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def _code_text(code: types.CodeType) -> str:
    """A code object's bytecode, names and constants, without memory addresses."""
    consts = [_code_text(c) if isinstance(c, types.CodeType) else repr(c) for c in code.co_consts]
    return f"{code.co_code.hex()}{code.co_names}{consts}"


def _source_text(value: Any) -> str:
    """The source of a class or function; its bytecode when there is no source file."""
    try:
        return inspect.getsource(value)
    except (OSError, TypeError):
        pass
    parts = [
        f"{f.__qualname__}:{_code_text(f.__code__)}" for f in _functions_of(value) if hasattr(f, "__code__")
    ]
    return "\n".join(sorted(parts)) or value.__qualname__


def _packages_of(tops: Iterable[str]) -> dict[str, str | None]:
    """Distributions providing some top-level modules, their requirements, and versions."""
    found: dict[str, str | None] = {}
    pending = list(_CORE_DISTRIBUTIONS)
    for top in sorted(set(tops)):
        dists = _distributions().get(top)
        if dists:
            pending.extend(dists)
        elif top not in sys.stdlib_module_names and top not in sys.builtin_module_names:
            version = getattr(sys.modules.get(top), "__version__", None)
            if isinstance(version, str):  # importable, but installed without metadata
                found[top] = version
    while pending:
        name = _canonical_name(pending.pop())
        if name in found:
            continue
        version = _dist_version(name)
        if version is None:
            continue
        found[name] = version
        pending.extend(_requirements(name))
    return dict(sorted(found.items()))


def _canonical_name(name: str) -> str:
    """A distribution name as PEP 503 normalises it (``Scikit_Learn`` -> ``scikit-learn``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@functools.cache
def _dist_version(name: str) -> str | None:
    """Installed version of a distribution; None if it is not installed."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


@functools.cache
def _requirements(name: str) -> tuple[str, ...]:
    """Names of a distribution's requirements that apply here (no extras)."""
    try:
        declared = importlib.metadata.requires(name) or []
    except importlib.metadata.PackageNotFoundError:
        return ()
    names: list[str] = []
    for text in declared:
        requirement, _, marker = text.partition(";")
        if "extra" in marker:
            continue
        if marker.strip() and not _marker_holds(marker):
            continue
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
        if match:
            names.append(match.group(1))
    return tuple(names)


def _marker_holds(marker: str) -> bool:
    """Whether an environment marker holds here; True when it cannot be evaluated."""
    try:
        from packaging.markers import Marker
    except ImportError:  # packaging is not a dependency: an installed requirement counts
        return True
    try:
        return bool(Marker(marker.strip()).evaluate())
    except Exception:
        return True


def legacy_code_match(stored: Mapping[str, Any], stored_hash: str, current: Mapping[str, Any]) -> bool:
    """True when a study recorded before code identity covered imports still has its code.

    Stores written before the code walk (hptrack 0.1) recorded only the estimator's and
    the data loader's own files and the packages of their top-level modules (keyed by
    module: ``sklearn``, never a distribution name). Such a study's code is unchanged
    when those same files and packages, read now, give the hash it recorded: its
    results stay comparable, and it keeps that hash (hashes are read as they are).
    """
    packages = stored.get("packages", {})
    if "sklearn" not in packages:  # the current format keys packages by distribution
        return False
    sources = current.get("sources", {})
    old_sources = stored.get("sources", {})
    if not set(old_sources) <= set(sources):
        return False
    projected = {
        "sources": {path: sources[path] for path in old_sources},
        "packages": {name: package_version(name) for name in packages},
        "python": current.get("python"),
    }
    return hash_value(projected) == stored_hash


def diff_code(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Names of what differs between two ``code_fingerprint`` component dicts."""
    changed: list[str] = []
    old_src, new_src = old.get("sources", {}), new.get("sources", {})
    for path in sorted(set(old_src) | set(new_src)):
        if old_src.get(path) != new_src.get(path):
            changed.append(path)
    old_pkg, new_pkg = old.get("packages", {}), new.get("packages", {})
    for name in sorted(set(old_pkg) | set(new_pkg)):
        if old_pkg.get(name) != new_pkg.get(name):
            changed.append(f"{name} {old_pkg.get(name)} -> {new_pkg.get(name)}")
    if old.get("python") != new.get("python"):
        changed.append(f"python {old.get('python')} -> {new.get('python')}")
    return changed
