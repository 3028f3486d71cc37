"""An artifact on disk: check that it is usable and hash every file in it."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gitmodel.errors import PolicyError, UsageError
from gitmodel.gguf_header import InvalidGGUF, read_header

# Told (bytes done, bytes in all) as hashing goes: the CLI draws a bar; the core never prints.
Progress = Callable[[int, int], None]

CHUNK = 4 * 1024 * 1024
RESERVED = ("model.yaml", "dvc.yaml", "gitmodel.yaml")


@dataclass(frozen=True)
class Artifact:
    path: Path
    kind: str  # "file" or "directory"
    size: int
    files: dict[str, str]  # posix path relative to the artifact -> "sha256:..."
    md5s: dict[str, str]  # the same keys -> DVC's md5 of the file, from the same read


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
    _check_gguf(resolved, text)
    return resolved


def _check_gguf(path: Path, text: str) -> None:
    """A .gguf that llama.cpp would refuse is refused now, not on every host at deploy time.

    Only the header is read, within gguf_header's bounds. Links and special files inside
    a folder are skipped here: the register refuses links itself, and opening a FIFO blocks.
    """
    members = [(path, text)] if path.is_file() else []
    if path.is_dir():
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames.sort()
            for name in sorted(filenames):
                full = Path(dirpath, name)
                if full.is_file() and not full.is_symlink():
                    members.append((full, f"{text.rstrip('/')}/{full.relative_to(path).as_posix()}"))
    for member, shown in members:
        if not member.name.lower().endswith(".gguf"):
            continue
        try:
            read_header(member)
        except InvalidGGUF as exc:
            raise PolicyError(
                f"{shown}: {exc.why}; register a GGUF that llama.cpp wrote, or rename the file "
                "if it is another format"
            ) from None


def _hashes(path: Path, tick: Callable[[int], None]) -> tuple[str, str]:
    """("sha256:...", md5) of one file from one read: DVC's md5 and our sha256 together.

    The sha256 runs in a second thread (hashlib releases the GIL on large buffers), so
    on two free cores the pass costs what DVC's own md5 pass costs (issue 15 item 3).
    """
    import queue
    import threading

    sha, md5 = hashlib.sha256(), hashlib.md5()
    if path.stat().st_size <= CHUNK:  # one chunk: a thread would cost more than it saves
        data = path.read_bytes()
        sha.update(data)
        md5.update(data)
        tick(len(data))
        return "sha256:" + sha.hexdigest(), md5.hexdigest()
    chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=4)

    def other() -> None:
        while (chunk := chunks.get()) is not None:
            sha.update(chunk)

    worker = threading.Thread(target=other, name="sha256", daemon=True)
    worker.start()
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                chunks.put(chunk)
                md5.update(chunk)
                tick(len(chunk))
    finally:
        chunks.put(None)
        worker.join()
    return "sha256:" + sha.hexdigest(), md5.hexdigest()


def scan(path: Path, progress: Progress | None = None) -> Artifact:
    """Hash every file (sha256 and DVC's md5); `progress` hears the bytes done of the total."""
    if path.is_file():
        members = [(path.name, path)]
    else:
        members = []
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames.sort()
            members += [
                (Path(dirpath, n).relative_to(path).as_posix(), Path(dirpath, n)) for n in sorted(filenames)
            ]
    total = sum(full.stat().st_size for _, full in members)
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, total)

    if progress is not None:
        progress(0, total)
    files, md5s = {}, {}
    for rel, full in members:
        files[rel], md5s[rel] = _hashes(full, tick)
    return Artifact(path, "file" if path.is_file() else "directory", total, files, md5s)
