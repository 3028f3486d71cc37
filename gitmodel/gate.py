"""The validation gate: compare a candidate's eval metrics with the serving version's.

Pure: no I/O.  The rules come from the ``gate:`` section of gitmodel.yaml (read by
config.py, parsed by ``GateConfig.parse``); the verdict is returned as data so the CLI can render it and the
assignment tag can record it (DESIGN.md, "Validation gate").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, cast

from gitmodel import validate as v
from gitmodel.errors import UsageError

Direction = Literal["higher", "lower"]
CheckVerdict = Literal["pass", "fail", "missing", "new", "dropped"]

DEFAULT_TOLERANCE = 0.05
LOWER_IS_BETTER_WORDS = ("latency", "loss", "error", "hallucination", "perplexity", "cost")
FAILING: frozenset[str] = frozenset({"fail", "missing"})
_CHECK_VERDICTS: frozenset[str] = frozenset({"pass", "fail", "missing", "new", "dropped"})
_GATE_KEYS = frozenset({"tolerance", "metrics", "baseline", "across_quantization"})
_BASELINE_KEYS = ("environment", "best_of")
_NUMBERS = ("current", "candidate", "change")
_RULE_KEYS = frozenset({"direction", "tolerance", "abs_tolerance", "required"})
# Decimal boundaries such as 0.942 - 2% are not exact in binary floating point;
# without this slack a candidate sitting on the written boundary could fail by 1e-17.
_BOUNDARY_SLACK = 1e-9


def default_direction(metric: str) -> Direction:
    lowered = metric.lower()
    return "lower" if any(word in lowered for word in LOWER_IS_BETTER_WORDS) else "higher"


@dataclass(frozen=True)
class Rule:
    name: str
    direction: Direction
    tolerance: float | None = DEFAULT_TOLERANCE
    abs_tolerance: float | None = None
    required: bool = False

    def allowed(self, current: float) -> float:
        """How much worse than ``current`` the candidate may be, in the metric's unit."""
        if self.abs_tolerance is not None:
            return self.abs_tolerance
        return (self.tolerance or 0.0) * abs(current)

    def describe(self) -> str:
        bound, sign = ("≥", "-") if self.direction == "higher" else ("≤", "+")
        if self.abs_tolerance is not None:
            text = f"{bound} {sign}{self.abs_tolerance:g} abs"
        else:
            text = f"{bound} {sign}{(self.tolerance or 0.0) * 100:.1f}% rel"
        return f"{text}, required" if self.required else text


def _rule(name: str, raw: object, default_tolerance: float, at: v.Field) -> Rule:
    fields = v.mapping(raw, at, _RULE_KEYS, "gate rule key")  # `accuracy:` alone means defaults
    direction = v.choice(
        fields.get("direction", default_direction(name)), at / "direction", ("higher", "lower")
    )
    required = v.flag(fields.get("required", False), at / "required")
    if "tolerance" in fields and "abs_tolerance" in fields:
        # Silently preferring one would make the written rule lie about itself.
        raise at.error("sets both tolerance and abs_tolerance; keep one")
    if "abs_tolerance" in fields:
        absolute = v.non_negative(fields["abs_tolerance"], at / "abs_tolerance")
        return Rule(name, cast(Direction, direction), None, absolute, required)
    relative = default_tolerance
    if "tolerance" in fields:
        relative = v.non_negative(fields["tolerance"], at / "tolerance")
    return Rule(name, cast(Direction, direction), relative, None, required)


@dataclass(frozen=True)
class BaselineRule:
    """What a candidate is compared with, for every environment alike.

    ``environment`` None means the last listed (production): staging candidates are judged
    against what production serves, not against staging, so small regressions cannot
    compound one environment at a time.  ``best_of`` N > 1 takes, metric by metric, the
    best figure of the last N versions that environment served.
    """

    environment: str | None = None
    best_of: int = 1

    @classmethod
    def parse(cls, value: object, at: v.Field) -> BaselineRule:
        fields = v.mapping(value, at, _BASELINE_KEYS, "gate baseline setting")
        env = fields.get("environment")
        if env is not None and (not isinstance(env, str) or not env):
            raise (at / "environment").error(f"must name an environment, not {env!r}")
        best = v.whole(fields["best_of"], at / "best_of", 1) if "best_of" in fields else 1
        return cls(env, best)

    def env_for(self, environments: tuple[str, ...], target: str) -> str:
        return self.environment or (environments[-1] if environments else target)


@dataclass(frozen=True)
class GateConfig:
    tolerance: float = DEFAULT_TOLERANCE
    rules: dict[str, Rule] = field(default_factory=dict)
    baseline: BaselineRule = field(default_factory=BaselineRule)
    # Off by default: a q4_k_m model's accuracy says nothing about whether a q8_0 one regressed.
    across_quantization: bool = False

    @classmethod
    def parse(cls, value: object, at: v.Field | None = None) -> GateConfig:
        """The `gate:` section of gitmodel.yaml (None: the defaults)."""
        at = at or v.Field("gitmodel.yaml", "gate")
        if isinstance(value, Mapping) and "smoke_test" in value:
            raise v.RepoCommand(
                f"{at / 'smoke_test'} carries a command line, and nothing executable comes from the "
                "repo; define the command under `commands:` in your local configuration "
                "(~/.config/gitmodel/config.yaml) and write `smoke: {command: NAME}` here instead"
            )
        # A misspelt key would otherwise fall back to defaults without a word.
        fields = v.mapping(value, at, _GATE_KEYS, "gate setting")
        tolerance = DEFAULT_TOLERANCE
        if fields.get("tolerance") is not None:
            tolerance = v.non_negative(fields["tolerance"], at / "tolerance")
        metrics = v.table(fields.get("metrics"), at / "metrics", "metric names to rules")
        rules = {name: _rule(name, raw, tolerance, at / "metrics" / name) for name, raw in metrics.items()}
        baseline = BaselineRule.parse(fields.get("baseline"), at / "baseline")
        across = v.flag(fields.get("across_quantization", False), at / "across_quantization")
        return cls(tolerance, rules, baseline, across)

    def rule_for(self, metric: str) -> Rule:
        return self.rules.get(metric) or Rule(metric, default_direction(metric), self.tolerance)

    @property
    def required(self) -> frozenset[str]:
        return frozenset(name for name, rule in self.rules.items() if rule.required)


@dataclass(frozen=True)
class MetricCheck:
    metric: str
    current: float | None
    candidate: float | None
    change: float | None
    rule: str
    verdict: CheckVerdict

    @property
    def passed(self) -> bool:
        return self.verdict not in FAILING


@dataclass(frozen=True)
class Verdict:
    passed: bool
    baseline: str | None
    checks: list[MetricCheck]
    forced: bool = False
    reason: str | None = None
    not_comparable: str | None = None  # e.g. "q8_0 vs q4_k_m": no figure was compared

    @property
    def failures(self) -> list[MetricCheck]:
        return [check for check in self.checks if not check.passed]

    def override(self, reason: str) -> Verdict:
        """The verdict of a ``--force`` promotion; ``passed`` keeps the gate's own answer."""
        if not reason.strip():
            raise UsageError("--force needs a --reason saying why the gate is overridden")
        return replace(self, forced=True, reason=reason.strip())

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "passed": self.passed,
            "baseline": self.baseline,
            "forced": self.forced,
            "checks": [
                {"metric": c.metric, **{k: _encode(getattr(c, k)) for k in _NUMBERS}} | {"verdict": c.verdict}
                for c in self.checks
            ],
        }
        if self.reason is not None:
            record["reason"] = self.reason
        if self.not_comparable is not None:
            record["not_comparable"] = self.not_comparable
        return record

    def to_json(self) -> dict[str, Any]:
        """The CLI's JSON (`gate --json`): the record's fields, so both read the same."""
        return self.to_record()

    @classmethod
    def from_record(cls, d: Mapping[str, Any]) -> Verdict:
        """Inverse of ``to_record``; rule texts are not recorded, so they come back empty."""
        try:
            checks = []
            for c in d["checks"]:
                if c["verdict"] not in _CHECK_VERDICTS:
                    raise ValueError(f"unknown check verdict {c['verdict']!r}")
                current, candidate, change = (_decode(c[k]) for k in _NUMBERS)
                checks.append(MetricCheck(str(c["metric"]), current, candidate, change, "", c["verdict"]))
            passed, baseline, reason = bool(d["passed"]), d["baseline"], d.get("reason")
            apart = d.get("not_comparable")
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"gate record is malformed ({exc!r}); was the tag edited by hand?") from exc
        return cls(
            passed=passed,
            baseline=None if baseline is None else str(baseline),
            checks=checks,
            forced=bool(d.get("forced", False)),
            reason=None if reason is None else str(reason),
            not_comparable=None if apart is None else str(apart),
        )


def _encode(value: float | None) -> float | str | None:
    # Strict JSON has no NaN/Infinity, and a NaN metric is exactly what a record must show.
    if value is not None and not math.isfinite(value):
        return repr(value)
    return value


def _decode(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{value!r} is not a number")
    return float(value)


def _numbers(metrics: Mapping[str, object], whose: str) -> dict[str, float]:
    if not isinstance(metrics, Mapping):
        raise UsageError(f"the metrics of {whose} are {metrics!r}, not a mapping of name to number")
    numbers: dict[str, float] = {}
    for name, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UsageError(f"metric {name!r} of {whose} is {value!r}, not a number; fix it in its metadata")
        numbers[str(name)] = float(value)
    return numbers


def _compare(name: str, candidate: float, current: float, rule: Rule) -> MetricCheck:
    finite = math.isfinite(candidate) and math.isfinite(current)
    change = (candidate - current) / abs(current) if finite and current != 0 else None
    if not finite:
        # NaN compares false with everything, so it would slip through as a pass.
        return MetricCheck(name, current, candidate, change, rule.describe(), "fail")
    worse = current - candidate if rule.direction == "higher" else candidate - current
    slack = _BOUNDARY_SLACK * max(abs(current), abs(candidate))
    verdict: CheckVerdict = "fail" if worse > rule.allowed(current) + slack else "pass"
    return MetricCheck(name, current, candidate, change, rule.describe(), verdict)


def _check(name: str, candidate: float | None, current: float | None, rule: Rule) -> MetricCheck:
    if candidate is None:
        verdict: CheckVerdict = "missing" if rule.required else "dropped"
        return MetricCheck(name, current, None, None, rule.describe(), verdict)
    if current is None:
        verdict = "new" if math.isfinite(candidate) else "fail"
        return MetricCheck(name, None, candidate, None, rule.describe(), verdict)
    return _compare(name, candidate, current, rule)


def best_of(figures: list[Mapping[str, object]], config: GateConfig) -> dict[str, float]:
    """Metric by metric, the best figure among several baseline versions (their rule's direction)."""
    best: dict[str, float] = {}
    for i, metrics in enumerate(figures):
        for name, value in _numbers(metrics, f"baseline version {i + 1}").items():
            if not math.isfinite(value):
                continue  # a NaN would make every comparison false; the others still bound it
            higher = config.rule_for(name).direction == "higher"
            if name not in best or (value > best[name] if higher else value < best[name]):
                best[name] = value
    return best


def quantization_gap(candidate: object, baseline: object, config: GateConfig) -> str | None:
    """ "q8_0 vs q4_k_m" when the two are of different quantizations and that matters; else None."""
    if config.across_quantization:
        return None
    cand, base = (str(q).strip().lower() if q else "none" for q in (candidate, baseline))
    return None if cand == base else f"{cand} vs {base}"


def evaluate(
    candidate: Mapping[str, float],
    current: Mapping[str, float] | None,
    config: GateConfig,
    baseline: str | None = None,
    not_comparable: str | None = None,
) -> Verdict:
    """Judge ``candidate`` against ``current`` (None when there is no baseline).

    A metric worse than the baseline's by more than its rule allows fails, as does
    a non-finite value or a required metric the candidate lacks.  Metrics only in
    the candidate are "new" and pass; metrics it dropped pass but are reported.
    ``not_comparable`` (from ``quantization_gap``) refuses without comparing anything.
    """
    if not_comparable is not None and current is not None:
        return Verdict(False, baseline, [], not_comparable=not_comparable)
    cand = _numbers(candidate, "the candidate")
    serving = "the serving version" + (f" {baseline}" if baseline else "")
    cur = None if current is None else _numbers(current, serving)
    names = sorted(set(cand) | set(cur or {}) | config.required)
    checks = [
        _check(name, cand.get(name), None if cur is None else cur.get(name), config.rule_for(name))
        for name in names
    ]
    return Verdict(all(c.passed for c in checks), baseline, checks)
