"""One deploy per model per host at a time: the file lock ROOT/NAME_DIR/.deploy.lock.

The lock is per model so two models on one host deploy in parallel, and it lives in
the root (not the git clone) because two clones may serve the same root.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

from gitmodel import lock
from gitmodel.host.errors import DeployBusy, RootNotWritable
from gitmodel.hostlayout import lock_path


def deploy_lock(model_root: Path, model: str, timeout: float) -> AbstractContextManager[None]:
    path = lock_path(model_root)
    return lock.hold(path, timeout, lambda waited: DeployBusy(model, path, waited), RootNotWritable)
