"""The canary of an environment, read from the one-pass registry state (no I/O but that).

A canary of environment ENV is the GTO stage ``ENV-canary``: its newest event (by the
model's ``#N`` counter) is either an assignment ``NAME#ENV-canary#N`` — the canary is
active, its version is the tagged version and its weight is the ``percent`` in the
tag's record — or an unassignment ``NAME#ENV-canary!#N`` — no canary.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gitmodel.refs import Action, Version, parse_model
from gitmodel.registry import Event, ModelState, Registry
from gitmodel.rollout.routing import RoutingState, salt_for

SUFFIX = "-canary"


def canary_stage(env: str) -> str:
    return env + SUFFIX


def is_canary_stage(stage: str | None) -> bool:
    return bool(stage) and str(stage).endswith(SUFFIX)


@dataclass(frozen=True)
class Canary:
    model: str
    env: str
    version: Version
    percent: float  # 0 when the record has none (a tag written by hand): no traffic
    stable: Version | None  # what ENV serves now
    event: Event  # the newest canary-start or canary-set

    @property
    def salt(self) -> str:
        return salt_for(self.model, self.env, str(self.version))


def record_percent(event: Event) -> float:
    value = event.record.get("percent")
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        return 0.0
    return float(value)


def active(state: ModelState, env: str) -> Canary | None:
    events = state.stage_events(canary_stage(env))
    if not events or events[-1].ref.action is Action.UNASSIGN:
        return None
    version = state.assignment_version(events[-1])
    if version is None:  # an assignment to a commit holding no version: not a canary we can serve
        return None
    return Canary(state.name, env, version, record_percent(events[-1]), state.stage_version(env), events[-1])


def routing_state(state: ModelState, env: str) -> RoutingState:
    stable = state.stage_version(env)
    can = active(state, env)
    if can is None:
        return RoutingState(state.name, env, str(stable) if stable else None, None, 0.0, "")
    return RoutingState(
        state.name, env, str(stable) if stable else None, str(can.version), can.percent, can.salt
    )


def read_routing(repo: Path, name: str, env: str) -> RoutingState:
    """The routing state of NAME in ENV from a registry checkout (for a host agent or server).

    Reads refs only (one `git for-each-ref`); fetch them first to see origin's moves.
    """
    return routing_state(Registry.load_model(repo, parse_model(name)), env)
