"""Make a git repository a gitmodel registry."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gitmodel import config, dvc, git


@dataclass(frozen=True)
class Initialised:
    repo: Path
    created_config: bool
    initialised_dvc: bool
    remote: str | None
    commit: str | None
    hooks: tuple[str, ...] = ()  # the client hooks now in place (gitmodel.hooks)


def init_registry(cwd: Path, remote: str | None = None) -> Initialised:
    repo = git.toplevel(cwd)
    cfg = repo / config.FILENAME
    created_dvc = False
    if not dvc.is_initialised(repo):
        dvc.init(repo)
        created_dvc = True
    remote_url = None
    if remote:
        url = Path(remote).expanduser().absolute()
        url.mkdir(parents=True, exist_ok=True)
        dvc.add_remote(repo, "storage", str(url))
        remote_url = str(url)
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
