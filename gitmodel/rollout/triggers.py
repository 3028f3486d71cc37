"""Rollback triggers judged on a version's live numbers, next to a baseline's (pure).

The baseline is the stable version side by side with a canary, or, in the watch period
after a full promotion, the version served before over its last window before the
promotion (`basis="previous"`, rollout/watch.py). A version is judged only once it has
`min_samples` requests in the window; before that the verdict is "insufficient" and
nothing moves. A `ratio` rule also needs the baseline to have `min_samples` (else it
is skipped: "insufficient baseline"), and is skipped when the baseline value is 0 (no
ratio to a zero baseline; `above` and `below` rules cover absolute limits).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from gitmodel.rollout.config import METRICS, Trigger
from gitmodel.rollout.metrics_source import VersionCounts
from gitmodel.rollout.stats import quantile

Status = Literal["healthy", "alert", "critical", "insufficient"]
Basis = Literal["stable", "previous"]  # the canary's stable version, or the version before a promotion
NO_CANARY = "no canary, so no stable version to compare with"


@dataclass(frozen=True)
class VersionStats:
    version: str
    requests: float
    errors: float
    values: dict[str, float | None]  # every metric in config.METRICS, and query triggers' figures

    @classmethod
    def of(cls, counts: VersionCounts, figures: dict[str, float] | None = None) -> VersionStats:
        """The built-in metrics from the counts, and `figures` (query triggers' values) beside them."""
        n = counts.requests
        values: dict[str, float | None] = {
            "error_rate": counts.errors / n if n > 0 else None,
            "tokens_per_request": counts.tokens / n if n > 0 and counts.tokens is not None else None,
        }
        for q in (50, 90, 95, 99):
            values[f"latency_p{q}"] = quantile(counts.buckets, q / 100)
        assert set(values) == set(METRICS)
        values.update(figures or {})
        return cls(counts.version, n, counts.errors, values)

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "requests": self.requests, "errors": self.errors, **self.values}


@dataclass(frozen=True)
class Finding:
    trigger: Trigger
    outcome: Literal["fired", "ok", "skipped"]
    value: float | None
    baseline: float | None
    limit: float | None
    message: str
    basis: Basis = "stable"  # what a ratio was taken of

    @property
    def fired(self) -> bool:
        return self.outcome == "fired"

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.trigger.describe(self.basis),
            **self.trigger.to_json(),
            "outcome": self.outcome,
            "value": self.value,
            "baseline": self.baseline,
            "limit": self.limit,
            "message": self.message,
        }


@dataclass(frozen=True)
class Judgement:
    subject: VersionStats  # the canary, or the environment's version when there is none
    baseline: VersionStats | None  # the stable version side by side, or the version before a promotion
    min_samples: int
    findings: tuple[Finding, ...]
    status: Status
    note: str = ""
    basis: Basis = "stable"

    def first(self, action: str) -> Finding | None:
        return next((f for f in self.findings if f.fired and f.trigger.action == action), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "note": self.note or None,
            "min_samples": self.min_samples,
            "subject": self.subject.to_json(),
            "baseline": self.baseline.to_json() if self.baseline else None,
            "baseline_role": self.basis if self.baseline else None,
            "findings": [f.to_json() for f in self.findings],
        }


def fmt(metric: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    unit = METRICS.get(metric, "")
    if unit == "s":
        return f"{value * 1000:.1f} ms"
    if metric == "error_rate":
        return f"{value * 100:.2f}%"
    return f"{value:.4g}"


def judge(
    triggers: tuple[Trigger, ...] | list[Trigger],
    subject: VersionStats,
    baseline: VersionStats | None,
    min_samples: int,
    *,
    basis: Basis = "stable",
    no_baseline: str = NO_CANARY,
) -> Judgement:
    """Judge `subject`; `no_baseline` says why ratio rules are skipped when `baseline` is None."""
    role = "canary" if baseline is not None and basis == "stable" else "serving"
    if subject.requests < min_samples:
        note = (
            f"too few samples: {role} {subject.version} has {subject.requests:.0f} requests in "
            f"the window, {min_samples} are needed before any rule judges it; nothing moved"
        )
        return Judgement(subject, baseline, min_samples, (), "insufficient", note, basis)
    ctx = _Context(role, baseline, basis, no_baseline, min_samples)
    findings = tuple(_check(t, subject, ctx) for t in triggers)
    fired = [f for f in findings if f.fired]
    status: Status = "healthy"
    if any(f.trigger.action == "rollback" for f in fired):
        status = "critical"
    elif fired:
        status = "alert"
    note = ""
    if baseline is not None and baseline.requests < min_samples and basis == "previous":
        note = (
            f"insufficient baseline: previous {baseline.version} had {baseline.requests:.0f} requests "
            f"in its last window before the promotion ({min_samples} needed); ratio rules not judged"
        )
    return Judgement(subject, baseline, min_samples, findings, status, note, basis)


@dataclass(frozen=True)
class _Context:
    role: str  # "canary" or "serving", for messages
    baseline: VersionStats | None
    basis: Basis
    no_baseline: str
    min_samples: int


def _check(t: Trigger, subject: VersionStats, ctx: _Context) -> Finding:
    baseline, role = ctx.baseline, ctx.role
    value = subject.values.get(t.metric)
    base = baseline.values.get(t.metric) if baseline else None
    side = "no stable version side by side"
    if baseline is not None:
        side = f"{ctx.basis} {baseline.version} {fmt(t.metric, base)}"
        if ctx.basis == "previous":
            side += " before the promotion"
    if value is None:
        why = f"{t.metric}: {role} {subject.version} reports no value"
        if t.query is not None:
            why += " (the query gave none for it; query triggers need --prometheus)"
        return Finding(t, "skipped", None, base, None, why, ctx.basis)
    if t.kind != "ratio":
        limit = t.threshold
    else:
        if baseline is None:
            return Finding(
                t, "skipped", value, None, None, f"{t.metric}: {ctx.no_baseline}; rule skipped", ctx.basis
            )
        if baseline.requests < ctx.min_samples:
            when = " in its last window before the promotion" if ctx.basis == "previous" else ""
            return Finding(
                t,
                "skipped",
                value,
                base,
                None,
                f"{t.metric}: {ctx.basis} {baseline.version} has {baseline.requests:.0f} requests{when} "
                f"(needs {ctx.min_samples}); rule skipped",
                ctx.basis,
            )
        if not base:
            return Finding(
                t,
                "skipped",
                value,
                base,
                None,
                f"{t.metric}: {ctx.basis} value is {fmt(t.metric, base)}, no ratio to it; rule skipped",
                ctx.basis,
            )
        limit = t.threshold * base
    fired = value < limit if t.lower_is_bad else value > limit
    shown = fmt(t.metric, limit)
    if t.kind == "ratio":
        shown = f"{t.threshold:g} × {ctx.basis} = {shown}"
    sign = (">=", "<")[fired] if t.lower_is_bad else ("<=", ">")[fired]
    message = f"{t.metric}: {role} {subject.version} {fmt(t.metric, value)} {sign} {shown} ({side})"
    if (
        fired
        and t.kind == "ratio"
        and t.min_delta > 0
        and base is not None
        and abs(value - base) <= t.min_delta
    ):
        # Past the ratio but within the rule's floor: neighbouring histogram buckets, not a regression.
        floor = fmt(t.metric, t.min_delta)
        return Finding(t, "ok", value, base, limit, f"{message}, within min_delta {floor}: ok", ctx.basis)
    return Finding(t, "fired" if fired else "ok", value, base, limit, message, ctx.basis)
