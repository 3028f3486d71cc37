"""One writer at a time per registry checkout (a file lock in the git directory)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gitmodel.errors import ConflictError


@contextmanager
def locked(git_dir: Path, timeout: float = 10.0) -> Iterator[None]:
    from filelock import FileLock, Timeout

    lock = FileLock(str(git_dir / "gitmodel.lock"))
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise ConflictError(
            f"another gitmodel command holds {git_dir / 'gitmodel.lock'}; wait for it and retry"
        ) from None
    try:
        yield
    finally:
        lock.release()
