"""End to end: registry canary -> host layout -> `gitmodel serve` -> Prometheus -> monitor.

Real parts throughout: the registry and its tags, the reference server as a process
routing by X-Route-Key, Debian's Prometheus scraping it every second, and `gitmodel
monitor --once` reading Prometheus' HTTP API. The host agent's part (materialise
both versions, write canary.json from the registry) is done here by hand with the
same layout helpers, then the server is reloaded as the agent would.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from conftest import Registry, refs
from rollout_fixtures import PrometheusProcess, model
from server_fixtures import ServerProcess, make_version, swap_current, wait_for

from gitmodel.rollout import hostfile
from gitmodel.rollout.hostfile import CanarySplit
from gitmodel.rollout.state import read_routing

__all__ = ["model"]

pytestmark = pytest.mark.slow

REQUESTS = 300  # bounded load: this many requests, and at most LOAD_SECONDS
LOAD_SECONDS = 60.0
ROLLOUT = "rollout:\n  window: 2m\n  min_samples: 40\n"


@pytest.fixture
def rollout(model: Registry, tmp_path: Path) -> Iterator[Any]:
    """Start a 30% canary of v1.1.0 in production, and a host serving both versions."""
    cfg = model.root / "gitmodel.yaml"
    cfg.write_text(cfg.read_text() + ROLLOUT)
    model.ok("canary", "start", "support", "v1.1.0", "production", "--percent", "30")
    host = tmp_path / "host"
    make_version(host, "support", "v1.0.0", artifact="support.gguf", gguf_seed=1)
    make_version(host, "support", "v1.1.0", artifact="support.gguf", gguf_seed=2)
    swap_current(host, "support", "v1.0.0")
    converge(model, host)
    started: list[Any] = []

    def serve(*faults: str, prometheus: bool = True) -> tuple[ServerProcess, PrometheusProcess | None]:
        server = ServerProcess(host, "support", *(f"--fault={f}" for f in faults), workdir=tmp_path)
        started.append(server)
        server.wait_ready()
        prom = None
        if prometheus:
            prom = PrometheusProcess(tmp_path, [f"127.0.0.1:{server.port}"])
            started.append(prom)
            prom.wait_ready()
            # Scraped at least once before the load, so every series starts at its 0.
            wait_for(lambda: prom.value('gitmodel_requests_total{version="v1.1.0"}') == 0, timeout=20)
        return server, prom

    yield model, host, serve
    for proc in reversed(started):
        proc.stop()


def converge(registry: Registry, host: Path, server: ServerProcess | None = None) -> None:
    """The host agent's job for the canary: canary.json from the registry, then a reload."""
    routing = read_routing(registry.root, "support", "production")
    hostfile.write(host, "support", CanarySplit.from_routing(routing))
    if server is not None:
        assert server.post("/reload").status == 200


def ask(server: ServerProcess, key: str) -> tuple[int, str]:
    req = urllib.request.Request(server.url + "/v1/completions", data=b'{"prompt": "hello there"}',
                                 method="POST", headers={"X-Route-Key": key})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers["X-Gitmodel-Version"]
    except urllib.error.HTTPError as e:
        return e.code, e.headers["X-Gitmodel-Version"]


def load(server: ServerProcess, n: int = REQUESTS) -> dict[str, list[int]]:
    """n requests from n users, 8 at a time; bounded in count and in time."""
    deadline = time.monotonic() + LOAD_SECONDS
    statuses: dict[str, list[int]] = {}

    def one(i: int) -> tuple[int, str] | None:
        return ask(server, f"user-{i}") if time.monotonic() < deadline else None

    with ThreadPoolExecutor(8) as pool:
        for got in pool.map(one, range(n)):
            assert got is not None, f"load took over {LOAD_SECONDS} s"
            statuses.setdefault(got[1], []).append(got[0])
    return statuses


def scraped(prom: PrometheusProcess, n: int) -> None:
    wait_for(lambda: prom.value('sum(gitmodel_requests_total{model="support"})') == n, timeout=30, step=0.2)


def history(registry: Registry) -> list[dict[str, Any]]:
    return json.loads(registry.ok("history", "support", "--json").stdout)["events"]


def check_aborted(registry: Registry, host: Path, server: ServerProcess, rule: str) -> None:
    status = json.loads(registry.ok("canary", "status", "support", "production", "--json").stdout)
    assert status["canary"] is None and status["stable"] == "v1.0.0"
    listing = json.loads(registry.ok("list", "--json").stdout)["models"][0]["environments"]
    assert listing["production"] == "v1.0.0"
    last = history(registry)[-1]
    assert last["action"] == "canary-abort" and last["reason"].startswith(f"monitor: {rule}")
    converge(registry, host, server)
    info = server.get("/info").json()
    assert info["version"] == "v1.0.0" and info["canary"] is None and info["roles"] == {"stable": "v1.0.0"}
    assert {ask(server, f"user-{i}")[1] for i in range(40)} == {"v1.0.0"}


def test_canary_with_errors_is_aborted(rollout: Any) -> None:
    registry, host, serve = rollout
    server, prom = serve("v1.1.0:error_rate=0.3")
    statuses = load(server)
    assert 60 <= len(statuses["v1.1.0"]) <= 120 and statuses["v1.1.0"].count(500) >= 20
    assert set(statuses["v1.0.0"]) == {200}
    scraped(prom, REQUESTS)
    result = registry.run("monitor", "support", "production", "--once", "--prometheus", prom.url)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "CRITICAL: error_rate: canary v1.1.0" in result.stdout
    assert "canary aborted: production serves v1.0.0 to all traffic" in result.stdout
    check_aborted(registry, host, server, "error_rate")
    assert "prometheus http://127.0.0.1" in history(registry)[-1]["reason"]


def test_canary_with_injected_latency_is_aborted(rollout: Any) -> None:
    registry, host, serve = rollout
    server, prom = serve("v1.1.0:latency_ms=150")
    statuses = load(server, 200)
    assert set(statuses["v1.1.0"]) == {200}  # no errors: only latency is wrong
    scraped(prom, 200)
    result = registry.run("monitor", "support", "production", "--once", "--prometheus", prom.url, "--json")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    data = json.loads(result.stdout)
    fired = [f for f in data["findings"] if f["outcome"] == "fired"]
    assert [f["metric"] for f in fired] == ["latency_p95"] and data["action"] == "canary-abort"
    assert fired[0]["value"] >= 0.1 and fired[0]["baseline"] < 0.05
    check_aborted(registry, host, server, "latency_p95")


def test_healthy_canary_is_left_alone(rollout: Any) -> None:
    registry, _, serve = rollout
    server, prom = serve()
    load(server)
    scraped(prom, REQUESTS)
    before = refs(registry.root)
    result = registry.run("monitor", "support", "production", "--once", "--prometheus", prom.url)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "healthy: no rule fired" in result.stdout
    assert refs(registry.root) == before
    report = json.loads(registry.ok("ab", "report", "support", "production", "--prometheus", prom.url,
                                    "--json").stdout)
    roles = {r["role"]: r for r in report["versions"]}
    assert roles["canary"]["requests"] > 40 and roles["stable"]["requests"] > 150
    assert report["comparison"]["error_rate"]["p_value"] == 1.0  # no errors on either side
    assert server.get("/info").json()["canary"]["version"] == "v1.1.0"


def test_metrics_url_mode_without_prometheus(rollout: Any) -> None:
    registry, host, serve = rollout
    server, _ = serve("v1.1.0:error_rate=0.3", prometheus=False)
    load(server, 200)
    result = registry.run("monitor", "support", "production", "--once",
                          "--metrics-url", server.url + "/metrics")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "CRITICAL: error_rate: canary v1.1.0" in result.stdout
    check_aborted(registry, host, server, "error_rate")


def test_prometheus_unreachable_moves_nothing(rollout: Any) -> None:
    registry, _, serve = rollout
    _, prom = serve(prometheus=True)
    assert prom is not None
    prom.stop()
    before = refs(registry.root)
    result = registry.fails(4, "monitor", "support", "production", "--once", "--prometheus", prom.url)
    assert "cannot reach Prometheus" in result.stderr
    assert refs(registry.root) == before
