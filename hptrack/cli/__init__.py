"""The ``hptrack`` command line: parse, call one library function, print, pick the exit code.

``_app`` holds the group, the error translation (exit codes 0, 1, 2, 130) and the shared
options; ``running`` the commands that run trials or write the store; ``reading`` the
query and report commands. Importing this package registers every command.
"""

from __future__ import annotations

from . import reading, running  # noqa: F401  (registers the commands on the group)
from ._app import cli, main

__all__ = ["cli", "main"]
