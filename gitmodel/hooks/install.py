"""Install and uninstall the hook shims; idempotent, and kind to hooks already there.

A hook that is not ours is renamed NAME.gitmodel-chained and run first by our shim
(its failure stops the commit or push); uninstall puts it back.  The pre-commit
framework's own script is the exception: it already runs NAME.legacy before its hooks
(its "migration mode"), and chaining to it would make it run our shim's chain again,
which it refuses on every commit. So under pre-commit's script our shim goes to
NAME.legacy, and pre-commit's script stays where it is.  The hooks folder is
the one git uses: `git rev-parse --git-path hooks` honours core.hooksPath and, in a
linked worktree, resolves to the common git directory (`--git-common-dir`) that all
worktrees share.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from gitmodel import git
from gitmodel.errors import NotARegistry, UsageError
from gitmodel.hooks.shim import (
    ALL_HOOKS,
    CHAINED_SUFFIX,
    CLIENT_HOOKS,
    LEGACY_SUFFIX,
    SERVER_HOOKS,
    is_ours,
    is_pre_commit,
    render,
)
from gitmodel.policy import dvcremote


@dataclass(frozen=True)
class Change:
    hook: str
    path: Path
    # installed, chained, updated, unchanged, under-pre-commit | removed, restored, absent, foreign
    action: str


def repo_root(path: Path) -> Path:
    """The work tree's top, or the git directory of a bare repository."""
    proc = git.run(["rev-parse", "--is-bare-repository"], path, check=False)
    if proc.returncode != 0:
        raise NotARegistry(f"{path} is not a git repository; give --path a repository")
    if proc.stdout.strip() == "true":
        return Path(git.out(["rev-parse", "--absolute-git-dir"], path))
    return git.toplevel(path)


def hooks_dir(repo: Path) -> Path:
    return git.git_path(repo, "hooks")


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def _exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.gitmodel-tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(0o755)
    os.replace(tmp, path)


def install(
    repo: Path,
    *,
    server: bool = False,
    python: str | None = None,
    dvc_check: bool | None = None,
    dvc_remote: str | None = None,
) -> list[Change]:
    """Install the client hooks (pre-commit, pre-push) or the server's pre-receive."""
    folder = hooks_dir(repo)
    if dvc_remote is not None:
        dvcremote.check_url(dvc_remote)
    elif dvc_check and not git.config_get(repo, dvcremote.URL_KEY):
        raise UsageError(
            "--dvc-check needs --dvc-remote URL: the server checks its own DVC remote, "
            "never the one a pushed .dvc/config names"
        )
    names = SERVER_HOOKS if server else CLIENT_HOOKS
    texts = {name: render(name, python or sys.executable) for name in names}
    for name in names:  # refuse before changing anything
        path, chained = folder / name, folder / (name + CHAINED_SUFFIX)
        current = _read(path)
        legacy = folder / (name + LEGACY_SUFFIX)
        if is_pre_commit(current or "") and _exists(legacy) and not is_ours(_read(legacy) or ""):
            raise UsageError(
                f"{path} is the pre-commit framework's and runs {legacy.name}, another hook: add "
                "gitmodel to .pre-commit-config.yaml instead (`- repo: ...` with `hooks: [{id: gitmodel}]`, "
                "docs/hooks.md)"
            )
        if _exists(path) and not is_ours(current or "") and _exists(chained):
            raise UsageError(
                f"{path} is not gitmodel's and {chained.name} already exists; merge the two "
                "into one hook by hand, then rerun `gitmodel hooks install`"
            )
    folder.mkdir(parents=True, exist_ok=True)
    changes = [_install_one(folder, name, texts[name]) for name in names]
    if server and dvc_remote is not None:
        git.config_set(repo, dvcremote.URL_KEY, dvc_remote)
    if server and dvc_check is not None:
        git.config_set(repo, dvcremote.CONFIG_KEY, "true" if dvc_check else None)
    return changes


def _install_one(folder: Path, name: str, text: str) -> Change:
    path, chained = folder / name, folder / (name + CHAINED_SUFFIX)
    current = _read(path)
    if current is not None and is_pre_commit(current):
        legacy = folder / (name + LEGACY_SUFFIX)
        if _read(legacy) != text:
            _write(legacy, text)
        return Change(name, legacy, "under-pre-commit")
    if current == text:
        return Change(name, path, "unchanged")
    if current is not None and is_ours(current):
        _write(path, text)
        return Change(name, path, "updated")
    if _exists(path):
        path.rename(chained)
        _write(path, text)
        return Change(name, path, "chained")
    _write(path, text)
    return Change(name, path, "installed")


def uninstall(repo: Path) -> list[Change]:
    """Remove every gitmodel hook from the repository and put back the hooks they chained."""
    folder = hooks_dir(repo)
    return [_uninstall_one(folder, name) for name in ALL_HOOKS]


def _uninstall_one(folder: Path, name: str) -> Change:
    path, chained = folder / name, folder / (name + CHAINED_SUFFIX)
    legacy = folder / (name + LEGACY_SUFFIX)
    if is_pre_commit(_read(path) or "") and is_ours(_read(legacy) or ""):
        legacy.unlink()  # pre-commit's script keeps running, without us
        return Change(name, legacy, "removed")
    if _exists(path) and not is_ours(_read(path) or ""):
        return Change(name, path, "foreign")
    removed = _exists(path)
    if removed:
        path.unlink()
    if _exists(chained):
        chained.rename(path)
        return Change(name, path, "restored")
    return Change(name, path, "removed" if removed else "absent")
