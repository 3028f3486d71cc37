"""The installed shim finds gitmodel whatever PATH git runs with, or refuses with one line.

gitmodel lives in a venv that is not on PATH (as on a server): the shim runs the
interpreter that installed it; when that one is gone it runs `gitmodel` from PATH; with
neither, the commit is refused (exit 1) with one line, and nothing is committed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from plugin.registry import Registry, git

from gitmodel.hooks.install import install

VENV_BIN = Path(sys.executable).parent
BARE_PATH = "/usr/bin:/bin"  # git and sh, no gitmodel


def commit(root: Path, path: str) -> subprocess.CompletedProcess[str]:
    """`git commit` of bytes in a model folder (gitmodel's pre-commit refuses them), with PATH."""
    (root / "models/x").mkdir(parents=True, exist_ok=True)
    (root / "models/x/w.bin").write_bytes(b"weights")
    git(root, "add", "models/x/w.bin")
    env = {**os.environ, "PATH": path}
    return subprocess.run(
        ["git", "commit", "-q", "-m", "bytes"], cwd=root, env=env, capture_output=True, text=True, check=False
    )


def test_the_recorded_interpreter_runs_off_path(registry: Registry) -> None:
    assert not (Path("/usr/bin/gitmodel").exists() or Path("/bin/gitmodel").exists())
    proc = commit(registry.root, BARE_PATH)
    assert proc.returncode == 1
    assert "refused models/x/w.bin [no-bytes-in-git]" in proc.stderr


def test_gitmodel_on_path_when_the_interpreter_is_gone(registry: Registry, tmp_path: Path) -> None:
    install(registry.root, python=str(tmp_path / "moved-venv" / "bin" / "python3"))
    proc = commit(registry.root, f"{VENV_BIN}:{BARE_PATH}")
    assert proc.returncode == 1
    assert "refused models/x/w.bin [no-bytes-in-git]" in proc.stderr


def test_neither_refuses_with_one_line(registry: Registry, tmp_path: Path) -> None:
    gone = tmp_path / "moved-venv" / "bin" / "python3"
    install(registry.root, python=str(gone))
    head = git(registry.root, "rev-parse", "HEAD").stdout
    proc = commit(registry.root, BARE_PATH)
    assert proc.returncode == 1
    hook = ".git/hooks/pre-commit"  # $0, as git runs it
    assert proc.stderr == (
        f"gitmodel: error: the pre-commit hook {hook} cannot find gitmodel ({gone} is gone and none is "
        "on PATH); put gitmodel on PATH, or rerun `gitmodel hooks install` with the gitmodel you use\n"
    )
    assert git(registry.root, "rev-parse", "HEAD").stdout == head
