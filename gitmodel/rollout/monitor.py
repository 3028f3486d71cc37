"""Monitoring rounds: read the registry and live metrics, judge, and act on a verdict.

With an active canary the canary is judged next to the stable version over the same
window; a critical trigger aborts the canary. Without one, the environment's version
is judged alone (only `above` and `below` rules can fire) and a critical trigger rolls the
environment back; in the watch period after a full promotion (rollout.watch) the version
served before, over its last window before the promotion, is the ratio rules' baseline
(rollout/watch.py). An alert moves nothing. The reason, with the rule and its numbers,
goes into the tag's record, so `gitmodel history` says why. `Monitor.run()` repeats
rounds (as `Agent.run()` repeats ticks on a host) until one moves something.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from gitmodel import config
from gitmodel.environments import rollback
from gitmodel.errors import UsageError
from gitmodel.localconfig import Alerts
from gitmodel.moves import load
from gitmodel.records import Act
from gitmodel.refs import Version, parse_model
from gitmodel.rollout import canary_moves
from gitmodel.rollout.alerts import notify
from gitmodel.rollout.canary_policy import RampMove, ramp_next, run_of
from gitmodel.rollout.canary_state import active
from gitmodel.rollout.config import RolloutConfig
from gitmodel.rollout.metrics_source import Observation, Source
from gitmodel.rollout.triggers import NO_CANARY, Finding, Judgement, VersionStats, judge
from gitmodel.rollout.watch import Baseline, baseline, stamp, watch_of

# The last four write tags: abort and rollback on a critical trigger, set and promote
# as a canary's ramp (gitmodel.yaml `promotion: ENV: canary: ramp:`) advances.
Action = Literal["none", "alert", Act.CANARY_ABORT, Act.ROLLBACK, Act.CANARY_SET, Act.CANARY_PROMOTE]


@dataclass(frozen=True)
class Round:
    model: str
    env: str
    canary: Version | None
    stable: Version | None
    observation: Observation
    judgement: Judgement
    action: Action
    tags: tuple[str, ...] = ()
    reason: str | None = None
    pushed: bool = False
    moved_to: Version | None = None  # the version a rollback (or a ramp's promotion) went to
    ramp: str = ""  # where the canary's ramp stands, or what it did
    percent: float | None = None  # the canary's share after a ramp step
    notified: tuple[str, ...] = ()  # how each alert action (webhook, command) went
    watch: Baseline | None = None  # the watch period after a full promotion, when there is one

    def summary(self) -> str:
        """One line for a pager: what fired, and what was done about it."""
        fired = [f.message for f in self.judgement.findings if f.fired]
        done = "nothing moved"
        if self.action == Act.CANARY_ABORT:
            done = f"canary {self.canary} aborted"
        elif self.action == Act.ROLLBACK:
            done = f"rolled back to {self.moved_to}"
        return f"{self.model} {self.env} {self.judgement.status}: {'; '.join(fired)}; {done}"

    @property
    def exit_code(self) -> int:
        # 1 when a rule fired (moved or not): cron mails it; 0 when healthy or not yet judged.
        return 1 if self.judgement.status in ("alert", "critical") else 0

    @property
    def moved(self) -> bool:
        return self.action in (Act.CANARY_ABORT, Act.ROLLBACK, Act.CANARY_SET, Act.CANARY_PROMOTE)

    @property
    def final(self) -> bool:
        """Nothing left to watch in this run: the canary ended, or ENV was rolled back."""
        return self.action in (Act.CANARY_ABORT, Act.ROLLBACK, Act.CANARY_PROMOTE)

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "environment": self.env,
            "canary": str(self.canary) if self.canary else None,
            "stable": str(self.stable) if self.stable else None,
            "source": self.observation.source,
            "window": self.observation.window,
            **self.judgement.to_json(),
            "action": self.action,
            "tags": list(self.tags),
            "reason": self.reason,
            "pushed": self.pushed,
            "moved_to": str(self.moved_to) if self.moved_to else None,
            "ramp": self.ramp or None,
            "percent": self.percent,
            "notified": list(self.notified),
            "watch": self.watch.to_json(self.judgement.min_samples) if self.watch else None,
        }


@dataclass
class Monitor:
    repo: Path
    name: str
    env: str
    source: Source
    rcfg: RolloutConfig
    interval: float = 60.0  # seconds from the start of one round to the start of the next
    push: bool = False
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    alerts: Alerts | None = None  # where a round in which a rule fired goes (local config)

    def run(self, rounds: int | None = None, report: Callable[[Round], None] = lambda _: None) -> int:
        """Judge up to `rounds` rounds (None: until a critical trigger moves something).

        Each round goes to `report` as soon as it is judged; returns the worst exit code.
        The loop ends after a final move (an abort, a rollback, a ramp's promotion): the
        next round would judge what was just rolled back.  A ramp step goes on watching,
        and so does a ramp's promotion when rollout.watch gives it a watch period.
        """
        code, done, started = 0, 0, self.clock()
        while rounds is None or done < rounds:
            if done:
                self.sleep(max(0.0, self.interval - (self.clock() - started)))
                started = self.clock()
            result = check(self.repo, self.name, self.env, self.source, self.rcfg, push=self.push)
            if result.exit_code and self.alerts is not None:
                payload = {"event": "gitmodel-monitor", "summary": result.summary(), **result.to_json()}
                result = replace(result, notified=tuple(notify(self.alerts, payload)))
            done += 1
            code = max(code, result.exit_code)
            report(result)
            if result.final and not (result.action == Act.CANARY_PROMOTE and self.rcfg.watch > 0):
                break
        return code


def check(
    repo: Path,
    name: str,
    env: str,
    source: Source,
    rcfg: RolloutConfig,
    *,
    push: bool = False,
    act: bool = True,
    now: Callable[[], float] = time.time,
) -> Round:
    cfg = config.load(repo)
    cfg.check_env(env)
    model = parse_model(name)
    state = load(repo, push, model).model(model)
    can = active(state, env)
    stable = state.stage_version(env)
    if can is None and stable is None:
        raise UsageError(f"{env} serves no version of {model} and has no canary; nothing to monitor")
    obs = source.read(model)
    subject_version = can.version if can else stable
    base, watched = None, None
    if can is not None and stable is not None:
        base = VersionStats.of(obs.get(str(stable)), obs.figures.get(str(stable)))
    elif can is None and (watch := watch_of(state, env, rcfg.watch, now())) is not None:
        watched = baseline(watch, source, model, rcfg.min_samples)
        if watched.observation is not None:
            prev = str(watch.previous)
            base = VersionStats.of(watched.observation.get(prev), watched.observation.figures.get(prev))
    subject = VersionStats.of(obs.get(str(subject_version)), obs.figures.get(str(subject_version)))
    judgement = judge(
        rcfg.triggers,
        subject,
        base,
        rcfg.min_samples,
        basis="previous" if watched and watched.observation else "stable",
        no_baseline=watched.why if watched and watched.why else NO_CANARY,
    )
    result = Round(model, env, can.version if can else None, stable, obs, judgement, "none", watch=watched)
    policy = cfg.canary.get(env)
    run = run_of(state, env) if can is not None and policy is not None and policy.ramp else None
    if judgement.status == "alert":
        return replace(result, action="alert", ramp="ramp held: a rule alerted" if run else "")
    critical = judgement.first("rollback")
    if critical is None and run is not None and policy is not None:
        if judgement.status != "healthy":
            return replace(result, ramp="ramp held: too few samples to judge the canary")
        samples = judgement.subject.requests
        ramp = ramp_next(policy, run, now(), samples)
        if ramp.action == "hold" or not act:
            return replace(result, ramp=ramp.note)
        return _advance(repo, model, env, result, ramp, samples, obs, push)
    if critical is None or not act:
        return result
    reason = f"monitor: {critical.message}; {_counts(judgement, obs, watched)} ({obs.source})"
    trigger = trigger_record(critical, judgement, obs, watched)
    if can is not None:
        step = canary_moves.abort(
            repo,
            model,
            env,
            reason=reason,
            push=push,
            expect=can.version,
            trigger=trigger,
        )
        return replace(result, action=Act.CANARY_ABORT, tags=tuple(step.tags), reason=reason, pushed=push)
    move = rollback(repo, env, model, reason=reason, push=push, expect=stable, trigger=trigger)
    return replace(
        result,
        action=Act.ROLLBACK,
        tags=(move.tag,) if move.tag else (),
        reason=reason,
        pushed=push,
        moved_to=move.version,
    )


def _advance(
    repo: Path,
    model: str,
    env: str,
    result: Round,
    step: RampMove,
    samples: float,
    obs: Observation,
    push: bool,
) -> Round:
    """Write the ramp's next step: a canary-set tag, or the canary-promote (and end) tags."""
    assert result.canary is not None
    reason = f"monitor: {step.note}; {samples:.0f} requests to {result.canary} {obs.span} ({obs.source})"
    extra = {"samples": samples, "window": obs.window, "source": obs.source}
    if step.action == "set":
        assert step.percent is not None
        done = canary_moves.set_percent(
            repo, model, env, step.percent, push=push, reason=reason, extra=extra, expect=result.canary
        )
        return replace(
            result,
            action=Act.CANARY_SET,
            tags=tuple(done.tags),
            reason=reason,
            pushed=push,
            ramp=step.note,
            percent=step.percent,
        )
    done = canary_moves.promote(
        repo, model, env, push=push, reason=reason, samples=samples, extra=extra, expect=result.canary
    )
    return replace(
        result,
        action=Act.CANARY_PROMOTE,
        tags=tuple(done.tags),
        reason=reason,
        pushed=push,
        moved_to=done.version,
        ramp=step.note,
    )


def _counts(j: Judgement, obs: Observation, watched: Baseline | None) -> str:
    text = f"{j.subject.requests:.0f} requests to {j.subject.version}"
    if j.baseline is None:
        return f"{text} {obs.span}"
    if watched is None:
        return f"{text}, {j.baseline.requests:.0f} to {j.baseline.version} {obs.span}"
    return (
        f"{text} {obs.span}, {j.baseline.requests:.0f} to {j.baseline.version} in its last "
        f"{obs.window} before the promotion at {stamp(watched.watch.at)}"
    )


def trigger_record(
    f: Finding, j: Judgement, obs: Observation, watched: Baseline | None = None
) -> dict[str, Any]:
    record = {
        "rule": f.trigger.describe(f.basis),
        "metric": f.trigger.metric,
        "value": f.value,
        "baseline": f.baseline,
        "limit": f.limit,
        "requests": j.subject.requests,
        "baseline_requests": j.baseline.requests if j.baseline else None,
        "baseline_version": j.baseline.version if j.baseline else None,
        "window": obs.window,
        "source": obs.source,
    }
    if watched is not None and j.baseline is not None:
        # The baseline's window ended at the promotion, not now: say where.
        record["baseline_window_end"] = stamp(watched.watch.at)
        record["promotion"] = watched.watch.tag
    return record
