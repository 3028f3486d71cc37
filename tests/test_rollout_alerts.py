"""Alert actions (a webhook, a local command) and triggers on any Prometheus expression.

Webhooks go to a loopback server that records what it was POSTed; commands are real
shell commands from the local configuration; Prometheus' API answers are canned here
(the real Prometheus judges a query trigger in tests/test_rollout_e2e.py).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from plugin.registry import Registry, refs
from plugin.rollout import exposition, http_server, metrics_page, prom_vector, receiver, user_config

from gitmodel import localconfig
from gitmodel.errors import UsageError
from gitmodel.rollout import config as rconfig
from gitmodel.rollout.alerts import notify
from gitmodel.rollout.triggers import VersionStats, judge
from gitmodel.validate import Field

FAILING = {"v1.0.0": {"ok": [0.02] * 900}, "v1.1.0": {"ok": [0.02] * 140, "errors": [0.02] * 60}}
TOKENS = {
    "v1.0.0": {"ok": [0.02] * 900, "tokens": (9000, 9000)},
    "v1.1.0": {"ok": [0.02] * 200, "tokens": (6000, 6000)},
}


# --- triggers: parsing and judging -------------------------------------------------------------


def trigger(**raw: Any) -> rconfig.Trigger:
    return rconfig.parse_trigger(raw, Field("gitmodel.yaml", "rollout", "triggers", 0))


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ({"metric": "error_rate", "above": 0.1, "below": 0.2}, "exactly one of `above`, `below`"),
        ({"metric": "error_rate", "ratio": 1}, "ratio must not be 1"),
        ({"metric": "error_rate", "query": "up", "above": 1}, "metric must name the query's figure"),
        ({"metric": "User Rating", "query": "up", "below": 1}, "metric must name the query's figure"),
        ({"metric": "rating", "query": "up\nor down", "below": 1}, "query must be one PromQL expression"),
        ({"metric": "rating", "query": "", "below": 1}, "query must be a non-empty string"),
        ({"metric": "rating", "below": 1}, "metric must be one of error_rate"),
    ],
)
def test_bad_triggers_name_the_field(raw: dict[str, Any], words: str) -> None:
    with pytest.raises(UsageError) as err:
        trigger(**raw)
    assert words in str(err.value) and str(err.value).startswith("gitmodel.yaml: rollout.triggers.0")


def stats(version: str, requests: float, **figures: float) -> VersionStats:
    from gitmodel.rollout.metrics_source import VersionCounts

    return VersionStats.of(VersionCounts(version, requests), figures)


@pytest.mark.parametrize(
    ("rule", "value", "stable", "outcome", "message"),
    [
        ({"below": 3.5}, 3.2, None, "fired", "user_rating: serving v1.1.0 3.2 < 3.5"),
        ({"below": 3.5}, 3.5, None, "ok", "user_rating: serving v1.1.0 3.5 >= 3.5"),
        ({"above": 0.02}, 0.03, None, "fired", "user_rating: serving v1.1.0 0.03 > 0.02"),
        ({"ratio": 0.9}, 3.0, 4.0, "fired", "canary v1.1.0 3 < 0.9 × stable = 3.6 (stable v1.0.0 4)"),
        ({"ratio": 0.9}, 3.8, 4.0, "ok", "canary v1.1.0 3.8 >= 0.9 × stable = 3.6"),
        ({"ratio": 1.2}, 5.0, 4.0, "fired", "canary v1.1.0 5 > 1.2 × stable = 4.8"),
    ],
)
def test_query_figures_are_judged_above_below_and_as_ratios(
    rule: dict[str, float], value: float, stable: float | None, outcome: str, message: str
) -> None:
    t = trigger(metric="user_rating", query="avg by (version) (rating)", **rule)
    base = stats("v1.0.0", 500, user_rating=stable) if stable is not None else None
    j = judge((t,), stats("v1.1.0", 500, user_rating=value), base, 100)
    assert j.findings[0].outcome == outcome and message in j.findings[0].message
    assert j.status == ("critical" if outcome == "fired" else "healthy")


def test_a_query_trigger_without_its_figure_is_skipped_and_says_why() -> None:
    t = trigger(metric="user_rating", query="avg by (version) (rating)", below=3.5)
    j = judge((t,), stats("v1.1.0", 500), None, 100)
    assert j.findings[0].outcome == "skipped" and "query triggers need --prometheus" in j.findings[0].message


# --- local configuration -----------------------------------------------------------------------


def test_alerts_come_from_local_files_the_users_over_the_hosts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, hermetic: Path
) -> None:
    host = hermetic / "etc-gitmodel" / "host.yaml"
    host.parent.mkdir(parents=True, exist_ok=True)
    host.write_text(
        "commands: {page: /bin/true}\n"
        "alerts: {webhook: 'http://127.0.0.1:9/host', command: page, timeout: 3}\n"
    )
    assert localconfig.alerts().webhook == "http://127.0.0.1:9/host"
    assert (localconfig.alerts().command, localconfig.alerts().line) == ("page", "/bin/true")
    user_config(monkeypatch, tmp_path, "alerts: {webhook: 'https://hooks.example.com/x'}\n")
    merged = localconfig.alerts()
    assert (merged.webhook, merged.command, merged.timeout) == ("https://hooks.example.com/x", "page", 10.0)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            "alerts: {command: page}\n",
            "alerts.command names 'page', which `commands:` in this file does not define",
        ),
        ("alerts: {webhook: ftp://x}\n", "alerts.webhook must be an http:// or https:// URL"),
        ("alerts: {hook: 'http://x'}\n", "alerts.hook is not a setting under alerts; did you mean"),
        ("commands: {page: x}\nalerts: {command: 'rm -rf /'}\n", "alerts.command names 'rm -rf /', which"),
    ],
)
def test_bad_alert_settings_name_the_field(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str, words: str
) -> None:
    path = user_config(monkeypatch, tmp_path, text)
    with pytest.raises(UsageError) as err:
        localconfig.alerts()
    assert words in str(err.value) and str(path) in str(err.value)


# --- the actions -------------------------------------------------------------------------------


def test_webhook_and_command_get_the_round(tmp_path: Path) -> None:
    out = tmp_path / "paged.json"
    with receiver(path="/hook") as (url, got):
        said = notify(
            localconfig.Alerts(url, "page", f"cat > {out}", 5.0, "test"),
            {"summary": "support production critical"},
        )
    assert said == [f"webhook {url}: HTTP 200", "command page: exit 0"]
    assert [(p["path"], p["headers"]["Content-Type"], p["json"]) for p in got] == [
        ("/hook", "application/json", {"summary": "support production critical"})
    ]
    assert json.loads(out.read_text()) == {"summary": "support production critical"}


def test_failing_actions_are_reported_not_raised(tmp_path: Path) -> None:
    with receiver(500, path="/hook") as (url, _):
        said = notify(localconfig.Alerts(url, "page", "echo nope >&2; exit 3", 5.0, "t"), {})
    assert said == [f"webhook {url} failed: HTTP 500", "command page failed: exit 3 (nope)"]
    said = notify(localconfig.Alerts("http://127.0.0.1:9/x", None, None, 2.0, "t"), {})
    assert said[0].startswith("webhook http://127.0.0.1:9/x failed: http://127.0.0.1:9/x did not answer")


def test_a_hung_command_is_killed_with_its_children_at_the_timeout(tmp_path: Path) -> None:
    marker = tmp_path / "late"
    started = time.monotonic()
    said = notify(localconfig.Alerts(None, "page", f"(sleep 3; touch {marker}) & sleep 30", 0.5, "t"), {})
    assert said == ["command page killed after 0.5s"] and time.monotonic() - started < 3
    time.sleep(3.2)
    assert not marker.exists()  # the background child died with its group


# --- monitor end to end (real registry, real /metrics page, real webhook and command) ----------


@pytest.fixture
def canary(model: Registry) -> Registry:
    model.ok("canary", "start", "support", "v1.1.0", "production", "--percent", "10")
    return model


def test_monitor_posts_and_runs_the_alert_actions_when_a_rule_fires(
    canary: Registry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    paged = tmp_path / "paged.json"
    with (
        receiver(path="/hook") as (hook, got),
        http_server(metrics_page(lambda: exposition("support", FAILING))) as url,
    ):
        user_config(
            monkeypatch,
            tmp_path,
            f"commands: {{page-oncall: 'cat > {paged}'}}\n"
            f"alerts: {{webhook: '{hook}', command: page-oncall}}\n",
        )
        result = canary.run("monitor", "support", "production", "--once", "--metrics-url", url + "/metrics")
    assert result.exit_code == 1, result.stdout + result.stderr
    assert f"  notified: webhook {hook}: HTTP 200" in result.stdout
    assert "  notified: command page-oncall: exit 0" in result.stdout
    [posted] = [g["json"] for g in got]
    assert posted == json.loads(paged.read_text())
    assert posted["event"] == "gitmodel-monitor" and posted["action"] == "canary-abort"
    assert posted["summary"].startswith(
        "support production critical: error_rate: canary v1.1.0 30.00% > 5.00%"
    )
    assert posted["summary"].endswith("; canary v1.1.0 aborted")
    assert posted["notified"] == []  # the payload is the round before its own notifications


def test_a_healthy_round_notifies_nobody(
    canary: Registry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    healthy = {"v1.0.0": {"ok": [0.02] * 900}, "v1.1.0": {"ok": [0.02] * 200}}
    with (
        receiver(path="/hook") as (hook, got),
        http_server(metrics_page(lambda: exposition("support", healthy))) as url,
    ):
        user_config(monkeypatch, tmp_path, f"alerts: {{webhook: '{hook}'}}\n")
        result = canary.run("monitor", "support", "production", "--once", "--metrics-url", url + "/metrics")
    assert result.exit_code == 0 and got == [] and "notified" not in result.stdout


def test_a_query_trigger_reads_prometheus_and_aborts(canary: Registry) -> None:
    """`$model` and `$window` are filled in; the answer is read per version."""
    asked: list[str] = []

    def answer(path: str) -> tuple[int, str, str]:
        from urllib.parse import parse_qs, urlsplit

        q = parse_qs(urlsplit(path).query)["query"][0]
        asked.append(q)
        if "user_rating" in q:
            rows = [({"version": "v1.0.0"}, 4.4), ({"version": "v1.1.0"}, 3.1)]
        elif "requests" in q:
            rows = [({"version": "v1.0.0"}, 900.0), ({"version": "v1.1.0"}, 200.0)]
        else:
            rows = []
        return 200, "application/json", prom_vector(rows)

    cfg = canary.root / "gitmodel.yaml"
    cfg.write_text(
        cfg.read_text() + "rollout:\n  window: 10m\n  triggers:\n    - metric: user_rating\n"
        '      query: avg by (version) (avg_over_time(user_rating{model="$model"}[$window]))\n'
        "      below: 3.5\n"
    )
    before = refs(canary.root)
    with http_server(answer) as prom:
        result = canary.run("monitor", "support", "production", "--once", "--prometheus", prom)
    assert result.exit_code == 1, result.stdout + result.stderr
    assert 'avg by (version) (avg_over_time(user_rating{model="support"}[600s]))' in asked
    assert "CRITICAL: user_rating: canary v1.1.0 3.1 < 3.5 (stable v1.0.0 4.4)" in result.stdout
    assert "user_rating" in result.stdout.split("CRITICAL")[0]  # a row of the table
    assert refs(canary.root) != before
    last = json.loads(canary.ok("history", "support", "--json").stdout)["events"][-1]
    assert last["action"] == "canary-abort" and last["reason"].startswith(
        "monitor: user_rating: canary v1.1.0 3.1 < 3.5"
    )
