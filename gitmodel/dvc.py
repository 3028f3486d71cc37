"""The only module that imports DVC, always lazily.

`import dvc.repo` costs ~0.3 s, so no read command or hook path may reach this
module.  Every call opens the repo, does one thing and closes it; targets are
passed as absolute paths because DVC resolves relative ones against the cwd.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gitmodel.errors import RemoteUnreachable, UsageError


def _quiet() -> None:
    # DVC logs advice ("To track the changes with git, run ...") at INFO; we commit
    # for the user, and the core must not write to the terminal.
    logging.getLogger("dvc").setLevel(logging.WARNING)


@contextmanager
def _open(root: Path) -> Iterator[Any]:
    from dvc.repo import Repo

    _quiet()
    repo = Repo(str(root))
    try:
        yield repo
    finally:
        repo.close()


def is_initialised(root: Path) -> bool:
    return (root / ".dvc").is_dir()


def init(root: Path) -> None:
    from dvc.repo import Repo

    _quiet()
    Repo.init(str(root)).close()


def default_remote(root: Path) -> str | None:
    """Name of the default DVC remote, or None (read from config, no network)."""
    with _open(root) as repo:
        name = repo.config["core"].get("remote")
        return name if name and name in repo.config["remote"] else None


def add_remote(root: Path, name: str, url: str) -> None:
    with _open(root) as repo, repo.config.edit() as conf:
        conf["remote"][name] = {"url": url}
        conf["core"]["remote"] = name


def add(root: Path, path: Path) -> dict[str, Any]:
    """Track `path` (file or folder) and return the out entry of its .dvc file."""
    from dvc.exceptions import DvcException

    with _open(root) as repo:
        try:
            stages = repo.add(str(path))
        except DvcException as exc:
            raise UsageError(f"dvc could not track {path}: {exc}") from None
        out = stages[0].outs[0]
        return {"md5": out.hash_info.value, "size": out.meta.size, "nfiles": out.meta.nfiles}


def push(root: Path, targets: Sequence[Path]) -> int:
    """Upload the objects behind `targets` (.dvc files or outs) to the default remote."""
    from dvc.exceptions import DvcException

    with _open(root) as repo:
        try:
            return int(repo.push(targets=[str(t) for t in targets]))
        except DvcException as exc:
            raise RemoteUnreachable(f"could not push to the DVC remote: {exc}; check `dvc remote list`") from None
