"""Keep the last K versions on the host so going back to them downloads nothing.

"Last" means most recently served (from the journal); versions never served go
first.  The version `current` points at and the canary's version (named by
canary.json) are never removed: both are being served.  They count toward K, so a
host with a canary keeps K-2 other versions.  Nothing is ever removed from the DVC
remote or the registry: this is the host's disk only.  Given the clone (`repo`), the
DVC cache is then pruned to the same keep set (cacheprune.py: downloads never built).
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

from gitmodel import hostlayout
from gitmodel.errors import GitModelError, UsageError
from gitmodel.host import cacheprune, fs, journal
from gitmodel.refs import Version


def expired(
    hot: list[Version],
    current: Version | None,
    keep: int,
    records: list[dict[str, Any]],
    pinned: Collection[Version] = (),
) -> list[Version]:
    """Versions to remove: all but `current`, `pinned` and the most recently served others."""
    served = journal.swapped_in_order(records)
    rank = {v: i for i, v in enumerate(served)}
    kept = {v for v in (current, *pinned) if v is not None and v in hot}
    others = sorted((v for v in hot if v not in kept), key=lambda v: (rank.get(str(v), -1), v.key))
    room = max(0, keep - len(kept))
    return others[: max(0, len(others) - room)]


def enforce(
    root: Path,
    model: str,
    keep: int,
    log: journal.Journal,
    pinned: Collection[Version] = (),
    repo: Path | None = None,
) -> list[Version]:
    """Retire expired versions; `pinned` adds versions about to be served (a canary to come).

    With `repo`, its DVC cache is pruned to what stays (and to what other roots claim)."""
    mroot = hostlayout.model_root(root, model)
    records = list(journal.read(mroot))
    current = hostlayout.current_version(root, model)
    hot, serving = hostlayout.hot_versions(root, model), {*pinned, *canary(root, model)}
    gone = expired(hot, current, keep, records, serving)
    for version in gone:
        fs.retire(hostlayout.versions_dir(root, model) / str(version))
        log.step("retired", version=version, keep=keep)
    if repo is not None:
        stays = {v for v in hot if v not in gone} | serving | ({current} if current else set())
        prune(repo, root, model, sorted(stays, key=lambda v: v.key), log)
    return gone


def prune(repo: Path, root: Path, model: str, stays: list[Version], log: journal.Journal) -> None:
    """Prune the clone's DVC cache; a failure is journaled, never the deploy's failure."""
    from gitmodel import dvc

    try:
        done = cacheprune.prune(dvc.cache_dir(repo), root, model, stays)
    except (OSError, GitModelError) as exc:
        log.step("cache-pruned", error=getattr(exc, "message", None) or str(exc))
        return
    if done.objects or done.skipped:
        log.step("cache-pruned", objects=done.objects, freed=done.freed, skipped=done.skipped or None)


def canary(root: Path, model: str) -> list[Version]:
    """The version canary.json names (a server may be routing to it right now)."""
    try:
        split = hostlayout.read_canary(root, model)
    except UsageError:
        # Unreadable: we cannot tell which version it meant, so keep them all this time.
        return hostlayout.hot_versions(root, model)
    return [Version.parse(split.version)] if split else []
