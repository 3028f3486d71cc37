"""Re-hash hot versions and repair them: `deploy --verify` (repair_hot) and `status --verify` (corrupt).

A hot version's files are read-only and the only names of their bytes (materialise.py),
but a disk can still flip a bit.  Re-hashing happens on demand, not at every rollback
(4 GiB: ~4 s of sha256), so a hot rollback stays a symlink swap.  A file that does not
match is replaced by a verified copy with one rename, so readers never see it missing;
chosen over copies out of the cache (twice the disk and a copy per deploy).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from gitmodel import hostlayout, untrusted
from gitmodel.errors import GitModelError
from gitmodel.host import fs, place, transfer
from gitmodel.host.errors import DiskFull, IntegrityError
from gitmodel.host.journal import Journal
from gitmodel.host.materialise import is_hot
from gitmodel.host.spec import VersionSpec, read_spec
from gitmodel.refs import Version
from gitmodel.registry import ModelState


def corrupt(vdir: Path) -> list[str]:
    """Re-hash a version directory against its manifest: the files that do not match."""
    manifest = hostlayout.read_manifest(vdir)
    bad = []
    for rel, digest in sorted(manifest["files"].items()):
        where = manifest["artifact"] if manifest["kind"] == "file" else f"{manifest['artifact']}/{rel}"
        path = untrusted.join(vdir, where, f"{vdir} manifest files key")
        try:
            ok = stat.S_ISREG(os.lstat(path).st_mode) and place.hash_file(path, flush=False) == digest
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
        wrong, _mode = place.build(staging, spec, {k: got.sources[k] for k in bad})
        if wrong:
            # The cache object may be the corrupt inode itself (linked before gitmodel
            # dropped cache names): drop it, fetch again, once.
            for path in wrong.values():
                path.unlink(missing_ok=True)
            fs.remove_tree(staging)
            got = transfer.fetch(repo, root, spec)
            wrong, _mode = place.build(staging, spec, {k: got.sources[k] for k in bad})
            if wrong:
                rel = next(iter(wrong))
                raise IntegrityError(
                    spec.model, str(spec.version), f"{spec.file_path(rel)} does not match its sha256"
                )
        for rel in bad:
            fresh, dest = place.at(staging, spec, rel), place.at(vdir, spec, rel)
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
