"""Which fields of two study specs differ, as a study's identity sees them (process-local
params are no part of it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def diff_specs(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Dotted names of the fields that differ between two spec dicts (``name`` ignored).

    Process-local params (``n_jobs``, ``verbose``, a Pipeline's ``memory``) are not
    compared: they are no part of a study's identity (``hptrack._json.spec_identity``).
    """
    from .._json import spec_identity

    changed: list[str] = []

    def walk(a: Any, b: Any, prefix: str) -> None:
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            for key in sorted(set(a) | set(b), key=str):
                if prefix == "" and key == "name":
                    continue
                walk(a.get(key, _MISSING), b.get(key, _MISSING), f"{prefix}{key}.")
        elif _comparable(a) != _comparable(b):
            changed.append(prefix.rstrip("."))

    walk(spec_identity(old), spec_identity(new), "")
    return changed


_MISSING = object()


def _comparable(value: Any) -> Any:
    from .._json import canonical_json

    if value is _MISSING:
        return "<missing>"
    return canonical_json(value)
