"""The only package that imports DVC, always lazily (pull.py: watched downloads; cache.py:
the host cache as a transfer area; fetch.py: one out by hash into the cache; track.py and
wire.py: add and fetch without DVC where the result is byte for byte the same).

`import dvc.repo` costs ~0.3 s, so no read command or hook path may reach this
module.  Every call opens the repo, does one thing and closes it; targets are
passed as absolute paths because DVC resolves relative ones against the cwd.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gitmodel import untrusted
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
from gitmodel.dvc.pull import DEFAULT_TIMEOUT, TIMEOUT_ENV, transfer_timeout, watched
from gitmodel.dvc.pull import push as push_objects
from gitmodel.errors import NoDvcRemote, RemoteDirMissing, RemoteUnreachable, UsageError


def _quiet() -> None:
    # DVC logs advice ("To track the changes with git, run ...") at INFO; we commit
    # for the user, and the core must not write to the terminal.
    logging.getLogger("dvc").setLevel(logging.WARNING)
    from dvc.ui import ui

    ui.error_console.quiet = True  # its spinners ("Checking graph") and blank lines on a TTY


@contextmanager
def _open(repo: Path) -> Iterator[Any]:
    from dvc.repo import Repo

    _quiet()
    dvc_repo = Repo(str(repo))
    try:
        yield dvc_repo
    finally:
        dvc_repo.close()


def is_initialised(repo: Path) -> bool:
    return (repo / ".dvc").is_dir()


def init(repo: Path) -> None:
    from dvc.repo import Repo

    _quiet()
    Repo.init(str(repo)).close()


def _repo_config(repo: Path) -> dict[str, dict[str, str]]:
    """The repository's own DVC config (.dvc/config, then config.local), read without DVC.

    Importing DVC costs ~0.3 s; a rollback only needs the default remote's URL.
    """
    texts = []
    for name in ("config", "config.local"):
        path = repo / ".dvc" / name
        if not path.exists():
            continue
        try:
            texts.append(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            return {}
    return _parse_config(texts)


def _parse_config(texts: Sequence[str]) -> dict[str, dict[str, str]]:
    """DVC config texts merged in order (a later one wins); {} when one cannot be read."""
    import configparser

    merged: dict[str, dict[str, str]] = {}
    for text in texts:
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(text)
        except configparser.Error:
            return {}
        for section in parser.sections():
            key = section.strip("'\"").replace('"', "").replace("'", "")
            merged.setdefault(key, {}).update(parser[section])
    return merged


def remote_of(config_text: str | None) -> tuple[str, str] | None:
    """(name, url) of the default remote one .dvc/config text names, or None."""
    return _default_of(_parse_config([config_text or ""]))


def working_remote(repo: Path) -> tuple[str, str] | None:
    """(name, url) of the default remote a push from ROOT uses: its config, then config.local."""
    return _default_of(_repo_config(repo))


def _default_of(conf: dict[str, dict[str, str]]) -> tuple[str, str] | None:
    name = conf.get("core", {}).get("remote")
    url = conf.get(f"remote {name}", {}).get("url") if name else None
    return (name, url) if name and url else None


def remote_config(repo: Path, name: str | None = None) -> tuple[str, dict[str, str]] | None:
    """(name, settings: url, endpointurl, region, ...) of the remote `name` (default: the
    default remote) as config then config.local say, read without DVC; None: not defined."""
    conf = _repo_config(repo)
    name = name or conf.get("core", {}).get("remote")
    section = conf.get(f"remote {name}") if name else None
    return (name, dict(section)) if name and section and section.get("url") else None


def _local_remote(repo: Path) -> Path | None:
    """The default remote's directory when it is a local path named in the repo's config."""
    conf = _repo_config(repo)
    name = conf.get("core", {}).get("remote")
    url = conf.get(f"remote {name}", {}).get("url") if name else None
    if not url or "://" in url:
        return None
    path = Path(url)
    return path if path.is_absolute() else (repo / ".dvc" / path).resolve()


def _remote_dir_missing(repo: Path, remote: str | None = None) -> RemoteDirMissing | None:
    """The error to raise when the (default) remote is a local path that is not there.

    DVC reads such a remote as empty, so without this a missing mount would be
    reported as missing objects and blamed on whoever pushed.
    """
    name = _repo_config(repo).get("core", {}).get("remote")
    path = _local_remote(repo) if name and remote in (None, name) else None
    if path is None or path.is_dir():
        return None
    return RemoteDirMissing(name or "", os.path.normpath(path))


def _no_remote(repo: Path) -> NoDvcRemote:
    """DVC found no usable default remote in ROOT's config (DVC reads the work tree's)."""
    from gitmodel import git

    commit = git.head(repo)
    return NoDvcRemote(
        f"the registry at {commit[:10]}" if commit else str(repo),
        "add one with `dvc remote add -d NAME URL`, commit .dvc/config and push it; a host clone "
        f"then needs `git pull` in {repo} (or its own `dvc remote add --local -d NAME URL` there)",
    )


def default_remote(repo: Path) -> str | None:
    """Name of the default DVC remote, or None (read from config, no network)."""
    conf = _repo_config(repo)
    name = conf.get("core", {}).get("remote")
    if name and f"remote {name}" in conf:
        return name
    with _open(repo) as dvc_repo:
        name = dvc_repo.config["core"].get("remote")
        return name if name and name in dvc_repo.config["remote"] else None


def add_remote(repo: Path, name: str, url: str) -> None:
    with _open(repo) as dvc_repo, dvc_repo.config.edit() as conf:
        conf["remote"][name] = {"url": url}
        conf["core"]["remote"] = name


def add(repo: Path, path: Path, md5s: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Track `path` (file or folder) and return the out entry of its .dvc file.

    track.py writes what `dvc add` would without DVC reading the repository; where it
    cannot promise the same result, DVC's own add runs.  `md5s`: hashes already taken.
    """
    from gitmodel.dvc import track

    out = track.add(repo, path, md5s)
    if out is not None:
        return out
    from dvc.exceptions import DvcException

    with _open(repo) as dvc_repo:
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
    _silence_transfers()
    with _open(repo) as dvc_repo:
        try:
            if legacy:  # DVC 2 pointers (md5-dos2unix): DVC's own push finds their cache

                def work() -> int:
                    return int(dvc_repo.push(targets=[str(t) for t in targets]))

                return watched(dvc_repo, work, None, f"could not push {name} to the DVC remote")
            return push_objects(dvc_repo, oids, None, name)
        except RemoteConfigError:
            raise _no_remote(repo) from None
        except DvcException as exc:
            raise RemoteUnreachable(
                f"could not push to the DVC remote: {exc}; check `dvc remote list`"
            ) from None


def missing_on_remote(repo: Path, pointers: Sequence[str]) -> list[str]:
    """Objects named by .dvc file texts that the default remote lacks ("" list: all there).

    Reads pointers given as text (taken from any revision with `git show`), so no
    checkout is needed.  A directory's manifest is read from the local cache, or from
    the remote when the cache lacks it.
    """
    wanted: list[str] = []
    for text in pointers:
        wanted.extend(_pointer_md5s(text))
    local_remote = _local_remote(repo)
    if local_remote is not None:
        absent = _remote_dir_missing(repo)
        if absent is not None:
            raise absent
        return _missing_in_dir(repo, local_remote, wanted)
    from dvc.config import RemoteConfigError
    from dvc.exceptions import DvcException

    with _open(repo) as dvc_repo:
        try:
            odb = dvc_repo.cloud.get_remote_odb(hash_name="md5")
        except RemoteConfigError:
            raise _no_remote(repo) from None
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


def _silence_transfers() -> None:
    # dvc_data logs failed transfers (with tracebacks) and DVC warns about missing
    # objects; we report both ourselves, in one line, so neither may reach stderr.
    for name in ("dvc", "dvc_data", "dvc_objects"):
        log = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in log.handlers):
            log.addHandler(logging.NullHandler())
    logging.getLogger("dvc_data").setLevel(logging.CRITICAL)
    logging.getLogger("dvc.data_cloud").setLevel(logging.ERROR)


_transfer_timeout = transfer_timeout  # the name tests know

# Last: fetch.py reads this package's repo and remote helpers.
from gitmodel.dvc.fetch import CachedOut, fetch_out  # noqa: E402

__all__ = [
    "DEFAULT_TIMEOUT",
    "TIMEOUT_ENV",
    "TRANSFER_LOCK",
    "CachedOut",
    "cache_dir",
    "clean_partials",
    "dir_manifest",
    "drop_objects",
    "fetch_out",
    "note_fetched",
    "out_objects",
    "pruning",
    "remove_fetched",
    "transferring",
]
