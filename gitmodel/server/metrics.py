"""Prometheus metrics for the server, labelled by model and version.

Requests, errors and latency are labelled by version and not by role, so a canary
that becomes stable keeps one series; `gitmodel_model_loaded` says which version holds
which role now. Built on the official prometheus_client (thread-safe counters and the
exposition format), with a registry of our own so nothing global leaks in.
"""

from __future__ import annotations

import contextlib

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self) -> None:
        import prometheus_client as pc

        # `_created` series double the output and no consumer of ours reads them.
        pc.disable_created_metrics()  # type: ignore[no-untyped-call]
        self._pc = pc
        self.registry = pc.CollectorRegistry()
        by_version = ["model", "version"]
        reg = self.registry
        self.requests = pc.Counter(
            "gitmodel_requests", "Inference requests answered, by version.", by_version, registry=reg
        )
        self.errors = pc.Counter(
            "gitmodel_errors", "Inference requests answered with a 5xx.", by_version, registry=reg
        )
        self.duration = pc.Histogram(
            "gitmodel_request_duration_seconds",
            "Inference request latency in seconds.",
            by_version,
            buckets=BUCKETS,
            registry=reg,
        )
        self.inflight = pc.Gauge(
            "gitmodel_inflight_requests", "Inference requests running now.", by_version, registry=reg
        )
        self.tokens = pc.Counter(
            "gitmodel_tokens",
            "Prompt and completion tokens (toy count).",
            [*by_version, "kind"],
            registry=reg,
        )
        self.loaded = pc.Gauge(
            "gitmodel_model_loaded",
            "1 for each version loaded, by role.",
            ["model", "version", "role"],
            registry=reg,
        )
        self.reloads = pc.Counter(
            "gitmodel_reloads", "Reload attempts, by result (ok, refused).", ["model", "result"], registry=reg
        )

    def observe(self, model: str, version: str, seconds: float, status: int) -> None:
        self.requests.labels(model, version).inc()
        if status >= 500:
            self.errors.labels(model, version).inc()
        self.duration.labels(model, version).observe(seconds)

    def count_tokens(self, model: str, version: str, prompt: int, completion: int) -> None:
        self.tokens.labels(model, version, "prompt").inc(prompt)
        self.tokens.labels(model, version, "completion").inc(completion)

    def set_loaded(self, model: str, role: str, version: str, previous: str | None) -> None:
        if previous is not None and previous != version:
            self.loaded.remove(model, previous, role)
        self.loaded.labels(model, version, role).set(1)
        # Zero-valued series from the start, so a monitor reads "0 errors", not "no data".
        for family in (self.requests, self.errors, self.duration, self.inflight):
            family.labels(model, version)
        for kind in ("prompt", "completion"):  # else Prometheus' increase() misses the first tokens
            self.tokens.labels(model, version, kind)

    def set_unloaded(self, model: str, role: str, version: str) -> None:
        """The role holds nothing now (a canary ended); its version's counters stay."""
        with contextlib.suppress(KeyError):  # never set, or already removed
            self.loaded.remove(model, version, role)

    def reload(self, model: str, ok: bool) -> None:
        self.reloads.labels(model, "ok" if ok else "refused").inc()

    def exposition(self) -> tuple[bytes, str]:
        return self._pc.generate_latest(self.registry), str(self._pc.CONTENT_TYPE_LATEST)
