"""Moving a version's objects between two DVC remotes by hash (gc's archive, restore).

Objects are copied one by one through a temporary file, each file's md5 checked
against its name before it is uploaded, and the copy verified on the destination
before anything is removed from the source: a crash at any point leaves every object
on at least one remote.  Objects another live version still needs are never removed.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitmodel.dvc.cache import dir_manifest
from gitmodel.errors import GitModelError, NoDvcRemote, PolicyError, RemoteUnreachable, UsageError


@dataclass(frozen=True)
class Moved:
    copied: int  # objects uploaded to the destination (the rest were there already)
    removed: int  # objects deleted from the source
    kept: int  # objects left on the source because a live version shares them
    objects: int  # objects of the version(s) in all


def transfer(
    repo: Path,
    pointers: Sequence[str],
    source: str | None,
    dest: str | None,
    *,
    remove: bool,
    keep: Iterable[str] = (),
) -> Moved:
    """Copy the objects of `pointers` (.dvc texts) from remote `source` (None: DVC's
    default) to `dest`; with `remove`, then delete them from `source` except those
    named (as top-level md5s) in `keep` or inside their folders."""
    from gitmodel.dvc import config as dvcconf
    from gitmodel.dvc import pointer_md5

    md5s = [pointer_md5(text) for text in pointers]
    with dvcconf.open_repo(repo) as dvc_repo:
        src, dst = _odb(dvc_repo, source), _odb(dvc_repo, dest)
        try:
            wanted = _expand([src, dst], md5s)
            copied = 0
            for oid in wanted:
                if not dst.exists(oid):
                    _copy(src, dst, oid)
                    copied += 1
            absent = [oid for oid in wanted if not dst.exists(oid)]
            if absent:
                there = dest or "the default remote"
                raise RemoteUnreachable(
                    f"{len(absent)} object(s) did not arrive on {there}; nothing removed, retry"
                )
            removed = kept = 0
            if remove:
                needed = set(_expand([src], list(keep), missing_ok=True))
                for oid in wanted:
                    if oid in needed:
                        kept += 1
                    elif src.exists(oid):
                        src.fs.remove(src.oid_to_path(oid))
                        removed += 1
        except GitModelError:
            raise
        except Exception as exc:  # fsspec/botocore errors: name the remotes, no traceback
            where = f"from {source or 'the default remote'} to {dest or 'the default remote'}"
            raise RemoteUnreachable(
                f"moving objects {where} failed: "
                f"{type(exc).__name__}: {exc}; retry (nothing is removed before its copy is verified)"
            ) from None
    return Moved(copied, removed, kept, len(wanted))


def _odb(dvc_repo: Any, name: str | None) -> Any:
    from dvc.config import RemoteConfigError

    try:
        return dvc_repo.cloud.get_remote_odb(name, "gc", hash_name="md5")
    except RemoteConfigError:
        if name is None:
            raise NoDvcRemote(str(dvc_repo.root_dir), "add one with `dvc remote add -d NAME URL`") from None
        raise UsageError(
            f"DVC remote {name!r} is not configured in {dvc_repo.root_dir}; add it with "
            f"`dvc remote add {name} URL`, commit .dvc/config and retry"
        ) from None


def _expand(odbs: list[Any], md5s: list[str], missing_ok: bool = False) -> list[str]:
    """Every object of the outs `md5s`: each md5, and for a folder its manifest's files
    (the manifest read from the first remote holding it)."""
    found: dict[str, None] = {}
    for md5 in md5s:
        found[md5] = None
        if not md5.endswith(".dir"):
            continue
        holder = next((o for o in odbs if o.exists(md5)), None)
        if holder is None:
            if missing_ok:
                continue
            raise PolicyError(f"folder manifest {md5} is on no remote; its version cannot be moved")
        raw = holder.fs.cat_file(holder.oid_to_path(md5))
        found.update(dict.fromkeys(dir_manifest(raw, md5).values()))
    return list(found)


def _copy(src: Any, dst: Any, oid: str) -> None:
    if not src.exists(oid):
        raise PolicyError(f"object {oid} is on neither remote; its version's bytes are lost")
    fd, tmp = tempfile.mkstemp(prefix="gitmodel-gc-")
    os.close(fd)
    try:
        src.fs.get_file(src.oid_to_path(oid), tmp)
        if not oid.endswith(".dir"):
            digest = hashlib.md5(usedforsecurity=False)
            with open(tmp, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
            if digest.hexdigest() != oid:
                raise PolicyError(
                    f"object {oid} on the source remote is corrupt (md5 {digest.hexdigest()}); not moved"
                )
        else:
            dir_manifest(Path(tmp).read_bytes(), oid)  # a manifest must still parse
        path = dst.oid_to_path(oid)
        dst.fs.makedirs(dst.fs.parent(path))
        dst.fs.put_file(tmp, path)
    finally:
        os.unlink(tmp)
