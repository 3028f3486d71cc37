"""The only package that imports DVC, always lazily (config.py: the settings DVC runs with,
a host's taken only from trusted places; pull.py: watched downloads; cache.py: the host
cache as a transfer area; fetch.py: one out by hash into the cache; track.py and wire.py:
add and fetch without DVC where the result is byte for byte the same).

`import dvc.repo` costs ~0.3 s, so no read command or hook path may reach this
module.  Every call opens the repo, does one thing and closes it; targets are
passed as absolute paths because DVC resolves relative ones against the cwd.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gitmodel import untrusted
from gitmodel.dvc import config as dvcconf
from gitmodel.dvc.cache import (
    TRANSFER_LOCK,
    cache_dir,
    clean_partials,
    dir_manifest,
    drop_objects,
    note_fetched,
    out_objects,
    pruning,
    remove_fetched,
    transferring,
)
from gitmodel.dvc.config import default_remote, remote_config, remote_of, tracked_remote, working_remote
from gitmodel.dvc.fetch import CachedOut, fetch_out
from gitmodel.dvc.pull import DEFAULT_TIMEOUT, TIMEOUT_ENV, silence_transfers, transfer_timeout, watched
from gitmodel.dvc.pull import push as push_objects
from gitmodel.errors import RemoteUnreachable, UsageError


def is_initialised(repo: Path) -> bool:
    return (repo / ".dvc").is_dir()


def init(repo: Path) -> None:
    from dvc.repo import Repo

    dvcconf.quiet()
    Repo.init(str(repo)).close()


def add_remote(repo: Path, name: str, url: str) -> None:
    with dvcconf.open_repo(repo) as dvc_repo, dvc_repo.config.edit() as conf:
        conf["remote"][name] = {"url": url}
        conf["core"]["remote"] = name


def add(repo: Path, path: Path, md5s: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Track `path` (file or folder) and return the out entry of its .dvc file.

    track.py writes what `dvc add` would without DVC reading the repository; where it
    cannot promise the same result, DVC's own add runs.  `md5s`: hashes already taken.
    """
    from gitmodel.dvc import track

    dvcconf.check_own_state(repo)  # a tracked .dvc/cache link would take the bytes elsewhere
    out = track.add(repo, path, md5s)
    if out is not None:
        return out
    from dvc.exceptions import DvcException

    with dvcconf.open_repo(repo) as dvc_repo:
        try:
            stages = dvc_repo.add(str(path))
        except DvcException as exc:
            raise UsageError(f"dvc could not track {path}: {exc}") from None
        out = stages[0].outs[0]
        return {"md5": out.hash_info.value, "size": out.meta.size, "nfiles": out.meta.nfiles}


def push(repo: Path, targets: Sequence[Path]) -> int:
    """Upload the objects behind `targets` (.dvc files) to the default remote.

    By hash, in a watched child (pull.py): no repository index is built (seconds at
    1,000 models), and a remote that stops answering ends it after GITMODEL_DVC_TIMEOUT
    (exit 4 naming the remote; nothing appears on the remote half-written).
    """
    from dvc.config import RemoteConfigError
    from dvc.exceptions import DvcException

    oids, legacy = [], False
    for target in targets:
        text = target.read_text(encoding="utf-8")
        oids.append(pointer_md5(text))
        legacy = legacy or "hash: md5" not in text
    name = ", ".join(t.name.removesuffix(".dvc") for t in targets)
    silence_transfers()
    with dvcconf.open_repo(repo) as dvc_repo:
        try:
            if legacy:  # DVC 2 pointers (md5-dos2unix): DVC's own push finds their cache

                def work() -> int:
                    return int(dvc_repo.push(targets=[str(t) for t in targets]))

                return watched(dvc_repo, work, None, f"could not push {name} to the DVC remote")
            return push_objects(dvc_repo, oids, None, name)
        except RemoteConfigError:
            raise dvcconf.no_remote(repo) from None
        except DvcException as exc:
            raise RemoteUnreachable(
                f"could not push to the DVC remote: {exc}; check `dvc remote list`"
            ) from None


def missing_on_remote(repo: Path, pointers: Sequence[str], *, host: bool = False) -> list[str]:
    """Objects named by .dvc file texts that the default remote lacks ("" list: all there).

    Reads pointers given as text (taken from any revision with `git show`), so no
    checkout is needed.  A directory's manifest is read from the local cache, or from
    the remote when the cache lacks it.  host=True: with a host's settings (config.py),
    refused when the remote needs more from the tracked .dvc/config than a host takes.
    """
    wanted: list[str] = []
    for text in pointers:
        wanted.extend(_pointer_md5s(text))
    if host:
        dvcconf.check_host_remote(repo)
    conf = dvcconf.settings(repo, host=host)
    local_remote = dvcconf.local_remote(repo, conf)
    if local_remote is not None:
        absent = dvcconf.remote_dir_missing(repo, conf=conf)
        if absent is not None:
            raise absent
        return _missing_in_dir(repo, local_remote, wanted)
    from dvc.config import RemoteConfigError
    from dvc.exceptions import DvcException

    with dvcconf.open_repo(repo, host=host) as dvc_repo:
        try:
            odb = dvc_repo.cloud.get_remote_odb(hash_name="md5")
        except RemoteConfigError:
            raise dvcconf.no_remote(repo) from None
        try:
            missing = [oid for oid in wanted if not odb.exists(oid)]
            for oid in [o for o in wanted if o.endswith(".dir") and o not in missing]:
                local = dvc_repo.cache.local
                path = local.oid_to_path(oid)
                if local.fs.exists(path):
                    entries = dir_manifest(local.fs.cat_file(path), oid)
                else:
                    entries = dir_manifest(odb.fs.cat_file(odb.oid_to_path(oid)), oid)
                missing.extend(md5 for md5 in entries.values() if not odb.exists(md5))
        except DvcException as exc:
            raise RemoteUnreachable(f"cannot read the DVC remote: {exc}") from None
        except OSError as exc:
            raise RemoteUnreachable(f"cannot read the DVC remote: {exc}") from None
        return missing


def _pointer_md5s(text: str) -> list[str]:
    return [_pointer(text)[1]]


def pointer_md5(text: str) -> str:
    """The md5 a .dvc pointer (given as text) names, read without DVC."""
    return _pointer(text)[1]


def _pointer(text: str) -> tuple[str, str]:
    """(artifact name, md5) of a .dvc pointer's first out, through the door."""
    from gitmodel.yamlio import loads, plain

    return untrusted.pointer_out(plain(loads(text, ".dvc file")), ".dvc file")


def materialise(repo: Path, pointer: str, dest: Path) -> Path:
    """Lay out the files a .dvc pointer names under `dest`, from the local cache.

    Objects missing from the cache are fetched first (fetch_out).  Files are hard links
    into the cache where possible, copies otherwise; the cache is never modified.
    Returns the artifact's path under `dest`.
    """
    import shutil

    out = fetch_out(repo, pointer)
    if out.missing:
        raise UsageError(
            f"{out.name}: {len(out.missing)} object(s) are in neither the DVC cache nor the remote"
        )
    target = untrusted.join(dest, out.name, ".dvc file outs[0].path")
    for rel, cached in out.files.items():
        path = untrusted.join(target, rel, f"{out.name} relpath") if rel else target
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(cached, path)
        except OSError:
            shutil.copyfile(cached, path)
    return target


def _md5_path(base: Path, oid: str) -> Path:
    return base / "files" / "md5" / oid[:2] / oid[2:]


def _missing_in_dir(repo: Path, remote: Path, wanted: list[str]) -> list[str]:
    """missing_on_remote for a local-path remote: plain file checks, no DVC import."""
    missing = [oid for oid in wanted if not _md5_path(remote, oid).is_file()]
    for oid in wanted:
        if not oid.endswith(".dir") or oid in missing:
            continue
        manifest = _md5_path(repo / ".dvc" / "cache", oid)
        if not manifest.is_file():
            manifest = _md5_path(remote, oid)
        entries = dir_manifest(manifest.read_bytes(), oid)
        missing.extend(md5 for md5 in entries.values() if not _md5_path(remote, md5).is_file())
    return missing


_transfer_timeout = transfer_timeout  # the name tests know


__all__ = [
    "DEFAULT_TIMEOUT",
    "TIMEOUT_ENV",
    "TRANSFER_LOCK",
    "CachedOut",
    "cache_dir",
    "clean_partials",
    "default_remote",
    "dir_manifest",
    "drop_objects",
    "fetch_out",
    "note_fetched",
    "out_objects",
    "pruning",
    "remote_config",
    "remote_of",
    "remove_fetched",
    "tracked_remote",
    "transferring",
    "working_remote",
]
