"""Shared fixtures: real store files in tmp_path, small valid specs, a CLI runner."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from hptrack import Store
from hptrack.cli import cli

# A user's own data module, written beside each spec: 300 digits, so folds are fast.
DATA_MODULE = textwrap.dedent(
    """
    from sklearn.datasets import load_digits


    def load():
        X, y = load_digits(return_X_y=True)
        return X[:300], y[:300]


    def load_groups():
        X, y = load()
        return X, y, [i % 6 for i in range(len(y))]
    """
)

BASE_SPEC: dict[str, Any] = {
    "name": "tiny",
    "search": "grid",
    "seed": 0,
    "estimator": "sklearn.linear_model:LogisticRegression",
    "data": "tinydata:load",
    "metrics": ["accuracy", "f1_macro"],
    "fixed": {"max_iter": 200},
    "cv": {"kind": "stratified", "folds": 3, "shuffle": True},
    "space": {"C": [0.01, 0.1, 1.0]},
}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if not (isinstance(value, float) and value != value) else "nan"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(value)


def to_toml(spec: dict[str, Any]) -> str:
    """A small TOML writer for test specs: scalars first, then one table per dict."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in spec.items() if not isinstance(v, dict)]
    for key, table in spec.items():
        if isinstance(table, dict):
            lines.append(f"\n[{key}]")
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in table.items())
    return "\n".join(lines) + "\n"


SpecWriter = Callable[..., Path]


@pytest.fixture
def write_spec(tmp_path: Path) -> SpecWriter:
    """Write a valid small spec (plus its data module) to tmp_path; keyword args override keys.

    ``write_spec(space={"gama": [0.1]})`` replaces a key; ``drop=["metrics"]`` removes keys;
    ``filename=`` names the file.
    """

    def write(*, drop: tuple[str, ...] = (), filename: str = "spec.toml", **overrides: Any) -> Path:
        (tmp_path / "tinydata.py").write_text(DATA_MODULE)
        spec = {**BASE_SPEC, **overrides}
        for key in drop:
            spec.pop(key, None)
        path = tmp_path / filename
        path.write_text(to_toml(spec))
        return path

    return write


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "hptrack.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    with Store(db_path) as s:  # a real file; never mock our store
        yield s


@pytest.fixture
def invoke() -> Callable[..., Result]:
    """Run the CLI in-process: ``invoke("trials", "tiny", "--store", str(db))``."""
    runner = CliRunner()

    def run(*args: str, **kwargs: Any) -> Result:
        return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False, **kwargs)

    return run
