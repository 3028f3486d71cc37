"""The host's DVC cache as a transfer area (gitmodel/host/materialise.py).

Where an out's objects lie, DVC's partial downloads, and dropping objects once a version
holds them: plain file operations, no DVC import beyond finding the cache directory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gitmodel import untrusted

_PARTIAL = r"\.[A-Za-z0-9_-]{22}\.tmp$"  # dvc_objects' tmp_fname(): ".<token_urlsafe(16)>.tmp"


TRANSFER_LOCK = ".gitmodel-transfer.lock"


def dir_manifest(raw: bytes | str, oid: str) -> dict[str, str]:
    """A .dir manifest's relpath -> md5, through the door (its entries name cache paths)."""
    import json

    try:
        entries = json.loads(raw)
    except ValueError:
        raise untrusted.UntrustedData(f"DVC folder manifest {oid}", "(not JSON)", "it must be JSON") from None
    return untrusted.dir_entries(entries, f"DVC folder manifest {oid}")


def cache_dir(repo: Path) -> Path:
    """The clone's DVC cache directory, as DVC resolves it from every config level."""
    from gitmodel.dvc import _open
    from gitmodel.dvc.wire import plain_cache

    plain = plain_cache(repo)  # no `cache.dir` anywhere: no need to open DVC (~0.4 s)
    if plain is not None:
        return plain

    with _open(repo) as dvc_repo:
        return Path(dvc_repo.cache.legacy.path)


def out_objects(cache: Path, pointer: str) -> dict[str, Path]:
    """md5 -> cache path of the pointer's out: its own object and, for a folder whose
    manifest is cached, every file's (a missing manifest names only itself)."""
    from gitmodel.yamlio import loads, plain

    data = plain(loads(pointer, ".dvc file"))
    _name, md5 = untrusted.pointer_out(data, ".dvc file")
    base = cache / "files" / "md5" if data["outs"][0].get("hash") == "md5" else cache
    found = {md5: base / md5[:2] / md5[2:]}
    manifest = found[md5]
    if md5.endswith(".dir") and manifest.is_file():
        for oid in dir_manifest(manifest.read_bytes(), md5).values():
            found[oid] = base / oid[:2] / oid[2:]
    return found


def drop_objects(cache: Path, pointer: str) -> int:
    """Remove the out's file objects from the cache (a folder's .dir manifest stays); bytes freed.

    Only names go: a version directory that hard-links an object keeps its bytes.
    """
    freed = 0
    for oid, path in out_objects(cache, pointer).items():
        if oid.endswith(".dir"):
            continue
        try:
            st = os.lstat(path)
            path.unlink()
        except FileNotFoundError:
            continue
        freed += st.st_size if st.st_nlink == 1 else 0
    return freed


@contextmanager
def transferring(cache: Path) -> Iterator[None]:
    """Held (shared) while objects move into `cache`: clean_partials() leaves them alone."""
    import fcntl

    cache.mkdir(parents=True, exist_ok=True)
    fd = os.open(cache / TRANSFER_LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def clean_partials(cache: Path) -> list[Path]:
    """Delete DVC's partial downloads (`*.<token>.tmp`) from the cache; the paths removed.

    A partial is what an interrupted or failed transfer left.  Only when no gitmodel
    transfer into this cache is running (the exclusive lock is free at once): a running
    one's partial is not a leftover.
    """
    import fcntl
    import re

    if not cache.is_dir():
        return []
    fd = os.open(cache / TRANSFER_LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    removed: list[Path] = []
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return removed
        for folder in (cache / "files" / "md5", cache):
            for path in folder.glob("*/*.tmp"):
                if re.search(_PARTIAL, path.name) and not path.is_symlink() and path.is_file():
                    path.unlink(missing_ok=True)
                    removed.append(path)
    finally:
        os.close(fd)
    return removed
