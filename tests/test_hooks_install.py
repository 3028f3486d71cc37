"""hooks install/uninstall: idempotent, chain to existing hooks, core.hooksPath, worktrees."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest
from plugin.hooks import refused
from plugin.registry import Registry, git, make_runner, random_bytes

from gitmodel.hooks.shim import ALL_HOOKS, MARKER, render

REPO_ROOT = Path(__file__).resolve().parents[1]


def hooks_dir(reg: Registry) -> Path:
    return reg.root / ".git" / "hooks"


def bad_commit(root: Path) -> object:
    """Stage bytes in a model folder: gitmodel's pre-commit must refuse them."""
    (root / "models/x").mkdir(parents=True, exist_ok=True)
    (root / "models/x/w.bin").write_bytes(b"weights")
    git(root, "add", "models/x/w.bin")
    return git(root, "commit", "-q", "-m", "bytes", check=False)


def test_init_installs_the_client_hooks(registry: Registry) -> None:
    for name in ("pre-commit", "pre-push"):
        path = hooks_dir(registry) / name
        text = path.read_text()
        assert MARKER in text and sys.executable in text
        assert path.stat().st_mode & stat.S_IXUSR
    assert not (hooks_dir(registry) / "pre-receive").exists()
    refused(bad_commit(registry.root), "models/x/w.bin", "no-bytes-in-git")


def test_install_and_uninstall_are_idempotent(registry: Registry) -> None:
    first = {p.name: p.read_text() for p in hooks_dir(registry).iterdir() if not p.name.endswith(".sample")}
    out = registry.ok("hooks", "install").stdout
    assert out.count("already installed") == 2
    assert {
        p.name: p.read_text() for p in hooks_dir(registry).iterdir() if not p.name.endswith(".sample")
    } == first
    assert registry.ok("hooks", "uninstall").stdout.count("removed") == 2
    assert registry.ok("hooks", "uninstall").stdout.strip() == "no gitmodel hooks were installed"
    assert not (hooks_dir(registry) / "pre-commit").exists()
    assert bad_commit(registry.root).returncode == 0  # nothing checks any more


def test_existing_hook_is_chained_and_restored(registry: Registry, tmp_path: Path) -> None:
    registry.ok("hooks", "uninstall")
    log = tmp_path / "log"
    original = f'#!/bin/sh\necho "mine $*" >> {log}\ncat >> {log}\n'
    for name in ("pre-commit", "pre-push"):
        (hooks_dir(registry) / name).write_text(original)
        (hooks_dir(registry) / name).chmod(0o755)
    out = registry.ok("hooks", "install").stdout
    assert out.count("the existing hook was kept and runs first") == 2
    assert registry.ok("hooks", "install").stdout.count("already installed") == 2
    # pre-commit: the old hook ran, then gitmodel refused
    refused(bad_commit(registry.root), "models/x/w.bin", "no-bytes-in-git")
    assert "mine" in log.read_text()
    git(registry.root, "reset", "-q")
    # pre-push: the old hook got the same arguments and stdin
    assert git(registry.root, "push", "origin", "main", check=False).returncode == 0
    assert "mine origin " in log.read_text() and "refs/heads/main" in log.read_text()
    registry.ok("hooks", "uninstall")
    for name in ("pre-commit", "pre-push"):
        path = hooks_dir(registry) / name
        assert path.read_text() == original
        assert path.stat().st_mode & stat.S_IXUSR
        assert not path.with_name(name + ".gitmodel-chained").exists()


def test_failing_chained_hook_stops_the_commit(registry: Registry) -> None:
    chained = hooks_dir(registry) / "pre-commit.gitmodel-chained"
    chained.write_text("#!/bin/sh\necho 'lint failed' >&2\nexit 3\n")
    chained.chmod(0o755)
    registry.write("README.md", "fine")
    git(registry.root, "add", "README.md")
    proc = git(registry.root, "commit", "-q", "-m", "x", check=False)
    assert proc.returncode != 0
    assert "lint failed" in proc.stderr
    assert "pre-commit.gitmodel-chained refused (exit 3)" in proc.stderr


def test_foreign_hook_with_a_chained_one_already_there_is_refused(registry: Registry) -> None:
    registry.ok("hooks", "uninstall")
    for name in ("pre-commit", "pre-commit.gitmodel-chained"):
        (hooks_dir(registry) / name).write_text("#!/bin/sh\nexit 0\n")
    before = sorted(p.name for p in hooks_dir(registry).iterdir())
    result = registry.fails(2, "hooks", "install")
    assert "merge the two" in result.stderr
    assert sorted(p.name for p in hooks_dir(registry).iterdir()) == before


def test_uninstall_leaves_a_foreign_hook_alone(registry: Registry) -> None:
    registry.ok("hooks", "uninstall")
    (hooks_dir(registry) / "pre-push").write_text("#!/bin/sh\nexit 0\n")
    assert "not gitmodel's; left alone" in registry.ok("hooks", "uninstall").stdout
    assert (hooks_dir(registry) / "pre-push").read_text() == "#!/bin/sh\nexit 0\n"


@pytest.mark.parametrize("where", ["relative", "absolute"])
def test_core_hooks_path_is_respected(registry: Registry, tmp_path: Path, where: str) -> None:
    registry.ok("hooks", "uninstall")
    target = ".githooks" if where == "relative" else str(tmp_path / "shared-hooks")
    git(registry.root, "config", "core.hooksPath", target)
    registry.ok("hooks", "install")
    folder = registry.root / target if where == "relative" else Path(target)
    assert MARKER in (folder / "pre-commit").read_text()
    assert not (hooks_dir(registry) / "pre-commit").exists()
    refused(bad_commit(registry.root), "models/x/w.bin", "no-bytes-in-git")


def test_worktrees_share_the_common_hooks(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    registry.ok("hooks", "uninstall")
    wt = registry.root.parent / "wt"
    git(registry.root, "worktree", "add", "-q", str(wt))
    result = make_runner(monkeypatch, wt)("hooks", "install")
    assert result.exit_code == 0, result.stderr
    assert MARKER in (hooks_dir(registry) / "pre-commit").read_text()  # the common dir
    refused(bad_commit(wt), "models/x/w.bin", "no-bytes-in-git")


def test_server_install_into_a_bare_repo(registry: Registry, tmp_path: Path) -> None:
    origin = tmp_path / "origin.git"
    out = registry.ok("hooks", "install", "--server", "--path", str(origin)).stdout
    assert "pre-receive: installed" in out
    assert MARKER in (origin / "hooks/pre-receive").read_text()
    assert not (origin / "hooks/pre-commit").exists()
    registry.write("m.gguf", random_bytes(100, 1))
    registry.ok("register", "support", "m.gguf", "--meta", str(registry.meta()))
    git(registry.root, "tag", "support@v9.0.0")  # lightweight
    proc = git(registry.root, "push", "--no-verify", "origin", "support@v9.0.0", check=False)
    refused(proc, "support@v9.0.0", "annotated-tags")
    assert "pre-receive: removed" in registry.ok("hooks", "uninstall", "--path", str(origin)).stdout
    assert not (origin / "hooks/pre-receive").exists()


def test_install_usage_errors(registry: Registry, tmp_path: Path) -> None:
    assert "not a git repository" in registry.fails(2, "hooks", "install", "--path", str(tmp_path)).stderr
    assert "go with --server" in registry.fails(2, "hooks", "install", "--dvc-check").stderr


def test_shipped_shims_are_what_install_writes() -> None:
    for name in ALL_HOOKS:
        shipped = REPO_ROOT / "hooks" / name
        assert shipped.read_text() == render(name, None)  # `gitmodel` from PATH
        assert shipped.stat().st_mode & stat.S_IXUSR
        assert len(shipped.read_text().splitlines()) <= 8


def test_every_hooks_option_has_help(registry: Registry) -> None:
    import click

    from gitmodel.cli.hooks import hooks

    for command in hooks.commands.values():
        assert command.help, command.name
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, (command.name, param.name)
    help_text = registry.ok("--help").stdout
    listed = [ln.split()[0] for ln in help_text.split("Commands:")[1].splitlines() if ln.strip()]
    assert "hooks" in listed and "hook" not in listed  # the shims' entry point is hidden
