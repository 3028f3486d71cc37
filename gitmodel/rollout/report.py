"""The A/B report: each version's live numbers, and whether canary and stable differ.

Significance uses scipy's tests (see stats.py for why these tests fit histogram data).
Numbers are read over the same window for every version.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gitmodel import config
from gitmodel.refs import parse_model
from gitmodel.registry import Registry
from gitmodel.rollout import stats
from gitmodel.rollout.canary_state import active
from gitmodel.rollout.metrics_source import Source
from gitmodel.rollout.triggers import VersionStats


def ab_report(
    repo: Path, name: str, env: str, source: Source, alpha: float, min_samples: int
) -> dict[str, Any]:
    config.load(repo).check_env(env)
    state = Registry.load_model(repo, parse_model(name))
    can = active(state, env)
    stable = state.stage_version(env)
    obs = source.read(state.name)
    roles = {str(stable): "stable"} if stable else {}
    if can is not None:
        roles[str(can.version)] = "canary"
    seen = sorted(set(obs.versions) | set(roles), key=lambda v: (v not in roles, roles.get(v) != "stable", v))
    rows = []
    for v in seen:
        counts = obs.get(v)
        st = VersionStats.of(counts)
        rows.append(
            {
                "version": v,
                "role": roles.get(v, "other"),
                "requests": st.requests,
                "errors": st.errors,
                "error_rate": st.values["error_rate"],
                "latency_p50": st.values["latency_p50"],
                "latency_p95": st.values["latency_p95"],
                "tokens_per_request": st.values["tokens_per_request"],
            }
        )
    report: dict[str, Any] = {
        "model": state.name,
        "environment": env,
        "source": obs.source,
        "window": obs.window,
        "alpha": alpha,
        "stable": str(stable) if stable else None,
        "canary": str(can.version) if can else None,
        "percent": can.percent if can else None,
        "versions": rows,
        "comparison": None,
        "advice": "",
    }
    if can is None or stable is None:
        report["advice"] = f"{env} has no canary of {state.name}: nothing to compare"
        return report
    a, b = obs.get(str(stable)), obs.get(str(can.version))
    errors = stats.proportions(a.errors, a.requests, b.errors, b.requests)
    latency = stats.latency(a.buckets, b.buckets)
    report["comparison"] = {"error_rate": errors.as_dict(alpha), "latency": latency.as_dict(alpha)}
    report["advice"] = advice(rows, errors, latency, alpha, min_samples)
    return report


def advice(
    rows: list[dict[str, Any]],
    errors: stats.TestResult,
    latency: stats.TestResult,
    alpha: float,
    min_samples: int,
) -> str:
    by_role = {r["role"]: r for r in rows}
    s, c = by_role["stable"], by_role["canary"]
    if min(s["requests"], c["requests"]) < min_samples:
        return (
            f"too few requests to decide (stable {s['requests']:.0f}, canary {c['requests']:.0f}; "
            f"{min_samples} each are needed): keep the canary running"
        )
    worse = []
    if errors.significant(alpha) and (c["error_rate"] or 0) > (s["error_rate"] or 0):
        worse.append("error rate")
    if latency.significant(alpha) and (c["latency_p95"] or 0) > (s["latency_p95"] or 0):
        worse.append("latency")
    if worse:
        return f"the canary is significantly worse in {' and '.join(worse)}: abort it"
    better = []
    if errors.significant(alpha):
        better.append("error rate")
    if latency.significant(alpha):
        better.append("latency")
    if better:
        return f"the canary is significantly better in {' and '.join(better)}: promote it"
    return "no significant difference at this sample size: promote if the canary's goal is met"
