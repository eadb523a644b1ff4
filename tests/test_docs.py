"""Every command has help with an example and is documented in the README."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from hptrack.cli import cli

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
COMMANDS = sorted(cli.commands)


@pytest.mark.parametrize("command", COMMANDS)
def test_command_has_help_with_an_example(command):
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    assert "Example: hptrack " + command in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_command_is_in_readme(command):
    assert f"hptrack {command}" in README


def test_readme_names_the_test_command_ci_runs():
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert "pip install -e '.[test]' && python -m pytest" in README
    assert "pip install -e '.[test]' && python -m pytest" in ci


def _public_api() -> list[tuple[str, object]]:
    import hptrack
    from hptrack.query import Store, Study, Trial

    names: list[tuple[str, object]] = [(name, getattr(hptrack, name)) for name in hptrack.__all__]
    for cls in (Store, Study, Trial):  # and the hptrack mixins they are made of
        members = {}
        for klass in reversed([k for k in cls.__mro__ if k.__module__.startswith("hptrack")]):
            members.update(vars(klass))
        for name, member in members.items():
            if name.startswith("_") or isinstance(member, property):
                continue
            function = getattr(member, "__func__", member)
            if callable(function):
                names.append((f"{cls.__name__}.{name}", function))
    return names


@pytest.mark.parametrize(("name", "obj"), _public_api(), ids=[name for name, _ in _public_api()])
def test_public_api_has_numpydoc_sections(name: str, obj: object) -> None:
    import inspect

    doc = inspect.getdoc(obj) or ""
    assert doc, f"{name} has no docstring"
    if isinstance(obj, type):
        if not issubclass(obj, Exception):  # a class documents its constructor's parameters
            assert "Parameters\n----------" in doc, f"{name}: no Parameters section"
        return
    signature = inspect.signature(obj)  # type: ignore[arg-type]
    if [p for p in signature.parameters if p not in ("self", "cls")]:
        assert "Parameters\n----------" in doc, f"{name}: no Parameters section"
    if signature.return_annotation not in (None, "None", inspect.Signature.empty):
        assert "Returns\n-------" in doc, f"{name}: no Returns section"
