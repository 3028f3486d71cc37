"""An artifact on disk: check that it is usable and hash every file in it."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from gitmodel.errors import UsageError

CHUNK = 4 * 1024 * 1024
RESERVED = ("model.yaml", "dvc.yaml", "gitmodel.yaml")


@dataclass(frozen=True)
class Artifact:
    path: Path
    kind: str  # "file" or "directory"
    size: int
    files: dict[str, str]  # posix path relative to the artifact -> "sha256:..."


def locate(text: str, cwd: Path, repo: Path) -> Path:
    """Resolve PATH and refuse anything missing, empty, outside the repo or reserved."""
    path = (cwd / text).absolute()
    if not path.exists():
        raise UsageError(f"{text} does not exist; give the path of a model file or folder")
    resolved = path.resolve()
    try:
        rel = resolved.relative_to(repo.resolve())
    except ValueError:
        raise UsageError(
            f"{text} is outside the registry repository {repo}; copy it into the repository first"
        ) from None
    if not rel.parts or rel.parts[0] in (".git", ".dvc"):
        raise UsageError(f"{text} is not a model artifact; give a file or folder inside the repository")
    if resolved.name in RESERVED or resolved.suffix == ".dvc":
        raise UsageError(f"{text} is one of gitmodel's own files; give the model's weights or adapter")
    if resolved.is_file() and resolved.stat().st_size == 0:
        raise UsageError(f"{text} is empty; give a model file with content")
    if resolved.is_dir() and not any(p.is_file() and p.stat().st_size > 0 for p in resolved.rglob("*")):
        raise UsageError(f"folder {text} holds no non-empty file; give the adapter's folder")
    if not (resolved.is_file() or resolved.is_dir()):
        raise UsageError(f"{text} is neither a file nor a folder")
    return resolved


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def scan(path: Path) -> Artifact:
    if path.is_file():
        return Artifact(path, "file", path.stat().st_size, {path.name: _sha256(path)})
    files: dict[str, str] = {}
    size = 0
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames.sort()
        for name in sorted(filenames):
            full = Path(dirpath, name)
            files[full.relative_to(path).as_posix()] = _sha256(full)
            size += full.stat().st_size
    return Artifact(path, "directory", size, files)
