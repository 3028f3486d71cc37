"""Make a git repository a gitmodel registry."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gitmodel import config, dvc, git
from gitmodel.errors import UsageError


@dataclass(frozen=True)
class Initialised:
    repo: Path
    created_config: bool
    initialised_dvc: bool
    remote: str | None
    commit: str | None
    hooks: tuple[str, ...] = ()  # the client hooks now in place (gitmodel.hooks)


REMOTE_NAME = "storage"


def init_registry(cwd: Path, remote: str | None = None, force: bool = False) -> Initialised:
    """Make CWD's repository a registry; `remote` adds a local-path DVC remote as the default.

    Rerunning is safe: a `remote` naming the default remote already there changes nothing,
    and replacing a different default needs `force` (hosts follow it once committed).
    """
    repo = git.toplevel(cwd)
    cfg = repo / config.FILENAME
    url = _remote_path(remote) if remote else None
    known = url is not None and _is_default(repo, url, force)
    created_dvc = False
    if not dvc.is_initialised(repo):
        dvc.init(repo)
        created_dvc = True
    remote_url = str(url) if url is not None else None
    if url is not None and not known:  # the default already: nothing to write
        url.mkdir(parents=True, exist_ok=True)
        dvc.add_remote(repo, REMOTE_NAME, str(url))
    created_cfg = not cfg.exists()
    if created_cfg:
        cfg.write_text(config.DEFAULT_TEXT, encoding="utf-8")
    paths = [
        p for p in (config.FILENAME, ".dvc/config", ".dvc/.gitignore", ".dvcignore") if (repo / p).exists()
    ]
    git.add(repo, paths)
    changed = git.run(["diff", "--cached", "--quiet", "--", *paths], repo, check=False).returncode != 0
    commit = git.commit(repo, "gitmodel: initialise registry\n", paths) if changed else None
    from gitmodel.hooks.install import install as install_hooks

    hooks = tuple(c.hook for c in install_hooks(repo))
    return Initialised(repo, created_cfg, created_dvc, remote_url, commit, hooks)


def _remote_path(remote: str) -> Path:
    """An absolute, normalised path; `..` is folded but symlinks are kept as written."""
    if "://" in remote:
        raise UsageError(
            f"--remote takes a local directory, not {remote!r}; add a cloud remote with "
            "`dvc remote add -d NAME URL` and commit .dvc/config"
        )
    return Path(os.path.normpath(Path(remote).expanduser().absolute()))


def _is_default(repo: Path, url: Path, force: bool) -> bool:
    """True when URL is the default remote already; refuse to replace another without FORCE.

    Registered versions' bytes live on the default remote, and hosts fetch from it.
    """
    current = dvc.working_remote(repo) if dvc.is_initialised(repo) else None
    if current is None:
        return False
    name, old = current
    where = Path(old) if Path(old).is_absolute() else repo / ".dvc" / old
    if "://" not in old and Path(os.path.normpath(where)) == url:
        return True
    if force:
        return False
    raise UsageError(
        f"this registry's default DVC remote is already {name!r} ({old}); registered versions' bytes "
        f"live there and hosts fetch from it, so `init --remote` will not replace it; give --force to "
        "make the new path the default (copy the bytes over with `dvc push` first), or add it under "
        "another name with `dvc remote add NAME PATH`"
    )
