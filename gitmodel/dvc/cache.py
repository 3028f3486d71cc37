"""The host's DVC cache as a transfer area (gitmodel/host/materialise.py).

Where an out's objects lie, DVC's partial downloads, dropping objects once a version
holds them, and the ledger of what gitmodel's transfers downloaded (the only objects
gitmodel/host/cacheprune.py may remove): plain file operations, no DVC import beyond
finding the cache directory.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from gitmodel import untrusted

_PARTIAL = r"\.[A-Za-z0-9_-]{22}\.tmp$"  # dvc_objects' tmp_fname(): ".<token_urlsafe(16)>.tmp"


TRANSFER_LOCK = ".gitmodel-transfer.lock"
FETCHED = ".gitmodel-fetched"  # the ledger: one cache-relative object path a line
_OBJECT = re.compile(r"(files/md5/)?[0-9a-f]{2}/[0-9a-f]{30}(\.dir)?")


def dir_manifest(raw: bytes | str, oid: str) -> dict[str, str]:
    """A .dir manifest's relpath -> md5, through the door (its entries name cache paths)."""
    import json

    try:
        entries = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested past the parser's depth
        raise untrusted.UntrustedData(f"DVC folder manifest {oid}", "(not JSON)", "it must be JSON") from None
    return untrusted.dir_entries(entries, f"DVC folder manifest {oid}")


def cache_dir(repo: Path) -> Path:
    """The host clone's DVC cache directory, as DVC resolves it from the host's own config
    levels (a `cache.dir` in the tracked .dvc/config is the pusher's: config.py)."""
    from gitmodel.dvc import config as dvcconf

    plain = dvcconf.plain_cache(repo, host=True)  # no `cache.dir`: no need to open DVC (~0.4 s)
    if plain is not None:
        return plain

    with dvcconf.open_repo(repo, host=True) as dvc_repo:
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


def note_fetched(cache: Path, objects: Iterable[Path]) -> None:
    """Add to the ledger objects a transfer is about to bring into `cache` (they were
    absent: whatever then lies under those names came from the remote).  Written before
    the transfer, so a killed one's objects are known too."""
    lines = []
    for path in objects:
        rel = os.path.relpath(path, cache)
        if _OBJECT.fullmatch(rel):
            lines.append(rel + "\n")
    if not lines:
        return
    cache.mkdir(parents=True, exist_ok=True)
    fd = os.open(cache / FETCHED, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        os.write(fd, "".join(lines).encode())
    finally:
        os.close(fd)


@contextmanager
def pruning(cache: Path) -> Iterator[bool]:
    """Whether `cache` may be pruned now: True while we hold the transfer lock alone (no
    transfer runs; none starts until the block ends); False when one is running."""
    import fcntl

    fd = os.open(cache / TRANSFER_LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def remove_fetched(cache: Path, keep: set[Path]) -> tuple[int, int]:
    """Remove every ledger object not in `keep` (call inside pruning()); (objects, bytes freed).

    The ledger keeps the lines of kept objects that still exist."""
    ledger = cache / FETCHED
    try:
        lines = ledger.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return 0, 0
    except (OSError, UnicodeDecodeError):
        lines = []  # unreadable: start again; its objects are left alone
    removed = freed = 0
    still: dict[str, None] = {}
    for rel in lines:
        if not _OBJECT.fullmatch(rel):
            continue
        path = cache / rel
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        if path in keep:
            still[rel] = None
            continue
        if not os.path.isfile(path) or os.path.islink(path):
            continue
        path.unlink(missing_ok=True)
        removed += 1
        freed += st.st_size if st.st_nlink == 1 else 0
    tmp = ledger.with_name(f"{FETCHED}.{os.getpid()}.tmp")
    tmp.write_text("".join(f"{rel}\n" for rel in still), encoding="utf-8")
    os.replace(tmp, ledger)
    return removed, freed
