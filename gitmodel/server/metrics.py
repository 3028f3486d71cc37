"""Prometheus metrics for the server, labelled by model and version.

Requests, errors and latency are labelled by version and not by role, so a canary
that becomes stable keeps one series; `gitmodel_model_loaded` says which version holds
which role now. Built on the official prometheus_client (thread-safe counters and the
exposition format); the shared names, labels and buckets are gitmodel/metricnames.py.
"""

from __future__ import annotations

import contextlib

from gitmodel.metricnames import Families


class Metrics(Families):
    def __init__(self) -> None:
        super().__init__(help_text={"tokens": "Prompt and completion tokens (toy count)."})

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
