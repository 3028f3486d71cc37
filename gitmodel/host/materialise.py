"""Build versions/vX.Y.Z: fetch into the DVC cache, link or copy, verify, rename in.

Nothing is ever written where a server reads.  Files are hard links into the
host's DVC cache (copies when the root is on another filesystem), each one's
sha256 is checked against the version's model.yaml, the manifest is written last,
and only then is the staging directory renamed into `versions/`.

Hot bytes are their own.  Once a version is built, the cache's names for its bytes
are dropped (transfer.drop): a version's files are then the only names of their
inodes (or share them with another hot version holding the same bytes, linked from
there instead of downloaded again), so nothing done to the DVC cache (a flipped byte,
DVC replacing an object) can reach what a hot rollback swaps in.  The rollback stays a
symlink swap with no hashing (< 1 s at any size); the files themselves are read-only
and re-hashed on demand: `deploy --verify` (repair_hot: every hot version of the model,
a file that does not match is replaced by a verified copy with one rename, so readers
never see it missing) and `status --verify` (corrupt(), read-only).  Chosen over
re-hashing at every rollback (4 GiB: ~4 s of sha256) and over copies out of the cache
(twice the disk and a copy per deploy).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gitmodel import hostlayout, prompts, testhook, untrusted
from gitmodel.errors import GitModelError
from gitmodel.host import fs, transfer
from gitmodel.host.errors import DiskFull, IntegrityError
from gitmodel.host.journal import Journal
from gitmodel.host.spec import VersionSpec, read_spec
from gitmodel.refs import Version
from gitmodel.registry import ModelState

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
    if manifest.get("checks") != spec.manifest()["checks"]:
        return False  # built before its checks were copied (an older gitmodel): build again
    if manifest.get("prompts") != spec.manifest()["prompts"]:
        return False  # likewise for its prompt templates
    if spec.templates is not None and not _templates_intact(vdir, spec.templates):
        return False  # small files, read each time: an edited copy is rebuilt, never served
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


def _templates_intact(vdir: Path, templates: prompts.Templates) -> bool:
    try:
        return prompts.for_version(vdir) == dict(templates.texts)
    except GitModelError:
        return False


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
    shared = _from_hot(root, spec)  # a patch bump: same bytes as a hot version, no download
    got = None if shared else transfer.fetch(repo, root, spec)
    downloaded = got.downloaded if got else 0
    journal.step("fetched", version=spec.version, downloaded=downloaded)
    testhook.pause("fetched")
    mroot = hostlayout.model_root(root, spec.model)
    staging = hostlayout.staging_dir(mroot) / f"{spec.version}-{os.getpid()}"
    try:
        bad, mode = _build(staging, spec, shared or (got.sources if got else {}))
        if bad:
            # A torn download or bit rot in our own cache (or in the hot version we linked
            # from): drop those cache objects and fetch once more before blaming the remote.
            fs.remove_tree(staging)
            if got is None:
                journal.step("hot-mismatch", version=spec.version, files=sorted(bad))
            else:
                for path in bad.values():
                    path.unlink(missing_ok=True)
            got = transfer.fetch(repo, root, spec)
            downloaded += got.downloaded
            bad, mode = _build(staging, spec, got.sources)
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
            raise DiskFull(mroot, exc.strerror or "ENOSPC", f"{spec.model} {spec.version}") from None
        raise
    except BaseException:
        fs.remove_tree(staging)
        raise
    if got is not None:
        transfer.drop(got, spec)  # the version's files are now the only names of its bytes
    journal.step("materialised", version=spec.version, mode=mode, downloaded=downloaded)
    testhook.pause("materialised")
    return Materialised(vdir, downloaded, mode)


def corrupt(vdir: Path) -> list[str]:
    """Re-hash a version directory against its manifest: the files that do not match."""
    manifest = hostlayout.read_manifest(vdir)
    bad = []
    for rel, digest in sorted(manifest["files"].items()):
        where = manifest["artifact"] if manifest["kind"] == "file" else f"{manifest['artifact']}/{rel}"
        path = untrusted.join(vdir, where, f"{vdir} manifest files key")
        try:
            ok = stat.S_ISREG(os.lstat(path).st_mode) and _hash(path, flush=False) == digest
        except OSError:
            ok = False
        if not ok:
            bad.append(rel)
    return bad


def repair_hot(
    repo: Path, root: Path, state: ModelState, journal: Journal, target: Version | None = None
) -> dict[str, list[str]]:
    """Re-hash every hot version of the model; replace files that do not match.

    Returns version -> the files found corrupt (an empty list: it matched).  A file is
    swapped for a verified copy (fetched again) with one rename, so a server reading it
    sees the old bytes or the right ones, never no file.  When the bytes cannot be had
    again, `target`, `current` and the canary's version raise (nothing is swapped: the
    host keeps serving); any other version is retired, so no rollback can swap it in.
    """
    done: dict[str, list[str]] = {}
    model = state.name
    serving = {hostlayout.current_version(root, model), target, *_canary(root, model)}
    for version in hostlayout.hot_versions(root, model):
        if version not in state.versions:
            continue
        spec = read_spec(repo, state, version)
        vdir = hostlayout.versions_dir(root, model) / str(version)
        if not is_hot(vdir, spec):
            continue
        bad = corrupt(vdir)
        journal.step("rehashed", version=version, corrupt=bad)
        done[str(version)] = bad
        if not bad:
            continue
        try:
            _replace(repo, root, spec, vdir, bad, journal)
        except GitModelError as exc:
            if version in serving:
                raise
            fs.retire(vdir)
            journal.step("retired", version=version, reason=f"corrupt and not repaired: {exc.message}")
    return done


def _canary(root: Path, model: str) -> list[Version]:
    try:
        split = hostlayout.read_canary(root, model)
    except GitModelError:
        return []
    return [Version.parse(split.version)] if split else []


def _replace(repo: Path, root: Path, spec: VersionSpec, vdir: Path, bad: list[str], journal: Journal) -> None:
    mroot = hostlayout.model_root(root, spec.model)
    staging = hostlayout.staging_dir(mroot) / f"repair-{spec.version}-{os.getpid()}"
    try:
        got = transfer.fetch(repo, root, spec)
        wrong, _mode = _build(staging, spec, {k: got.sources[k] for k in bad})
        if wrong:
            # The cache object may be the corrupt inode itself (linked before gitmodel
            # dropped cache names): drop it, fetch again, once.
            for path in wrong.values():
                path.unlink(missing_ok=True)
            fs.remove_tree(staging)
            got = transfer.fetch(repo, root, spec)
            wrong, _mode = _build(staging, spec, {k: got.sources[k] for k in bad})
            if wrong:
                rel = next(iter(wrong))
                raise IntegrityError(
                    spec.model, str(spec.version), f"{spec.file_path(rel)} does not match its sha256"
                )
        for rel in bad:
            fresh, dest = _at(staging, spec, rel), _at(vdir, spec, rel)
            os.chmod(fresh, 0o444)
            os.chmod(dest.parent, 0o755)
            try:
                os.replace(fresh, dest)
            finally:
                os.chmod(dest.parent, 0o555)
            fs.fsync_dir(dest.parent)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFull(mroot, exc.strerror or "ENOSPC", f"{spec.model} {spec.version}") from None
        raise
    finally:
        fs.remove_tree(staging)
    transfer.drop(got, spec)
    journal.step("repaired", version=spec.version, files=bad)


def _from_hot(root: Path, spec: VersionSpec) -> dict[str, Path] | None:
    """Each file of `spec` found (by sha256) in another hot version of the model, or None."""
    by_digest: dict[str, Path] = {}
    for version in hostlayout.hot_versions(root, spec.model):
        vdir = hostlayout.versions_dir(root, spec.model) / str(version)
        if version == spec.version or _has_link(vdir):
            continue
        try:
            manifest = hostlayout.read_manifest(vdir)
        except Exception:
            continue
        for rel, digest in manifest["files"].items():
            where = manifest["artifact"] if manifest["kind"] == "file" else f"{manifest['artifact']}/{rel}"
            by_digest.setdefault(digest, untrusted.join(vdir, where, f"{vdir} manifest files key"))
    found = {rel: by_digest.get(digest) for rel, digest in spec.files.items()}
    if any(path is None or not path.is_file() for path in found.values()):
        return None
    return {rel: path for rel, path in found.items() if path is not None}


def _build(staging: Path, spec: VersionSpec, sources: dict[str, Path]) -> tuple[dict[str, Path], str]:
    """Link or copy each file into staging and hash it; return mismatches and the mode."""
    staging.mkdir(parents=True)
    bad: dict[str, Path] = {}
    modes = set()
    keys = sorted(sources)
    need = sum(sources[k].stat().st_size for k in keys)  # what a copy still has to write
    tick = _hashing(f"verifying {spec.model} {spec.version}", need)
    for key in keys:
        dest = _at(staging, spec, key)
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
    return _hash(dest, tick=tick), "hardlink"


def _hash(path: Path, flush: bool = True, tick: Callable[[int], None] | None = None) -> str:
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


def _write_manifest(staging: Path, spec: VersionSpec) -> None:
    if spec.checks is not None:  # data for the gateway's check (checks.for_version), before the manifest
        _write_file(staging / hostlayout.CHECKS, spec.checks.text)
    if spec.templates is not None:  # what the version's serving reads (prompts.for_version)
        folder = staging / hostlayout.PROMPTS
        folder.mkdir()
        for name, data in sorted(spec.templates.texts.items()):
            _write_file(folder / f"{name}{prompts.SUFFIX}", data.decode("utf-8"))
        fs.fsync_dir(folder)
        os.chmod(folder, 0o555)
    path = hostlayout.manifest_path(staging)
    with path.open("x", encoding="utf-8") as fh:
        json.dump(spec.manifest(), fh, indent=2, sort_keys=True)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    fs.make_read_only(untrusted.join(staging, spec.artifact, "artifact.path"))
    os.chmod(path, 0o444)
    fs.fsync_dir(staging)


def _write_file(path: Path, text: str) -> None:
    with path.open("x", encoding="utf-8", newline="") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(path, 0o444)


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
