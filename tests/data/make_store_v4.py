"""Write ``store_v4.db``, the committed schema-4 store, and the golden outputs of the read commands.

Run it with the hptrack of schema 4 (commit 6f62142), from the repository root::

    PYTHONPATH=$PWD python tests/data/make_store_v4.py          # the store, then the goldens
    PYTHONPATH=$PWD python tests/data/make_store_v4.py --goldens  # the goldens only

The store holds the studies of ``store_v3.db``, written the same way
(:func:`make_store_v3.make_store`: a grid with a failed trial and train scores, a wider grid
reusing its folds, a random study run in two runs and merged, a grid merged whole), but
by the schema-4 hptrack itself: the compact layout (metric ids, hashes stored once, integer
times, 8-byte fold keys) as ``hptrack run`` writes it, not as a migration rebuilds it.

``tests/data/golden/v4`` gets the stdout of the commands of ``make_store_v3.COMMANDS["v4"]``
(those of v3 but the two-study report: the four-study one covers it), read-only, as this
hptrack wrote them. Fold times are stored in microseconds already: nothing is rounded.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).parent


def _v3() -> ModuleType:
    """``make_store_v3.py`` beside this file: the recipe, the commands and how they are read."""
    spec = importlib.util.spec_from_file_location("make_store_v3", HERE / "make_store_v3.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_goldens(store: Path) -> None:
    """The outputs of the read commands on ``store``, opened read-only by them."""
    v3 = _v3()
    out_dir = v3.GOLDEN / "v4"
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hptrack-golden-") as tmp:
        for name, text in v3.read_outputs("v4", store, Path(tmp)).items():
            (out_dir / name).write_text(text, encoding="utf-8")


def main() -> None:
    if "--goldens" not in sys.argv:
        _v3().make_store(HERE / "store_v4.db")
    write_goldens(HERE / "store_v4.db")


if __name__ == "__main__":
    main()
