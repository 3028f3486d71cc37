"""The `rollout:` section of gitmodel.yaml: triggers, window, sample floor, metric names.

    rollout:
      window: 5m             # Prometheus range the rules judge (s, m, h; or seconds)
      min_samples: 100       # requests a version needs in the window before it is judged
      alpha: 0.05            # significance level of `ab report`
      prometheus: http://127.0.0.1:9090   # default for --prometheus (optional)
      watch: 2h              # after a full promotion: the version before is the ratio baseline
      triggers:              # replaces the defaults below when given
        - {metric: error_rate, above: 0.05, action: rollback}
        - {metric: latency_p95, ratio: 1.5, min_delta: 25ms, action: rollback}
        - {metric: tokens_per_request, ratio: 2.0, action: alert}
      metrics:               # names in the server's Prometheus exposition
        requests: gitmodel_requests_total
        ...

`above` and `below` are absolute limits on the judged version's value; `ratio` is a
limit relative to the stable version's value over the same window: `ratio: 1.5` fires
above 1.5 × stable, `ratio: 0.9` below 0.9 × stable. With no canary, for `watch` after
a full promotion the version served before is the baseline instead, over its last
window before the promotion (rollout/watch.py); 0 (the default) turns that off.
`min_delta` (ratio rules only, in the metric's unit; latencies as durations like 25ms) is
the absolute difference a ratio must also exceed: p95s read from histogram buckets of a
few milliseconds differ by 2x between neighbouring buckets, which is noise, not a
regression. The default latency rule has 25ms; 0 judges the ratio alone.

A trigger with a `query` judges any Prometheus expression instead of a built-in metric
(monitor with --prometheus only); the expression gives one value per version, labelled
with `metrics.version` (`version` by default); `$model` and `$window` are filled in:

        - metric: user_rating
          query: avg by (version) (avg_over_time(user_rating{model="$model"}[$window]))
          below: 3.5
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from gitmodel import validate as v

Kind = Literal["above", "below", "ratio"]
Severity = Literal["rollback", "alert"]

# Every metric a trigger may name: how it reads, and its unit for messages.
METRICS: dict[str, str] = {
    "error_rate": "",
    "latency_p50": "s",
    "latency_p90": "s",
    "latency_p95": "s",
    "latency_p99": "s",
    "tokens_per_request": "",
}
_SECTION_KEYS = frozenset(
    {"window", "min_samples", "alpha", "prometheus", "metrics_url", "triggers", "metrics", "watch"}
)
_TRIGGER_KEYS = frozenset({"metric", "above", "below", "ratio", "min_delta", "action", "query"})
_QUERY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_QUERY = 2000  # characters of PromQL
_PROM_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


@dataclass(frozen=True)
class Trigger:
    metric: str
    kind: Kind
    threshold: float
    action: Severity
    query: str | None = None  # PromQL giving the metric per version (None: a built-in metric)
    min_delta: float = 0.0  # a ratio rule fires only when |value - baseline| exceeds this too

    @property
    def lower_is_bad(self) -> bool:
        """Fires on a value under its limit: `below`, or a ratio under 1."""
        return self.kind == "below" or (self.kind == "ratio" and self.threshold < 1)

    def describe(self, basis: str = "stable") -> str:
        """The rule in words; `basis` names what a ratio is taken of (the watch's "previous")."""
        sign = "<" if self.lower_is_bad else ">"
        of = f" × {basis}" if self.kind == "ratio" else ""
        return f"{self.metric} {sign} {self.threshold:g}{of}"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"metric": self.metric, self.kind: self.threshold, "action": self.action}
        if self.query is not None:
            data["query"] = self.query
        if self.min_delta:
            data["min_delta"] = self.min_delta
        return data


DEFAULT_TRIGGERS = (
    Trigger("error_rate", "above", 0.05, "rollback"),
    Trigger("latency_p95", "ratio", 1.5, "rollback", min_delta=0.025),
    Trigger("tokens_per_request", "ratio", 2.0, "alert"),
)


@dataclass(frozen=True)
class MetricNames:
    """Sample names in the exposition; the defaults are `gitmodel serve`'s."""

    requests: str = "gitmodel_requests_total"
    errors: str = "gitmodel_errors_total"
    latency: str = "gitmodel_request_duration_seconds"  # a histogram: NAME_bucket{le=...}
    tokens: str = "gitmodel_tokens_total"
    model_label: str = "model"
    version_label: str = "version"


@dataclass(frozen=True)
class RolloutConfig:
    window: float = 300.0
    min_samples: int = 100
    alpha: float = 0.05
    prometheus: str | None = None
    metrics_url: str | None = None
    triggers: tuple[Trigger, ...] = DEFAULT_TRIGGERS
    names: MetricNames = field(default_factory=MetricNames)
    watch: float = 0.0  # seconds after a full promotion with the previous version as baseline


def parse(data: object, at: v.Field | None = None) -> RolloutConfig:
    """The `rollout:` section of gitmodel.yaml (None: the defaults)."""
    at = at or v.Field("gitmodel.yaml", "rollout")
    fields = v.mapping(data, at, _SECTION_KEYS, "rollout setting")
    kw: dict[str, Any] = {}
    if "window" in fields:
        kw["window"] = v.duration(fields["window"], at / "window")
    if "watch" in fields:
        kw["watch"] = v.duration(fields["watch"], at / "watch", minimum=0)
    if "min_samples" in fields:
        kw["min_samples"] = v.whole(fields["min_samples"], at / "min_samples", minimum=1)
    if "alpha" in fields:
        kw["alpha"] = v.fraction(fields["alpha"], at / "alpha")
    for key in ("prometheus", "metrics_url"):
        if fields.get(key) is not None:
            kw[key] = v.url(fields[key], at / key)
    if "triggers" in fields:
        raw = fields["triggers"]
        if not isinstance(raw, list):
            raise (at / "triggers").error("must be a list of {metric, above|ratio, action}")
        kw["triggers"] = tuple(parse_trigger(t, at / "triggers" / i) for i, t in enumerate(raw))
    if "metrics" in fields:
        kw["names"] = _names(fields["metrics"], at / "metrics")
    return replace(RolloutConfig(), **kw)


def parse_trigger(raw: object, at: v.Field) -> Trigger:
    if not isinstance(raw, dict):
        raise at.error("must be a mapping like {metric: error_rate, above: 0.05}")
    fields = v.mapping(raw, at, _TRIGGER_KEYS, "trigger key")
    query = None
    if fields.get("query") is not None:
        query = v.text(fields["query"], at / "query")
        if len(query) > MAX_QUERY or "\n" in query.strip():
            raise (at / "query").error(f"must be one PromQL expression of at most {MAX_QUERY} characters")
        metric = str(fields.get("metric"))
        if not _QUERY_NAME.match(metric) or metric in METRICS:
            raise (at / "metric").error(
                "must name the query's figure: lowercase letters, digits and _, not a built-in "
                f"metric ({', '.join(METRICS)})"
            )
    else:
        metric = v.choice(fields.get("metric"), at / "metric", tuple(METRICS))
    kinds = [k for k in ("above", "below", "ratio") if k in fields]
    if len(kinds) != 1:
        raise at.error("must give exactly one of `above`, `below` (absolute) or `ratio` (× stable)")
    kind: Kind = "above" if kinds[0] == "above" else "below" if kinds[0] == "below" else "ratio"
    if kind == "ratio":
        threshold = v.positive(fields[kind], at / kind)
        if threshold == 1:
            raise (at / kind).error("must not be 1: above 1 fires over the stable value, below 1 under it")
    else:
        threshold = v.number(fields[kind], at / kind)
    min_delta = 0.0
    if "min_delta" in fields:
        if kind != "ratio":
            raise (at / "min_delta").error("is for `ratio` rules only (an absolute limit needs no floor)")
        raw = fields["min_delta"]
        if METRICS.get(metric) == "s":  # a latency: 25ms, 0.025 or 0
            min_delta = v.duration(raw, at / "min_delta", minimum=0.0)
        else:
            min_delta = v.number(raw, at / "min_delta")
            if min_delta < 0:
                raise (at / "min_delta").error("must be 0 or more")
    action = v.choice(fields.get("action", "rollback"), at / "action", ("rollback", "alert"))
    return Trigger(
        metric,
        kind,
        threshold,
        "rollback" if action == "rollback" else "alert",
        query.strip() if query else None,
        min_delta,
    )


def _names(raw: object, at: v.Field) -> MetricNames:
    fields = v.mapping(raw, at, tuple(MetricNames.__dataclass_fields__), "metric name setting")
    for key, value in fields.items():
        if not isinstance(value, str) or not _PROM_NAME.match(value):
            raise (at / key).error("must be a Prometheus metric or label name")
    return MetricNames(**fields)


@dataclass(frozen=True)
class RampStep:
    percent: float  # the canary's share of traffic during this step
    soak: float  # seconds it must stay healthy at this share before the next step


@dataclass(frozen=True)
class CanaryPolicy:
    """`promotion: ENV: canary:` in gitmodel.yaml: what a canary must show before ENV takes
    its version, and the ramp `monitor` walks it through.

        promotion:
          production:
            after: [staging]
            canary:
              soak: 48h            # since `canary start`, before production takes it
              min_samples: 1000    # canary requests in the monitor's window, last judged healthy
              ramp:                # monitor: each step once the window is healthy that long
                - {percent: 10, soak: 24h}
                - {percent: 50, soak: 24h}
    """

    soak: float = 0.0
    min_samples: int = 0
    ramp: tuple[RampStep, ...] = ()

    def describe(self) -> str:
        return f"a canary of at least {span(self.soak)} with {self.min_samples} requests"

    def to_json(self) -> dict[str, Any]:
        return {
            "soak": self.soak,
            "min_samples": self.min_samples,
            "ramp": [{"percent": s.percent, "soak": s.soak} for s in self.ramp],
        }


_CANARY_KEYS = frozenset({"soak", "min_samples", "ramp"})


def parse_canary(raw: object, at: v.Field) -> CanaryPolicy:
    fields = v.mapping(raw, at, _CANARY_KEYS, "canary setting")
    ramp: list[RampStep] = []
    steps = fields.get("ramp") or []
    if not isinstance(steps, list):
        raise (at / "ramp").error("must be a list of {percent, soak} steps")
    for i, step in enumerate(steps):
        here = at / "ramp" / i
        entry = v.mapping(step, here, ("percent", "soak"), "ramp step key")
        if "percent" not in entry or "soak" not in entry:
            raise here.error("must give percent and soak, e.g. {percent: 10, soak: 24h}")
        pct = v.number(entry["percent"], here / "percent")
        if not 0 < pct < 100:
            raise (here / "percent").error("must be between 0 and 100 (100 is the promotion itself)")
        if ramp and pct <= ramp[-1].percent:
            raise (here / "percent").error(f"must be above the step before it ({ramp[-1].percent:g})")
        ramp.append(RampStep(pct, v.duration(entry["soak"], here / "soak", minimum=0)))
    return CanaryPolicy(
        soak=v.duration(fields["soak"], at / "soak", minimum=0) if "soak" in fields else 0.0,
        min_samples=v.whole(fields["min_samples"], at / "min_samples") if "min_samples" in fields else 0,
        ramp=tuple(ramp),
    )


def span(seconds: float) -> str:
    """A time for messages: 48h, 90m, 4m05s, 3h12m, 2.4s."""
    if seconds < 60:
        return f"{seconds:.1f}s".replace(".0s", "s")
    whole = int(seconds)
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s" if secs else f"{minutes}m"
    hours = minutes // 60
    return f"{hours}h{minutes % 60:02d}m" if minutes % 60 else f"{hours}h"


def parse_duration(value: object, where: str = "--window") -> float:
    """``30s``, ``5m``, ``1h`` or a number of seconds (a command-line window)."""
    return v.duration(value, v.Field(where))


def promql_duration(seconds: float) -> str:
    return f"{max(1, round(seconds))}s"
