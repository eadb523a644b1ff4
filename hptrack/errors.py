"""Every exception hptrack raises for problems a user can fix, and nothing else.

Every one of them is printed by the CLI as a single ``Error: ...`` line with exit code 2.
The hierarchy::

    HptrackError                      a problem the user can fix (CLI: exit 2)
    ├── SpecError (ValueError)        a bad spec or argument value
    ├── StoreError                    not SQLite / not hptrack / corrupt / newer schema
    ├── StudyNotFoundError (LookupError)
    ├── TrialNotFoundError (LookupError)
    ├── SpecMismatchError             a study of that name exists with another spec
    ├── DriftError                    code or data changed since the study was created
    ├── MergeRefusedError             a source study's name is taken by another study
    ├── MissingDependencyError (ImportError)   an optional package is not installed
    └── ClusterError (ConnectionError)         the Dask scheduler cannot be reached

A user's own code failing (a fit, a scorer) is not an hptrack error: it is recorded
with its traceback and scored ``error_score``. A failed check (``verify`` drift,
``compare --fail-on-regression``) is a result with ``.ok``, not an exception.
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
    """The code or data changed since the study was created; resuming would mix results.

    ``fix`` is how to accept the change where the study was continued from: the Python
    keyword by default; the CLI passes its own command (``hptrack run SPEC
    --allow-code-change`` or ``hptrack resume NAME --allow-code-change``). When
    ``mixable`` is False (the CV splits changed), nothing can accept it: the message says
    to start a new study under a new name instead (``new_study`` says how).
    """

    def __init__(
        self,
        study: str,
        what: list[str],
        *,
        fix: str = "allow_code_change=True",
        mixable: bool = True,
        new_study: str = "fit again with another study= name",
    ) -> None:
        if mixable:
            message = (
                f"cannot resume {study!r}: {'; '.join(what)}; to accept it and mix old and new "
                f"results, use {fix}; or start a new study under another name"
            )
        else:
            message = (
                f"cannot resume {study!r}: {'; '.join(what)}; folds scored on different CV splits "
                f"cannot be mixed, even with --allow-code-change (allow_code_change=True); "
                f"start a new study under a new name: {new_study}"
            )
        super().__init__(message)
        self.study = study
        self.what = what
        self.mixable = mixable

    def with_hints(self, *, fix: str, new_study: str) -> DriftError:
        """The same refusal, its hints naming the command the user ran."""
        return DriftError(self.study, self.what, fix=fix, mixable=self.mixable, new_study=new_study)


class MergeRefusedError(HptrackError):
    """A source study has the name of a different study in the destination."""

    def __init__(self, message: str, *, study: str, source: str, fields: list[str]) -> None:
        super().__init__(message)
        self.study = study
        self.source = source
        self.fields = fields


class MissingDependencyError(HptrackError, ImportError):
    """An optional dependency (pandas, dask.distributed) is needed but not installed."""


class ClusterError(HptrackError, ConnectionError):
    """The Dask scheduler named by ``--dask`` (or ``HPTRACK_DASK``) cannot be reached."""
