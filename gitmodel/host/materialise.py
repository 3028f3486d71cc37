"""Build versions/vX.Y.Z: fetch into the DVC cache, link or copy, verify, rename in.

Nothing is ever written where a server reads.  Files are hard links into the
host's DVC cache (copies when the root is on another filesystem), each one's
sha256 is checked against the version's model.yaml, the manifest is written last,
and only then is the staging directory renamed into `versions/`.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

from gitmodel import dvc, hostlayout, testhook, untrusted
from gitmodel.host import fs
from gitmodel.host.errors import BytesMissing, DiskFull, IntegrityError
from gitmodel.host.journal import Journal
from gitmodel.host.spec import VersionSpec

CHUNK = 4 * 1024 * 1024


@dataclass(frozen=True)
class Materialised:
    path: Path
    downloaded: int  # objects fetched from the DVC remote
    mode: str  # "hot" (already on disk), "hardlink" or "copy"


def is_hot(vdir: Path, spec: VersionSpec) -> bool:
    """A complete copy of exactly this version (verified when it was built, read-only since).

    A symlink anywhere inside is not something gitmodel built: not hot, so rebuilt.
    """
    try:
        if _has_link(vdir):
            return False
        manifest = hostlayout.read_manifest(vdir)
    except Exception:
        return False
    if manifest.get("files") != spec.files or manifest.get("dvc_md5") != spec.dvc_md5:
        return False
    size = 0
    for rel in spec.files:
        try:
            st = os.lstat(_at(vdir, spec, rel))
        except OSError:
            return False
        if not stat.S_ISREG(st.st_mode):
            return False
        size += st.st_size
    return not spec.size or size == spec.size


def _has_link(top: Path) -> bool:
    if top.is_symlink():
        return True
    folders = [str(top)]
    while folders:
        with os.scandir(folders.pop()) as entries:
            for entry in entries:
                if entry.is_symlink():
                    return True
                if entry.is_dir(follow_symlinks=False):
                    folders.append(entry.path)
    return False


def ensure(repo: Path, root: Path, spec: VersionSpec, journal: Journal) -> Materialised:
    vdir = hostlayout.versions_dir(root, spec.model) / str(spec.version)
    if is_hot(vdir, spec):
        return Materialised(vdir, 0, "hot")
    testhook.pause("fetch")
    fetched = _fetch(repo, spec)
    downloaded = fetched.downloaded
    journal.step("fetched", version=spec.version, downloaded=downloaded)
    testhook.pause("fetched")
    staging = (
        hostlayout.staging_dir(hostlayout.model_root(root, spec.model)) / f"{spec.version}-{os.getpid()}"
    )
    try:
        bad, mode = _build(staging, spec, fetched)
        if bad:
            # A torn download or bit rot in our own cache: drop those objects and fetch
            # them once more before blaming the remote.
            for path in bad.values():
                path.unlink(missing_ok=True)
            fs.remove_tree(staging)
            fetched = _fetch(repo, spec)
            downloaded += fetched.downloaded
            bad, mode = _build(staging, spec, fetched)
            if bad:
                for path in bad.values():
                    path.unlink(missing_ok=True)
                rel = next(iter(bad))
                raise IntegrityError(
                    spec.model,
                    str(spec.version),
                    f"{spec.file_path(rel)} does not match its sha256 in model.yaml",
                )
        journal.step("verified", version=spec.version, files=len(spec.files), mode=mode)
        testhook.pause("verified")
        _write_manifest(staging, spec)
        _install(staging, vdir)
    except OSError as exc:
        fs.remove_tree(staging)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFull(hostlayout.model_root(root, spec.model), exc.strerror or "ENOSPC") from None
        raise
    except BaseException:
        fs.remove_tree(staging)
        raise
    journal.step("materialised", version=spec.version, mode=mode, downloaded=downloaded)
    testhook.pause("materialised")
    return Materialised(vdir, downloaded, mode)


def _fetch(repo: Path, spec: VersionSpec) -> dvc.CachedOut:
    fetched = dvc.fetch_out(repo, spec.pointer)
    if fetched.missing:
        raise BytesMissing(spec.model, str(spec.version), fetched.missing)
    if fetched.md5 != spec.dvc_md5 and spec.dvc_md5:
        raise IntegrityError(
            spec.model,
            str(spec.version),
            f"the .dvc pointer names {fetched.md5} but model.yaml records {spec.dvc_md5}",
        )
    names = {spec.artifact if rel == "" else rel for rel in fetched.files}
    if names != set(spec.files):
        raise IntegrityError(
            spec.model, str(spec.version), "the .dvc pointer and model.yaml list different files"
        )
    return fetched


def _build(staging: Path, spec: VersionSpec, fetched: dvc.CachedOut) -> tuple[dict[str, Path], str]:
    """Link or copy every file into staging and hash it; return mismatches and the mode."""
    staging.mkdir(parents=True)
    bad: dict[str, Path] = {}
    modes = set()
    for rel, cached in sorted(fetched.files.items()):
        key = spec.artifact if rel == "" else rel
        dest = _at(staging, spec, key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        digest, mode = _place(cached, dest, _remaining(fetched, rel))
        modes.add(mode)
        if digest != spec.files[key]:
            bad[key] = cached
    return bad, "copy" if "copy" in modes else "hardlink"


def _place(src: Path, dest: Path, need: int) -> tuple[str, str]:
    # link() does not follow a symlink, so a link in the cache would be linked as a link.
    if not stat.S_ISREG(os.lstat(src).st_mode):
        raise OSError(errno.EINVAL, "not a regular file in the DVC cache", str(src))
    try:
        os.link(src, dest)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
        return _copy_hashing(src, dest, need), "copy"
    return _hash(dest), "hardlink"


def _remaining(fetched: dvc.CachedOut, from_rel: str) -> int:
    return sum(p.stat().st_size for r, p in fetched.files.items() if r >= from_rel)


def _hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        # Linked bytes live in the cache, often just downloaded: they must be on disk before
        # we serve them.  Flushing them while we hash costs max(fsync, hash), not the sum.
        flush = threading.Thread(target=os.fsync, args=(fh.fileno(),))
        flush.start()
        try:
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
        finally:
            flush.join()
    return "sha256:" + digest.hexdigest()


def _copy_hashing(src: Path, dest: Path, need: int) -> str:
    """Copy across filesystems, hashing what is written, after checking it can fit."""
    free = shutil.disk_usage(dest.parent).free
    if free < need:
        raise OSError(errno.ENOSPC, f"needs {need / 1e6:.1f} MB, {free / 1e6:.1f} MB free")
    digest = hashlib.sha256()
    with src.open("rb") as fin, dest.open("xb") as fout:
        while chunk := fin.read(CHUNK):
            digest.update(chunk)
            fout.write(chunk)
        fout.flush()
        os.fsync(fout.fileno())
    return "sha256:" + digest.hexdigest()


def _write_manifest(staging: Path, spec: VersionSpec) -> None:
    path = hostlayout.manifest_path(staging)
    with path.open("x", encoding="utf-8") as fh:
        json.dump(spec.manifest(), fh, indent=2, sort_keys=True)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    fs.make_read_only(untrusted.join(staging, spec.artifact, "artifact.path"))
    os.chmod(path, 0o444)
    fs.fsync_dir(staging)


def _install(staging: Path, vdir: Path) -> None:
    """Rename the finished staging directory to versions/vX.Y.Z (replacing a broken one)."""
    if vdir.exists():
        # Not hot, so incomplete or different: move it out of sight first.
        fs.retire(vdir)
    os.rename(staging, vdir)
    fs.fsync_dir(vdir.parent)
    os.chmod(vdir, 0o555)


def _at(vdir: Path, spec: VersionSpec, rel: str) -> Path:
    """Where `spec.files[rel]` lies under `vdir` (the path came from the repo: the door joins it)."""
    return untrusted.join(vdir, spec.file_path(rel), f"{spec.model}@{spec.version} artifact.files key")
