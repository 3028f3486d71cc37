"""Prometheus metrics for the gateway, per model and version, in the names `monitor` reads.

The names and labels are `gitmodel serve`'s (docs/server.md), which are the defaults of
gitmodel.yaml `rollout.metrics` (rollout/config.py MetricNames): pointed at the gateway's
/metrics, `gitmodel monitor` judges a canary served by llama-server exactly as one served by
the reference server.  Every attempt counts for the version that made it: a canary answer
of 500 that the gateway then retried on stable is one error of the canary (what monitor
must see to abort it) and one request of stable (what the user got).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


@dataclass(frozen=True)
class Series:
    """One version's series, bound once: finding them by labels on every request took a tenth
    of the gateway's CPU per request (cProfile, bench/README.md)."""

    requests: Any
    errors: Any
    duration: Any
    inflight: Any
    fallbacks: Any
    prompt_tokens: Any
    completion_tokens: Any

    def observe(self, seconds: float, status: int) -> None:
        self.requests.inc()
        if status >= 500 or status == 0:
            self.errors.inc()
        self.duration.observe(seconds)

    def count_tokens(self, prompt: int, completion: int) -> None:
        if prompt:
            self.prompt_tokens.inc(prompt)
        if completion:
            self.completion_tokens.inc(completion)


class Metrics:
    def __init__(self) -> None:
        import prometheus_client as pc

        pc.disable_created_metrics()  # type: ignore[no-untyped-call]
        self._pc = pc
        self.registry = pc.CollectorRegistry()
        reg, by_version = self.registry, ["model", "version"]
        self.requests = pc.Counter(
            "gitmodel_requests", "Inference requests answered, by version.", by_version, registry=reg
        )
        self.errors = pc.Counter(
            "gitmodel_errors",
            "Inference requests answered with a 5xx or not at all (connection error).",
            by_version,
            registry=reg,
        )
        self.duration = pc.Histogram(
            "gitmodel_request_duration_seconds",
            "Inference request latency in seconds, through the gateway.",
            by_version,
            buckets=BUCKETS,
            registry=reg,
        )
        self.inflight = pc.Gauge(
            "gitmodel_inflight_requests", "Inference requests running now.", by_version, registry=reg
        )
        self.tokens = pc.Counter(
            "gitmodel_tokens",
            "Prompt and completion tokens, from the answers' usage.",
            [*by_version, "kind"],
            registry=reg,
        )
        self.fallbacks = pc.Counter(
            "gitmodel_fallbacks",
            "Canary attempts that failed and were answered by stable instead.",
            by_version,
            registry=reg,
        )
        self.loaded = pc.Gauge(
            "gitmodel_model_loaded",
            "1 for each version serving, by role.",
            ["model", "version", "role"],
            registry=reg,
        )
        self.reloads = pc.Counter(
            "gitmodel_reloads", "Reload attempts, by result (ok, refused).", ["model", "result"], registry=reg
        )
        self._series: dict[tuple[str, str], Series] = {}

    def series(self, model: str, version: str) -> Series:
        """The version's bound series (created at 0 on first use; a version's series stay)."""
        found = self._series.get((model, version))
        if found is None:
            found = Series(
                requests=self.requests.labels(model, version),
                errors=self.errors.labels(model, version),
                duration=self.duration.labels(model, version),
                inflight=self.inflight.labels(model, version),
                fallbacks=self.fallbacks.labels(model, version),
                prompt_tokens=self.tokens.labels(model, version, "prompt"),
                completion_tokens=self.tokens.labels(model, version, "completion"),
            )
            self._series[model, version] = found
        return found

    def set_role(self, model: str, role: str, version: str | None, previous: str | None) -> None:
        """`version` now holds `role` (None: nothing); zero-valued series from the start."""
        if previous is not None and previous != version:
            with contextlib.suppress(KeyError):
                self.loaded.remove(model, previous, role)
        if version is None:
            return
        self.loaded.labels(model, version, role).set(1)
        self.series(model, version)

    def reload(self, model: str, ok: bool) -> None:
        self.reloads.labels(model, "ok" if ok else "refused").inc()

    def exposition(self) -> tuple[bytes, str]:
        return self._pc.generate_latest(self.registry), str(self._pc.CONTENT_TYPE_LATEST)
