from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitmodel.errors import UsageError
from gitmodel.gate import GateConfig, MetricCheck, Rule, Verdict, default_direction, evaluate

DESIGN_METRICS = {"accuracy": 0.942, "hallucination_rate": 0.021, "latency_p95_ms": 890}
DESIGN_GATE: dict[str, Any] = {
    "tolerance": 0.05,
    "metrics": {
        "accuracy": {"direction": "higher", "tolerance": 0.02},
        "latency_p95_ms": {"direction": "lower", "abs_tolerance": 50},
        "hallucination_rate": {"required": True},
    },
}


def verdicts(v: Verdict) -> dict[str, str]:
    return {c.metric: c.verdict for c in v.checks}


@pytest.mark.parametrize(
    ("metric", "direction"),
    [
        ("accuracy", "higher"),
        ("f1", "higher"),
        ("latency_p95_ms", "lower"),
        ("LatencyMs", "lower"),
        ("eval_loss", "lower"),
        ("error_rate", "lower"),
        ("hallucination_rate", "lower"),
        ("perplexity", "lower"),
        ("cost_per_1k_tokens", "lower"),
        ("throughput", "higher"),
    ],
)
def test_default_direction_from_name(metric: str, direction: str) -> None:
    assert default_direction(metric) == direction
    assert GateConfig.parse(None).rule_for(metric).direction == direction


@pytest.mark.parametrize(
    ("rules", "current", "candidate", "expected"),
    [
        # default 5% relative, higher is better
        ({}, 100.0, 95.0, "pass"),  # exactly at the boundary
        ({}, 100.0, 94.99, "fail"),
        ({}, 100.0, 120.0, "pass"),  # improvement
        ({}, -100.0, -105.0, "pass"),  # tolerance is relative to |current|
        ({}, -100.0, -105.01, "fail"),
        # decimal boundary that binary floats cannot hit exactly: 0.942 - 2%
        ({"direction": "higher", "tolerance": 0.02}, 0.942, 0.92316, "pass"),
        ({"direction": "higher", "tolerance": 0.02}, 0.942, 0.9231, "fail"),
        ({"direction": "higher", "tolerance": 0.02}, 0.93, 0.9114, "pass"),
        ({"direction": "lower", "tolerance": 0.05}, 0.942, 0.9891, "pass"),
        # lower is better, relative
        ({"direction": "lower"}, 100.0, 105.0, "pass"),
        ({"direction": "lower"}, 100.0, 105.01, "fail"),
        ({"direction": "lower"}, 100.0, 10.0, "pass"),
        # absolute tolerance, in the metric's unit
        ({"direction": "lower", "abs_tolerance": 50}, 890, 940, "pass"),
        ({"direction": "lower", "abs_tolerance": 50}, 890, 940.5, "fail"),
        ({"direction": "higher", "abs_tolerance": 0.1}, 0.0, -0.1, "pass"),
        ({"direction": "higher", "abs_tolerance": 0.1}, 0.0, -0.11, "fail"),
        # zero tolerance: any regression fails, equality passes
        ({"tolerance": 0}, 0.5, 0.5, "pass"),
        ({"tolerance": 0}, 0.5, 0.4999, "fail"),
        # current == 0 with relative tolerance allows no regression at all
        ({"direction": "lower"}, 0.0, 0.001, "fail"),
        # NaN / infinity is never a pass
        ({}, 0.9, math.nan, "fail"),
        ({}, math.nan, 0.9, "fail"),
        ({"direction": "lower"}, 10.0, math.inf, "fail"),
        ({}, 0.9, math.inf, "fail"),
    ],
)
def test_single_metric_rules(rules: dict[str, Any], current: float, candidate: float, expected: str) -> None:
    config = GateConfig.parse({"metrics": {"m": rules}})
    verdict = evaluate({"m": candidate}, {"m": current}, config)
    assert verdicts(verdict) == {"m": expected}
    assert verdict.passed is (expected == "pass")


@pytest.mark.parametrize(
    ("current", "candidate", "change"),
    [(100.0, 95.0, -0.05), (-100.0, -90.0, 0.10), (0.0, 1.0, None), (1.0, math.nan, None)],
)
def test_change_is_relative_and_undefined_when_it_cannot_be(
    current: float, candidate: float, change: float | None
) -> None:
    (check,) = evaluate({"m": candidate}, {"m": current}, GateConfig()).checks
    if change is None:
        assert check.change is None
    else:
        assert check.change == pytest.approx(change)


@pytest.mark.parametrize(
    ("config", "candidate", "current", "expected", "passed"),
    [
        ({}, {"a": 1.0, "b": 2.0}, {"a": 1.0}, {"a": "pass", "b": "new"}, True),
        ({}, {"a": 1.0}, {"a": 1.0, "b": 2.0}, {"a": "pass", "b": "dropped"}, True),
        (
            {"metrics": {"b": {"required": True}}},
            {"a": 1.0},
            {"a": 1.0, "b": 2.0},
            {"a": "pass", "b": "missing"},
            False,
        ),
        (
            {"metrics": {"b": {"required": True}}},
            {"a": 1.0},
            {"a": 1.0},
            {"a": "pass", "b": "missing"},
            False,
        ),
        ({"metrics": {"b": {"required": True}}}, {"b": 0.0}, {}, {"b": "new"}, True),
        # empty environment: all new, gate passes ...
        ({}, {"a": 1.0, "b": 2.0}, None, {"a": "new", "b": "new"}, True),
        # ... but a required metric absent from the candidate still fails
        (
            {"metrics": {"b": {"required": True}}},
            {"a": 1.0},
            None,
            {"a": "new", "b": "missing"},
            False,
        ),
        # a NaN in an empty environment is still no pass
        ({}, {"a": math.nan}, None, {"a": "fail"}, False),
        # a configured but optional metric nobody reports is not checked
        ({"metrics": {"x": {"direction": "lower"}}}, {"a": 1.0}, {"a": 1.0}, {"a": "pass"}, True),
        ({}, {}, None, {}, True),
    ],
)
def test_new_dropped_missing_and_required(
    config: dict[str, Any],
    candidate: dict[str, float],
    current: dict[str, float] | None,
    expected: dict[str, str],
    passed: bool,
) -> None:
    verdict = evaluate(candidate, current, GateConfig.parse(config), baseline="v1.0.0")
    assert verdicts(verdict) == expected
    assert verdict.passed is passed
    assert [c.metric for c in verdict.failures] == [
        m for m, v in expected.items() if v in ("fail", "missing")
    ]


def test_checks_are_sorted_by_metric_name() -> None:
    verdict = evaluate({"zeta": 1.0, "Alpha": 1.0, "mid": 1.0}, {"beta": 1.0, "mid": 1.0}, GateConfig())
    assert [c.metric for c in verdict.checks] == ["Alpha", "beta", "mid", "zeta"]


def test_design_example_bad_candidate_is_refused() -> None:
    config = GateConfig.parse(DESIGN_GATE)
    bad = {**DESIGN_METRICS, "accuracy": 0.80}
    verdict = evaluate(bad, DESIGN_METRICS, config, baseline="v1.2.0")
    assert not verdict.passed
    assert verdict.baseline == "v1.2.0"
    (failure,) = verdict.failures
    assert failure.metric == "accuracy"
    assert failure.rule == "≥ -2.0% rel"
    assert failure.change == pytest.approx(0.80 / 0.942 - 1)


def test_design_example_good_candidate_passes() -> None:
    config = GateConfig.parse(DESIGN_GATE)
    good = {"accuracy": 0.935, "hallucination_rate": 0.022, "latency_p95_ms": 930, "f1": 0.9}
    verdict = evaluate(good, DESIGN_METRICS, config, baseline="v1.2.0")
    assert verdict.passed, verdict.failures
    assert verdicts(verdict) == {
        "accuracy": "pass",
        "f1": "new",
        "hallucination_rate": "pass",
        "latency_p95_ms": "pass",
    }


def test_design_example_candidate_without_required_metric_is_refused() -> None:
    config = GateConfig.parse(DESIGN_GATE)
    verdict = evaluate({"accuracy": 0.95, "latency_p95_ms": 800}, DESIGN_METRICS, config)
    assert [(c.metric, c.verdict) for c in verdict.failures] == [("hallucination_rate", "missing")]


@pytest.mark.parametrize(
    ("rule", "text"),
    [
        (Rule("a", "higher", 0.05), "≥ -5.0% rel"),
        (Rule("a", "lower", 0.025), "≤ +2.5% rel"),
        (Rule("a", "lower", None, 50.0), "≤ +50 abs"),
        (Rule("a", "higher", None, 0.5, required=True), "≥ -0.5 abs, required"),
    ],
)
def test_rule_describe(rule: Rule, text: str) -> None:
    assert rule.describe() == text


def test_config_defaults_and_inheritance() -> None:
    config = GateConfig.parse({"tolerance": 0.1, "metrics": {"acc": None, "lat_ms": {"abs_tolerance": 5}}})
    assert config.rule_for("acc") == Rule("acc", "higher", 0.1, None, False)
    assert config.rule_for("other_loss") == Rule("other_loss", "lower", 0.1, None, False)
    assert config.rule_for("lat_ms") == Rule("lat_ms", "higher", None, 5.0, False)
    assert GateConfig.parse({}).rule_for("x").tolerance == 0.05


@pytest.mark.parametrize(
    ("raw", "names"),
    [
        ([1, 2], "gitmodel.yaml: gate must be a mapping"),
        ({"tolerence": 0.1}, "gate.tolerence is not a gate setting"),
        ({"tolerance": "5%"}, "gate.tolerance must be a number"),
        ({"tolerance": True}, "gate.tolerance must be a number"),
        ({"tolerance": -0.1}, "gate.tolerance must not be negative"),
        ({"tolerance": math.nan}, "gate.tolerance must be a number"),
        ({"metrics": ["accuracy"]}, "gate.metrics must be a mapping"),
        ({"metrics": {"accuracy": "higher"}}, "gate.metrics.accuracy must be a mapping"),
        (
            {"metrics": {"accuracy": {"direction": "up"}}},
            "gitmodel.yaml: gate.metrics.accuracy.direction must be one of higher, lower",
        ),
        (
            {"metrics": {"accuracy": {"required": "yes"}}},
            "gate.metrics.accuracy.required must be true or false",
        ),
        (
            {"metrics": {"accuracy": {"tolerance": "2%"}}},
            "gate.metrics.accuracy.tolerance must be a number",
        ),
        (
            {"metrics": {"lat": {"abs_tolerance": -1}}},
            "gate.metrics.lat.abs_tolerance must not be negative",
        ),
        (
            {"metrics": {"lat": {"tolerance": 0.1, "abs_tolerance": 5}}},
            "gate.metrics.lat sets both",
        ),
        ({"metrics": {"lat": {"treshold": 5}}}, "gate.metrics.lat.treshold is not a gate rule key"),
        ({"metrics": {3: {}}}, "gate.metrics has a key 3"),
    ],
)
def test_bad_config_names_the_key(raw: Any, names: str) -> None:
    with pytest.raises(UsageError) as excinfo:
        GateConfig.parse(raw)
    assert names in str(excinfo.value)


@pytest.mark.parametrize(
    ("candidate", "current", "message"),
    [
        (
            {"accuracy": "high"},
            {"accuracy": 0.9},
            "metric 'accuracy' of the candidate is 'high', not a number",
        ),
        (
            {"accuracy": True},
            {"accuracy": 0.9},
            "metric 'accuracy' of the candidate is True, not a number",
        ),
        ({"accuracy": None}, None, "metric 'accuracy' of the candidate is None, not a number"),
        (
            {"accuracy": 0.9},
            {"accuracy": "0.9"},
            "metric 'accuracy' of the serving version v1.0.0 is '0.9'",
        ),
        ({"accuracy": 0.9}, {"f1": False}, "metric 'f1' of the serving version v1.0.0 is False"),
    ],
)
def test_non_numeric_metrics_are_usage_errors(
    candidate: dict[str, Any], current: dict[str, Any] | None, message: str
) -> None:
    with pytest.raises(UsageError) as excinfo:
        evaluate(candidate, current, GateConfig(), baseline="v1.0.0")
    assert message in str(excinfo.value)


def test_override_requires_a_reason_and_keeps_the_gate_answer() -> None:
    verdict = evaluate({"a": 0.1}, {"a": 1.0}, GateConfig())
    with pytest.raises(UsageError, match="--reason"):
        verdict.override("  ")
    forced = verdict.override("hotfix for incident 42")
    assert (forced.passed, forced.forced, forced.reason) == (False, True, "hotfix for incident 42")
    assert forced.to_record()["reason"] == "hotfix for incident 42"


def test_record_is_compact_and_strict_json() -> None:
    verdict = evaluate({"a": math.nan, "b": 2}, {"a": 1.0, "c": 3.0}, GateConfig(), baseline="v1.0.0")
    record = verdict.to_record()
    assert set(record) == {"passed", "baseline", "forced", "checks"}
    assert set(record["checks"][0]) == {"metric", "current", "candidate", "change", "verdict"}
    assert json.loads(json.dumps(record, allow_nan=False)) == record
    back = Verdict.from_record(record)
    assert math.isnan(back.checks[0].candidate or 0.0)
    assert [c.verdict for c in back.checks] == ["fail", "new", "dropped"]


@pytest.mark.parametrize(
    "record",
    [
        {},
        {"passed": True, "baseline": None},
        {"baseline": None, "checks": []},
        {"passed": True, "baseline": None, "checks": [{"metric": "a"}]},
        {
            "passed": True,
            "baseline": None,
            "checks": [{"metric": "a", "current": 1, "candidate": 1, "change": 0, "verdict": "great"}],
        },
    ],
)
def test_malformed_record_is_a_usage_error(record: dict[str, Any]) -> None:
    with pytest.raises(UsageError, match="gate record is malformed"):
        Verdict.from_record(record)


numbers = st.none() | st.floats(allow_nan=True, allow_infinity=True)
checks = st.builds(
    MetricCheck,
    metric=st.text(min_size=1, max_size=20),
    current=numbers,
    candidate=numbers,
    change=numbers,
    rule=st.just(""),  # rule texts are not part of the compact record
    verdict=st.sampled_from(["pass", "fail", "missing", "new", "dropped"]),
)
verdict_strategy = st.builds(
    Verdict,
    passed=st.booleans(),
    baseline=st.none() | st.text(max_size=20),
    checks=st.lists(checks, max_size=6),
    forced=st.booleans(),
    reason=st.none() | st.text(max_size=40),
)


def _same(a: float | None, b: float | None) -> bool:
    return a == b or (a is not None and b is not None and math.isnan(a) and math.isnan(b))


@given(verdict_strategy)
def test_record_round_trip(verdict: Verdict) -> None:
    record = json.loads(json.dumps(verdict.to_record(), allow_nan=False))
    back = Verdict.from_record(record)
    assert back.to_record() == record
    assert (back.passed, back.baseline, back.forced, back.reason) == (
        verdict.passed,
        verdict.baseline,
        verdict.forced,
        verdict.reason,
    )
    assert len(back.checks) == len(verdict.checks)
    for got, want in zip(back.checks, verdict.checks, strict=True):
        assert (got.metric, got.verdict, got.rule) == (want.metric, want.verdict, want.rule)
        assert _same(got.current, want.current)
        assert _same(got.candidate, want.candidate)
        assert _same(got.change, want.change)
