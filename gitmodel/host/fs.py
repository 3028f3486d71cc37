"""Every write to a host directory (the contract itself: gitmodel/hostlayout.py).

Every change a server could observe is one rename: a finished version directory
into `versions/`, a temp symlink over `current`, a temp file over canary.json, an
expired version out to `.staging/` (deleted there).  Whatever a crash leaves behind
sits in `.staging/` or is a `.current-*` temp link, and both are cleared by the next
deploy.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from pathlib import Path

from gitmodel import hostlayout
from gitmodel.host.errors import ForeignLink, RootNotWritable
from gitmodel.hostlayout import CanarySplit
from gitmodel.refs import Version


def prepare(root: Path, model: str) -> Path:
    """Create ROOT/NAME_DIR and its subdirectories; refuse a root we cannot write to.

    Also refuses (ForeignLink) a symlink anywhere gitmodel writes below ROOT: every
    later write there may then trust that it lands in a file or folder of its own.
    """
    mroot = hostlayout.model_root(root, model)
    try:
        refuse_links(root, model)
        for path in (mroot, hostlayout.versions_dir(root, model), hostlayout.staging_dir(mroot)):
            path.mkdir(parents=True, exist_ok=True)
        probe = hostlayout.staging_dir(mroot) / f".probe-{os.getpid()}"
        probe.unlink(missing_ok=True)
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        probe.unlink()
    except OSError as exc:
        raise RootNotWritable(mroot if mroot.parent.exists() else root, exc.strerror or str(exc)) from None
    return mroot


def refuse_links(root: Path, model: str) -> None:
    """ForeignLink for a symlink where gitmodel keeps its own files (`current` is ours)."""
    mroot = hostlayout.model_root(root, model)
    versions = hostlayout.versions_dir(root, model)
    own = [
        mroot,
        versions,
        hostlayout.staging_dir(mroot),
        hostlayout.journal_path(mroot),
        hostlayout.lock_path(mroot),
        hostlayout.canary_path(root, model),
    ]
    # A namespaced model's NAME_DIR is one level; the ROOT itself is the operator's to link.
    for path in own:
        if path.is_symlink():
            raise ForeignLink(path)
    with contextlib.suppress(FileNotFoundError), os.scandir(versions) as entries:
        for entry in entries:
            if entry.is_symlink():
                raise ForeignLink(versions / entry.name)


def swap_current(root: Path, model: str, version: Version | None) -> None:
    """Point `current` at versions/VERSION (or remove it) with one atomic rename."""
    link = hostlayout.current_link(root, model)
    if version is None:
        with contextlib.suppress(FileNotFoundError):
            link.unlink()
        fsync_dir(link.parent)
        return
    tmp = link.with_name(f"{hostlayout.TMP_LINK}{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(f"{hostlayout.VERSIONS}/{version}", tmp)
    os.replace(tmp, link)
    fsync_dir(link.parent)


def clean_stale(model_root: Path) -> list[str]:
    """Remove what an interrupted deploy left: staging entries and temp links."""
    removed = []
    staging = hostlayout.staging_dir(model_root)
    if staging.is_symlink():
        raise ForeignLink(staging)
    if staging.is_dir():
        for child in staging.iterdir():
            remove_tree(child)
            removed.append(f"{hostlayout.STAGING}/{child.name}")
    for child in model_root.glob(f"{hostlayout.TMP_LINK}*"):
        with contextlib.suppress(FileNotFoundError):
            child.unlink()
        removed.append(child.name)
    return removed


def write_canary(root: Path, model: str, split: CanarySplit | None) -> None:
    """Replace (or, with None, remove) the host's canary.json atomically."""
    path = hostlayout.canary_path(root, model)
    if split is None:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_name(f".{hostlayout.CANARY}.tmp")
    tmp.unlink(missing_ok=True)  # O_EXCL below: never write through a planted link
    with open(tmp, "x", encoding="utf-8") as fh:
        fh.write(hostlayout.canary_text(split))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def retire(vdir: Path) -> None:
    """Take a version directory off the host: rename it into staging (atomic), then delete it."""
    trash = hostlayout.staging_dir(vdir.parent.parent) / f"retired-{vdir.name}-{os.getpid()}"
    if vdir.is_symlink():
        raise ForeignLink(vdir)  # chmod below would change the link's target
    # Moving a directory to another parent rewrites its '..' entry: it must be writable.
    os.chmod(vdir, 0o755)
    os.rename(vdir, trash)
    fsync_dir(vdir.parent)
    remove_tree(trash)


def remove_tree(path: Path) -> None:
    """Delete files or trees we made read-only; gone already is fine."""
    if path.is_symlink() or path.is_file():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return
    if not path.exists():
        return
    for dirpath, _dirs, _files in os.walk(path):
        with contextlib.suppress(OSError):
            os.chmod(dirpath, stat.S_IRWXU)
    shutil.rmtree(path, ignore_errors=True)


def make_read_only(tree: Path) -> None:
    """Files 0444 and folders 0555 below `tree` (hard links share the cache's 0444 mode).

    chmod follows symlinks; a tree gitmodel built holds none, so one is refused.
    """
    if tree.is_symlink():
        raise ForeignLink(tree)
    if tree.is_file():
        os.chmod(tree, 0o444)
        return
    for dirpath, dirnames, filenames in os.walk(tree, topdown=False):
        for name in [*filenames, *dirnames]:
            if os.path.islink(os.path.join(dirpath, name)):
                raise ForeignLink(os.path.join(dirpath, name))
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o444)
        for name in dirnames:
            os.chmod(os.path.join(dirpath, name), 0o555)
        os.chmod(dirpath, 0o555)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError as exc:  # some filesystems refuse fsync on directories
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)
