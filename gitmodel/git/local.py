"""The local repository: its paths, HEAD, config, commits and plain ref updates."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from gitmodel.errors import GitFailed, NotARegistry
from gitmodel.git.process import out, run


def toplevel(cwd: Path | str) -> Path:
    proc = run(["rev-parse", "--show-toplevel"], cwd, check=False)
    if proc.returncode != 0:
        raise NotARegistry(f"{Path(cwd).resolve()} is not inside a git repository; run `git init` first")
    return Path(proc.stdout.strip())


# A command asks for the git directory up to six times (the move's lock, its push
# marker), a git process each. Kept only for the plain layout, a `.git` directory in the
# work tree, which one stat confirms on each use; a worktree, a submodule or GIT_DIR asks git.
_PLAIN: set[Path] = set()


def git_dir(repo: Path) -> Path:
    """The common git directory (shared by worktrees)."""
    plain = Path(repo).resolve() / ".git"
    if plain in _PLAIN and plain.is_dir() and not _moved():
        return plain
    found = (repo / out(["rev-parse", "--git-common-dir"], repo)).resolve()
    if found == plain and not _moved():
        _PLAIN.add(plain)
    return found


def _moved() -> bool:
    return bool(os.environ.get("GIT_DIR") or os.environ.get("GIT_COMMON_DIR"))


def show(repo: Path, rev: str, path: str) -> str | None:
    proc = run(["show", f"{rev}:{path}"], repo, check=False)
    return proc.stdout if proc.returncode == 0 else None


def head(repo: Path) -> str | None:
    proc = run(["rev-parse", "--verify", "-q", "HEAD"], repo, check=False)
    return proc.stdout.strip() or None


def branch(repo: Path) -> str | None:
    proc = run(["symbolic-ref", "--short", "-q", "HEAD"], repo, check=False)
    return proc.stdout.strip() or None


def identity(repo: Path) -> str:
    """`Name <email>` of whoever git would record as committer here."""
    proc = run(["var", "GIT_COMMITTER_IDENT"], repo, check=False)
    if proc.returncode != 0:
        raise GitFailed(
            ["var", "GIT_COMMITTER_IDENT"], proc.stderr + "\nset git config user.name and user.email"
        )
    ident = proc.stdout.strip()
    return ident[: ident.rindex(">") + 1] if ">" in ident else ident


def add(repo: Path, paths: Sequence[str]) -> None:
    run(["add", "--", *paths], repo)


def commit(repo: Path, message: str, paths: Sequence[str]) -> str:
    """Commit exactly `paths` (other staged changes stay staged) and return the new id."""
    run(["add", "-A", "--", *paths], repo)
    run(["commit", "-q", "--no-verify", "-F", "-", "--only", "--", *paths], repo, stdin=message)
    return out(["rev-parse", "HEAD"], repo)


def is_ancestor(repo: Path, older: str, newer: str) -> bool:
    return run(["merge-base", "--is-ancestor", older, newer], repo, check=False).returncode == 0


def update_ref(repo: Path, ref: str, new: str, old: str) -> None:
    run(["update-ref", ref, new, old], repo)


def ref_value(repo: Path, ref: str) -> str | None:
    proc = run(["rev-parse", "--verify", "-q", ref], repo, check=False)
    return proc.stdout.strip() or None


def restore_paths(repo: Path, rev: str | None, paths: Sequence[str]) -> None:
    """Put `paths` back as they were at `rev` in index and work tree; remove ones it lacked."""
    for path in paths:
        existed = (
            rev is not None and run(["cat-file", "-e", f"{rev}:{path}"], repo, check=False).returncode == 0
        )
        if existed:
            run(["checkout", "-q", str(rev), "--", path], repo)
        else:
            run(["rm", "-q", "-r", "--cached", "--ignore-unmatch", "--", path], repo)
            target = repo / path
            if target.is_file() or target.is_symlink():
                target.unlink()


def reset_head(repo: Path, old: str | None, new: str) -> None:
    """Move HEAD's branch back from `new` to `old` (only if it still points at `new`)."""
    ref = out(["symbolic-ref", "-q", "HEAD"], repo) or "HEAD"
    if old is None:
        run(["update-ref", "-d", ref, new], repo)
    else:
        update_ref(repo, ref, old, new)


def git_path(repo: Path, name: str) -> Path:
    """Where git keeps `name` for this repo: honours core.hooksPath and worktrees."""
    return (Path(repo) / out(["rev-parse", "--git-path", name], repo)).absolute()


def symbolic_head(repo: Path) -> str | None:
    """The full ref HEAD names (e.g. refs/heads/main), also in a bare repository."""
    proc = run(["symbolic-ref", "-q", "HEAD"], repo, check=False)
    return proc.stdout.strip() or None


def config_get(repo: Path, key: str) -> str | None:
    proc = run(["config", "--get", key], repo, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def config_set(repo: Path, key: str, value: str | None) -> None:
    """Set a key in the repository's own config (None unsets it)."""
    if value is None:
        run(["config", "--unset-all", key], repo, check=False)
    else:
        run(["config", key, value], repo)
