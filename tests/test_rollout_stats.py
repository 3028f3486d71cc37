"""Pure parts of the rollout: quantiles, significance tests, trigger rules, the rollout config."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from plugin.rollout import exposition

from gitmodel.errors import UsageError
from gitmodel.rollout import config as rconfig
from gitmodel.rollout import stats
from gitmodel.rollout.config import DEFAULT_TRIGGERS, Trigger
from gitmodel.rollout.metrics_source import VersionCounts, difference, parse_exposition
from gitmodel.rollout.triggers import VersionStats, judge

INF = math.inf


@pytest.mark.parametrize(
    ("buckets", "q", "expected"),
    [
        (((0.1, 10), (0.5, 20), (INF, 20)), 0.5, 0.1),
        (((0.1, 10), (0.5, 20), (INF, 20)), 0.95, 0.46),
        (((0.1, 10), (0.5, 20), (INF, 20)), 0.25, 0.05),
        (((0.1, 0), (0.5, 0), (INF, 5)), 0.5, 0.5),  # all above the last bound: Prometheus says 0.5
        (((0.1, 0), (INF, 0)), 0.5, None),
        ((), 0.5, None),
    ],
)
def test_quantile_follows_histogram_quantile(buckets: Any, q: float, expected: float | None) -> None:
    got = stats.quantile(buckets, q)
    assert got == pytest.approx(expected) if expected is not None else got is None


def test_quantile_close_to_the_sample_quantile() -> None:
    rng = random.Random(7)
    samples = sorted(rng.uniform(0, 1) for _ in range(20_000))
    bounds = [i / 20 for i in range(1, 21)] + [INF]
    buckets = tuple((b, float(sum(1 for s in samples if s <= b))) for b in bounds)
    for q in (0.5, 0.95):
        assert stats.quantile(buckets, q) == pytest.approx(samples[int(q * len(samples))], abs=0.01)


@given(
    st.lists(st.integers(0, 50), min_size=2, max_size=12),
    st.lists(st.integers(0, 50), min_size=2, max_size=12),
)
def test_merge_keeps_totals_and_reaches_expected_counts(a: list[int], b: list[int]) -> None:
    k = min(len(a), len(b))
    rows = [[float(x) for x in a[:k]], [float(x) for x in b[:k]]]
    merged = stats.merge_sparse(rows)
    if min(sum(r) for r in rows) == 0:
        assert merged == [[], []]
        return
    assert [sum(r) for r in merged] == pytest.approx([sum(r) for r in rows])
    grand = sum(map(sum, rows))
    if len(merged[0]) >= 2:
        for col in zip(*merged, strict=True):
            for row in merged:
                assert sum(row) * sum(col) / grand >= stats.MIN_EXPECTED - 1e-9


def test_proportions() -> None:
    same = stats.proportions(10, 1000, 11, 1000)
    assert same.p_value is not None and same.p_value > 0.5 and not same.significant(0.05)
    worse = stats.proportions(5, 1000, 60, 1000)
    assert worse.p_value is not None and worse.p_value < 1e-6 and worse.significant(0.05)
    assert stats.proportions(0, 0, 1, 10).p_value is None


def _hist(
    samples: list[float], bounds: tuple[float, ...] = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, INF)
) -> tuple[tuple[float, float], ...]:
    return tuple((b, float(sum(1 for s in samples if s <= b))) for b in bounds)


def test_latency_test_sees_a_shift_and_not_noise() -> None:
    rng = random.Random(3)
    a = _hist([rng.lognormvariate(-3, 0.5) for _ in range(2000)])
    b = _hist([rng.lognormvariate(-3, 0.5) for _ in range(2000)])
    slow = _hist([rng.lognormvariate(-2.6, 0.5) for _ in range(2000)])
    assert not stats.latency(a, b).significant(0.01)
    shifted = stats.latency(a, slow)
    assert shifted.significant(0.05) and shifted.dof is not None and shifted.dof >= 1
    assert stats.latency(a, _hist([0.02], (0.01, INF))).p_value is None  # different buckets
    assert stats.latency(_hist([0.02]), _hist([0.03])).p_value is None  # too few to test


# --- the exposition -----------------------------------------------------------------------


def test_parse_the_reference_servers_exposition() -> None:
    text = exposition(
        "support",
        {
            "v1.0.0": {"ok": [0.004] * 90 + [0.2] * 10, "errors": [0.03] * 2, "tokens": (300, 500)},
            "v1.1.0": {"ok": [0.4] * 5},
        },
    )
    text += exposition("other", {"v9.0.0": {"ok": [0.1]}})  # another model on the same page
    got = parse_exposition(text, "support")
    assert set(got) == {"v1.0.0", "v1.1.0"}
    old = got["v1.0.0"]
    assert (old.requests, old.errors, old.tokens) == (102, 2, 800)
    assert dict(old.buckets)[0.005] == 90 and dict(old.buckets)[INF] == 102
    new = VersionStats.of(got["v1.1.0"])
    # the server creates every series at 0 when a version loads, tokens included
    assert new.values["error_rate"] == 0 and new.values["tokens_per_request"] == 0
    assert 0.25 < (new.values["latency_p95"] or 0) <= 0.5


def test_parse_refuses_garbage() -> None:
    with pytest.raises(UsageError, match="Prometheus text format"):
        parse_exposition("this is { not metrics", "support")


def test_difference_between_scrapes_and_restarts() -> None:
    a = {"v1": VersionCounts("v1", 100, 5, ((0.1, 80), (INF, 100)), 10)}
    b = {
        "v1": VersionCounts("v1", 150, 6, ((0.1, 120), (INF, 150)), 30),
        "v2": VersionCounts("v2", 7, 0, ((0.1, 7), (INF, 7)), None),
    }
    d = difference(b, a)
    got = (d["v1"].requests, d["v1"].errors, d["v1"].buckets, d["v1"].tokens)
    assert got == (50, 1, ((0.1, 40), (INF, 50)), 20)
    assert d["v2"].requests == 7
    restarted = difference({"v1": VersionCounts("v1", 20, 1)}, a)
    assert restarted["v1"].requests == 20


# --- triggers -----------------------------------------------------------------------------


def vs(
    version: str, n: int, errors: int = 0, latency: float = 0.02, tokens: float | None = None
) -> VersionStats:
    bounds = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, INF)
    buckets = tuple((b, float(n if latency <= b else 0)) for b in bounds)
    return VersionStats.of(VersionCounts(version, n, errors, buckets, tokens))


@pytest.mark.parametrize(
    ("canary", "stable", "status", "fired"),
    [
        (vs("v2", 200, errors=4), vs("v1", 800, errors=8), "healthy", []),
        (vs("v2", 200, errors=20), vs("v1", 800), "critical", ["error_rate"]),
        (vs("v2", 200, latency=0.2), vs("v1", 800, latency=0.02), "critical", ["latency_p95"]),
        (vs("v2", 200, latency=0.022), vs("v1", 800, latency=0.02), "healthy", []),  # same bucket
        (vs("v2", 200, tokens=900), vs("v1", 800, tokens=1200), "alert", ["tokens_per_request"]),
        (
            vs("v2", 200, tokens=900, errors=50),
            vs("v1", 800, tokens=1200),
            "critical",
            ["error_rate", "tokens_per_request"],
        ),
        (vs("v2", 99, errors=99), vs("v1", 800), "insufficient", []),
    ],
)
def test_default_triggers(canary: VersionStats, stable: VersionStats, status: str, fired: list[str]) -> None:
    j = judge(DEFAULT_TRIGGERS, canary, stable, min_samples=100)
    assert j.status == status
    assert [f.trigger.metric for f in j.findings if f.fired] == fired
    if status == "insufficient":
        assert "too few samples" in j.note and "99 requests" in j.note and j.findings == ()


def test_messages_carry_the_numbers() -> None:
    j = judge(DEFAULT_TRIGGERS, vs("v2", 200, errors=30, latency=0.2), vs("v1", 800, errors=8), 100)
    err = next(f for f in j.findings if f.trigger.metric == "error_rate")
    assert err.message == "error_rate: canary v2 15.00% > 5.00% (stable v1 1.00%)"
    lat = next(f for f in j.findings if f.trigger.metric == "latency_p95")
    assert lat.message == "latency_p95: canary v2 242.5 ms > 1.5 × stable = 36.4 ms (stable v1 24.2 ms)"
    assert j.first("rollback") is err


def test_ratio_rules_need_a_baseline_with_samples() -> None:
    few = judge(DEFAULT_TRIGGERS, vs("v2", 500, latency=0.9), vs("v1", 10), 100)
    lat = next(f for f in few.findings if f.trigger.metric == "latency_p95")
    assert lat.outcome == "skipped" and "10 requests" in lat.message
    alone = judge(DEFAULT_TRIGGERS, vs("v1", 500, latency=0.9), None, 100)
    assert alone.status == "healthy" and "no canary" in alone.findings[1].message
    zero = judge([Trigger("error_rate", "ratio", 2, "rollback")], vs("v2", 500, errors=5), vs("v1", 500), 100)
    assert zero.findings[0].outcome == "skipped" and zero.status == "healthy"


# --- the rollout config -------------------------------------------------------------------


def test_config_defaults_and_overrides() -> None:
    assert rconfig.parse(None).triggers == DEFAULT_TRIGGERS
    cfg = rconfig.parse(
        {
            "window": "2m",
            "min_samples": 20,
            "triggers": [
                {"metric": "latency_p99", "ratio": 2},
                {"metric": "error_rate", "above": 0.1, "action": "alert"},
            ],
            "metrics": {"requests": "llamacpp_requests_total"},
        }
    )
    assert cfg.window == 120 and cfg.min_samples == 20
    assert cfg.triggers == (
        Trigger("latency_p99", "ratio", 2.0, "rollback"),
        Trigger("error_rate", "above", 0.1, "alert"),
    )
    assert cfg.names.requests == "llamacpp_requests_total" and cfg.names.errors == "gitmodel_errors_total"


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"triggers": [{"metric": "cpu_load", "above": 1}]}, "triggers.0.metric must be one of error_rate"),
        ({"triggers": [{"metric": "error_rate"}]}, "exactly one of `above`"),
        ({"triggers": [{"metric": "error_rate", "above": 0.1, "ratio": 2}]}, "exactly one of"),
        ({"triggers": [{"metric": "error_rate", "above": 0.1, "action": "page"}]}, "one of rollback, alert"),
        ({"triggers": [{"metric": "error_rate", "above": "5%"}]}, "must be a number"),
        ({"triggers": [{"metric": "error_rate", "ratio": 0}]}, "ratio must be more than 0"),
        ({"triggers": [{"metric": "error_rate", "above": 1, "when": "now"}]}, "0.when is not a trigger key"),
        ({"triggers": {"metric": "error_rate"}}, "must be a list"),
        ({"window": "soon"}, "not a duration"),
        ({"window": "0s"}, "at least 1 second"),
        ({"min_samples": 0}, "at least 1"),
        ({"alpha": 2}, "between 0 and 1"),
        ({"metrics": {"requests": "has space"}}, "metric or label name"),
        ({"metrics": {"cost": "x"}}, "rollout.metrics.cost is not a metric name setting"),
        ({"trigger": []}, "rollout.trigger is not a rollout setting; did you mean triggers?"),
        ([1, 2], "must be a mapping"),
    ],
)
def test_config_refusals_name_the_field(data: Any, words: str) -> None:
    with pytest.raises(UsageError, match=None) as err:
        rconfig.parse(data)
    assert words in err.value.message
