"""The Prometheus series both servers export, defined once: names, labels, help, buckets.

`gitmodel serve` (server/metrics.py) and `gitmodel gateway` (gateway/metrics.py) must
export the same names and labels, because they are the defaults `gitmodel monitor` reads
(rollout/config.py MetricNames, docs/server.md): a canary is judged the same behind either.
Foundation, so the reference server (which may import only layer 0) and the gateway (which
may not import gitmodel.server) share it. Built on prometheus_client with a registry per
instance, so nothing global leaks in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BY_VERSION = ("model", "version")

# attribute -> (kind, name, labels, help); a server may reword a help line, never a name or label.
SHARED: dict[str, tuple[str, str, tuple[str, ...], str]] = {
    "requests": ("counter", "gitmodel_requests", BY_VERSION, "Inference requests answered, by version."),
    "errors": ("counter", "gitmodel_errors", BY_VERSION, "Inference requests answered with a 5xx."),
    "duration": (
        "histogram",
        "gitmodel_request_duration_seconds",
        BY_VERSION,
        "Inference request latency in seconds.",
    ),
    "inflight": ("gauge", "gitmodel_inflight_requests", BY_VERSION, "Inference requests running now."),
    "tokens": ("counter", "gitmodel_tokens", (*BY_VERSION, "kind"), "Prompt and completion tokens."),
    "loaded": (
        "gauge",
        "gitmodel_model_loaded",
        ("model", "version", "role"),
        "1 for each version loaded, by role.",
    ),
    "reloads": (
        "counter",
        "gitmodel_reloads",
        ("model", "result"),
        "Reload attempts, by result (ok, refused).",
    ),
}


class Families:
    """The shared metric families as attributes (`requests`, `errors`, ... as in SHARED)."""

    requests: Any
    errors: Any
    duration: Any
    inflight: Any
    tokens: Any
    loaded: Any
    reloads: Any

    def __init__(
        self, *, buckets: tuple[float, ...] = BUCKETS, help_text: Mapping[str, str] | None = None
    ) -> None:
        import prometheus_client as pc

        # `_created` series double the output and no consumer of ours reads them.
        pc.disable_created_metrics()  # type: ignore[no-untyped-call]
        self._pc = pc
        self.registry = pc.CollectorRegistry()
        reworded = help_text or {}
        for attr, (kind, name, labels, default_help) in SHARED.items():
            text = reworded.get(attr, default_help)
            if kind == "histogram":
                family: Any = pc.Histogram(name, text, labels, buckets=buckets, registry=self.registry)
            else:
                cls = pc.Counter if kind == "counter" else pc.Gauge
                family = cls(name, text, labels, registry=self.registry)
            setattr(self, attr, family)

    def reload(self, model: str, ok: bool) -> None:
        self.reloads.labels(model, "ok" if ok else "refused").inc()

    def exposition(self) -> tuple[bytes, str]:
        return self._pc.generate_latest(self.registry), str(self._pc.CONTENT_TYPE_LATEST)
