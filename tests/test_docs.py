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
