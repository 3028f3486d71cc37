"""The `rollout:` section of gitmodel.yaml: triggers, window, sample floor, metric names.

    rollout:
      window: 5m             # Prometheus range the rules judge (s, m, h; or seconds)
      min_samples: 100       # requests a version needs in the window before it is judged
      alpha: 0.05            # significance level of `ab report`
      prometheus: http://127.0.0.1:9090   # default for --prometheus (optional)
      triggers:              # replaces the defaults below when given
        - {metric: error_rate, above: 0.05, action: rollback}
        - {metric: latency_p95, ratio: 1.5, action: rollback}
        - {metric: tokens_per_request, ratio: 2.0, action: alert}
      metrics:               # names in the server's Prometheus exposition
        requests: gitmodel_requests_total
        ...

`above` is an absolute limit on the judged version's value; `ratio` is a limit
relative to the stable version's value over the same window.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from gitmodel import config
from gitmodel.errors import UsageError
from gitmodel.yamlio import load_mapping, plain

Kind = Literal["above", "ratio"]
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
    {"window", "min_samples", "alpha", "prometheus", "metrics_url", "triggers", "metrics"}
)
_TRIGGER_KEYS = frozenset({"metric", "above", "ratio", "action"})
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


@dataclass(frozen=True)
class Trigger:
    metric: str
    kind: Kind
    threshold: float
    action: Severity

    def describe(self) -> str:
        if self.kind == "above":
            return f"{self.metric} > {self.threshold:g}"
        return f"{self.metric} > {self.threshold:g} × stable"

    def as_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, self.kind: self.threshold, "action": self.action}


DEFAULT_TRIGGERS = (
    Trigger("error_rate", "above", 0.05, "rollback"),
    Trigger("latency_p95", "ratio", 1.5, "rollback"),
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


def load(root: Path) -> RolloutConfig:
    path = root / config.FILENAME
    if not path.exists():
        raise UsageError(f"{root} has no {config.FILENAME}; run `gitmodel init` first")
    return parse(plain(load_mapping(path)).get("rollout"))


def _where(*keys: object) -> str:
    return f"{config.FILENAME} " + ".".join(str(k) for k in ("rollout", *keys))


def parse(data: Any) -> RolloutConfig:
    if data is None:
        return RolloutConfig()
    if not isinstance(data, dict):
        raise UsageError(f"{_where()} must be a mapping")
    unknown = sorted(set(data) - _SECTION_KEYS)
    if unknown:
        raise UsageError(f"{_where(unknown[0])} is not a setting; use {', '.join(sorted(_SECTION_KEYS))}")
    kw: dict[str, Any] = {}
    if "window" in data:
        kw["window"] = parse_duration(data["window"], _where("window"))
    if "min_samples" in data:
        value = data["min_samples"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UsageError(f"{_where('min_samples')} must be a whole number of requests, at least 1")
        kw["min_samples"] = value
    if "alpha" in data:
        kw["alpha"] = _number(data["alpha"], _where("alpha"))
        if not 0 < kw["alpha"] < 1:
            raise UsageError(f"{_where('alpha')} must be between 0 and 1, e.g. 0.05")
    for key in ("prometheus", "metrics_url"):
        if data.get(key) is not None:
            if not isinstance(data[key], str):
                raise UsageError(f"{_where(key)} must be a URL")
            kw[key] = data[key]
    if "triggers" in data:
        raw = data["triggers"]
        if not isinstance(raw, list):
            raise UsageError(f"{_where('triggers')} must be a list of {{metric, above|ratio, action}}")
        kw["triggers"] = tuple(parse_trigger(t, i) for i, t in enumerate(raw))
    if "metrics" in data:
        kw["names"] = _names(data["metrics"])
    return replace(RolloutConfig(), **kw)


def parse_trigger(raw: Any, index: int) -> Trigger:
    where = _where("triggers", index)
    if not isinstance(raw, dict):
        raise UsageError(f"{where} must be a mapping like {{metric: error_rate, above: 0.05}}")
    unknown = sorted(set(raw) - _TRIGGER_KEYS)
    if unknown:
        raise UsageError(f"{where}: unknown key {unknown[0]!r}; use metric, above or ratio, action")
    metric = raw.get("metric")
    if metric not in METRICS:
        raise UsageError(f"{where}: unknown trigger metric {metric!r}; use one of {', '.join(METRICS)}")
    kinds = [k for k in ("above", "ratio") if k in raw]
    if len(kinds) != 1:
        raise UsageError(f"{where}: give exactly one of `above` (absolute) or `ratio` (× stable)")
    kind: Kind = "above" if kinds[0] == "above" else "ratio"
    threshold = _number(raw[kind], f"{where}.{kind}")
    if threshold < 0 or (kind == "ratio" and threshold == 0):
        raise UsageError(f"{where}.{kind} must be positive")
    action = raw.get("action", "rollback")
    if action not in ("rollback", "alert"):
        raise UsageError(f"{where}.action must be rollback or alert, not {action!r}")
    return Trigger(str(metric), kind, threshold, "rollback" if action == "rollback" else "alert")


def _names(raw: Any) -> MetricNames:
    if not isinstance(raw, dict):
        raise UsageError(f"{_where('metrics')} must map requests, errors, latency, tokens to metric names")
    known = set(MetricNames.__dataclass_fields__)
    for key, value in raw.items():
        if key not in known:
            raise UsageError(f"{_where('metrics', key)} is not a setting; use {', '.join(sorted(known))}")
        if not isinstance(value, str) or not re.match(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$", value):
            raise UsageError(f"{_where('metrics', key)} must be a Prometheus metric or label name")
    return MetricNames(**raw)


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise UsageError(f"{where} must be a number, not {value!r}")
    return float(value)


def parse_duration(value: Any, where: str = "--window") -> float:
    """``30s``, ``5m``, ``1h`` or a number of seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        m = _DURATION.match(str(value).strip())
        if not m:
            raise UsageError(f"{where} {value!r} is not a duration; write e.g. 30s, 5m or 1h")
        seconds = float(m[1]) * _UNITS[m[2]]
    if not math.isfinite(seconds) or seconds < 1:
        raise UsageError(f"{where} must be at least 1 second")
    return seconds


def promql_duration(seconds: float) -> str:
    return f"{max(1, round(seconds))}s"
