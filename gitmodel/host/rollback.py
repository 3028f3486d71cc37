"""Roll a host back, both ways: with the environment pointer, or this host alone.

`gitmodel rollback ENV --root DIR` on an inference host (rollback). The move is pushed
to origin (so the rest of the fleet follows) and the host converges without a fetch;
when the target is still on disk the DVC remote is not even asked. When origin cannot
be reached, `--local` rolls back this host alone (rollback_local) to the version its
journal says it served before; the pointer stays and `gitmodel status` shows the drift.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gitmodel import environments, hostlayout
from gitmodel.environments import Move
from gitmodel.errors import PolicyError, RemoteUnreachable
from gitmodel.host import fs, journal
from gitmodel.host.deploy import Deployed, clean, converge, deploy, journaled, prepare
from gitmodel.host.errors import RootNotWritable
from gitmodel.host.lock import deploy_lock
from gitmodel.host.settings import Overrides
from gitmodel.policy.host import accept_move
from gitmodel.refs import Version
from gitmodel.registry import ModelState, Registry


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
        move = environments.rollback(
            repo,
            env,
            name,
            to=to,
            reason=reason,
            push=True,
            have_bytes=on_disk,
            served=_not_refused_here(root, name),
        )
    except RemoteUnreachable as exc:
        local_cmd = " ".join(
            ["gitmodel rollback", env, *([name] if name else []), "--local --root", str(root)]
        )
        raise RemoteUnreachable(f"{exc.message}; to roll this host back alone: `{local_cmd}`") from None
    return HostRollback(deploy(repo, env, move.model, root, fetch=False, **options), move)


def _not_refused_here(root: Path, name: str | None) -> Callable[[Version], bool] | None:
    """This host's evidence for the previous good version: not one whose deploy here failed.

    Only negative evidence counts: a host that joined late never served the older versions
    the fleet did, so "served here" would leave it nothing to go back to. A version whose
    every deploy on this host ended `failed` never served here, whatever the tags say.
    """
    if name is None:
        found = [d.name.replace("=", ":") for d in root.iterdir() if d.is_dir()] if root.is_dir() else []
        if len(found) != 1:
            return None  # the registry chooses the model; no one journal to ask
        name = found[0]
    records = list(journal.read(hostlayout.model_root(root, name)))
    done = {r.get("version") for r in records if r.get("step") == journal.DONE}
    refused = {r.get("version") for r in records if r.get("step") == journal.FAILED} - done
    return (lambda v: str(v) not in refused) if refused else None


def rollback_local(
    repo: Path,
    env: str,
    name: str,
    root: Path,
    *,
    to: str | None = None,
    reload_url: str | None = None,
    reload_cmd: str | None = None,
    info_url: str | None = None,
    lock_timeout: float | None = None,
    health_timeout: float | None = None,
    trust_file: Path | None = None,  # unused: no pointer; this host served the target before
) -> Deployed:
    """Serve the version this host served before (or `to`) without asking origin.

    The environment pointer is not moved; `status` shows the drift until it is.
    """
    over = Overrides(reload_url, reload_cmd, info_url, lock_timeout, health_timeout)
    model, settings = prepare(repo, env, name, over)
    state = Registry.load_model(repo, model)
    mroot = fs.prepare(root, model)
    with deploy_lock(mroot, model, settings.lock_timeout):
        current = hostlayout.current_version(root, model)
        target = _local_target(repo, env, mroot, state, current, to)
        events = state.stage_events(env)
        log = journal.Journal(mroot, "rollback-local", model, env)
        clean(mroot, log)
        event = events[-1] if events else None
        done = journaled(log, target, lambda: converge(repo, root, state, target, event, settings, log))
    pointer = state.stage_version(env)
    note = (
        f"the {env} pointer was not moved: it names {pointer or 'nothing'} as this host last saw "
        f"origin; move it with `gitmodel rollback {env} {model} --push` when origin is reachable"
    )
    return replace(done, note=note)


def _local_target(
    repo: Path, env: str, mroot: Path, state: ModelState, current: Version | None, to: str | None
) -> Version:
    """What `rollback --local` serves: a version this host served before and not deprecated.

    `--to` a version this host never served passes the policy as a deploy's pointer would.
    """
    model = state.name
    records = list(journal.read(mroot))
    if to is not None:
        target = Version.parse(to)
        state.version_event(target)
        if target == current:
            raise PolicyError(f"this host already serves {model} {target}; name another with --to")
        _not_deprecated(state, target)
        if str(target) not in {r.get("version") for r in records if r.get("step") == journal.DONE}:
            accept_move(repo, state, env, target)
        return target
    earlier = [v for v in journal.served_history(records) if v != str(current)]
    live = [v for v in earlier if v not in {str(d) for d in state.deprecated_versions}]
    if current is None or not live:
        gone = f" ({', '.join(earlier)} deprecated)" if earlier else ""
        raise PolicyError(
            f"this host has no earlier {model} version than {current or 'nothing'} in its journal "
            f"that is not deprecated{gone}; name one with --to vX.Y.Z"
        )
    return Version.parse(live[-1])


def _not_deprecated(state: ModelState, target: Version) -> None:
    if target in state.deprecated_versions:
        raise PolicyError(
            f"{state.name} {target} is deprecated and is never served again (rule deprecated-version); "
            "name another version with --to vX.Y.Z"
        )
