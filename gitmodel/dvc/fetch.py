"""One .dvc out brought into the host's cache by hash (the host's transfer, gitmodel/host/transfer.py).

Only this out's objects move, and nothing when the cache has them; a plain S3 remote goes
through wire.py without DVC at all.  On a host (host=True) both paths run with the
settings a host may take (config.py): its own, and from the tracked .dvc/config only a
remote's name and plain URL.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitmodel import untrusted
from gitmodel.dvc import config as dvcconf
from gitmodel.dvc import wire
from gitmodel.dvc.cache import dir_manifest, note_fetched
from gitmodel.dvc.pull import Moved, pull, silence_transfers
from gitmodel.errors import GitModelError, RemoteUnreachable


@dataclass(frozen=True)
class CachedOut:
    """One .dvc out brought into the local cache: where each of its files lies there."""

    name: str  # the out's path in the pointer: the artifact's file or folder name
    md5: str
    is_dir: bool
    files: dict[str, Path]  # path inside the folder ("" for a single file) -> cache file
    downloaded: int  # objects this call transferred from the remote
    missing: list[str]  # objects that neither the cache nor the remote holds


def fetch_out(
    repo: Path, pointer: str, remote: str | None = None, moved: Moved | None = None, *, host: bool = False
) -> CachedOut:
    """Bring the objects of one .dvc pointer (given as text) into the local cache.

    A transfer by hash: only this out's objects move, nothing at all when the cache has
    them (no remote call then), and no work tree is touched.  `Repo.fetch(revs=...)`
    would fetch every out at the commit and costs ~0.2 s more (measured; docs/host.md).
    `moved` hears the bytes written so far, over every round (pull.watched).  host=True:
    the host's settings only (config.py); a remote that needs more from the tracked
    .dvc/config is refused (PolicyError) before any request.
    """
    from gitmodel.yamlio import loads, plain

    data = plain(loads(pointer, ".dvc file"))
    name, md5 = untrusted.pointer_out(data, ".dvc file")
    hash_name = "md5" if data["outs"][0].get("hash") == "md5" else "md5-dos2unix"
    rounds = _Rounds(moved)
    if host:
        dvcconf.check_host_remote(repo, remote)
    conf = dvcconf.settings(repo, host=host)
    if hash_name == "md5":
        fast = wire.fetch_out(repo, name, md5, remote, rounds, host=host)  # plain S3: no DVC
        if fast is not None:
            return fast  # type: ignore[no-any-return]
    silence_transfers()
    with dvcconf.open_repo(repo, host=host) as dvc_repo:
        cache = dvc_repo.cache.local if hash_name == "md5" else dvc_repo.cache.legacy
        try:
            downloaded = 0
            # Two rounds for a folder: the first may bring only the .dir manifest, and DVC
            # treats a folder whose manifest is cached as present, so the second names the
            # folder's missing files one by one.
            for _ in range(2):
                lacking = _lacking(cache, md5)
                if lacking:
                    note_fetched(
                        Path(dvc_repo.cache.legacy.path), [Path(cache.oid_to_path(o)) for o in lacking]
                    )
                    downloaded += pull(dvc_repo, hash_name, lacking, remote, name, rounds.hear)
                    rounds.next()
            files = _out_files(cache, md5)
            missing = _lacking(cache, md5)
            if missing:
                absent = dvcconf.remote_dir_missing(repo, remote, conf)
                if absent is not None:
                    raise absent
                odb = dvc_repo.cloud.get_remote_odb(remote, "fetch", hash_name=hash_name)
                gone = [oid for oid in missing if not odb.exists(oid)]
                if not gone:
                    raise RemoteUnreachable(
                        f"could not download {len(missing)} object(s) of {name} from the DVC remote; retry"
                    )
                missing = gone
        except GitModelError:
            raise  # unreachable, or a manifest the door refused
        except Exception as exc:
            from dvc.config import RemoteConfigError

            if isinstance(exc, RemoteConfigError):  # none configured, or a name with no section
                raise dvcconf.no_remote(repo) from None
            raise RemoteUnreachable(
                f"could not fetch {name} from the DVC remote: {type(exc).__name__}: {exc}"
            ) from None
        return CachedOut(name, md5, md5.endswith(".dir"), files, downloaded, missing)


class _Rounds:
    """The bytes moved over a fetch's rounds: each round's child counts from zero."""

    def __init__(self, moved: Moved | None) -> None:
        self.moved, self.before, self.now = moved, 0, 0
        self.hear: Moved | None = self._hear if moved is not None else None

    def _hear(self, wrote: int) -> None:
        self.now = wrote
        if self.moved is not None:
            self.moved(self.before + wrote)

    def next(self) -> None:
        self.before, self.now = self.before + self.now, 0


def _lacking(cache: Any, md5: str) -> list[str]:
    """Objects of the out (its .dir manifest and every file in it) not in the cache."""
    if not os.path.exists(cache.oid_to_path(md5)):
        return [md5]
    if not md5.endswith(".dir"):
        return []
    oids = dir_manifest(Path(cache.oid_to_path(md5)).read_bytes(), md5).values()
    return [oid for oid in oids if not os.path.exists(cache.oid_to_path(oid))]


def _out_files(cache: Any, md5: str) -> dict[str, Path]:
    """Path inside the out ("" for a file) -> its cache file; every md5 passed the door."""
    if not md5.endswith(".dir"):
        return {"": Path(cache.oid_to_path(md5))}
    manifest = Path(cache.oid_to_path(md5))
    if not manifest.exists():
        return {}
    entries = dir_manifest(manifest.read_bytes(), md5)
    return {rel: Path(cache.oid_to_path(oid)) for rel, oid in entries.items()}
