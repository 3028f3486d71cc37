"""The pre-commit framework path: .pre-commit-hooks.yaml, driven by the real `pre-commit`.

The hook source is a local git repository holding this project's manifest (so the
manifest itself is what is tested, offline); `language: system` runs the gitmodel
already installed, found on PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from plugin.registry import Registry, git, random_bytes

pytest.importorskip("pre_commit", reason="the test extras include pre-commit")
pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        list(args), cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=120
    )


@pytest.fixture
def hook_source(tmp_path: Path) -> tuple[Path, str]:
    src = tmp_path / "gitmodel-src"
    src.mkdir()
    shutil.copy(REPO_ROOT / ".pre-commit-hooks.yaml", src / ".pre-commit-hooks.yaml")
    git(src, "init", "-q")
    git(src, "add", ".pre-commit-hooks.yaml")
    git(src, "commit", "-q", "-m", "manifest")
    return src, git(src, "rev-parse", "HEAD").stdout.strip()


def test_three_lines_of_config_enforce_the_commit_rules(
    registry: Registry, hook_source: tuple[Path, str]
) -> None:
    src, rev = hook_source
    registry.write("m.gguf", random_bytes(2000, 1))
    registry.ok("register", "support", "m.gguf", "--meta", str(registry.meta()))
    registry.ok("hooks", "uninstall")  # only the framework's hook from here on
    registry.write(
        ".pre-commit-config.yaml", f"repos:\n- repo: {src}\n  rev: {rev}\n  hooks: [{{id: gitmodel}}]\n"
    )
    git(registry.root, "add", ".pre-commit-config.yaml")
    git(registry.root, "commit", "-q", "-m", "use pre-commit")
    installed = run(registry.root, str(BIN / "pre-commit"), "install")
    assert installed.returncode == 0, installed.stdout + installed.stderr

    meta = registry.root / "models/support/model.yaml"
    meta.write_text(meta.read_text().replace("description:", "description: edited", 1))
    git(registry.root, "add", "models")
    before = git(registry.root, "rev-parse", "HEAD").stdout
    proc = run(registry.root, "git", "commit", "-q", "-m", "edit in place")
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "gitmodel policy" in text and "Failed" in text
    assert "refused models/support/model.yaml [immutable-version-files]" in text
    assert git(registry.root, "rev-parse", "HEAD").stdout == before

    git(registry.root, "checkout", "-q", "HEAD", "--", "models")
    registry.write("README.md", "fine")
    git(registry.root, "add", "README.md")
    proc = run(registry.root, "git", "commit", "-q", "-m", "docs")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "gitmodel policy" in proc.stdout + proc.stderr and "Passed" in proc.stdout + proc.stderr
