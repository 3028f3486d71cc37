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

from gitmodel import metricnames
from gitmodel.metricnames import BY_VERSION, Families

# Longer than the reference server's toy answers: a real model's can run past 30 s.
BUCKETS = (*metricnames.BUCKETS, 60.0, 120.0)


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


class Metrics(Families):
    def __init__(self) -> None:
        super().__init__(
            buckets=BUCKETS,
            help_text={
                "errors": "Inference requests answered with a 5xx or not at all (connection error).",
                "duration": "Inference request latency in seconds, through the gateway.",
                "tokens": "Prompt and completion tokens, from the answers' usage.",
                "loaded": "1 for each version serving, by role.",
            },
        )
        self.fallbacks = self._pc.Counter(
            "gitmodel_fallbacks",
            "Canary attempts that failed and were answered by stable instead.",
            BY_VERSION,
            registry=self.registry,
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
