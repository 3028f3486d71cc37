"""Version files of many (commit, folder) pairs in two `git cat-file --batch` calls.

files.at_commits runs one `ls-tree` per pair, fine for a push of a few tags; a replay
of a whole registry (`verify --all`) reads thousands, so here the folders' tree objects
are read in one batch and parsed, then every blob in a second. Parsed model.yaml and
pointer hashes are memoised per blob: one registry has a few thousand distinct ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gitmodel import git
from gitmodel.errors import GitModelError
from gitmodel.policy import files

_TREE = b"40000"
_GITLINK = b"160000"


def version_files(repo: Path, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], files.VersionFiles]:
    pairs = list(dict.fromkeys(pairs))
    trees = git.read_blobs(repo, [f"{commit}:{folder}" for commit, folder in pairs])
    result = {}
    with_prompts = []
    for (commit, folder), raw in zip(pairs, trees, strict=True):
        width = 32 if len(commit) == 64 else 20  # SHA-256 or SHA-1 object ids
        blobs = {}
        for mode, name, oid in _entries(raw or b"", width):
            path = f"{folder}/{name}"
            if name == files.PROMPTS and mode == _TREE:
                with_prompts.append((commit, folder))
            if mode not in (_TREE, _GITLINK) and files.is_version_file(path, folder):
                blobs[path] = oid
        result[(commit, folder)] = files.VersionFiles(folder, blobs, f" at {commit[:10]}")
    _prompts(repo, result, with_prompts)
    wanted = {
        oid: (f"{p}{vf.where}", files.limit(p, vf.folder))
        for vf in result.values()
        for p, oid in vf.blobs.items()
    }
    read = files.read_bounded(repo, [(oid, what, most) for oid, (what, most) in wanted.items()])
    texts = dict(zip(wanted, read, strict=True))
    for vf in result.values():
        for path, oid in vf.blobs.items():
            data = texts.get(oid)
            if data is not None:
                vf.texts[path] = data.decode("utf-8", errors="replace")
                if files.is_prompt_entry(path, vf.folder):
                    vf.prompt_files[path] = data
    return result


def _prompts(
    repo: Path, result: dict[tuple[str, str], files.VersionFiles], pairs: list[tuple[str, str]]
) -> None:
    """The prompts/ folders' entries (gitmodel/prompts.py): one more batch read for all of them."""
    trees = git.read_blobs(repo, [f"{commit}:{folder}/{files.PROMPTS}" for commit, folder in pairs])
    for (commit, folder), raw in zip(pairs, trees, strict=True):
        if raw is None:
            continue
        width = 32 if len(commit) == 64 else 20
        entries = _entries(raw, width)
        listing = [(f"{folder}/{files.PROMPTS}/{name}", mode.decode(), oid) for mode, name, oid in entries]
        files.add_prompts(result[(commit, folder)], listing)


def _entries(raw: bytes, width: int) -> list[tuple[bytes, str, str]]:
    """A tree object's entries: `<mode> <name>\\0<binary id>` one after another."""
    out = []
    pos = 0
    while pos < len(raw):
        space = raw.index(b" ", pos)
        nul = raw.index(b"\0", space)
        oid = raw[nul + 1 : nul + 1 + width].hex()
        out.append((raw[pos:space], raw[space + 1 : nul].decode("utf-8", errors="replace"), oid))
        pos = nul + 1 + width
    return out


class Parsed:
    """model.yaml and pointer hashes of version files, parsed once per blob."""

    def __init__(self) -> None:
        self._meta: dict[str, dict[str, Any] | GitModelError] = {}
        self._md5s: dict[tuple[str, ...], set[str]] = {}
        self._valid: dict[str, GitModelError | None] = {}

    def metadata(self, vf: files.VersionFiles) -> dict[str, Any]:
        """vf.metadata(), memoised by blob id; raises what it raises."""
        oid = vf.blobs.get(vf.metadata_path)
        if oid is None:
            return vf.metadata()
        if oid not in self._meta:
            try:
                self._meta[oid] = vf.metadata()
            except GitModelError as exc:
                self._meta[oid] = exc
        got = self._meta[oid]
        if isinstance(got, GitModelError):
            raise got
        return got

    def validate(self, vf: files.VersionFiles, source: str) -> dict[str, Any]:
        """The metadata, checked against the schema once per blob (MetadataError naming `source`)."""
        from gitmodel import metadata

        meta = self.metadata(vf)
        oid = vf.blobs.get(vf.metadata_path, "")
        if oid not in self._valid:
            try:
                metadata.validate(meta, source)
                self._valid[oid] = None
            except GitModelError as exc:
                self._valid[oid] = exc
        error = self._valid[oid]
        if error is not None:
            raise error
        return meta

    def md5s(self, vf: files.VersionFiles) -> set[str]:
        key = tuple(sorted(oid for p, oid in vf.blobs.items() if p.endswith(".dvc")))
        if key not in self._md5s:
            self._md5s[key] = vf.md5s()
        return self._md5s[key]
