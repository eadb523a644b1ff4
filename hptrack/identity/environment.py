"""Where a study ran: git commit and dirty flag, Python, platform, host, package versions."""

from __future__ import annotations

import platform
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from .code import package_version

# --------------------------------------------------------------------------- environment


_GIT_SECONDS = 5.0  # a script creating many small studies (nested CV) asks git once per this
_git_seen: dict[Path, tuple[float, dict[str, Any]]] = {}


def git_state(directory: Path) -> dict[str, Any]:
    """Commit and dirty flag of the git work tree holding ``directory``, if any.

    The answer is reused for ``_GIT_SECONDS`` (two ``git`` processes cost ~6 ms per study).
    """
    seen = _git_seen.get(directory)
    if seen is not None and time.monotonic() - seen[0] < _GIT_SECONDS:
        return dict(seen[1])
    state = _git_state(directory)
    _git_seen[directory] = (time.monotonic(), state)
    return dict(state)


def _git_state(directory: Path) -> dict[str, Any]:
    """Ask git (two processes)."""

    def _git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=directory, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status)}


def environment(estimator_module: str | None = None) -> dict[str, Any]:
    """Python, platform, host and the versions of the packages that produce scores."""
    versions = {name: package_version(name) for name in ("numpy", "sklearn", "scipy")}
    if estimator_module:
        top = estimator_module.split(".")[0]
        version = package_version(top)
        if version is not None:  # None: the user's own module (hashed in the code hash)
            versions.setdefault(top, version)
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "host": socket.gethostname(),
        "versions": versions,
    }
