"""Batch reads of objects, trees and the index (one git process however many are asked)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gitmodel.errors import GitFailed
from gitmodel.git.local import head
from gitmodel.git.process import out, run, run_bytes


@dataclass(frozen=True)
class ObjectInfo:
    oid: str
    type: str
    size: int


@dataclass(frozen=True)
class StagedChange:
    status: str  # A, M, D, T (renames are reported as D + A)
    path: str
    mode: str  # the staged mode ("000000" when deleted)
    oid: str  # the staged blob (ZERO when deleted)


def object_info(repo: Path, specs: Sequence[str]) -> list[ObjectInfo | None]:
    """Type and size of many objects (`oid`, `rev:path`, `oid^{commit}`); None if missing."""
    if not specs:
        return []
    text = "".join(f"{s}\n" for s in specs)
    lines = run(["cat-file", "--batch-check"], repo, stdin=text).stdout.splitlines()
    result: list[ObjectInfo | None] = []
    for line in lines:
        parts = line.split(" ")
        if len(parts) == 3 and parts[2].isdigit():
            result.append(ObjectInfo(parts[0], parts[1], int(parts[2])))
        else:  # "<spec> missing" or "<spec> ambiguous"
            result.append(None)
    return result


def read_blobs(repo: Path, specs: Sequence[str]) -> list[bytes | None]:
    """Contents of many objects in one `cat-file --batch`; None for a missing one."""
    if not specs:
        return []
    data = run_bytes(["cat-file", "--batch"], repo, "".join(f"{s}\n" for s in specs).encode())
    result: list[bytes | None] = []
    pos = 0
    for _ in specs:
        end = data.index(b"\n", pos)
        header = data[pos:end].split(b" ")
        pos = end + 1
        if len(header) == 3 and header[2].isdigit():
            size = int(header[2])
            result.append(data[pos : pos + size])
            pos += size + 1  # the contents are followed by a newline
        else:
            result.append(None)
    return result


def staged_changes(repo: Path) -> list[StagedChange]:
    """What the next commit changes: the index against HEAD (an empty tree before the first)."""
    diff = ["diff-index", "--cached", "--raw", "-z", "--no-renames"]
    # HEAD by name: one git call on every commit (the pre-commit hook's fast path).
    proc = run([*diff, "HEAD", "--"], repo, check=False)
    if proc.returncode != 0:
        if head(repo) is not None:
            raise GitFailed([*diff, "HEAD"], proc.stderr)
        empty = out(["hash-object", "-t", "tree", "--stdin"], repo, stdin="")
        proc = run([*diff, empty, "--"], repo)
    raw = proc.stdout
    fields = raw.split("\0")
    changes = []
    for i in range(0, len(fields) - 1, 2):
        meta, path = fields[i], fields[i + 1]
        _old_mode, new_mode, _old, new, status = meta.lstrip(":").split(" ")
        changes.append(StagedChange(status[:1], path, new_mode, new))
    return changes


def index_entries(repo: Path, folders: Sequence[str]) -> dict[str, str]:
    """Staged blob id of every file under `folders` (paths relative to the repo)."""
    raw = run(["ls-files", "-s", "-z", "--", *folders], repo).stdout
    entries = {}
    for item in filter(None, raw.split("\0")):
        meta, path = item.split("\t", 1)
        entries[path] = meta.split(" ")[1]
    return entries


def tree_entries(repo: Path, rev: str, folder: str) -> dict[str, str]:
    """Blob id of every file directly in `folder` at `rev` (empty if it has no such folder)."""
    proc = run(["ls-tree", "-z", rev, "--", folder.rstrip("/") + "/"], repo, check=False)
    entries = {}
    for item in filter(None, proc.stdout.split("\0")):
        meta, path = item.split("\t", 1)
        _mode, otype, oid = meta.split(" ")
        if otype == "blob":
            entries[path] = oid
    return entries


def tree_listing(repo: Path, rev: str | None, folder: str) -> list[tuple[str, str, str]]:
    """(path, mode, object id) of every entry directly in `folder` at `rev`, or staged when rev is None.

    Folders, symlinks and submodules are listed too (by mode): readers that accept plain
    files only need to see them to refuse them.  A staged folder shows as one 040000 entry.
    """
    prefix = folder.rstrip("/") + "/"
    if rev is not None:
        proc = run(["ls-tree", "-z", rev, "--", prefix], repo, check=False)
        found = []
        for item in filter(None, proc.stdout.split("\0")):
            meta, path = item.split("\t", 1)
            mode, _otype, oid = meta.split(" ")
            found.append((path, mode, oid))
        return found
    raw = run(["ls-files", "-s", "-z", "--", prefix], repo).stdout
    staged: dict[str, tuple[str, str, str]] = {}
    for item in filter(None, raw.split("\0")):
        meta, path = item.split("\t", 1)
        mode, oid = meta.split(" ")[:2]
        rest = path[len(prefix) :]
        if "/" in rest:
            sub = prefix + rest.split("/", 1)[0]
            staged.setdefault(sub, (sub, "040000", ""))
        else:
            staged[path] = (path, mode, oid)
    return list(staged.values())
