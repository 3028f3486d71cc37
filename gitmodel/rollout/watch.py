"""The watch period after a full promotion: the version served before is the ratio baseline.

With a canary, `ratio` rules compare it with the stable version over the same window.
Once an environment serves one version alone there is nothing side by side, so for
`rollout.watch` after a full promotion (`promote`, `canary promote`, a ramp's last step)
the version it served before is the baseline, over ITS last window before the
promotion: Prometheus evaluates the same queries at the promotion's time (the query
API's `time=`), read from the promotion's tag. After the watch period, ratio rules are
skipped again.

A promotion is read from the tags' structure, not from records (they are claims): ENV's
newest move is a promotion when it goes to a version that is not on its served stack
(gitmodel/served.py); a return to one that is (a rollback) starts no watch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

from gitmodel.refs import Action, Version
from gitmodel.registry import ModelState
from gitmodel.rollout.config import span
from gitmodel.rollout.metrics_source import Observation, PastSource, Source
from gitmodel.served import served_stack

State = Literal["judged", "insufficient", "unavailable", "ended"]


@dataclass(frozen=True)
class Watch:
    tag: str  # the promotion's tag
    version: Version  # what ENV serves since
    previous: Version  # what it served before: the baseline
    at: float  # the promotion tag's date (unix seconds): where the baseline's window ends
    period: float  # rollout.watch, seconds
    now: float

    @property
    def remaining(self) -> float:
        return max(0.0, self.at + self.period - self.now)

    @property
    def active(self) -> bool:
        return self.remaining > 0

    @property
    def ended(self) -> str:
        """Why ratio rules are skipped once the period is over (the judgement's words)."""
        ago = span(self.now - self.at - self.period)
        return (
            f"no canary, and the watch after {self.version}'s promotion ended {ago} ago "
            f"(rollout.watch {span(self.period)}): no baseline"
        )

    def describe(self, window: str) -> str:
        return (
            f"watch after the promotion from {self.previous} ({self.tag} at {stamp(self.at)}): "
            f"{span(self.remaining)} left; baseline {self.previous} over its last {window} before it"
        )


def stamp(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def watch_of(state: ModelState, env: str, period: float, now: float) -> Watch | None:
    """ENV's newest move if it promoted a version over another (None: no watch configured,
    no move, a first version, a rollback, or an unassignment)."""
    events = state.stage_events(env)
    if period <= 0 or not events or events[-1].ref.action is Action.UNASSIGN:
        return None
    last = events[-1]
    version = state.assignment_version(last)
    before = served_stack(replace(state, assignments=[e for e in state.assignments if e is not last]), env)
    if version is None or not before or version in before:
        return None
    return Watch(last.tag, version, before[-1], float(last.time), period, now)


@dataclass(frozen=True)
class Baseline:
    """What the watch gave this round: the previous version's observation, or why none."""

    watch: Watch
    state: State
    observation: Observation | None = None
    why: str = ""  # why ratio rules have no baseline (states unavailable and ended)

    def to_json(self, min_samples: int) -> dict[str, Any]:
        obs = self.observation
        return {
            "promotion": self.watch.tag,
            "version": str(self.watch.version),
            "previous": str(self.watch.previous),
            "promoted_at": stamp(self.watch.at),
            "period": self.watch.period,
            "remaining": self.watch.remaining,
            "baseline": self.state,
            "window": obs.window if obs else None,
            "window_end": stamp(self.watch.at) if obs else None,
            "source": obs.source if obs else None,
            "min_samples": min_samples,
            "note": self.why or None,
        }


def baseline(watch: Watch, source: Source, model: str, min_samples: int) -> Baseline:
    """The previous version over its last window before the promotion, while the watch lasts."""
    if not watch.active:
        return Baseline(watch, "ended", why=watch.ended)
    if not isinstance(source, PastSource):
        return Baseline(
            watch,
            "unavailable",
            why=(
                f"no canary, and the baseline before {watch.version}'s promotion needs --prometheus "
                "(a scrape reads only the present)"
            ),
        )
    obs = source.read_at(model, watch.at)
    enough = obs.get(str(watch.previous)).requests >= min_samples
    return Baseline(watch, "judged" if enough else "insufficient", obs)
