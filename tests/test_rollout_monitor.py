"""monitor and ab report against real HTTP endpoints on 127.0.0.1 and a real registry.

The /metrics pages are real Prometheus text written by the reference server's metrics
class; the Prometheus API answers here are canned (the real Prometheus runs in the
slow end-to-end tests, tests/test_rollout_e2e.py).
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import pytest
from plugin.registry import Registry, refs
from plugin.rollout import exposition, http_server, metrics_page, prom_vector
from plugin.server import free_port

from gitmodel import config
from gitmodel.rollout.config import RolloutConfig
from gitmodel.rollout.metrics_source import Observation, ScrapeSource
from gitmodel.rollout.monitor import Monitor

HEALTHY = {
    "v1.0.0": {"ok": [0.02] * 900, "errors": [0.02] * 9, "tokens": (9000, 9000)},
    "v1.1.0": {"ok": [0.02] * 200, "errors": [0.02] * 2, "tokens": (2000, 2000)},
}
FAILING = {"v1.0.0": {"ok": [0.02] * 900}, "v1.1.0": {"ok": [0.02] * 140, "errors": [0.02] * 60}}
SLOW = {"v1.0.0": {"ok": [0.02] * 900}, "v1.1.0": {"ok": [0.4] * 200}}
TOKENS = {
    "v1.0.0": {"ok": [0.02] * 900, "tokens": (9000, 9000)},
    "v1.1.0": {"ok": [0.02] * 200, "tokens": (6000, 6000)},
}
FEW = {"v1.0.0": {"ok": [0.02] * 900}, "v1.1.0": {"errors": [0.02] * 40}}


@pytest.fixture
def canary(model: Registry) -> Registry:
    model.ok("canary", "start", "support", "v1.1.0", "production", "--percent", "10")
    return model


def page(versions: dict[str, Any]) -> Any:
    return http_server(metrics_page(lambda: exposition("support", versions)))


def canary_of(registry: Registry) -> Any:
    return json.loads(registry.ok("canary", "status", "support", "production", "--json").stdout)["canary"]


def test_failing_canary_is_aborted_with_the_rule_and_numbers(canary: Registry) -> None:
    with page(FAILING) as url:
        result = canary.run("monitor", "support", "production", "--once", "--metrics-url", url + "/metrics")
    assert result.exit_code == 1, result.stderr
    out = result.stdout
    assert "CRITICAL: error_rate: canary v1.1.0 30.00% > 5.00% (stable v1.0.0 0.00%)" in out
    assert "canary aborted: production serves v1.0.0 to all traffic; tag support#production-canary!#5" in out
    assert canary_of(canary) is None
    last = json.loads(canary.ok("history", "support", "--json").stdout)["events"][-1]
    assert last["action"] == "canary-abort" and last["actor"] == "Ada Tester <ada@example.com>"
    assert last["reason"].startswith("monitor: error_rate: canary v1.1.0 30.00% > 5.00%")
    assert "200 requests to v1.1.0, 900 to v1.0.0 since the server started (scrape http" in last["reason"]
    msg = canary.run("canary", "status", "support", "production").stdout
    assert "no canary" in msg


def test_latency_rule_compares_with_stable(canary: Registry) -> None:
    with page(SLOW) as url:
        result = canary.run(
            "monitor", "support", "production", "--once", "--metrics-url", url + "/metrics", "--json"
        )
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["status"] == "critical" and data["action"] == "canary-abort"
    fired = [f for f in data["findings"] if f["outcome"] == "fired"]
    assert [f["metric"] for f in fired] == ["latency_p95"]
    assert fired[0]["value"] > 1.5 * fired[0]["baseline"] == pytest.approx(fired[0]["limit"])
    assert data["tags"] == ["support#production-canary!#5"]


def test_healthy_canary_is_left_alone(canary: Registry) -> None:
    before = refs(canary.root)
    with page(HEALTHY) as url:
        result = canary.run("monitor", "support", "production", "--once", "--metrics-url", url + "/metrics")
    assert result.exit_code == 0, result.stdout
    assert "healthy: no rule fired (3 checked)" in result.stdout
    assert "STABLE v1.0.0" in result.stdout and "CANARY v1.1.0" in result.stdout
    assert refs(canary.root) == before and canary_of(canary) == "v1.1.0"


def test_alert_prints_and_moves_nothing(canary: Registry) -> None:
    before = refs(canary.root)
    with page(TOKENS) as url:
        result = canary.run("monitor", "support", "production", "--once", "--metrics-url", url + "/metrics")
    assert result.exit_code == 1
    assert "ALERT: tokens_per_request: canary v1.1.0 60 > 2 × stable = 40 (stable v1.0.0 20)" in result.stdout
    assert "alert only: nothing moved" in result.stdout
    assert refs(canary.root) == before


def test_too_few_samples_moves_nothing(canary: Registry) -> None:
    before = refs(canary.root)
    with page(FEW) as url:
        result = canary.run("monitor", "support", "production", "--once", "--metrics-url", url + "/metrics")
    assert result.exit_code == 0
    assert (
        "too few samples: canary v1.1.0 has 40 requests in the window, 100 are needed before any "
        "rule judges it; nothing moved"
    ) in result.stdout
    assert refs(canary.root) == before


def test_without_canary_a_critical_trigger_rolls_the_environment_back(model: Registry) -> None:
    model.ok("promote", "support", "v1.1.0", "production")
    bad = {"v1.1.0": {"ok": [0.02] * 100, "errors": [0.02] * 100}}
    with page(bad) as url:
        result = model.run("monitor", "support", "production", "--once", "--metrics-url", url + "/metrics")
    assert result.exit_code == 1, result.stderr
    words = "CRITICAL: error_rate: serving v1.1.0 50.00% > 5.00% (no stable version side by side)"
    assert words in result.stdout
    assert "rolled back: production -> support v1.0.0 (was v1.1.0)" in result.stdout
    last = json.loads(model.ok("history", "support", "--json").stdout)["events"][-1]
    assert (last["action"], last["version"], last["from"]) == ("rollback", "v1.0.0", "v1.1.0")
    assert last["reason"].startswith("monitor: error_rate")


@pytest.mark.parametrize("flag", ["--metrics-url", "--prometheus"])
def test_unreachable_source_exits_4_and_moves_nothing(canary: Registry, flag: str) -> None:
    before = refs(canary.root)
    url = f"http://127.0.0.1:{free_port()}" + ("/metrics" if flag == "--metrics-url" else "")
    result = canary.fails(4, "monitor", "support", "production", "--once", flag, url)
    assert "cannot reach" in result.stderr and "nothing was moved" in result.stderr
    assert canary.fails(4, "ab", "report", "support", "production", flag, url)
    assert refs(canary.root) == before


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--metrics-url", "http://127.0.0.1:1/metrics", "--prometheus", "http://127.0.0.1:1"], "not both"),
        ([], "no metrics source"),
        (["--prometheus", "http://127.0.0.1:1", "--window", "soon"], "not a duration"),
    ],
)
def test_source_usage_errors(canary: Registry, args: list[str], words: str) -> None:
    assert words in canary.fails(2, "monitor", "support", "production", "--once", *args).stderr


def test_unknown_trigger_metric_is_a_usage_error(canary: Registry) -> None:
    cfg = canary.root / "gitmodel.yaml"
    cfg.write_text(cfg.read_text() + "rollout:\n  triggers:\n    - {metric: gpu_temp, above: 90}\n")
    before = refs(canary.root)
    result = canary.fails(
        2, "monitor", "support", "production", "--once", "--prometheus", "http://127.0.0.1:1"
    )
    assert "gitmodel.yaml: rollout.triggers.0.metric must be one of error_rate" in result.stderr
    assert refs(canary.root) == before


def test_config_triggers_replace_the_defaults(canary: Registry) -> None:
    cfg = canary.root / "gitmodel.yaml"
    cfg.write_text(
        cfg.read_text() + "rollout:\n  min_samples: 10\n  triggers:\n"
        "    - {metric: error_rate, above: 0.5, action: alert}\n"
    )
    with page(FAILING) as url:  # 30% errors: under this config's 50%
        result = canary.run("monitor", "support", "production", "--once", "--metrics-url", url + "/metrics")
    assert result.exit_code == 0 and "healthy: no rule fired (1 checked)" in result.stdout


def test_loop_is_bounded_by_rounds(canary: Registry) -> None:
    with page(HEALTHY) as url:
        result = canary.run(
            "monitor",
            "support",
            "production",
            "--rounds",
            "2",
            "--interval",
            "0.1",
            "--metrics-url",
            url + "/metrics",
            "--json",
        )
    assert result.exit_code == 0
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["status"] for r in lines] == ["healthy", "healthy"]


def test_loop_stops_after_a_critical_move(canary: Registry) -> None:
    with page(FAILING) as url:
        result = canary.run(
            "monitor",
            "support",
            "production",
            "--rounds",
            "5",
            "--interval",
            "0.1",
            "--metrics-url",
            url + "/metrics",
            "--json",
        )
    assert result.exit_code == 1
    assert [json.loads(x)["action"] for x in result.stdout.splitlines()] == ["canary-abort"]


class FakeTime:
    """A clock that moves only when slept on, or when a round takes time."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class SlowSource:
    """A real scrape that takes 5 s of the fake clock per round."""

    def __init__(self, url: str, rcfg: RolloutConfig, fake: FakeTime) -> None:
        self.scrape, self.fake = ScrapeSource(url + "/metrics", rcfg.names), fake

    def read(self, model: str) -> Observation:
        self.fake.now += 5
        return self.scrape.read(model)


def _monitor(registry: Registry, url: str, fake: FakeTime, interval: float = 60.0) -> Monitor:
    rcfg = config.load(registry.root).rollout
    source = SlowSource(url, rcfg, fake)
    return Monitor(
        registry.root, "support", "production", source, rcfg, interval, clock=fake.clock, sleep=fake.sleep
    )


def test_monitor_run_keeps_its_cadence_and_stops_after_rounds(canary: Registry) -> None:
    fake, seen = FakeTime(), []
    with page(HEALTHY) as url:
        code = _monitor(canary, url, fake).run(3, seen.append)
    assert code == 0 and [r.judgement.status for r in seen] == ["healthy"] * 3
    assert fake.slept == [55.0, 55.0]  # none after the last round


def test_monitor_run_stops_after_a_move_and_never_sleeps_negative(canary: Registry) -> None:
    fake, seen = FakeTime(), []
    with page(FAILING) as url:
        code = _monitor(canary, url, fake, interval=2.0).run(None, seen.append)
    assert code == 1 and [r.action for r in seen] == ["canary-abort"] and fake.slept == []
    with page(HEALTHY) as url:
        _monitor(canary, url, fake, interval=2.0).run(2, seen.append)
    assert fake.slept == [0.0]  # the round took longer than the interval: start the next at once


def test_window_scrapes_twice_and_judges_the_difference(canary: Registry) -> None:
    state = {"calls": 0}

    def text() -> str:
        state["calls"] += 1
        # First scrape: an old burst of canary errors; second: only healthy traffic since.
        if state["calls"] == 1:
            return exposition("support", FAILING)
        later = {"v1.0.0": {"ok": [0.02] * 1800}, "v1.1.0": {"ok": [0.02] * 340, "errors": [0.02] * 60}}
        return exposition("support", later)

    with http_server(metrics_page(text)) as url:
        result = canary.run(
            "monitor",
            "support",
            "production",
            "--once",
            "--metrics-url",
            url + "/metrics",
            "--window",
            "1s",
            "--json",
        )
    assert result.exit_code == 0, result.stdout
    data = json.loads(result.stdout)
    assert data["window"] == "1s" and state["calls"] == 2
    assert data["subject"]["requests"] == 200 and data["subject"]["errors"] == 0


def test_ab_report(canary: Registry) -> None:
    versions = {
        "v1.0.0": {"ok": [0.02] * 950, "errors": [0.02] * 50},
        "v1.1.0": {"ok": [0.02] * 450 + [0.2] * 500, "errors": [0.02] * 5},
        "v0.9.0": {"ok": [0.02] * 3},
    }
    with page(versions) as url:
        data = json.loads(
            canary.ok(
                "ab", "report", "support", "production", "--metrics-url", url + "/metrics", "--json"
            ).stdout
        )
        text = canary.ok("ab", "report", "support", "production", "--metrics-url", url + "/metrics").stdout
    assert [(r["version"], r["role"], r["requests"]) for r in data["versions"]] == [
        ("v1.0.0", "stable", 1000),
        ("v1.1.0", "canary", 955),
        ("v0.9.0", "other", 3),
    ]
    err, lat = data["comparison"]["error_rate"], data["comparison"]["latency"]
    assert err["significant"] is True and err["p_value"] < 1e-6 and "Fisher" in err["test"]
    assert lat["significant"] is True and "chi-square" in lat["test"]
    assert data["advice"] == "the canary is significantly worse in latency: abort it"
    assert "error rate: p = " in text and "significant at alpha 0.05" in text
    assert "v1.1.0     canary" in text


def test_ab_report_without_canary(model: Registry) -> None:
    with page({"v1.0.0": {"ok": [0.02] * 10}}) as url:
        data = json.loads(
            model.ok(
                "ab", "report", "support", "production", "--metrics-url", url + "/metrics", "--json"
            ).stdout
        )
    assert data["comparison"] is None and "no canary" in data["advice"]


def test_prometheus_api_answers_are_read_per_version(canary: Registry) -> None:
    seen: list[str] = []

    def answer(path: str) -> tuple[int, str, str]:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)["query"][0]
        seen.append(query)
        if "_bucket" in query:
            rows = [
                ({"version": v, "le": le}, n)
                for v, n in (("v1.0.0", 900.0), ("v1.1.0", 200.0))
                for le, n in (("0.025", n), ("+Inf", n))
            ]
        elif "errors" in query:
            rows = [({"version": "v1.1.0"}, 50.4)]
        elif "requests" in query:
            rows = [({"version": "v1.0.0"}, 900.0), ({"version": "v1.1.0"}, 200.0)]
        else:
            rows = []
        return 200, "application/json", prom_vector(rows)

    with http_server(answer) as url:
        result = canary.run(
            "monitor", "support", "production", "--once", "--prometheus", url, "--window", "2m", "--json"
        )
    data = json.loads(result.stdout)
    assert result.exit_code == 1 and data["action"] == "canary-abort" and data["window"] == "2m"
    assert data["subject"]["error_rate"] == pytest.approx(0.252)
    assert 'sum by (version) (increase(gitmodel_requests_total{model="support"}[120s]))' in seen
    buckets = "gitmodel_request_duration_seconds_bucket"
    assert f'sum by (version, le) (increase({buckets}{{model="support"}}[120s]))' in seen


def test_prometheus_error_answer_is_reported(canary: Registry) -> None:
    def answer(path: str) -> tuple[int, str, str]:
        return 400, "application/json", json.dumps({"status": "error", "error": "parse error at char 5"})

    before = refs(canary.root)
    with http_server(answer) as url:
        result = canary.fails(2, "monitor", "support", "production", "--once", "--prometheus", url)
    assert "parse error at char 5" in result.stderr
    assert refs(canary.root) == before
