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


def use_framework(registry: Registry, src: Path, rev: str) -> subprocess.CompletedProcess[str]:
    registry.write(
        ".pre-commit-config.yaml", f"repos:\n- repo: {src}\n  rev: {rev}\n  hooks: [{{id: gitmodel}}]\n"
    )
    git(registry.root, "add", ".pre-commit-config.yaml")
    git(registry.root, "commit", "-q", "-m", "use pre-commit")
    return run(registry.root, str(BIN / "pre-commit"), "install")


def test_ci_modes_judge_what_was_committed_with_no_verify(
    registry: Registry, hook_source: tuple[Path, str]
) -> None:
    src, _ = hook_source
    registry.write("m.gguf", random_bytes(2000, 1))
    registry.ok("register", "support", "m.gguf", "--meta", str(registry.meta()))
    registry.ok("hooks", "uninstall")
    # `rev: main` is accepted (pre-commit warns that it is a mutable reference).
    assert use_framework(registry, src, "main").returncode == 0
    good = git(registry.root, "rev-parse", "HEAD").stdout.strip()
    pre_commit = str(BIN / "pre-commit")
    assert run(registry.root, pre_commit, "run", "--all-files").returncode == 0

    meta = registry.root / "models/support/model.yaml"
    meta.write_text(meta.read_text() + "metrics: {accuracy: high}\n")
    git(registry.root, "commit", "-q", "--no-verify", "-am", "bad metadata")
    expected = "refused HEAD:models/support/model.yaml [schema]"
    proc = run(registry.root, pre_commit, "run", "--all-files")
    assert proc.returncode == 1 and expected in proc.stdout, proc.stdout + proc.stderr
    proc = run(registry.root, pre_commit, "run", "--files", "models/support/model.yaml")
    assert proc.returncode == 1 and expected in proc.stdout
    proc = run(registry.root, pre_commit, "run", "--from-ref", good, "--to-ref", "HEAD")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"refused {good}..HEAD:models/support/model.yaml [schema]" in proc.stdout
    # A range that does not contain the bad commit passes; so does a commit that fixes it.
    assert run(registry.root, pre_commit, "run", "--from-ref", "HEAD", "--to-ref", "HEAD").returncode == 0
    git(registry.root, "checkout", "-q", good, "--", "models")
    proc = run(registry.root, "git", "commit", "-q", "-m", "fix metadata")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert run(registry.root, pre_commit, "run", "--all-files").returncode == 0


def test_gitmodel_hooks_and_pre_commit_installed_in_either_order(
    registry: Registry, hook_source: tuple[Path, str]
) -> None:
    src, rev = hook_source
    registry.write("m.gguf", random_bytes(2000, 1))
    registry.ok("register", "support", "m.gguf", "--meta", str(registry.meta()))
    hooks = registry.root / ".git" / "hooks"
    # `gitmodel init` installed the shim; pre-commit keeps it as pre-commit.legacy.
    assert use_framework(registry, src, rev).returncode == 0
    framework_script = (hooks / "pre-commit").read_text()
    out = registry.ok("hooks", "install").stdout
    said = "pre-commit: installed as the legacy hook that pre-commit's own hook runs first"
    assert f"{said} ({hooks / 'pre-commit.legacy'})" in out
    assert (hooks / "pre-commit").read_text() == framework_script
    assert not (hooks / "pre-commit.gitmodel-chained").exists()

    registry.write("README.md", "fine")
    git(registry.root, "add", "README.md")
    proc = run(registry.root, "git", "commit", "-q", "-m", "docs")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "migration mode" not in proc.stdout + proc.stderr

    (registry.root / "models/support/x.bin").write_bytes(b"weights")
    git(registry.root, "add", "models/support/x.bin")
    proc = run(registry.root, "git", "commit", "-q", "-m", "bytes")
    assert proc.returncode == 1
    assert "refused models/support/x.bin [no-bytes-in-git]" in proc.stdout + proc.stderr
    git(registry.root, "rm", "-q", "--cached", "models/support/x.bin")

    # Uninstall takes only gitmodel's part away; pre-commit's script keeps working.
    assert "pre-commit: removed" in registry.ok("hooks", "uninstall").stdout
    assert not (hooks / "pre-commit.legacy").exists()
    assert (hooks / "pre-commit").read_text() == framework_script
    registry.write("README.md", "fine again")
    git(registry.root, "add", "README.md")
    proc = run(registry.root, "git", "commit", "-q", "-m", "docs")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_foreign_legacy_hook_under_pre_commit_is_refused(
    registry: Registry, hook_source: tuple[Path, str]
) -> None:
    src, rev = hook_source
    registry.ok("hooks", "uninstall")
    hooks = registry.root / ".git" / "hooks"
    (hooks / "pre-commit").write_text("#!/bin/sh\nexit 0\n")
    (hooks / "pre-commit").chmod(0o755)
    assert use_framework(registry, src, rev).returncode == 0  # theirs becomes pre-commit.legacy
    before = sorted(p.name for p in hooks.iterdir())
    err = registry.fails(2, "hooks", "install").stderr
    assert "is the pre-commit framework's and runs pre-commit.legacy, another hook" in err
    assert "add gitmodel to .pre-commit-config.yaml instead" in err
    assert sorted(p.name for p in hooks.iterdir()) == before
