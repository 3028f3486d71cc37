"""Environment pointers: promote through the gate, roll back, deprecate.

Every move is a new GTO-format assignment tag `NAME#ENV#N` (never a moved tag), with
`N` one counter per model.  With --push the tag goes to origin alone and atomically:
origin refuses an existing tag name, so two clones that picked the same `N` collide
loudly (exit 3) and the loser's local tag is removed again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from gitmodel import config, git
from gitmodel.envbranches.push import catch_up_said
from gitmodel.errors import ConflictError, PolicyError, UsageError
from gitmodel.gate import Verdict
from gitmodel.lock import locked
from gitmodel.moves import NewTag, load, write_tags
from gitmodel.records import Act
from gitmodel.refs import Action, Ref, Version, parse_model, version_tag
from gitmodel.registry import ModelState, Registry
from gitmodel.served import gto_reading, served_stack, unassigned

T = TypeVar("T")


@dataclass(frozen=True)
class Move:
    model: str
    env: str
    action: Act  # promote, force-promote, rollback
    version: Version
    previous: Version | None
    tag: str | None  # None when the environment already served the version
    verdict: Verdict | None
    pushed: bool
    note: str = ""


def lifecycle_refuse(
    repo: Path, state: ModelState, version: Version, doing: str, *, hot: bool = False
) -> None:
    """A due scheduled deprecation or archived bytes refuse the move (lifecycle/timeline.py);
    HOT: this host holds the bytes, so an archive record (which the server hook does not
    judge) has nothing to refuse."""
    from gitmodel.lifecycle.timeline import refuse

    refuse(repo, state, version, doing, archived_too=not hot)


def _live(state: ModelState, version: Version, doing: str) -> None:
    state.version_event(version)
    if version in state.deprecated_versions:
        raise PolicyError(f"{state.name} {version} is deprecated and cannot be {doing}; pick another version")


def promote(
    repo: Path,
    name: str,
    version: str,
    env: str,
    *,
    push: bool = False,
    force: bool = False,
    reason: str | None = None,
) -> Move:
    if force and not (reason and reason.strip()):
        raise UsageError("--force needs --reason TEXT saying why the gate is overridden")
    from gitmodel.gating import GateRefused, check_evidence, judge, read_meta  # the gate: promotes only

    cfg = config.load(repo)
    cfg.check_env(env)
    model = parse_model(name)
    target = Version.parse(version)
    with locked(git.git_dir(repo)):
        reg = load(repo, push, model)
        state = reg.model(model)
        _live(state, target, "promoted")
        lifecycle_refuse(repo, state, target, "promoted")
        current = state.stage_version(env)
        if current == target:
            note = _served_already(repo, cfg, state, env, push)
            return Move(model, env, Act.PROMOTE, target, current, None, None, False, note)
        check_order(cfg, state, target, env)
        request = _merged_request(repo, cfg, state, env, target)
        check_evidence(cfg, env, model, str(target), read_meta(repo, state, target))
        canary = cfg.canary.get(env) if current is not None else None  # a first version has no canary
        if canary is not None and not force:
            from gitmodel.rollout.canary_state import active

            running = active(state, env)
            first = f"{canary.ramp[0].percent:g}" if canary.ramp else "10"
            how = f"start one with `gitmodel canary start {model} {target} {env} --percent {first}`"
            if running is not None and running.version == target:
                how = f"promote the canary running it with `gitmodel canary promote {model} {env}`"
            raise PolicyError(
                f"gitmodel.yaml requires {canary.describe()} before {env}: {how}, "
                "or promote with --force --reason TEXT"
            )
        verdict, figures = judge(repo, model, version, env, reg)
        action = Act.PROMOTE
        if not verdict.passed:
            if not force:
                raise GateRefused(model, target, env, verdict)
            verdict = verdict.override(reason or "")
            action = Act.FORCE_PROMOTE
        record: dict[str, Any] = {"gate": verdict.to_record()}
        if canary is not None:
            record["canary"] = "skipped"  # forced past the canary gitmodel.yaml requires
        if figures:
            record["smoke"] = figures
        if request is not None:
            record["request"] = request
        return _assign(repo, state, env, target, current, action, reason, record, push, verdict)


def _served_already(repo: Path, cfg: config.Config, state: ModelState, env: str, push: bool) -> str:
    """A promote of the version `env` serves moves nothing, but it is how a user fixes things:
    the model's environment branches that lag behind their tags on origin (a tag pushed
    without them) are caught up (envbranches/push.py), and with --push a move origin lacks
    is named (made without --push: never pushed behind the user's back, unpushed.py)."""
    said = f"{env} already serves {state.stage_version(env)}"
    tag = state.stage_events(env)[-1].tag
    if push:
        from gitmodel.unpushed import unpushed

        if any(u.tag == tag for u in unpushed(repo, state.name)):
            then = ", then run this again to bring its environment branch along"
            return (
                f"{said} here, by {tag}, which origin lacks (made without --push): push it with "
                f"`git push origin {tag}`{then if cfg.branches.environments else ''}"
            )
    todo = catch_up_said(repo, state.name, push=push) if cfg.branches.environments else "nothing to do"
    return f"{said}; {todo}"


def _merged_request(
    repo: Path, cfg: config.Config, state: ModelState, env: str, version: Version
) -> str | None:
    """gitmodel.yaml `branches.requests`: the merged request this promotion needs (requests.py)."""
    from gitmodel.requests import require_merged

    return require_merged(repo, cfg, state, env, version)


def check_order(cfg: config.Config, state: ModelState, version: Version, env: str) -> None:
    """The policy's promotion order (gitmodel/policy/assignments.py), refused before writing."""
    from gitmodel.policy.assignments import required_before

    required = required_before(cfg, env)
    if not required:
        return
    been = {e.ref.stage for e in state.assignments if state.assignment_version(e) == version}
    if not been & set(required):
        raise PolicyError(
            f"{state.name} {version} has not been in {' or '.join(required)}, which gitmodel.yaml "
            f"requires before {env}; promote it there first"
        )


def previous_good(
    state: ModelState, env: str, served: Callable[[Version], bool] | None = None
) -> Version | None:
    """The version `env` served before the current one, from the tags' structure.

    The most recent on the served stack (gitmodel/served.py): a version rolled back from
    is off it until promoted again, so it is skipped only while that rollback stands.
    Deprecated versions are skipped, and, when the caller knows what really served
    (`served`, e.g. a host's journal), versions whose deploy never completed.
    """
    stack = served_stack(state, env)
    current = state.stage_version(env)
    for v in reversed(stack):
        if v != current and v not in state.deprecated_versions and (served is None or served(v)):
            return v
    return None


def check_rollback_to(state: ModelState, env: str, target: Version) -> None:
    """`rollback --to` goes back: only to a version `env` served before and not deprecated."""
    _live(state, target, "rolled back to")
    served = {state.assignment_version(e) for e in state.stage_events(env)}
    if target not in served:
        raise PolicyError(
            f"{env} never served {state.name} {target}, so going there is not a rollback but a "
            f"promote: `gitmodel promote {state.name} {target} {env}` (or --force --reason TEXT)"
        )


def rollback(
    repo: Path,
    env: str,
    name: str | None = None,
    *,
    to: str | None = None,
    reason: str | None = None,
    push: bool = False,
    force: bool = False,
    have_bytes: Callable[[str, Version], bool] | None = None,
    expect: Version | None = None,
    served: Callable[[Version], bool] | None = None,
    trigger: dict[str, Any] | None = None,
) -> Move:
    """Point `env` back at the previous good version (or `to`, which `env` served before).

    `force` (with a `reason`) lets `to` name any registered version that is not
    deprecated; the tag records the override and the gate's verdict, and the policy
    still requires the promotion order.

    `have_bytes(model, version)` lets a host say it holds the target already, which
    spares the DVC remote check (and its ~0.3 s DVC import, or a round trip to S3).
    `expect` is the version the caller judged `env` to serve; if it moved meanwhile the
    rollback is refused with a conflict instead of undoing someone else's move.
    `served(version)` is the caller's evidence of what really served `env` (a host's
    journal): the previous good version is then one that did. `trigger` (a monitor's
    rule and numbers) goes into the tag's record.
    """
    if force and not (reason and reason.strip()):
        raise UsageError("--force needs --reason TEXT saying why the rollback rule is overridden")
    if force and to is None:
        raise UsageError("--force goes with --to vX.Y.Z: the previous good version needs no override")
    cfg = config.load(repo)
    cfg.check_env(env)
    with locked(git.git_dir(repo)):
        reg = load(repo, push, parse_model(name) if name else None)
        state = reg.model(only_model(reg, name))
        current = state.stage_version(env)
        if expect is not None and current != expect:
            raise ConflictError(
                f"{env} now serves {state.name} {current}, not {expect} as judged; "
                "nothing rolled back: check `gitmodel history` and retry"
            )
        record: dict[str, Any] = {"trigger": trigger} if trigger is not None else {}
        action = Act.ROLLBACK
        if to is not None:
            target = Version.parse(to)
            if force:
                _live(state, target, "rolled back to")
            else:
                check_rollback_to(state, env, target)
        else:
            gap = unassigned(state, env)
            if gap is not None:
                raise PolicyError(
                    f"{gap.describe(state.name, env)}; name the version {env} should serve with "
                    f"`gitmodel rollback {env} {state.name} --to vX.Y.Z` (or promote one)"
                )
            found = previous_good(state, env, served)
            if found is None:
                raise PolicyError(f"{state.name} has no earlier good version in {env} to roll back to")
            target = found
        if target == current:
            raise PolicyError(f"{env} already serves {state.name} {target}; name another with --to")
        hot = have_bytes is not None and have_bytes(state.name, target)
        lifecycle_refuse(repo, state, target, "rolled back to", hot=hot)
        verdict = None
        if force and target not in {state.assignment_version(e) for e in state.stage_events(env)}:
            # Not a return but a move forward: the policy wants the order and an open override.
            from gitmodel.gating import gate_check  # only here: a plain rollback needs no gate

            check_order(cfg, state, target, env)
            verdict = gate_check(repo, state.name, str(target), env, reg).override(reason or "")
            record["gate"] = verdict.to_record()
            if env in cfg.canary:
                record["canary"] = "skipped"  # a move forward past the canary gitmodel.yaml requires
            action = Act.FORCE_ROLLBACK
        if hot:
            note = "bytes already on this host: DVC remote not checked"
        else:  # on a host (have_bytes given), DVC runs with the host's own settings only
            note = _check_bytes(repo, state, target, host=have_bytes is not None)
        return _assign(repo, state, env, target, current, action, reason, record, push, verdict, note)


def only_model(reg: Registry, name: str | None) -> str:
    if name is not None:
        return parse_model(name)
    if len(reg.models) == 1:
        return next(iter(reg.models))
    if not reg.models:
        raise UsageError("the registry has no models; register one first")
    raise UsageError(f"the registry has several models; name one of: {', '.join(sorted(reg.models))}")


def _check_bytes(repo: Path, state: ModelState, version: Version, *, host: bool = False) -> str:
    """Refuse a target whose bytes the DVC remote lacks (a host could not deploy it).
    host=True: this clone is a host's, whose tracked .dvc/config a pusher wrote
    (dvc/config.py: the host's own cache, state and remote settings only)."""
    from gitmodel import dvc
    from gitmodel.gating import _pointer

    if dvc.default_remote(repo, host=host) is None:
        return "no DVC remote configured: bytes not checked"
    pointer = _pointer(repo, state, version)
    if pointer is None:
        return ""
    missing = dvc.missing_on_remote(repo, [pointer], host=host)
    if missing:
        raise PolicyError(
            f"{state.name} {version}'s bytes are missing from the DVC remote ({len(missing)} objects); "
            f"push them with `dvc push` at {version_tag(state.name, version)} or pick another version"
        )
    return ""


def _assign(
    repo: Path,
    state: ModelState,
    env: str,
    version: Version,
    previous: Version | None,
    action: Act,
    reason: str | None,
    extra: dict[str, Any],
    push: bool,
    verdict: Verdict | None,
    note: str = "",
) -> Move:
    ref = Ref(state.name, Action.ASSIGN, stage=env, counter=state.next_counter())
    record = {
        "action": action,
        "version": str(version),
        "from": str(previous) if previous else None,
        "env": env,
        "reason": reason,
        "actor": git.identity(repo),
        **extra,
    }
    summary = f"gitmodel: {action} {state.name} {version} to {env}" + (
        f" (was {previous})" if previous else ""
    )
    commit = state.version_event(version).commit
    [tag] = write_tags(repo, [NewTag(ref, commit, summary, record, reason or "")], push, state.newest_time())
    return Move(state.name, env, action, version, previous, tag, verdict, push, note)


@dataclass(frozen=True)
class Deprecated:
    tag: str
    serving: dict[str, Version]  # stages that still serve the version (a --force deprecation)
    # What `gto show` reads for those stages now: GTO drops a deregistered version from
    # every stage, while gitmodel and `dvc artifacts get --stage` go on naming it.
    gto: dict[str, Version | None] = field(default_factory=dict)


def deprecate(
    repo: Path,
    name: str,
    version: str,
    *,
    reason: str | None = None,
    push: bool = False,
    force: bool = False,
) -> Deprecated:
    """GTO's deregistration `NAME@vX.Y.Z!`: never promoted or rolled back to again; bytes stay.

    A version an environment serves is refused without `force`: GTO and DVC would go on
    reading it as served while gitmodel calls it deprecated.
    """
    if force and not (reason and reason.strip()):
        raise UsageError("--force needs --reason TEXT saying why a served version is deprecated")
    model = parse_model(name)
    target = Version.parse(version)
    with locked(git.git_dir(repo)):
        state = load(repo, push, model).model(model)
        state.version_event(target)
        if target in state.deprecated_versions:
            raise PolicyError(f"{model} {target} is already deprecated")
        serving = {stage: v for stage, v in sorted(state.stages().items()) if v == target}
        if serving and not force:
            envs = ", ".join(serving)
            raise PolicyError(
                f"{envs} {'serves' if len(serving) == 1 else 'serve'} {model} {target}; roll "
                f"{'it' if len(serving) == 1 else 'them'} back first (`gitmodel rollback "
                f"{next(iter(serving))} {model}`), or deprecate anyway with --force"
            )
        record = {
            "action": Act.DEPRECATE,
            "version": str(target),
            "reason": reason,
            "actor": git.identity(repo),
        }
        new = NewTag(
            Ref(model, Action.DEREGISTER, version=target),
            state.version_event(target).commit,
            f"gitmodel: deprecate {model} {target}",
            record,
            reason or "",
        )
        [tag] = write_tags(repo, [new], push, state.newest_time())
        return Deprecated(tag, serving, {stage: gto_reading(state, stage, {target}) for stage in serving})
