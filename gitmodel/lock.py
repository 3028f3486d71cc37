"""The one file lock: one registry writer per checkout, one deploy per model per host.

A `filelock` lock (flock on POSIX): the kernel drops it when the holder dies, so a
killed command never leaves a stale lock behind.  Each caller names its own error for
"someone else holds it", because what to wait for differs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from gitmodel.errors import ConflictError, GitModelError, UsageError


@contextmanager
def hold(
    path: Path,
    timeout: float,
    busy: Callable[[float], GitModelError],
    unwritable: Callable[[Path, str], GitModelError] | None = None,
) -> Iterator[None]:
    """Hold the lock at `path` for the block; after `timeout` seconds raise `busy(timeout)`.

    `unwritable(path, why)` is raised when the lock file cannot be created at all.
    """
    from filelock import FileLock, Timeout  # imported lazily: reads never lock

    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise busy(timeout) from None
    except OSError as exc:
        why = exc.strerror or str(exc)
        raise (unwritable or _unwritable)(path, why) from None
    try:
        yield
    finally:
        lock.release()


def locked(git_dir: Path, timeout: float = 10.0) -> AbstractContextManager[None]:
    """One writer at a time per registry checkout: a lock in its git directory."""
    path = git_dir / "gitmodel.lock"
    return hold(
        path,
        timeout,
        lambda _waited: ConflictError(f"another gitmodel command holds {path}; wait for it and retry"),
    )


def _unwritable(path: Path, why: str) -> GitModelError:
    return UsageError(f"cannot create the lock file {path} ({why}); check that you may write there")
