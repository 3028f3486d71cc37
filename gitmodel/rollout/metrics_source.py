"""Per-version request, error, latency and token counts, from Prometheus or a /metrics page.

Two sources give the same shape (`Observation`):

* `PrometheusSource` asks a Prometheus server's HTTP API (`/api/v1/query`) for
  ``increase(...[window])`` of each counter and of each latency bucket, summed by
  version: every version is measured over the same window.
  `read_at` asks the same as of a past moment (the query API's `time=`): the
  window then ends there (a watch period's baseline, rollout/watch.py).
* `ScrapeSource` reads a server's `/metrics` page (Prometheus text format, parsed by
  prometheus_client's own parser). One scrape gives counts since the server started;
  with a window it scrapes twice, that far apart, and judges the difference.

Counts from Prometheus are extrapolated by ``increase()`` and so need not be integers.
"""

from __future__ import annotations

import json
import math
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from gitmodel import http
from gitmodel.errors import RemoteUnreachable, UsageError
from gitmodel.rollout.config import MetricNames, promql_duration

# A busy server's /metrics page lists every version's buckets; far past that is a wrong URL.
MAX_PAGE = 32 << 20

Buckets = tuple[tuple[float, float], ...]  # (upper bound, cumulative count), ascending, +Inf last


@dataclass(frozen=True)
class VersionCounts:
    version: str
    requests: float = 0.0
    errors: float = 0.0
    buckets: Buckets = ()
    tokens: float | None = None  # None: the server exposes no token counter


@dataclass(frozen=True)
class Observation:
    source: str  # where the numbers came from, for messages and records
    window: str  # what span they cover, e.g. "5m" or "since the server started"
    versions: dict[str, VersionCounts] = field(default_factory=dict)
    figures: dict[str, dict[str, float]] = field(default_factory=dict)  # version -> query trigger -> value

    @property
    def span(self) -> str:
        return self.window if self.window.startswith("since") else f"over the last {self.window}"

    def get(self, version: str | None) -> VersionCounts:
        if version is None:
            return VersionCounts("-")
        return self.versions.get(version) or VersionCounts(version)


class Source(Protocol):
    def read(self, model: str) -> Observation: ...


@runtime_checkable
class PastSource(Protocol):
    """A source that can also say what the window ending at `at` (unix seconds) held."""

    def read_at(self, model: str, at: float) -> Observation: ...


def _fmt_window(seconds: float) -> str:
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


# --- the text exposition ---------------------------------------------------------------


def parse_exposition(
    text: str, model: str, names: MetricNames | None = None, where: str = "/metrics"
) -> dict[str, VersionCounts]:
    """Counts per version of `model` from Prometheus text exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    names = names or MetricNames()
    acc: dict[str, dict[str, Any]] = {}
    try:
        samples = [s for fam in text_string_to_metric_families(text) for s in fam.samples]
    except (ValueError, TypeError, IndexError) as exc:
        raise UsageError(f"{where} is not in the Prometheus text format ({exc}); check the URL") from None
    bucket_name = names.latency + "_bucket"
    for s in samples:
        labels = s.labels
        if labels.get(names.model_label) != model or names.version_label not in labels:
            continue
        slot = acc.setdefault(labels[names.version_label], {"buckets": {}})
        if s.name == names.requests:
            slot["requests"] = slot.get("requests", 0.0) + s.value
        elif s.name == names.errors:
            slot["errors"] = slot.get("errors", 0.0) + s.value
        elif s.name == names.tokens:
            slot["tokens"] = slot.get("tokens", 0.0) + s.value
        elif s.name == bucket_name and "le" in labels:
            le = float(labels["le"])
            slot["buckets"][le] = slot["buckets"].get(le, 0.0) + s.value
    return {v: _counts(v, d) for v, d in acc.items()}


def _counts(version: str, d: dict[str, Any]) -> VersionCounts:
    buckets = tuple(sorted(d["buckets"].items()))
    return VersionCounts(version, d.get("requests", 0.0), d.get("errors", 0.0), buckets, d.get("tokens"))


def difference(
    later: dict[str, VersionCounts], earlier: dict[str, VersionCounts]
) -> dict[str, VersionCounts]:
    """What happened between two scrapes; a counter that went down means a restart (Prometheus'
    rule): then the later value is the whole increase."""

    def inc(new: float, old: float) -> float:
        return new - old if new >= old else new

    out: dict[str, VersionCounts] = {}
    for v, new in later.items():
        old = earlier.get(v, VersionCounts(v))
        olds = dict(old.buckets)
        buckets = tuple((le, inc(c, olds.get(le, 0.0))) for le, c in new.buckets)
        tokens = None if new.tokens is None else inc(new.tokens, old.tokens or 0.0)
        out[v] = VersionCounts(
            v, inc(new.requests, old.requests), inc(new.errors, old.errors), buckets, tokens
        )
    return out


def _http_get(url: str, timeout: float, what: str) -> bytes:
    where = http.shown(url)
    try:
        answer = http.get(url, timeout=timeout, limit=MAX_PAGE)
    except http.Unreachable as exc:
        raise RemoteUnreachable(
            f"cannot reach {what} at {where} ({exc.why}); check that it runs "
            "and the URL is right; nothing was moved"
        ) from None
    if answer.ok:
        return answer.body
    detail = _prom_error(answer.text()) or f"HTTP {answer.status}"
    if answer.status >= 500:
        raise RemoteUnreachable(f"{what} at {where} failed: {detail}; check that it is up; nothing was moved")
    raise UsageError(f"{what} refused the request: {detail}; check the URL and gitmodel.yaml rollout.metrics")


def _prom_error(body: str) -> str | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return str(data.get("error")) if isinstance(data, dict) and data.get("error") else None


@dataclass
class ScrapeSource:
    url: str
    names: MetricNames = field(default_factory=MetricNames)
    window: float | None = None  # None: counts since the server started
    timeout: float = 10.0
    sleep: Callable[[float], None] = time.sleep

    def read(self, model: str) -> Observation:
        first = self._scrape(model)
        if not self.window:
            return Observation(f"scrape {self.url}", "since the server started", first)
        self.sleep(self.window)
        return Observation(
            f"scrape {self.url}", _fmt_window(self.window), difference(self._scrape(model), first)
        )

    def _scrape(self, model: str) -> dict[str, VersionCounts]:
        text = _http_get(self.url, self.timeout, "the metrics endpoint").decode("utf-8", "replace")
        return parse_exposition(text, model, self.names, self.url)


@dataclass
class PrometheusSource:
    url: str
    window: float = 300.0
    names: MetricNames = field(default_factory=MetricNames)
    timeout: float = 10.0
    queries: dict[str, str] = field(default_factory=dict)  # query triggers: metric -> PromQL

    def read(self, model: str) -> Observation:
        return self._read(model, None)

    def read_at(self, model: str, at: float) -> Observation:
        return self._read(model, at)

    def _read(self, model: str, at: float | None) -> Observation:
        n = self.names
        rng = promql_duration(self.window)
        sel = f'{{{n.model_label}="{_escape(model)}"}}'
        by = n.version_label

        def per_version(metric: str) -> dict[str, float]:
            rows = self.query(f"sum by ({by}) (increase({metric}{sel}[{rng}]))", at)
            return {r["metric"].get(by, ""): _value(r) for r in rows if r["metric"].get(by)}

        requests, errors, tokens = per_version(n.requests), per_version(n.errors), per_version(n.tokens)
        buckets: dict[str, dict[float, float]] = {}
        for r in self.query(f"sum by ({by}, le) (increase({n.latency}_bucket{sel}[{rng}]))", at):
            v, le = r["metric"].get(by), r["metric"].get("le")
            if v and le is not None:
                buckets.setdefault(v, {})[float(le)] = _value(r)
        versions = {
            v: VersionCounts(
                v,
                requests.get(v, 0.0),
                errors.get(v, 0.0),
                tuple(sorted(buckets.get(v, {}).items())),
                tokens.get(v),
            )
            for v in {*requests, *errors, *buckets}
        }
        figures: dict[str, dict[str, float]] = {}
        for metric, promql in self.queries.items():
            expr = promql.replace("$model", _escape(model)).replace("$window", rng)
            for r in self.query(expr, at):
                v = r["metric"].get(by)
                if v:
                    figures.setdefault(v, {})[metric] = _value(r)
        return Observation(f"prometheus {self.url}", _fmt_window(self.window), versions, figures)

    def query(self, promql: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant query, evaluated now or at `at` (every range in it then ends there)."""
        params = {"query": promql} if at is None else {"query": promql, "time": f"{at:.3f}"}
        url = self.url.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode(params)
        raw = _http_get(url, self.timeout, "Prometheus")
        try:
            data = json.loads(raw)
        except ValueError:
            raise UsageError(
                f"{self.url} did not answer like Prometheus' HTTP API; check --prometheus"
            ) from None
        if not isinstance(data, dict) or data.get("status") != "success":
            detail = data.get("error") if isinstance(data, dict) else None
            raise UsageError(f"Prometheus refused {promql!r}: {detail}; check gitmodel.yaml rollout.metrics")
        result = (data.get("data") or {}).get("result")
        return result if isinstance(result, list) else []


def _value(row: dict[str, Any]) -> float:
    try:
        x = float(row["value"][1])
    except (KeyError, IndexError, TypeError, ValueError):
        return 0.0
    return x if math.isfinite(x) else 0.0


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
