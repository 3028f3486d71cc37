"""One deploy per model per host at a time: a file lock in ROOT/NAME_DIR.

The lock is per model so two models on one host deploy in parallel, and it lives in
the root (not the git clone) because two clones may serve the same root.  The kernel
drops it when a killed deploy dies, so a crash never leaves a stale lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gitmodel.host.errors import DeployBusy, RootNotWritable
from gitmodel.hostlayout import lock_path


@contextmanager
def deploy_lock(model_root: Path, model: str, timeout: float) -> Iterator[None]:
    from filelock import FileLock, Timeout

    path = lock_path(model_root)
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise DeployBusy(model, path, timeout) from None
    except OSError as exc:
        raise RootNotWritable(path, exc.strerror or str(exc)) from None
    try:
        yield
    finally:
        lock.release()
