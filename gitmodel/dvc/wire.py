"""Downloads from an S3 remote at the speed of the wire, in DVC's own remote layout.

DVC's pull reads an object in ranged GETs through s3fs; against moto each ranged GET
re-reads the whole object (FACTS.md), and against any server the per-range overhead adds
up: a cold deploy took 2x a plain download (issue 15).  Here each object of DVC's
layout, `PREFIX/files/md5/XX/REST`, is read with one plain streamed GET (objstore.py, the
one door to object storage), its md5 computed as the bytes arrive and checked against
its name before it takes that name in the cache (`files/md5/XX/REST`, mode 0444, as DVC
writes it).  Several objects (a folder's files) move in parallel.  The transfer runs in
pull.py's watched child, so GITMODEL_DVC_TIMEOUT holds as it does for DVC's transfers.

Only plain S3 remotes take this path (url, endpoint, region, profile, keys); a remote
with other settings (version_aware, worktree, sse, ...), another kind of remote, or the
legacy md5-dos2unix layout goes through DVC's pull unchanged.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from gitmodel.dvc import config as dvcconf
from gitmodel.dvc.config import Conf
from gitmodel.errors import PolicyError

PLAIN_S3 = {
    "url",
    "endpointurl",
    "region",
    "profile",
    "access_key_id",
    "secret_access_key",
    "session_token",
    "ssl_verify",
}
PARALLEL = 4


def fetch_out(
    repo: Path, name: str, md5: str, remote: str | None, rounds: Any = None, *, host: bool = False
) -> Any:
    """dvc.fetch_out for a plain S3 remote and the default cache, without DVC at all
    (importing and opening DVC is ~0.4 s of a cold deploy); None: take DVC's path.
    `rounds`: fetch._Rounds, told the bytes moved (a progress bar); host: the settings
    a host may take (config.py)."""
    from gitmodel.dvc.cache import note_fetched
    from gitmodel.dvc.fetch import CachedOut, _lacking, _out_files
    from gitmodel.dvc.pull import watched

    store = _plain_s3(repo, dvcconf.settings(repo, host=host), remote)
    base = dvcconf.plain_cache(repo, host=host)
    if store is None or base is None:
        return None
    cache = _Cache(base / "files" / "md5")
    downloaded = 0
    for _ in range(2):  # a folder: its manifest first, then the files it names
        lacking = _lacking(cache, md5)
        if not lacking:
            break
        note_fetched(base, [Path(cache.oid_to_path(o)) for o in lacking])

        def work(lacking: list[str] = lacking) -> int:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=min(PARALLEL, len(lacking))) as pool:
                return sum(pool.map(lambda oid: _one(store, cache.base, oid, name), lacking))

        where = f"'{store.name}' ({store.url})"
        failed = f"could not fetch {name} from the DVC remote"
        downloaded += watched(None, work, remote, failed, where, rounds.hear if rounds else None)
        if rounds:
            rounds.next()
    # What is still lacking, the remote answered 404 for: it does not have it.
    missing = _lacking(cache, md5)
    return CachedOut(name, md5, md5.endswith(".dir"), _out_files(cache, md5), downloaded, missing)


class _Cache:
    """The little of dvc-data's local object store that _lacking/_out_files ask of it."""

    def __init__(self, base: Path) -> None:
        self.base = base

    def oid_to_path(self, oid: str) -> str:
        return str(self.base / oid[:2] / oid[2:])


def _plain_s3(repo: Path, conf: Conf, remote: str | None) -> Any:
    """The objstore S3 store of the remote when it is plain S3 named in `conf`."""
    from gitmodel import objstore

    chosen = remote or conf.get("core", {}).get("remote")
    settings = conf.get(f"remote {chosen}") if chosen else None
    if not settings or not settings.get("url", "").startswith("s3://") or set(settings) - PLAIN_S3:
        return None
    return objstore.open_store(str(chosen), settings, repo / ".dvc")


def _one(store: Any, cache: Path, oid: str, name: str) -> int:
    """One object into the cache, verified; 1 if it came, 0 if the remote lacks it."""
    chunks = store.chunks(f"files/md5/{oid[:2]}/{oid[2:]}")
    if chunks is None:
        return 0  # the caller's check names what is missing
    target = cache / oid[:2] / oid[2:]
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{secrets.token_urlsafe(16)}.tmp")  # clean_partials() knows the form
    digest = hashlib.md5()
    try:
        with open(tmp, "xb") as fh:
            _drain(chunks, fh, digest)
        if digest.hexdigest() != oid.removesuffix(".dir"):
            raise PolicyError(  # exit 1, as a sha256 mismatch found later is: the bytes are wrong
                f"the DVC remote's object {oid} of {name} does not match its name (its md5 is "
                f"{digest.hexdigest()}): the remote holds corrupt bytes, nothing was installed; push "
                "them again from a clone that has them"
            )
        os.chmod(tmp, 0o444)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return 1


def _drain(chunks: Iterator[bytes], fh: BinaryIO, digest: Any) -> None:
    """Write the chunks as they arrive while a second thread hashes them (hashlib and
    socket reads release the GIL): the md5 costs no wall time on a second core."""
    import queue
    import threading

    pending: queue.Queue[bytes | None] = queue.Queue(maxsize=4)

    def hash_them() -> None:
        while (chunk := pending.get()) is not None:
            digest.update(chunk)

    worker = threading.Thread(target=hash_them, name="md5", daemon=True)
    worker.start()
    try:
        for chunk in chunks:
            pending.put(chunk)
            fh.write(chunk)
    finally:
        pending.put(None)
        worker.join()
