"""Build versions/vX.Y.Z: fetch into the DVC cache, link or copy, verify, rename in.

Nothing is ever written where a server reads.  Files are hard links into the
host's DVC cache (copies when the root is on another filesystem), each one's
sha256 is checked against the version's model.yaml (place.py), the manifest is
written last, and only then is the staging directory renamed into `versions/`.

Hot bytes are their own.  Once a version is built, the cache's names for its bytes
are dropped (transfer.drop): a version's files are then the only names of their
inodes (or share them with another hot version holding the same bytes, linked from
there instead of downloaded again), so nothing done to the DVC cache (a flipped byte,
DVC replacing an object) can reach what a hot rollback swaps in.  The rollback stays a
symlink swap with no hashing (< 1 s at any size); the files themselves are read-only
and re-hashed on demand (repair.py).
"""

from __future__ import annotations

import errno
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from gitmodel import hostlayout, prompts, testhook, untrusted
from gitmodel.errors import GitModelError
from gitmodel.host import fs, place, transfer
from gitmodel.host.errors import DiskFull, IntegrityError
from gitmodel.host.journal import Journal
from gitmodel.host.spec import VersionSpec


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
        if has_link(vdir):
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
            st = os.lstat(place.at(vdir, spec, rel))
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


def has_link(top: Path) -> bool:
    """A symlink at or anywhere under TOP (gitmodel never builds one: such a tree is not ours)."""
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
        bad, mode = place.build(staging, spec, shared or (got.sources if got else {}))
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
            bad, mode = place.build(staging, spec, got.sources)
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


def _from_hot(root: Path, spec: VersionSpec) -> dict[str, Path] | None:
    """Each file of `spec` found (by sha256) in another hot version of the model, or None."""
    by_digest: dict[str, Path] = {}
    for version in hostlayout.hot_versions(root, spec.model):
        vdir = hostlayout.versions_dir(root, spec.model) / str(version)
        if version == spec.version or has_link(vdir):
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
