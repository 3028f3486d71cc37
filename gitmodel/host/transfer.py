"""Bring one version's objects into the host's DVC cache, within the disk's means.

On a host the DVC cache is a transfer area, not a store: once a version is built under
`versions/`, materialise.py drops the cache's names for its bytes (drop()), so hot
versions never share an inode with the cache and the cache holds only what is on its
way in.  Disk use is then the hot versions (bounded by `hot_versions`) plus one
transfer.

Before a transfer the free space of the cache's filesystem (and the root's, when files
are copied there) is checked against the version's size from model.yaml plus a margin;
a transfer that fills the disk anyway (a size that lied, another writer) is reported as
the same rule, and DVC's partial files are removed so that retries do not pile them up.

Progress: a command that draws bars (cli/progress.py, on a terminal only) installs a
`(what, bytes done, bytes total)` callback with `reporting()` around the core call; every
transfer under it, whichever path reached it (deploy, rollback, the canary, the agent),
reports through it.  Nothing is reported when nothing is downloaded.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from gitmodel import dvc, hostlayout
from gitmodel.errors import GitModelError
from gitmodel.host import cacheprune
from gitmodel.host.errors import BytesMissing, DiskFull, IntegrityError
from gitmodel.host.spec import VersionSpec

MARGIN_MIN = 256 * 1024  # journal lines, the manifest, filesystem rounding
MARGIN_SHARE = 50  # plus 1/50 (2%) of the version's size

Progress = Callable[[str, int, int], None]  # (what, bytes done, bytes total)
_progress: ContextVar[Progress | None] = ContextVar("gitmodel_transfer_progress", default=None)


def progress() -> Progress | None:
    """The callback reporting() installed around this call, if any (materialise: hashing)."""
    return _progress.get()


@contextmanager
def reporting(progress: Progress | None) -> Iterator[None]:
    """Transfers started inside the block report to `progress` (None: to nobody)."""
    token = _progress.set(progress)
    try:
        yield
    finally:
        _progress.reset(token)


@dataclass(frozen=True)
class Fetched:
    cache: Path  # the DVC cache directory
    sources: dict[str, Path]  # spec.files key -> the object in the cache
    downloaded: int  # objects transferred from the remote


def need(size: int) -> int:
    """Free bytes a transfer of `size` bytes asks for: the size and the margin."""
    return size + size // MARGIN_SHARE + MARGIN_MIN


def fetch(repo: Path, root: Path, spec: VersionSpec) -> Fetched:
    """Every object of `spec` in the cache (a transfer only for what is missing), checked."""
    try:
        return _fetch(repo, root, spec)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        where = Path(exc.filename) if exc.filename else repo
        raise DiskFull(where, exc.strerror or "ENOSPC", f"{spec.model} {spec.version}") from None


def _fetch(repo: Path, root: Path, spec: VersionSpec) -> Fetched:
    # Before any download: a pointer to another object is the version's fault, not the
    # remote's, whether or not the remote holds that object.
    named = dvc.pointer_md5(spec.pointer)
    if named != spec.dvc_md5 and spec.dvc_md5:
        raise IntegrityError(
            spec.model,
            str(spec.version),
            f"the .dvc pointer names {named} but model.yaml records {spec.dvc_md5}",
            IntegrityError.MISMATCH,
        )
    cache = dvc.cache_dir(repo)
    dvc.clean_partials(cache)
    lacking = _lacking_bytes(cache, spec)
    what = f"{spec.model} {spec.version}"
    check_space(cache, lacking, what, "the DVC cache")
    mroot = hostlayout.model_root(root, spec.model)
    if _device(cache) != _device(mroot):
        check_space(mroot, spec.size, what, "a copy under the root (another filesystem than the cache)")
    cacheprune.claim(cache, root, spec.model, spec.version, named)  # no prune removes it meanwhile
    report = _progress.get()
    label = f"downloading {what}"

    def moved(done: int) -> None:
        if report is not None:
            report(label, min(done, lacking), lacking)

    if report is not None and lacking:
        report(label, 0, lacking)
    try:
        with dvc.transferring(cache):
            fetched = dvc.fetch_out(
                repo, spec.pointer, moved=moved if report and lacking else None, host=True
            )
    except GitModelError:
        full = lacking and _exhausted(cache, min(lacking, MARGIN_MIN))
        dvc.clean_partials(cache)
        if full:
            raise DiskFull(_existing(cache), "the DVC cache filled during the download", what) from None
        raise
    if report is not None and lacking and fetched.downloaded:
        report(label, lacking, lacking)  # the end: the bar closes before the next line is printed
    if fetched.missing:
        raise BytesMissing(spec.model, str(spec.version), fetched.missing)
    sources = {spec.artifact if rel == "" else rel: path for rel, path in fetched.files.items()}
    if set(sources) != set(spec.files):
        raise IntegrityError(
            spec.model,
            str(spec.version),
            "the .dvc pointer and model.yaml list different files",
            IntegrityError.MISMATCH,
        )
    return Fetched(cache, sources, fetched.downloaded)


def drop(got: Fetched, spec: VersionSpec) -> int:
    """Remove the cache's names for a built version's bytes; the bytes freed (0 when linked)."""
    return dvc.drop_objects(got.cache, spec.pointer)


def check_space(path: Path, size: int, what: str, role: str) -> None:
    """DiskFull unless the filesystem holding `path` has `need(size)` bytes free."""
    if size <= 0:
        return
    free, wanted = _free(path), need(size)
    if free < wanted:
        detail = f"{role} needs {_mb(wanted)} with the margin, {_mb(free)} free"
        raise DiskFull(_existing(path), detail, what)


def _lacking_bytes(cache: Path, spec: VersionSpec) -> int:
    """Bytes of the version the cache lacks (all of them when a folder's manifest is not cached)."""
    objects = dvc.out_objects(cache, spec.pointer)
    own_md5, own = next(iter(objects.items()))
    if not own.exists():
        return spec.size
    if not own_md5.endswith(".dir"):
        return 0
    have = 0
    for oid, path in objects.items():
        try:
            have += path.stat().st_size if oid != own_md5 else 0
        except FileNotFoundError:
            continue
    return max(0, spec.size - have)


def _existing(path: Path) -> Path:
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def _free(path: Path) -> int:
    return shutil.disk_usage(_existing(path)).free


def _exhausted(path: Path, room: int) -> bool:
    """Less than `room` bytes free, or no inode left (both are ENOSPC to a writer)."""
    st = os.statvfs(_existing(path))
    return st.f_bavail * st.f_frsize < room or (st.f_files > 0 and st.f_favail == 0)


def _device(path: Path) -> int:
    return os.stat(_existing(path)).st_dev


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"
