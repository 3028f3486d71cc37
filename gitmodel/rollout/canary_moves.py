"""canary start / set / promote / abort: every step is a GTO-format tag, written atomically.

    start    NAME#ENV-canary#N        on the canary version   action canary-start
    set      NAME#ENV-canary#N        on the same version     action canary-set
    promote  NAME#ENV#N               on the canary version   action canary-promote
             NAME#ENV-canary!#N+1     (unassignment)          action canary-end
    abort    NAME#ENV-canary!#N       (unassignment)          action canary-abort

`promote` lands its two tags in one atomic push, so no clone ever sees the
environment on the new version while a canary of it still claims traffic (or the
other way round). Counters come from the registry state under the checkout's lock,
and with --push from origin's; a concurrent move makes origin refuse the push (exit 3).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitmodel import config, git
from gitmodel.environments import check_order
from gitmodel.errors import ConflictError, PolicyError, UsageError
from gitmodel.gate import Verdict
from gitmodel.gating import GateRefused, check_evidence, gate_check, read_meta
from gitmodel.lock import locked
from gitmodel.moves import NewTag, load, write_tags
from gitmodel.records import Act
from gitmodel.refs import Action, Ref, Version, parse_model
from gitmodel.registry import ModelState
from gitmodel.rollout.canary_policy import refusal, run_of, unmet
from gitmodel.rollout.canary_state import Canary, active, canary_stage


@dataclass(frozen=True)
class CanaryStep:
    model: str
    env: str
    action: Act  # canary-start, canary-set, canary-promote, canary-abort
    version: Version
    stable: Version | None  # what ENV served before this step
    percent: float | None  # the canary's weight after this step (None once it ended)
    tags: list[str]
    pushed: bool
    verdict: Verdict | None = None
    note: str = ""


def check_percent(percent: float) -> float:
    if isinstance(percent, bool) or not math.isfinite(percent) or not 0 < percent < 100:
        raise UsageError(
            f"--percent {percent:g} is out of range: give a share of traffic between 0 and 100 "
            "(exclusive); use `canary promote` for 100 and `canary abort` for 0"
        )
    return float(percent)


def _number(percent: float) -> int | float:
    return int(percent) if percent == int(percent) else percent


def _env(repo: Path, env: str) -> config.Config:
    cfg = config.load(repo)
    cfg.check_env(env)
    if canary_stage(env) in cfg.environments:
        raise UsageError(
            f"gitmodel.yaml lists an environment named {canary_stage(env)!r}, which is the stage "
            f"name of {env}'s canary; rename that environment"
        )
    return cfg


def _require(state: ModelState, env: str, doing: str) -> Canary:
    can = active(state, env)
    if can is None:
        raise PolicyError(
            f"{state.name} has no active canary in {env} to {doing}; start one with "
            f"`gitmodel canary start {state.name} vX.Y.Z {env} --percent 5`"
        )
    return can


def _record(
    action: Act,
    env: str,
    version: Version,
    stable: Version | None,
    reason: str | None,
    actor: str,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "action": action,
        "version": str(version),
        "stable": str(stable) if stable else None,
        "env": env,
        "reason": reason,
        "actor": actor,
        **extra,
    }


def start(
    repo: Path,
    name: str,
    version: str,
    env: str,
    percent: float,
    *,
    push: bool = False,
    force: bool = False,
    reason: str | None = None,
) -> CanaryStep:
    pct = check_percent(percent)
    if force and not (reason and reason.strip()):
        raise UsageError("--force needs --reason TEXT saying why the gate is overridden")
    cfg = _env(repo, env)
    model = parse_model(name)
    target = Version.parse(version)
    with locked(git.git_dir(repo)):
        reg = load(repo, push, model)
        state = reg.model(model)
        state.version_event(target)
        if target in state.deprecated_versions:
            raise PolicyError(f"{model} {target} is deprecated and cannot be a canary; pick another version")
        running = active(state, env)
        if running is not None:
            raise PolicyError(
                f"{env} already has a canary of {model}: {running.version} at {running.percent:g}%; "
                f"promote or abort it first (`gitmodel canary abort {model} {env}`)"
            )
        stable = state.stage_version(env)
        if stable is None:
            raise PolicyError(
                f"{env} serves no version of {model}, so a canary has nothing to compare with; "
                f"promote a first version with `gitmodel promote {model} {target} {env}`"
            )
        if target <= stable:
            raise PolicyError(
                f"{model} {target} is not newer than {stable}, which {env} serves; a canary tries a "
                f"newer version (to go back, use `gitmodel rollback {env} {model}`)"
            )
        check_order(cfg, state, target, env)
        check_evidence(cfg, env, model, str(target), read_meta(repo, state, target))
        verdict = gate_check(repo, model, str(target), env, reg)
        action = Act.CANARY_START
        if not verdict.passed:
            if not force:
                raise GateRefused(model, target, env, verdict)
            verdict = verdict.override(reason or "")
        actor = git.identity(repo)
        record = _record(
            action, env, target, stable, reason, actor, percent=_number(pct), gate=verdict.to_record()
        )
        ref = Ref(model, Action.ASSIGN, stage=canary_stage(env), counter=state.next_counter())
        summary = f"gitmodel: canary {model} {target} in {env} at {pct:g}% (stable {stable})"
        new = NewTag(ref, state.version_event(target).commit, summary, record, reason or "")
        tags = write_tags(repo, [new], push, state.newest_time())
        return CanaryStep(model, env, action, target, stable, pct, tags, push, verdict)


def set_percent(
    repo: Path,
    name: str,
    env: str,
    percent: float,
    *,
    push: bool = False,
    reason: str | None = None,
    extra: dict[str, Any] | None = None,
    expect: Version | None = None,
) -> CanaryStep:
    """Reweight ENV's canary; `extra` goes into the record (a monitor's ramp step: its
    request count and window), `expect` refuses a canary other than the judged one."""
    pct = check_percent(percent)
    _env(repo, env)
    model = parse_model(name)
    with locked(git.git_dir(repo)):
        state = load(repo, push, model).model(model)
        can = _require(state, env, "reweight")
        _expected(can, expect, env, model)
        if can.percent == pct:
            return CanaryStep(
                model,
                env,
                Act.CANARY_SET,
                can.version,
                can.stable,
                pct,
                [],
                False,
                note=f"the canary of {env} already gets {pct:g}%; nothing to do",
            )
        record = _record(
            Act.CANARY_SET,
            env,
            can.version,
            can.stable,
            reason,
            git.identity(repo),
            percent=_number(pct),
            from_percent=_number(can.percent),
            **(extra or {}),
        )
        ref = Ref(model, Action.ASSIGN, stage=canary_stage(env), counter=state.next_counter())
        summary = f"gitmodel: canary {model} {can.version} in {env} {can.percent:g}% -> {pct:g}%"
        tags = write_tags(
            repo, [NewTag(ref, can.event.commit, summary, record, reason or "")], push, state.newest_time()
        )
        return CanaryStep(model, env, Act.CANARY_SET, can.version, can.stable, pct, tags, push)


def promote(
    repo: Path,
    name: str,
    env: str,
    *,
    push: bool = False,
    reason: str | None = None,
    force: bool = False,
    samples: float | None = None,
    extra: dict[str, Any] | None = None,
    expect: Version | None = None,
    now: float | None = None,
) -> CanaryStep:
    """ENV -> the canary's version and the canary ended, in one atomic push.

    When gitmodel.yaml requires a canary before ENV (soak time, request count), an
    unready one is refused with the numbers unless `force` (with a reason).  `samples`
    is a live request count (a monitor's); else the newest one recorded is used.
    """
    if force and not (reason and reason.strip()):
        raise UsageError("--force needs --reason TEXT saying why the canary policy is overridden")
    cfg = _env(repo, env)
    model = parse_model(name)
    with locked(git.git_dir(repo)):
        state = load(repo, push, model).model(model)
        can = _require(state, env, "promote")
        _expected(can, expect, env, model)
        if can.version in state.deprecated_versions:
            raise PolicyError(f"{model} {can.version} was deprecated during its canary; abort the canary")
        policy, run = cfg.canary.get(env), run_of(state, env)
        record_extra: dict[str, Any] = dict(extra or {})
        if policy is not None and run is not None:
            why = unmet(policy, run, time.time() if now is None else now, samples)
            if why is not None and not force:
                raise PolicyError(refusal(policy, env, model, can.version, why))
            if why is not None:
                record_extra["canary_policy"] = f"overridden: the canary {why}"
        actor = git.identity(repo)
        n = state.next_counter()
        commit = can.event.commit
        new: list[NewTag] = []
        if can.stable != can.version:  # someone may have promoted it directly meanwhile
            new.append(
                NewTag(
                    Ref(model, Action.ASSIGN, stage=env, counter=n),
                    commit,
                    f"gitmodel: canary-promote {model} {can.version} to {env} (was {can.stable})",
                    _record(
                        Act.CANARY_PROMOTE,
                        env,
                        can.version,
                        can.stable,
                        reason,
                        actor,
                        percent=_number(can.percent),
                        **{"from": str(can.stable) if can.stable else None},
                        **record_extra,
                    ),
                    reason or "",
                )
            )
        new.append(
            NewTag(
                Ref(model, Action.UNASSIGN, stage=canary_stage(env), counter=n + len(new)),
                commit,
                f"gitmodel: canary-end {model} {can.version} in {env} (promoted)",
                _record(Act.CANARY_END, env, can.version, can.stable, reason, actor),
                reason or "",
            )
        )
        tags = write_tags(repo, new, push, state.newest_time())
        return CanaryStep(model, env, Act.CANARY_PROMOTE, can.version, can.stable, None, tags, push)


def _expected(can: Canary, expect: Version | None, env: str, model: str) -> None:
    if expect is not None and can.version != expect:
        raise ConflictError(
            f"the canary of {env} is now {model} {can.version}, not the judged {expect}; "
            "run the monitor again"
        )


def abort(
    repo: Path,
    name: str,
    env: str,
    *,
    reason: str | None = None,
    push: bool = False,
    trigger: dict[str, Any] | None = None,
    expect: Version | None = None,
) -> CanaryStep:
    """All traffic back to the stable version.

    `trigger` (from monitor) is recorded too; `expect` refuses to abort a canary other
    than the one the caller judged (it may have been replaced meanwhile).
    """
    _env(repo, env)
    model = parse_model(name)
    with locked(git.git_dir(repo)):
        state = load(repo, push, model).model(model)
        can = _require(state, env, "abort")
        _expected(can, expect, env, model)
        extra: dict[str, Any] = {"percent": _number(can.percent)}
        if trigger is not None:
            extra["trigger"] = trigger
        record = _record(Act.CANARY_ABORT, env, can.version, can.stable, reason, git.identity(repo), **extra)
        ref = Ref(model, Action.UNASSIGN, stage=canary_stage(env), counter=state.next_counter())
        summary = f"gitmodel: canary-abort {model} {can.version} in {env} (back to {can.stable})"
        tags = write_tags(
            repo, [NewTag(ref, can.event.commit, summary, record, reason or "")], push, state.newest_time()
        )
        return CanaryStep(model, env, Act.CANARY_ABORT, can.version, can.stable, None, tags, push)
