"""End to end: registry canary -> `gitmodel deploy` on a host -> `gitmodel serve` -> Prometheus -> monitor.

Real parts throughout: the registry and its tags moved from a dev clone and pushed to a
bare origin, a host clone whose `gitmodel deploy` materialises both versions from the DVC
remote and writes canary.json, the reference server as a process routing by X-Route-Key,
Debian's Prometheus scraping it every second, and `gitmodel monitor --once --push` reading
Prometheus' HTTP API and aborting the canary on origin, which the next deploy follows.
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
from plugin.host import Host
from plugin.registry import refs
from plugin.rollout import PrometheusProcess
from plugin.server import ServerProcess, wait_for

from gitmodel import hostlayout

pytestmark = pytest.mark.slow

REQUESTS = 300  # bounded load: this many requests, and at most LOAD_SECONDS
LOAD_SECONDS = 60.0
ROLLOUT = "rollout:\n  window: 2m\n  min_samples: 40\n"


@pytest.fixture
def rollout(host: Host, tmp_path: Path) -> Iterator[Any]:
    """A 30% canary of v1.1.0 in production started on origin, and a host that deployed both."""
    cfg = host.dev / "gitmodel.yaml"
    cfg.write_text(cfg.read_text() + ROLLOUT)
    host.promote("v1.0.0")
    dev(host, "promote", "support", "v1.1.0", "staging", "--push")
    dev(host, "canary", "start", "support", "v1.1.0", "production", "--percent", "30", "--push")
    converge(host)  # no server yet: it loads both roles when it starts
    assert hostlayout.read_canary(host.root, "support").version == "v1.1.0"  # type: ignore[union-attr]
    assert host.current() == "v1.0.0" and host.assert_current_valid() == "v1.0.0"
    assert hostlayout.read_manifest(hostlayout.version_dir(host.root, "support", "v1.1.0"))
    started: list[Any] = []

    def serve(*faults: str, prometheus: bool = True) -> tuple[ServerProcess, PrometheusProcess | None]:
        server = ServerProcess(host.root, "support", *(f"--fault={f}" for f in faults), workdir=tmp_path)
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

    yield host, serve
    for proc in reversed(started):
        proc.stop()


def dev(host: Host, *args: str) -> Any:
    """A registry command in the dev clone (where gitmodel.yaml has the rollout section)."""
    return host.ok(*args, cwd=host.dev)


def converge(host: Host, server: ServerProcess | None = None) -> dict[str, Any]:
    """What the host agent does when origin moves: `gitmodel deploy`, reloading the server."""
    flags = ["--reload-url", f"{server.url}/reload", "--info-url", f"{server.url}/info"] if server else []
    out = host.ok("deploy", "production", "support", "--root", str(host.root), "--json", *flags).stdout
    return json.loads(out)["deployed"][0]  # type: ignore[no-any-return]


def monitor(host: Host, *args: str) -> Any:
    return host.run("monitor", "support", "production", "--once", "--push", *args, cwd=host.dev)


def ask(server: ServerProcess, key: str) -> tuple[int, str]:
    req = urllib.request.Request(
        server.url + "/v1/completions",
        data=b'{"prompt": "hello there"}',
        method="POST",
        headers={"X-Route-Key": key},
    )
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


def history(host: Host) -> list[dict[str, Any]]:
    return json.loads(dev(host, "history", "support", "--json").stdout)["events"]  # type: ignore[no-any-return]


def check_aborted(host: Host, server: ServerProcess, rule: str) -> None:
    status = json.loads(dev(host, "canary", "status", "support", "production", "--json").stdout)
    assert status["canary"] is None and status["stable"] == "v1.0.0"
    models = json.loads(dev(host, "list", "--json").stdout)["models"]
    listing = next(m for m in models if m["name"] == "support")["environments"]
    assert listing["production"] == "v1.0.0"
    last = history(host)[-1]
    assert last["action"] == "canary-abort" and last["reason"].startswith(f"monitor: {rule}")
    # the abort went to origin; the host's next convergence ends the canary there
    done = converge(host, server)
    assert done["canary"]["action"] == "off" and done["canary"]["previous"] == "v1.1.0"
    assert not hostlayout.canary_path(host.root, "support").exists() and host.current() == "v1.0.0"
    info = server.get("/info").json()
    assert info["version"] == "v1.0.0" and info["canary"] is None and info["roles"] == {"stable": "v1.0.0"}
    assert {ask(server, f"user-{i}")[1] for i in range(40)} == {"v1.0.0"}


def test_canary_with_errors_is_aborted(rollout: Any) -> None:
    host, serve = rollout
    server, prom = serve("v1.1.0:error_rate=0.3")
    statuses = load(server)
    assert 60 <= len(statuses["v1.1.0"]) <= 120 and statuses["v1.1.0"].count(500) >= 20
    assert set(statuses["v1.0.0"]) == {200}
    scraped(prom, REQUESTS)
    result = monitor(host, "--prometheus", prom.url)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "CRITICAL: error_rate: canary v1.1.0" in result.stdout
    assert "canary aborted: production serves v1.0.0 to all traffic" in result.stdout
    check_aborted(host, server, "error_rate")
    assert "prometheus http://127.0.0.1" in history(host)[-1]["reason"]


def test_canary_with_injected_latency_is_aborted(rollout: Any) -> None:
    host, serve = rollout
    server, prom = serve("v1.1.0:latency_ms=150")
    statuses = load(server, 200)
    assert set(statuses["v1.1.0"]) == {200}  # no errors: only latency is wrong
    scraped(prom, 200)
    result = monitor(host, "--prometheus", prom.url, "--json")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    data = json.loads(result.stdout)
    fired = [f for f in data["findings"] if f["outcome"] == "fired"]
    assert [f["metric"] for f in fired] == ["latency_p95"] and data["action"] == "canary-abort"
    assert fired[0]["value"] >= 0.1 and fired[0]["baseline"] < 0.05
    check_aborted(host, server, "latency_p95")


def test_healthy_canary_is_left_alone(rollout: Any) -> None:
    host, serve = rollout
    server, prom = serve()
    load(server)
    scraped(prom, REQUESTS)
    before = refs(host.dev), refs(host.origin)
    result = monitor(host, "--prometheus", prom.url)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "healthy: no rule fired" in result.stdout
    assert (refs(host.dev), refs(host.origin)) == before
    report = json.loads(
        dev(host, "ab", "report", "support", "production", "--prometheus", prom.url, "--json").stdout
    )
    roles = {r["role"]: r for r in report["versions"]}
    assert roles["canary"]["requests"] > 40 and roles["stable"]["requests"] > 150
    assert report["comparison"]["error_rate"]["p_value"] == 1.0  # no errors on either side
    # nothing moved, so the host has nothing to do and keeps routing to the canary
    assert converge(host, server)["canary"]["action"] == "unchanged"
    assert server.get("/info").json()["canary"]["version"] == "v1.1.0"


def test_metrics_url_mode_without_prometheus(rollout: Any) -> None:
    host, serve = rollout
    server, _ = serve("v1.1.0:error_rate=0.3", prometheus=False)
    load(server, 200)
    result = monitor(host, "--metrics-url", server.url + "/metrics")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "CRITICAL: error_rate: canary v1.1.0" in result.stdout
    check_aborted(host, server, "error_rate")


def test_prometheus_unreachable_moves_nothing(rollout: Any) -> None:
    host, serve = rollout
    _, prom = serve(prometheus=True)
    assert prom is not None
    prom.stop()
    before = refs(host.dev), refs(host.origin)
    result = host.fails(
        4, "monitor", "support", "production", "--once", "--push", "--prometheus", prom.url, cwd=host.dev
    )
    assert "cannot reach Prometheus" in result.stderr
    assert (refs(host.dev), refs(host.origin)) == before


RAMP = (
    "promotion:\n  production:\n    after: [staging]\n"
    "    canary: {soak: 0s, min_samples: 40, ramp: [{percent: 30, soak: 0s}, {percent: 60, soak: 0s}]}\n"
)


def test_a_healthy_canary_walks_its_ramp_on_origin_and_the_host_follows(rollout: Any) -> None:
    host, serve = rollout
    cfg = host.dev / "gitmodel.yaml"
    cfg.write_text(cfg.read_text().replace("promotion:\n  production: [staging]\n", RAMP))
    server, prom = serve()
    load(server, 200)
    scraped(prom, 200)
    result = monitor(host, "--prometheus", prom.url)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "ramp step 1/2 at 30% -> step 2/2 at 60% after" in result.stdout
    step = history(host)[-1]
    assert (step["action"], step["percent"]) == ("canary-set", 60)
    assert "requests to v1.1.0 over the last 2m (prometheus http://127.0.0.1" in step["reason"]
    # The step went to origin: the host's next convergence routes 60% to the canary.
    converge(host, server)
    assert server.get("/info").json()["canary"]["percent"] == 60
    load(server, 200)
    scraped(prom, 400)
    result = monitor(host, "--prometheus", prom.url, "--json")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    data = json.loads(result.stdout)
    assert (data["action"], data["moved_to"]) == ("canary-promote", "v1.1.0")
    assert [e["action"] for e in history(host)[-2:]] == ["canary-promote", "canary-end"]
    done = converge(host, server)
    assert done["canary"]["action"] == "off" and host.current() == "v1.1.0"
    assert {ask(server, f"user-{i}")[1] for i in range(40)} == {"v1.1.0"}


QUERY = (
    "  triggers:\n"
    "    - metric: failure_share\n"
    '      query: sum by (version) (increase(gitmodel_errors_total{model="$model"}[$window]))'
    ' / sum by (version) (increase(gitmodel_requests_total{model="$model"}[$window]))\n'
    "      above: 0.2\n"
    "    - metric: answered\n"
    '      query: sum by (version) (increase(gitmodel_requests_total{model="$model"}[$window]))\n'
    "      below: 10\n"
    "      action: alert\n"
)


def test_a_trigger_on_any_prometheus_expression_aborts_the_canary(rollout: Any) -> None:
    host, serve = rollout
    cfg = host.dev / "gitmodel.yaml"
    cfg.write_text(cfg.read_text() + QUERY)  # after the fixture's rollout: section
    server, prom = serve("v1.1.0:error_rate=0.3")
    load(server)
    scraped(prom, REQUESTS)
    result = monitor(host, "--prometheus", prom.url, "--json")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    data = json.loads(result.stdout)
    outcomes = {f["metric"]: f["outcome"] for f in data["findings"]}
    assert outcomes == {"failure_share": "fired", "answered": "ok"}
    fired = next(f for f in data["findings"] if f["metric"] == "failure_share")
    assert 0.2 < fired["value"] < 0.5 and fired["baseline"] == 0
    assert data["action"] == "canary-abort"
    check_aborted(host, server, "failure_share")
