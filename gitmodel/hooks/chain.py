"""Run the hook that was installed before ours (kept as NAME.gitmodel-chained)."""

from __future__ import annotations

import os
import subprocess  # noqa: TID251 - runs the user's own hook script, not git or DVC
from collections.abc import Sequence
from pathlib import Path

from gitmodel.hooks.shim import CHAINED_SUFFIX


def find(shim: Path, name: str) -> Path | None:
    """The chained hook next to the shim, if git would run it (an executable file).

    Only a shim that git ran as NAME chains: run as NAME.legacy, the pre-commit
    framework's script called it and runs the hooks around it itself (chaining would
    call that script again, which it refuses on every commit).
    """
    if shim.name != name:
        return None
    candidate = shim.parent / (name + CHAINED_SUFFIX)
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return candidate
    return None


def run(hook: Path, args: Sequence[str], stdin: bytes, cwd: Path) -> int:
    """Run it as git would: same arguments, same stdin, output straight to the terminal."""
    return subprocess.run([str(hook.absolute()), *args], input=stdin, cwd=cwd, check=False).returncode
