"""The watch period after a full promotion: the version served before is the ratio baseline.

The pure parts first (which move starts a watch, its expiry, the judge with a previous
version as baseline, an insufficient baseline), then `monitor` on a real registry against
a canned Prometheus API that answers by its `time=` parameter; the real Prometheus runs
in the slow end-to-end test at the bottom.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from plugin.registry import Registry, refs
from plugin.rollout import http_server, prom_vector

from gitmodel.refs import Action, Ref, Version
from gitmodel.registry import Event, ModelState
from gitmodel.rollout import config as rconfig
from gitmodel.rollout.config import DEFAULT_TRIGGERS, Trigger
from gitmodel.rollout.metrics_source import Observation, PrometheusSource, ScrapeSource, VersionCounts
from gitmodel.rollout.triggers import VersionStats, judge
from gitmodel.rollout.watch import Watch, baseline, stamp, watch_of
from gitmodel.validate import Field

ENV = "production"
HOUR = 3600.0


# --- which move starts a watch (pure: the registry state built in memory) ---------------------


def v(n: int) -> Version:
    return Version.parse(f"v1.{n}.0")


def state_of(moves: str) -> ModelState:
    """`1 2 -2` : assign v1.1.0, assign v1.2.0, unassign v1.2.0; move k is dated 1000 + k."""
    state = ModelState("support")
    for n in range(1, 5):
        ref = Ref("support", Action.REGISTER, version=v(n))
        state.versions[v(n)] = Event(ref, ref.tag(), f"c{n}", "", n, "")
    for k, word in enumerate(moves.split(), 1):
        action = Action.UNASSIGN if word.startswith("-") else Action.ASSIGN
        ref = Ref("support", action, stage=ENV, counter=k)
        state.assignments.append(Event(ref, ref.tag(), f"c{abs(int(word))}", "", 1000 + k, ""))
    return state


@pytest.mark.parametrize(
    ("moves", "watched"),
    [
        ("", None),
        ("1", None),  # a first version: nothing served before it
        ("1 2", (2, 1)),  # promoted over v1.1.0
        ("1 2 3", (3, 2)),
        ("1 2 1", None),  # a rollback returns: no watch
        ("1 2 1 2", (2, 1)),  # re-promoted after its rollback: watched again
        ("1 2 3 1", None),  # a return two steps back
        ("1 2 -2", None),  # an unassignment is no promotion
        ("1 2 -2 3", (3, 1)),  # the baseline is what served before: v1.2.0 was taken off
    ],
)
def test_a_watch_starts_at_a_promotion_over_another_version(
    moves: str, watched: tuple[int, int] | None
) -> None:
    w = watch_of(state_of(moves), ENV, HOUR, now=2000.0)
    if watched is None:
        assert w is None
        return
    assert w is not None and (w.version, w.previous) == (v(watched[0]), v(watched[1]))
    assert w.at == 1000 + len(moves.split()) and w.tag == f"support#production#{len(moves.split())}"


def test_no_watch_when_none_is_configured() -> None:
    assert watch_of(state_of("1 2"), ENV, 0.0, now=1003.0) is None
    assert watch_of(state_of("1 2"), "staging", HOUR, now=1003.0) is None


def test_the_watch_expires_after_its_period() -> None:
    state = state_of("1 2")  # promoted at 1002
    w = watch_of(state, ENV, 60.0, now=1002.0 + 59.5)
    assert w is not None and w.active and w.remaining == pytest.approx(0.5)
    gone = watch_of(state, ENV, 60.0, now=1002.0 + 60 + 300)
    assert gone is not None and not gone.active and gone.remaining == 0
    assert gone.ended == (
        "no canary, and the watch after v1.2.0's promotion ended 5m ago (rollout.watch 1m): no baseline"
    )


# --- the baseline a watch gives (pure but for a fake source) ----------------------------------


class PastOnly:
    """A source that records the moments it is asked about."""

    def __init__(self, versions: dict[str, VersionCounts]) -> None:
        self.versions, self.asked = versions, []  # type: list[float]

    def read(self, model: str) -> Observation:
        raise AssertionError("the baseline reads the past only")

    def read_at(self, model: str, at: float) -> Observation:
        self.asked.append(at)
        return Observation("fake", "2m", self.versions)


def watch(now: float, period: float = HOUR) -> Watch:
    return Watch("support#production#4", v(1), v(0), 1000.0, period, now)


def test_the_baseline_is_read_at_the_promotion_and_needs_min_samples() -> None:
    src = PastOnly({"v1.0.0": VersionCounts("v1.0.0", 150.0)})
    got = baseline(watch(now=1100.0), src, "support", 100)
    assert src.asked == [1000.0] and got.state == "judged" and got.observation is not None
    few = baseline(watch(now=1100.0), src, "support", 200)
    assert few.state == "insufficient"
    data = got.to_json(100)
    assert (data["previous"], data["window"], data["window_end"]) == ("v1.0.0", "2m", stamp(1000.0))
    assert data["remaining"] == HOUR - 100 and data["baseline"] == "judged"


def test_after_the_period_or_without_prometheus_there_is_no_baseline() -> None:
    src = PastOnly({})
    ended = baseline(watch(now=1000.0 + HOUR + 1), src, "support", 100)
    assert ended.state == "ended" and ended.observation is None and src.asked == []
    scrape = baseline(watch(now=1100.0), ScrapeSource("http://127.0.0.1:1/metrics"), "support", 100)
    assert scrape.state == "unavailable" and "needs --prometheus" in scrape.why


# --- the judge with the previous version as baseline (pure) -----------------------------------


def vs(version: str, n: int, latency: float = 0.02, **figures: float) -> VersionStats:
    buckets = ((0.025, n if latency <= 0.025 else 0), (0.5, n), (float("inf"), n))
    return VersionStats.of(VersionCounts(version, float(n), 0.0, buckets), figures)


def test_ratio_rules_judge_against_the_version_before_the_promotion() -> None:
    j = judge(DEFAULT_TRIGGERS, vs("v1.1.0", 200, 0.3), vs("v1.0.0", 900), 100, basis="previous")
    assert j.status == "critical" and j.note == "" and j.basis == "previous"
    lat = j.first("rollback")
    assert lat is not None and lat.message == (
        "latency_p95: serving v1.1.0 476.2 ms > 1.5 × previous = 35.6 ms "
        "(previous v1.0.0 23.8 ms before the promotion)"
    )
    assert j.to_json()["baseline_role"] == "previous" and j.to_json()["baseline"]["version"] == "v1.0.0"


def test_an_insufficient_baseline_fires_no_ratio_rule_and_says_so() -> None:
    j = judge(DEFAULT_TRIGGERS, vs("v1.1.0", 200, 0.3), vs("v1.0.0", 40), 100, basis="previous")
    assert j.status == "healthy"
    assert j.note == (
        "insufficient baseline: previous v1.0.0 had 40 requests in its last window before the "
        "promotion (100 needed); ratio rules not judged"
    )
    skipped = {f.trigger.metric: f.message for f in j.findings if f.outcome == "skipped"}
    assert skipped["latency_p95"] == (
        "latency_p95: previous v1.0.0 has 40 requests in its last window before the promotion "
        "(needs 100); rule skipped"
    )
    # absolute rules still judge the serving version
    bad = judge(
        [Trigger("error_rate", "above", -1.0, "rollback"), *DEFAULT_TRIGGERS],
        vs("v1.1.0", 200),
        vs("v1.0.0", 40),
        100,
        basis="previous",
    )
    assert bad.status == "critical" and "insufficient baseline" in bad.note


def test_query_triggers_with_ratio_use_the_previous_version_too() -> None:
    rating = Trigger("user_rating", "ratio", 0.9, "rollback", "avg by (version) (rating)")
    j = judge(
        (rating,),
        vs("v1.1.0", 200, user_rating=3.0),
        vs("v1.0.0", 900, user_rating=4.0),
        100,
        basis="previous",
    )
    assert j.status == "critical"
    assert j.findings[0].message == (
        "user_rating: serving v1.1.0 3 < 0.9 × previous = 3.6 (previous v1.0.0 4 before the promotion)"
    )


def test_without_a_baseline_ratio_rules_are_skipped_with_the_reason_given() -> None:
    j = judge(DEFAULT_TRIGGERS, vs("v1.1.0", 200, 0.3), None, 100, no_baseline=watch(now=9e9).ended)
    lat = next(f for f in j.findings if f.trigger.metric == "latency_p95")
    assert lat.outcome == "skipped" and "watch after v1.1.0's promotion ended" in lat.message


@pytest.mark.parametrize(("raw", "seconds"), [("2h", 7200.0), ("250ms", 0.25), (0, 0.0), (90, 90.0)])
def test_watch_is_a_duration_in_the_rollout_section(raw: object, seconds: float) -> None:
    assert rconfig.parse({"watch": raw}).watch == seconds
    assert rconfig.parse(None).watch == 0.0  # off unless configured


@pytest.mark.parametrize("raw", ["soon", -1, "1 week", True])
def test_a_bad_watch_names_the_field(raw: object) -> None:
    with pytest.raises(Exception, match=r"rollout\.watch"):
        rconfig.parse({"watch": raw}, Field("gitmodel.yaml", "rollout"))


# --- monitor on a real registry, Prometheus' API canned ---------------------------------------


def rows_for(version: str, n: float, slow: bool) -> dict[str, list[tuple[dict[str, str], float]]]:
    fast = 0.0 if slow else n
    return {
        "requests": [({"version": version}, n)],
        "bucket": [
            ({"version": version, "le": le}, c) for le, c in (("0.025", fast), ("0.5", n), ("+Inf", n))
        ],
    }


@pytest.fixture
def promoted(model: Registry) -> Iterator[Registry]:
    """v1.1.0 promoted over v1.0.0 in production, with a one-hour watch."""
    cfg = model.root / "gitmodel.yaml"
    cfg.write_text(cfg.read_text() + "rollout:\n  window: 2m\n  watch: 1h\n")
    model.ok("promote", "support", "v1.1.0", "production")
    yield model


def canned(now_rows: dict[str, Any], past_rows: dict[str, Any], seen: list[dict[str, str]]) -> Any:
    """Answers `now_rows` to a query without `time=`, `past_rows` to one with it."""

    def answer(path: str) -> tuple[int, str, str]:
        params = {k: vals[0] for k, vals in urllib.parse.parse_qs(urllib.parse.urlsplit(path).query).items()}
        seen.append(params)
        rows = past_rows if "time" in params else now_rows
        q = params["query"]
        key = "bucket" if "_bucket" in q else "requests" if "requests_total" in q else None
        return 200, "application/json", prom_vector(rows.get(key, []) if key else [])

    return http_server(answer)


def promotion_time(registry: Registry) -> int:
    events = json.loads(registry.ok("history", "support", "--env", ENV, "--json").stdout)["events"]
    last = events[-1]
    assert last["action"] == "promote"
    from datetime import datetime

    return int(datetime.fromisoformat(last["time"].replace("Z", "+00:00")).timestamp())


def test_a_ratio_rule_in_the_watch_rolls_back_and_records_the_baseline(promoted: Registry) -> None:
    at = promotion_time(promoted)
    seen: list[dict[str, str]] = []
    with canned(rows_for("v1.1.0", 200, slow=True), rows_for("v1.0.0", 900, slow=False), seen) as url:
        before = time.time()
        result = promoted.run("monitor", "support", ENV, "--once", "--prometheus", url, "--json")
        after = time.time()
    assert result.exit_code == 1, (result.stdout, result.stderr)
    data = json.loads(result.stdout)
    assert (data["action"], data["moved_to"], data["stable"]) == ("rollback", "v1.0.0", "v1.1.0")
    assert {p["time"] for p in seen if "time" in p} == {f"{at:.3f}"}  # the baseline, at the promotion
    assert data["baseline"]["version"] == "v1.0.0" and data["baseline_role"] == "previous"
    watch = data["watch"]
    assert (watch["previous"], watch["baseline"], watch["window"]) == ("v1.0.0", "judged", "2m")
    # The promotion was made when the fixture was built (maybe minutes ago on a loaded box):
    # what is left is the hour less the time since, judged while the command ran; the tag
    # may be dated up to a second ahead of the clock.
    assert watch["window_end"] == stamp(at)
    assert 3600 - (after - at) - 1 <= watch["remaining"] <= 3600 - (before - at) + 2
    last = json.loads(promoted.ok("history", "support", "--json").stdout)["events"][-1]
    assert (last["action"], last["version"], last["from"]) == ("rollback", "v1.0.0", "v1.1.0")
    assert (
        "1.5 × previous" in last["reason"]
        and "200 requests to v1.1.0 over the last 2m, 900 to v1.0.0 in its last 2m before the "
        f"promotion at {stamp(at)} (prometheus"
        in last["reason"]
    )
    trigger = _record(promoted, last["tag"])["trigger"]
    assert trigger["rule"] == "latency_p95 > 1.5 × previous" and trigger["baseline_version"] == "v1.0.0"
    assert trigger["baseline_window_end"] == stamp(at) and trigger["value"] > 1.5 * trigger["baseline"]
    assert trigger["promotion"] == "support#production#4"


def _state(repo: Path) -> ModelState:
    from gitmodel.registry import Registry as State

    return State.load_model(repo, "support")


def _record(registry: Registry, tag: str) -> dict[str, Any]:
    return next(e.record for e in _state(registry.root).assignments if e.tag == tag)


def test_the_watch_is_shown_and_an_insufficient_baseline_moves_nothing(promoted: Registry) -> None:
    before = refs(promoted.root)
    seen: list[dict[str, str]] = []
    with canned(rows_for("v1.1.0", 200, slow=True), rows_for("v1.0.0", 30, slow=False), seen) as url:
        result = promoted.run("monitor", "support", ENV, "--once", "--prometheus", url)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    out = result.stdout
    assert "watch after the promotion from v1.0.0 (support#production#4 at " in out
    assert "left; baseline v1.0.0 over its last 2m before it" in out
    assert "PREVIOUS v1.0.0" in out and "SERVING v1.1.0" in out
    assert "insufficient baseline: previous v1.0.0 had 30 requests" in out
    assert "healthy: no rule fired" in out and refs(promoted.root) == before


def test_a_scrape_in_the_watch_says_the_baseline_needs_prometheus(promoted: Registry, tmp_path: Path) -> None:
    from plugin.rollout import exposition, metrics_page

    page = lambda: exposition("support", {"v1.1.0": {"ok": [0.3] * 200}})  # noqa: E731
    with http_server(metrics_page(page)) as url:
        result = promoted.run(
            "monitor", "support", ENV, "--once", "--metrics-url", url + "/metrics", "--json"
        )
    data = json.loads(result.stdout)
    assert result.exit_code == 0 and data["watch"]["baseline"] == "unavailable"
    lat = next(f for f in data["findings"] if f["metric"] == "latency_p95")
    assert lat["outcome"] == "skipped" and "needs --prometheus" in lat["message"]


def test_prometheus_read_at_asks_for_that_moment() -> None:
    seen: list[dict[str, str]] = []
    with canned({}, rows_for("v1.0.0", 5, slow=False), seen) as url:
        obs = PrometheusSource(url, 60.0, queries={"x": "sum by (version) (x[$window])"}).read_at("m", 1234.5)
    assert obs.get("v1.0.0").requests == 5 and len(seen) == 5
    assert {p["time"] for p in seen} == {"1234.500"}


def test_after_the_watch_ratio_rules_are_skipped_again(promoted: Registry) -> None:
    from gitmodel import config
    from gitmodel.rollout.monitor import check

    at = promotion_time(promoted)
    slow = {
        "v1.1.0": VersionCounts("v1.1.0", 200.0, 0.0, ((0.025, 0.0), (0.5, 200.0), (float("inf"), 200.0)))
    }

    class Source(PastOnly):
        def read(self, model: str) -> Observation:
            return Observation("fake", "2m", slow)

    rcfg = config.load(promoted.root).rollout
    before = refs(promoted.root)
    src = Source({"v1.0.0": VersionCounts("v1.0.0", 900.0, 0.0, ((0.025, 900.0), (float("inf"), 900.0)))})
    late = check(promoted.root, "support", ENV, src, rcfg, now=lambda: at + HOUR + 120)
    assert late.action == "none" and late.judgement.status == "healthy" and src.asked == []
    assert late.watch is not None and late.watch.state == "ended" and late.judgement.baseline is None
    lat = next(f for f in late.judgement.findings if f.trigger.metric == "latency_p95")
    assert (
        lat.outcome == "skipped" and "promotion ended 2m ago (rollout.watch 1h): no baseline" in lat.message
    )
    assert refs(promoted.root) == before
    # a second before the end, the same numbers roll back (act=False: judged, not moved)
    inside = check(promoted.root, "support", ENV, src, rcfg, now=lambda: at + HOUR - 1, act=False)
    assert inside.judgement.status == "critical" and src.asked == [float(at)]


def test_after_a_ramps_promotion_the_loop_goes_on_watching(model: Registry) -> None:
    cfg = model.root / "gitmodel.yaml"
    ramp = "    canary: {soak: 0s, min_samples: 100, ramp: [{percent: 10, soak: 0s}]}\n"
    text = cfg.read_text().replace(
        "  production: [staging]\n", "  production:\n    after: [staging]\n" + ramp
    )
    cfg.write_text(text + "rollout:\n  watch: 1h\n")
    model.ok("canary", "start", "support", "v1.1.0", ENV, "--percent", "10")
    from plugin.rollout import exposition, metrics_page

    healthy = {"v1.0.0": {"ok": [0.02] * 900}, "v1.1.0": {"ok": [0.02] * 200}}
    with http_server(metrics_page(lambda: exposition("support", healthy))) as url:
        args = ("--rounds", "3", "--interval", "0.1", "--metrics-url", url + "/metrics", "--json")
        result = model.run("monitor", "support", ENV, *args)
    assert result.exit_code == 0, result.stderr
    seen = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["action"] for r in seen] == ["canary-promote", "none", "none"]
    assert seen[0]["watch"] is None and seen[1]["canary"] is None and seen[1]["stable"] == "v1.1.0"
    watch = seen[1]["watch"]
    assert (watch["promotion"], watch["previous"], watch["baseline"]) == (
        "support#production#5",
        "v1.0.0",
        "unavailable",
    )


# --- end to end: a host, `gitmodel serve`, Debian's Prometheus (slow) -------------------------


def _deploy(host: Any, server: Any = None) -> None:
    """What the host agent does when origin moves: `gitmodel deploy`, reloading the server."""
    flags = ["--reload-url", f"{server.url}/reload", "--info-url", f"{server.url}/info"] if server else []
    host.ok("deploy", ENV, "support", "--root", str(host.root), *flags)


def _load(server: Any, n: int) -> set[str]:
    """n requests, 8 at a time; the versions that answered (all must succeed)."""
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor

    def one(i: int) -> str:
        req = urllib.request.Request(
            server.url + "/v1/completions", data=b'{"prompt": "hi"}', headers={"X-Route-Key": f"u{i}"}
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            return str(r.headers["X-Gitmodel-Version"])

    with ThreadPoolExecutor(8) as pool:
        return set(pool.map(one, range(n)))


@pytest.mark.slow
def test_a_slower_promoted_version_is_rolled_back_in_its_watch_end_to_end(host: Any, tmp_path: Path) -> None:
    """v1.0.0 serves and is measured; v1.1.0 (150 ms slower) is promoted over it and pushed; the
    host deploys it; `monitor --once --push` judges v1.1.0 against v1.0.0's last window before
    the promotion (read from Prometheus at the promotion tag's date), rolls production back on
    origin, and the host's next deploy serves v1.0.0 again.  Times compressed: a 1m window."""
    from plugin.rollout import PrometheusProcess
    from plugin.server import ServerProcess, wait_for

    cfg = host.dev / "gitmodel.yaml"
    cfg.write_text(cfg.read_text() + "rollout:\n  window: 1m\n  min_samples: 40\n  watch: 10m\n")
    host.promote("v1.0.0")
    host.ok("promote", "support", "v1.1.0", "staging", "--push", cwd=host.dev)
    _deploy(host)
    server = ServerProcess(host.root, "support", "--fault=v1.1.0:latency_ms=150", workdir=tmp_path)
    prom = None
    try:
        server.wait_ready()
        prom = PrometheusProcess(tmp_path, [f"127.0.0.1:{server.port}"]).wait_ready()
        total = 'sum(gitmodel_requests_total{model="support"})'
        wait_for(lambda: prom.value('gitmodel_requests_total{version="v1.0.0"}') == 0, timeout=20)
        assert _load(server, 120) == {"v1.0.0"}
        wait_for(lambda: prom.value(total) == 120, timeout=30, step=0.2)
        time.sleep(1.1)  # the promotion's tag is dated to the second: the last scrape falls before it
        host.ok("promote", "support", "v1.1.0", ENV, "--push", cwd=host.dev)
        _deploy(host, server)
        wait_for(lambda: prom.value('gitmodel_requests_total{version="v1.1.0"}') == 0, timeout=20)
        assert _load(server, 120) == {"v1.1.0"}
        wait_for(lambda: prom.value(total) == 240, timeout=30, step=0.2)
        args = ("monitor", "support", ENV, "--once", "--push", "--prometheus", prom.url, "--json")
        result = host.run(*args, cwd=host.dev)
        assert result.exit_code == 1, (result.stdout, result.stderr)
        data = json.loads(result.stdout)
        assert (data["action"], data["moved_to"]) == ("rollback", "v1.0.0")
        fired = [f for f in data["findings"] if f["outcome"] == "fired"]
        assert [(f["metric"], f["rule"]) for f in fired] == [("latency_p95", "latency_p95 > 1.5 × previous")]
        assert fired[0]["value"] > 0.1 and fired[0]["baseline"] < 0.05
        watch = data["watch"]
        assert watch["previous"] == "v1.0.0" and watch["baseline"] == "judged" and watch["window"] == "1m"
        assert data["baseline"]["requests"] >= 100  # increase() extrapolates: 120 read as up to ~180
        state = _state(host.dev)
        last = state.stage_events(ENV)[-1]
        assert state.assignment_version(last) == Version.parse("v1.0.0")
        promotion = state.stage_events(ENV)[-2]
        trigger = last.record["trigger"]
        assert isinstance(trigger, dict) and trigger["baseline_version"] == "v1.0.0"
        assert trigger["baseline_window_end"] == stamp(promotion.time) == watch["window_end"]
        assert trigger["promotion"] == promotion.tag
        # the rollback went to origin: the host follows it
        _deploy(host, server)
        assert host.current() == "v1.0.0" and _load(server, 16) == {"v1.0.0"}
    finally:
        if prom is not None:
            prom.stop()
        server.stop()
