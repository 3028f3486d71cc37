"""Link or copy a version's files into a staging directory, hashing each (sha256) as it goes.

A hard link into the DVC cache costs no bytes; across filesystems the file is copied,
hashed while it is written, after checking that it fits.  Linked bytes are flushed to
disk while they are hashed (they are often just downloaded).  Progress goes to
transfer.reporting()'s callback.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
import threading
from collections.abc import Callable
from pathlib import Path

from gitmodel import untrusted
from gitmodel.host import transfer
from gitmodel.host.spec import VersionSpec

CHUNK = 4 * 1024 * 1024


def build(staging: Path, spec: VersionSpec, sources: dict[str, Path]) -> tuple[dict[str, Path], str]:
    """Link or copy each file into staging and hash it; return mismatches and the mode."""
    staging.mkdir(parents=True)
    bad: dict[str, Path] = {}
    modes = set()
    keys = sorted(sources)
    need = sum(sources[k].stat().st_size for k in keys)  # what a copy still has to write
    tick = _hashing(f"verifying {spec.model} {spec.version}", need)
    for key in keys:
        dest = at(staging, spec, key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        size = sources[key].stat().st_size
        digest, mode = _place(sources[key], dest, need, tick)
        need -= size
        modes.add(mode)
        if digest != spec.files[key]:
            bad[key] = sources[key]
    return bad, "copy" if "copy" in modes else "hardlink"


def _hashing(label: str, total: int) -> Callable[[int], None] | None:
    """A callback for the bytes hashed, reporting to transfer.reporting()'s (None: nobody)."""
    report = transfer.progress()
    if report is None or total <= 0:
        return None
    done = 0
    report(label, 0, total)

    def tick(count: int) -> None:
        nonlocal done
        done += count
        report(label, min(done, total), total)

    return tick


def _place(src: Path, dest: Path, need: int, tick: Callable[[int], None] | None = None) -> tuple[str, str]:
    # link() does not follow a symlink, so a link in the cache would be linked as a link.
    if not stat.S_ISREG(os.lstat(src).st_mode):
        raise OSError(errno.EINVAL, "not a regular file in the DVC cache", str(src))
    try:
        os.link(src, dest)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
        return _copy_hashing(src, dest, need, tick), "copy"
    return hash_file(dest, tick=tick), "hardlink"


def hash_file(path: Path, flush: bool = True, tick: Callable[[int], None] | None = None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        # Linked bytes live in the cache, often just downloaded: they must be on disk before
        # we serve them.  Flushing them while we hash costs max(fsync, hash), not the sum.
        syncing = threading.Thread(target=os.fsync, args=(fh.fileno(),)) if flush else None
        if syncing is not None:
            syncing.start()
        try:
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
                if tick is not None:
                    tick(len(chunk))
        finally:
            if syncing is not None:
                syncing.join()
    return "sha256:" + digest.hexdigest()


def _copy_hashing(src: Path, dest: Path, need: int, tick: Callable[[int], None] | None = None) -> str:
    """Copy across filesystems, hashing what is written, after checking it can fit."""
    free = shutil.disk_usage(dest.parent).free
    if free < need:
        raise OSError(errno.ENOSPC, f"needs {need / 1e6:.1f} MB, {free / 1e6:.1f} MB free")
    digest = hashlib.sha256()
    with src.open("rb") as fin, dest.open("xb") as fout:
        while chunk := fin.read(CHUNK):
            digest.update(chunk)
            fout.write(chunk)
            if tick is not None:
                tick(len(chunk))
        fout.flush()
        os.fsync(fout.fileno())
    return "sha256:" + digest.hexdigest()


def at(vdir: Path, spec: VersionSpec, rel: str) -> Path:
    """Where `spec.files[rel]` lies under `vdir` (the path came from the repo: the door joins it)."""
    return untrusted.join(vdir, spec.file_path(rel), f"{spec.model}@{spec.version} artifact.files key")
