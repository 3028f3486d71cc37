"""A ratio rule's `min_delta`: the absolute difference a ratio must also exceed.

p95s are read from histogram buckets (5, 10, 25, 50 ms ...), so two healthy versions a
bucket apart differ by 2x: a 1.5x latency rule alone aborted a healthy canary whose p95
read a bucket or two above the stable's 5 ms on a busy machine (tests/test_rollout_e2e.py
at -n 6 on 2 cores). The default
latency rule has a 25 ms floor; a real regression (hundreds of ms) still fires.
"""

from __future__ import annotations

from typing import Any

import pytest

from gitmodel.errors import UsageError
from gitmodel.rollout import config as rconfig
from gitmodel.rollout.config import DEFAULT_TRIGGERS, Trigger
from gitmodel.rollout.metrics_source import VersionCounts
from gitmodel.rollout.triggers import Finding, VersionStats, judge

INF = float("inf")
BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, INF)


def at(version: str, n: int, seconds: float) -> VersionStats:
    """N requests, each taking SECONDS."""
    buckets = tuple((b, float(n if seconds <= b else 0)) for b in BOUNDS)
    return VersionStats.of(VersionCounts(version, n, 0, buckets, None))


def latency(triggers: Any, canary: VersionStats, stable: VersionStats) -> Finding:
    j = judge(triggers, canary, stable, min_samples=10)
    return next(f for f in j.findings if f.trigger.metric == "latency_p95")


def test_a_canary_a_bucket_slower_is_within_the_default_floor() -> None:
    found = latency(DEFAULT_TRIGGERS, at("v2", 40, 0.02), at("v1", 100, 0.004))
    assert found.outcome == "ok" and not found.fired
    assert found.value is not None and found.baseline is not None and found.value > 1.5 * found.baseline
    assert found.message.endswith("within min_delta 25.0 ms: ok"), found.message


def test_a_real_regression_still_fires_past_the_floor() -> None:
    found = latency(DEFAULT_TRIGGERS, at("v2", 40, 0.2), at("v1", 100, 0.004))
    assert found.fired and "min_delta" not in found.message


def test_without_a_floor_the_ratio_alone_decides() -> None:
    bare = (Trigger("latency_p95", "ratio", 1.5, "rollback"),)
    assert latency(bare, at("v2", 40, 0.02), at("v1", 100, 0.004)).fired


def test_a_floor_never_hides_a_ratio_that_is_not_crossed() -> None:
    found = latency(DEFAULT_TRIGGERS, at("v2", 40, 0.004), at("v1", 100, 0.004))
    assert found.outcome == "ok" and "min_delta" not in found.message


def test_min_delta_reads_durations_for_latencies_and_numbers_otherwise() -> None:
    cfg = rconfig.parse(
        {
            "triggers": [
                {"metric": "latency_p99", "ratio": 2, "min_delta": "40ms"},
                {"metric": "tokens_per_request", "ratio": 2, "min_delta": 50, "action": "alert"},
                {"metric": "latency_p95", "ratio": 1.5, "min_delta": 0},
            ]
        }
    )
    assert [t.min_delta for t in cfg.triggers] == [0.04, 50.0, 0.0]
    assert cfg.triggers[0].to_json()["min_delta"] == 0.04 and "min_delta" not in cfg.triggers[2].to_json()
    assert DEFAULT_TRIGGERS[1].to_json() == {
        "metric": "latency_p95",
        "ratio": 1.5,
        "action": "rollback",
        "min_delta": 0.025,
    }


@pytest.mark.parametrize(
    ("trigger", "words"),
    [
        ({"metric": "error_rate", "above": 0.1, "min_delta": 0.01}, "is for `ratio` rules only"),
        ({"metric": "tokens_per_request", "ratio": 2, "min_delta": -1}, "must be 0 or more"),
        ({"metric": "latency_p95", "ratio": 1.5, "min_delta": "soon"}, "not a duration"),
        ({"metric": "latency_p95", "ratio": 1.5, "min_delta": float("inf")}, "must be a finite duration"),
    ],
)
def test_a_bad_min_delta_is_refused_naming_it(trigger: dict[str, Any], words: str) -> None:
    with pytest.raises(UsageError) as err:
        rconfig.parse({"triggers": [trigger]})
    assert "triggers.0.min_delta" in err.value.message and words in err.value.message
