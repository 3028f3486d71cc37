"""`promotion: ENV: canary:` applied to a running canary: is it ready, and where its ramp goes next.

A canary *run* is the unbroken sequence of assignments of one version to ENV-canary
ending with the newest: its `canary start` and every `canary set` since.  Its age is
counted from the start tag's date, a ramp step's soak from the newest tag's date (so
each step is a tag, and a monitor that restarts picks the ramp up where it was).  The
request count is the one `monitor` records in the tags it writes (`samples`): the
canary's requests in the window it last judged healthy.  Nothing here reads a clock or
the network; callers pass `now` (time.time()) and the live count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gitmodel.refs import Action, Version
from gitmodel.registry import ModelState
from gitmodel.rollout.canary_state import Canary, active, canary_stage
from gitmodel.rollout.config import CanaryPolicy, span


@dataclass(frozen=True)
class CanaryRun:
    canary: Canary
    started: int  # tagger date of the run's first tag (canary start)
    step_since: int  # tagger date of its newest tag (the current ramp step)
    samples: float | None  # the newest request count a monitor recorded on the run's tags


def run_of(state: ModelState, env: str) -> CanaryRun | None:
    can = active(state, env)
    if can is None:
        return None
    run = []
    for e in reversed(state.stage_events(canary_stage(env))):
        if e.ref.action is not Action.ASSIGN or state.assignment_version(e) != can.version:
            break
        run.append(e)
    recorded = (_number(e.record.get("samples")) for e in run)
    samples = next((n for n in recorded if n is not None), None)
    return CanaryRun(can, run[-1].time, run[0].time, samples)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    return float(value)


def unmet(policy: CanaryPolicy, run: CanaryRun, now: float, samples: float | None = None) -> str | None:
    """What the canary still lacks before ENV may take its version, with the numbers; None: ready.

    `samples` is a live count (the monitor's window); else the newest one recorded.
    """
    age = max(0.0, now - run.started)
    got = samples if samples is not None else run.samples
    gaps = []
    if age < policy.soak:
        gaps.append(f"has run {span(age)} of {span(policy.soak)}")
    if policy.min_samples and got is None:
        gaps.append(f"has no request count yet ({policy.min_samples} needed; `gitmodel monitor` records it)")
    elif policy.min_samples and (got or 0) < policy.min_samples:
        gaps.append(f"served {got:.0f} of {policy.min_samples} requests")
    return " and ".join(gaps) or None


def refusal(policy: CanaryPolicy, env: str, model: str, version: Version, why: str) -> str:
    return (
        f"{env} requires {policy.describe()} before it takes {model} {version}: the canary {why}; "
        "wait and retry, or override with --force --reason TEXT"
    )


@dataclass(frozen=True)
class RampMove:
    action: Literal["hold", "set", "promote"]
    percent: float | None  # the share after the move (None: promote, or hold)
    note: str  # what the ramp does or waits for, with the numbers


def ramp_next(policy: CanaryPolicy, run: CanaryRun, now: float, samples: float) -> RampMove:
    """The ramp's next move for a canary judged healthy now with `samples` requests.

    The current step is the last whose share is at most the canary's (a canary started
    below the first step moves to it at once); after its soak the canary goes to the
    next step, and after the last one ENV takes it, once `unmet` has nothing to say.
    """
    steps, pct = policy.ramp, run.canary.percent
    at = max((i for i, s in enumerate(steps) if s.percent <= pct), default=-1)
    n = len(steps)
    waited = max(0.0, now - run.step_since)
    need = steps[at].soak if at >= 0 else 0.0
    here = f"step {at + 1}/{n} at {pct:g}%" if at >= 0 else f"{pct:g}%, below step 1"
    if waited < need:
        return RampMove("hold", None, f"ramp {here}: healthy for {span(waited)} of {span(need)}")
    if at + 1 < n:
        nxt = steps[at + 1].percent
        note = f"ramp {here} -> step {at + 2}/{n} at {nxt:g}% after {span(waited)} healthy"
        return RampMove("set", nxt, note)
    why = unmet(policy, run, now, samples)
    if why is not None:
        return RampMove("hold", None, f"ramp {here} done; promotion waits: the canary {why}")
    return RampMove("promote", None, f"ramp {here} done after {span(waited)} healthy: promoting")
