"""Roll a host back: move the environment pointer and converge this host to it at once.

`gitmodel rollback ENV --root DIR` on an inference host. The move is pushed to origin
(so the rest of the fleet follows) and the host converges without a fetch; when the
target is still on disk the DVC remote is not even asked. When origin cannot be
reached, `local=True` rolls back this host alone (deploy.rollback_local); the pointer
stays and `gitmodel status` shows the drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitmodel import environments, hostlayout
from gitmodel.environments import Move
from gitmodel.errors import RemoteUnreachable
from gitmodel.host.deploy import Deployed, deploy, rollback_local
from gitmodel.host.errors import RootNotWritable
from gitmodel.refs import Version
from gitmodel.registry import Registry


@dataclass(frozen=True)
class HostRollback:
    deployed: Deployed
    move: Move | None  # the pointer move; None when this host alone rolled back

    def to_json(self) -> dict[str, Any]:
        data = self.deployed.to_json()
        data["pointer_moved"] = self.move is not None
        if self.move is not None:
            data["tag"] = self.move.tag
        return data


def rollback(
    repo: Path,
    env: str,
    name: str | None,
    root: Path,
    *,
    to: str | None = None,
    reason: str | None = None,
    local: bool = False,
    **options: Any,
) -> HostRollback:
    """Point ENV back at the previous good version of NAME (or `to`) and make ROOT serve it.

    With `local`, only ROOT goes back (to the version it served before, or `to`).
    `options` are deploy()'s overrides (reload, info endpoint, timeouts).
    """
    if root.exists() and not root.is_dir():  # before the pointer moves: a --root typo
        raise RootNotWritable(root, "it is a file, not a directory")
    if local:
        model = name or environments.only_model(Registry.load(repo), None)
        return HostRollback(rollback_local(repo, env, model, root, to=to, **options), None)

    def on_disk(model: str, version: Version) -> bool:
        return version in hostlayout.hot_versions(root, model)

    try:
        move = environments.rollback(repo, env, name, to=to, reason=reason, push=True, have_bytes=on_disk)
    except RemoteUnreachable as exc:
        local_cmd = " ".join(
            ["gitmodel rollback", env, *([name] if name else []), "--local --root", str(root)]
        )
        raise RemoteUnreachable(f"{exc.message}; to roll this host back alone: `{local_cmd}`") from None
    return HostRollback(deploy(repo, env, move.model, root, fetch=False, **options), move)
