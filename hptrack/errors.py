"""The exceptions hptrack raises for problems a user can fix.

Every one of them is printed by the CLI as a single ``Error: ...`` line with exit code 2.
"""

from __future__ import annotations


class HptrackError(Exception):
    """A problem the user can fix; the CLI prints it as one `Error:` line and exits 2."""


class SpecError(HptrackError, ValueError):
    """A study spec, or an argument value, is invalid."""


class StoreError(HptrackError):
    """The store file is not SQLite, not an hptrack store, corrupt, or from a newer version."""


class StudyNotFoundError(HptrackError, LookupError):
    """No study of that name is in the store."""


class TrialNotFoundError(HptrackError, LookupError):
    """No trial of that number is in the study."""


class SpecMismatchError(HptrackError):
    """A study of that name exists with a different spec, or was fitted on different data."""

    def __init__(self, study: str, fields: list[str]) -> None:
        super().__init__(
            f"study {study!r} exists with a different spec (changed: {', '.join(fields)}); "
            f"use another study name, or `hptrack resume {study}` to continue the stored one"
        )
        self.study = study
        self.fields = fields


class DriftError(HptrackError):
    """The code or data changed since the study was created; resuming would mix results."""

    def __init__(self, study: str, what: list[str]) -> None:
        super().__init__(
            f"cannot resume {study!r}: {'; '.join(what)}; pass --allow-code-change "
            "(allow_code_change=True) to accept it, or start a new study"
        )
        self.study = study
        self.what = what
