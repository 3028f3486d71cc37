"""Prune the host's DVC cache to what retention keeps, across every root that shares it.

Once built, a version's cache names are dropped (transfer.drop), but what was downloaded
and never built stays: a deploy killed between download and build, one refused by its
hashes or a full disk, a canary that was never made.  After each successful deploy (at
retention time) the cache is pruned:

- Only objects a gitmodel transfer downloaded are candidates (the ledger,
  dvc/cache.py): they are on the DVC remote and can be had again.  What `dvc add` or
  `register` put in the cache (perhaps not pushed yet) is never touched.
- Kept: what each (root, model) using the cache *claims*.  A claim lists, per version,
  the out md5 that (root, model) needs: retention's keep set (hot versions, `current`,
  the canary, the canary about to be made) and anything it is fetching.  transfer.fetch
  adds its version to the claim before every transfer; the prune rewrites its own
  claim to the keep set.  So one root's prune never removes what another root is
  downloading or about to build (a shared cache never forces a re-download of what the
  other root still needs).  A claim whose root/model directory is gone is dropped.
- Only while no transfer into the cache runs (the exclusive transfer lock, taken without
  waiting; busy: skipped until the next deploy).
- A version on disk never needs the cache (its files are its own inodes), so removing a
  cache name never changes a file under `versions/`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitmodel import dvc, hostlayout
from gitmodel.refs import Version

CLAIMS = ".gitmodel-claims"
_MD5 = re.compile(r"[0-9a-f]{32}(\.dir)?")


@dataclass(frozen=True)
class Pruned:
    objects: int  # cache objects removed
    freed: int  # bytes freed (objects whose inode nothing else named)
    skipped: str = ""  # why nothing was pruned this time ("" when it ran)


def claim_path(cache: Path, root: Path, model: str) -> Path:
    key = hashlib.sha256(f"{os.path.realpath(root)}\0{model}".encode()).hexdigest()[:24]
    return cache / CLAIMS / f"{key}.json"


def claim(cache: Path, root: Path, model: str, version: Version, md5: str) -> None:
    """Add `version` (out `md5`) to what (root, model) needs from the cache: before a transfer."""
    mine = _read(claim_path(cache, root, model)) or {}
    versions = dict(mine.get("versions") or {})
    if versions.get(str(version)) == md5:
        return
    versions[str(version)] = md5
    _write(cache, root, model, versions)


def prune(cache: Path, root: Path, model: str, keep: list[Version]) -> Pruned:
    """Rewrite (root, model)'s claim to `keep`, then remove ledger objects no claim names."""
    if not cache.is_dir():
        return Pruned(0, 0, "no cache")
    path = claim_path(cache, root, model)
    before = (_read(path) or {}).get("versions") or {}
    versions = {}
    for version in keep:
        md5 = _version_md5(root, model, version) or before.get(str(version))
        if isinstance(md5, str) and _MD5.fullmatch(md5):
            versions[str(version)] = md5
    _write(cache, root, model, versions)
    with dvc.pruning(cache) as free:
        if not free:
            return Pruned(0, 0, "a transfer into the cache is running")
        needed, unreadable = _claimed(cache)
        if unreadable is not None:
            return Pruned(0, 0, f"unreadable claim {unreadable}")
        removed, freed = dvc.remove_fetched(cache, _object_paths(cache, needed))
    return Pruned(removed, freed)


def _version_md5(root: Path, model: str, version: Version) -> str | None:
    try:
        md5 = hostlayout.read_manifest(hostlayout.versions_dir(root, model) / str(version)).get("dvc_md5")
    except Exception:
        return None  # not built (pinned, or being fetched): the claim's own entry says
    return md5 if isinstance(md5, str) else None


def _claimed(cache: Path) -> tuple[set[str], Path | None]:
    """Every md5 a live claim names; a claim of a root/model that is gone is deleted."""
    needed: set[str] = set()
    folder = cache / CLAIMS
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        data = _read(path)
        if data is None:
            return needed, path
        if not data:
            continue  # gone meanwhile (its root's own prune rewrote it)
        root, model = data.get("root"), data.get("model")
        if not isinstance(root, str) or not isinstance(model, str):
            return needed, path
        try:
            alive = hostlayout.model_root(Path(root), model).is_dir()
        except Exception:
            return needed, path
        if not alive:
            path.unlink(missing_ok=True)
            continue
        versions = data.get("versions")
        if not isinstance(versions, Mapping):
            return needed, path
        needed.update(md5 for md5 in versions.values() if isinstance(md5, str) and _MD5.fullmatch(md5))
    return needed, None


def _object_paths(cache: Path, md5s: set[str]) -> set[Path]:
    """Where each md5 may lie in the cache (DVC 3's files/md5/ and the legacy layout),
    a folder's files included when its manifest is cached."""
    out: set[Path] = set()
    for md5 in md5s:
        for base in (cache / "files" / "md5", cache):
            out.add(base / md5[:2] / md5[2:])
            manifest = base / md5[:2] / md5[2:]
            if md5.endswith(".dir") and manifest.is_file():
                try:
                    files = dvc.dir_manifest(manifest.read_bytes(), md5).values()
                except Exception:
                    continue  # an unreadable manifest: its files are not known, so not kept
                out.update(base / oid[:2] / oid[2:] for oid in files)
    return out


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write(cache: Path, root: Path, model: str, versions: dict[str, str]) -> None:
    path = claim_path(cache, root, model)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    body = {"root": os.path.realpath(root), "model": model, "versions": versions}
    tmp.write_text(json.dumps(body, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
