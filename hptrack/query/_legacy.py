"""TRANSITIONAL: the pre-split store that both reads and writes, for callers not yet moved.

``runner.py``, ``search.py`` and ``verify.py`` still do ``from .store import Store`` and
call the write protocol and ``study()`` on one object. Delete this module (and
``hptrack.store.__getattr__``) once they use :class:`hptrack.store.Writer` with
:meth:`hptrack.query.Store.from_writer`.
"""

from __future__ import annotations

from typing import Any

from ..store import Writer
from .store import Store
from .study import Study
from .summary import StudySummary


class LegacyStore(Writer):
    """A :class:`~hptrack.store.Writer` that also answers the read API, as ``Store`` did before."""

    @property
    def _reads(self) -> Store:
        """The read API over this writer's connection."""
        return Store.from_writer(self)

    def studies(self) -> list[StudySummary]:
        """See :meth:`hptrack.Store.studies`."""
        return self._reads.studies()

    def study(self, name: str) -> Study:
        """See :meth:`hptrack.Store.study`."""
        return self._reads.study(name)

    def compare(self, a: str | Study, b: str | Study, **options: Any) -> Any:
        """See :meth:`hptrack.Store.compare`."""
        return self._reads.compare(a, b, **options)
