"""Identities of what a study runs: its code, its data, its splits, where it ran.

Every hash goes through :mod:`hptrack._json`; this package decides what is hashed.
"""

from __future__ import annotations

from .code import code_fingerprint, diff_code, legacy_code_match, package_version
from .data import (
    data_fingerprint,
    fold_key,
    fold_key_base,
    fold_keys,
    fold_split_hash,
    fold_split_hashes,
    scorer_identity,
    split_fingerprint,
)
from .environment import environment, git_state
from .recorded import code_unchanged

__all__ = [
    "code_fingerprint",
    "code_unchanged",
    "data_fingerprint",
    "diff_code",
    "environment",
    "fold_key",
    "fold_keys",
    "fold_key_base",
    "fold_split_hash",
    "fold_split_hashes",
    "git_state",
    "legacy_code_match",
    "package_version",
    "scorer_identity",
    "split_fingerprint",
]
