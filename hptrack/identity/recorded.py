"""Whether a recorded code identity still holds, checked without importing the code.

:func:`hptrack.identity.code_fingerprint` walks imported objects; this module re-reads
what such a walk recorded: the bytes of each user file, the version of each installed
distribution, and what would make the walk record more than it did. It serves a run
that may have nothing to do (:mod:`hptrack.run.unchanged`): any doubt answers False, and
the caller then takes the full path, which imports and walks the code.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.metadata
import importlib.util
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .._json import hash_value
from .code import _CORE_DISTRIBUTIONS, _canonical_name, _dist_version, _requirements


def code_unchanged(components: Mapping[str, Any], code_hash: str, *, base_dir: Path) -> bool:
    """True when a code walk from ``base_dir`` now would record ``components`` again.

    Checked without importing anything: the components hash to ``code_hash``; every
    recorded source is a file under ``base_dir`` with the recorded sha256; every
    recorded distribution has the recorded version; the recorded distributions are
    closed under their installed requirements (as the walk follows them); and every
    installed module the recorded sources import at module level (an optional
    ``try: import x`` included) belongs to a recorded distribution.

    Parameters
    ----------
    components : mapping
        The study's recorded ``code`` (``{"sources", "packages", "python"}``).
    code_hash : str
        The study's recorded code hash.
    base_dir : Path
        The spec's directory, which recorded source paths are relative to.

    Returns
    -------
    bool
        False on any doubt: script code (``file.py:qualname``), a file shown by module
        path (outside ``base_dir``), a study recorded before the code walk (hptrack
        0.1), a changed file, version or Python.

    Notes
    -----
    Not seen without importing: a module imported under a computed name
    (``importlib.import_module(name)``), and a newly installed distribution that
    provides a top-level module which a recorded distribution also provides.
    """
    if set(components) != {"sources", "packages", "python"} or hash_value(components) != code_hash:
        return False
    if components["python"] != f"{sys.version_info.major}.{sys.version_info.minor}":
        return False
    sources: Mapping[str, str] = components["sources"]
    packages: Mapping[str, str | None] = components["packages"]
    texts = _source_texts(sources, base_dir)
    return (
        texts is not None
        and all(version is not None and _dist_version(name) == version for name, version in packages.items())
        and _closed_under_requirements(packages)
        and _imports_recorded(texts, packages, base_dir)
    )


def _source_texts(sources: Mapping[str, str], base_dir: Path) -> list[bytes] | None:
    """Each recorded file's bytes, if all are under ``base_dir`` with their recorded sha256."""
    texts = []
    for shown, digest in sources.items():
        path = base_dir / shown
        if ":" in shown or not path.is_file():  # script code, or a file shown by module path
            return None
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != digest:
            return None
        texts.append(data)
    return texts


def _closed_under_requirements(packages: Mapping[str, str | None]) -> bool:
    """True when the walk's closure (core distributions, installed requirements) adds nothing."""
    for name in [*_CORE_DISTRIBUTIONS, *(r for p in packages for r in _requirements(p))]:
        name = _canonical_name(name)
        if name not in packages and _dist_version(name) is not None:
            return False
    return True


def _imports_recorded(texts: Iterable[bytes], packages: Mapping[str, str | None], base_dir: Path) -> bool:
    """True when every installed module the sources import belongs to a recorded distribution."""
    imported: set[str] = set()
    for text in texts:
        try:
            imported |= _module_level_imports(ast.parse(text))
        except (SyntaxError, ValueError):
            return False
    for top in sorted(imported):
        if top in sys.stdlib_module_names or top in sys.builtin_module_names or top == "hptrack":
            continue
        if (base_dir / f"{top}.py").is_file() or (base_dir / top).is_dir():
            continue  # the user's own module beside the spec (first on sys.path): recorded if reached
        try:
            found = importlib.util.find_spec(top)  # finds, never imports, a top-level module
        except (ImportError, ValueError):
            return False
        if found is None:
            continue  # not installed: the import fails as it did, nothing for the walk to record
        # the distribution named like the module first: reading the others' file lists costs
        likely = sorted(packages, key=lambda name: name != _canonical_name(top))
        if not any(top in _provided_by(name) for name in likely):
            return False
    return True


def _module_level_imports(tree: ast.Module) -> set[str]:
    """Top-level names of the absolute imports a module runs when imported (not in functions)."""
    found: set[str] = set()
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.split(".")[0])
        elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            pending.extend(ast.iter_child_nodes(node))
    return found


@functools.cache
def _provided_by(name: str) -> frozenset[str]:
    """Top-level modules of one installed distribution (``top_level.txt``, else its files)."""
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return frozenset()
    declared = (dist.read_text("top_level.txt") or "").split()
    if declared:
        return frozenset(declared)
    tops = set()
    for line in (dist.read_text("RECORD") or "").splitlines():  # as text: PackagePath objects are slow
        first = line.split(",", 1)[0].strip('"').split("/", 1)[0]
        if first and first != ".." and not first.endswith((".dist-info", ".egg-info", ".pth")):
            tops.add(first.removesuffix(".py"))
    return frozenset(tops)
