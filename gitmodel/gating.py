"""The gate applied to a registry: the baseline a candidate is judged against, required
evidence, smoke-test figures, and the verdict (the comparison itself is gitmodel/gate.py).

promote, canary start, `gitmodel gate` and the policy's recomputed gate all come here.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitmodel import config, metadata, smoke
from gitmodel.errors import PolicyError, UsageError
from gitmodel.gate import Verdict, best_of, evaluate, quantization_gap
from gitmodel.refs import Version, parse_model
from gitmodel.registry import ModelState, Registry
from gitmodel.served import served_stack


class GateRefused(PolicyError):
    def __init__(self, model: str, version: Version, env: str, verdict: Verdict) -> None:
        worst = ", ".join(f"{c.metric} {c.current} -> {c.candidate}" for c in verdict.failures)
        fix = "improve the model, or override with --force --reason TEXT"
        if verdict.not_comparable is not None:
            worst = f"not comparable ({verdict.not_comparable})"
            fix = (
                "metrics of different quantizations say nothing of a regression; set "
                "gate.across_quantization: true if yours do, or override with --force --reason TEXT"
            )
        super().__init__(
            f"gate refused {model} {version} for {env} against {verdict.baseline}: {worst}; {fix}"
        )
        self.verdict = verdict


def _metrics(meta: dict[str, Any]) -> dict[str, Any]:
    metrics = meta.get("metrics") or {}
    return dict(metrics) if isinstance(metrics, dict) else {}


def read_meta(repo: Path, state: ModelState, version: Version) -> dict[str, Any]:
    return metadata.at_version(repo, state, version) or {}


def _pointer(repo: Path, state: ModelState, version: Version) -> str | None:
    return metadata.pointer_at(repo, state, version, read_meta(repo, state, version))


class MissingEvidence(PolicyError):
    def __init__(self, model: str, version: str, env: str, missing: list[str], fix: str) -> None:
        super().__init__(
            f"{model} {version} lacks evidence gitmodel.yaml requires for {env}: {', '.join(missing)}; {fix}"
        )
        self.missing = missing


def check_evidence(
    cfg: config.Config,
    env: str,
    model: str,
    version: str,
    meta: Mapping[str, Any],
    fix: str = "register a version whose metadata (--meta FILE) has them; no --force overrides this",
) -> None:
    """Refuse a version whose metadata lacks a field `evidence:` requires for `env`, or whose
    templates and embedding model `compatibility:` refuses (prompts.Incompatible); no override."""
    missing = cfg.missing_evidence(env, meta)
    if missing:
        raise MissingEvidence(model, version, env, missing, fix)
    from gitmodel import prompts

    prompts.check(cfg.compatibility, model, Version.parse(version), *prompts.of_version(meta))


@dataclass(frozen=True)
class Baseline:
    """The versions a candidate for an environment is judged against (gate.baseline)."""

    env: str
    versions: tuple[Version, ...]

    @property
    def label(self) -> str | None:
        if not self.versions:
            return None
        if len(self.versions) == 1:
            return f"{self.versions[0]} ({self.env})"
        return f"best of {', '.join(map(str, self.versions))} ({self.env})"


def gate_baseline(cfg: config.Config, state: ModelState, env: str) -> Baseline:
    """What the gate compares a candidate for `env` with; the policy's recomputed gate uses it too.

    By default what the last environment (production) serves, for every environment; with
    `best_of: N`, the last N versions it served (those rolled back from drop out). Until
    that environment serves anything, what `env` itself serves.
    """
    rule = cfg.gate.baseline
    base_env = rule.env_for(cfg.environments, env)
    current = state.stage_version(base_env)
    if rule.best_of > 1:
        stack = [v for v in served_stack(state, base_env) if v not in state.deprecated_versions]
        if current is not None and current not in stack:
            stack.append(current)
        versions = tuple(stack[-rule.best_of :])
    else:
        versions = (current,) if current is not None else ()
    if not versions and base_env != env:
        own = state.stage_version(env)
        return Baseline(env, (own,) if own is not None else ())
    return Baseline(base_env, versions)


def gate_verdict(
    cfg: config.Config,
    state: ModelState,
    env: str,
    candidate: Mapping[str, Any],
    meta_of: Callable[[Version], Mapping[str, Any]],
) -> Verdict:
    """The gate: `candidate`'s metadata against its baseline's, within one quantization."""
    base = gate_baseline(cfg, state, env)
    metas = [meta_of(version) for version in base.versions]
    quant = candidate.get("quantization")
    alike = [m for m in metas if quantization_gap(quant, m.get("quantization"), cfg.gate) is None]
    gap = quantization_gap(quant, metas[-1].get("quantization"), cfg.gate) if metas and not alike else None
    current = best_of([_metrics(dict(m)) for m in (alike or metas)], cfg.gate) if metas else None
    return evaluate(_metrics(dict(candidate)), current, cfg.gate, base.label, gap)


def gate_check(repo: Path, name: str, version: str, env: str, reg: Registry | None = None) -> Verdict:
    """Run the validation gate only: the candidate against its baseline (gate_baseline)."""
    return judge(repo, name, version, env, reg)[0]


def judge(
    repo: Path, name: str, version: str, env: str, reg: Registry | None = None
) -> tuple[Verdict, dict[str, float]]:
    """The verdict, and the candidate's smoke-test figures (recorded in its tag for later gates)."""
    cfg = config.load(repo)
    cfg.check_env(env)
    reg = reg or Registry.load(repo)
    state = reg.model(parse_model(name))
    candidate = Version.parse(version)
    state.version_event(candidate)
    test = cfg.smoke.resolve() if cfg.smoke is not None else None
    cand_meta = read_meta(repo, state, candidate)
    figures: dict[str, float] = {}
    if test is not None:
        figures = _run_smoke(repo, state, candidate, test)
        cand_meta = {**cand_meta, "metrics": {**_metrics(cand_meta), **figures}}

    def meta_of(base: Version) -> dict[str, Any]:
        meta = read_meta(repo, state, base)
        if test is None:
            return meta
        # The baseline's smoke figures as recorded when it was promoted; a version promoted
        # before the smoke test existed (or by a canary) is tested now, so nothing is "new".
        smoke_figures = recorded_smoke(state, base)
        if smoke_figures is None:
            smoke_figures = _run_smoke(repo, state, base, test)
        return {**meta, "metrics": {**_metrics(meta), **smoke_figures}}

    return gate_verdict(cfg, state, env, cand_meta, meta_of), figures


def _run_smoke(repo: Path, state: ModelState, version: Version, test: smoke.SmokeTest) -> dict[str, float]:
    from gitmodel import dvc

    pointer = _pointer(repo, state, version)
    if pointer is None:
        raise UsageError(f"{state.name} {version} has no DVC pointer to test")
    with tempfile.TemporaryDirectory(prefix="gitmodel-smoke-") as tmp:
        dvc.materialise(repo, pointer, Path(tmp))
        return test.run(Path(tmp))


def recorded_smoke(state: ModelState, version: Version) -> dict[str, float] | None:
    """The smoke figures the newest move to `version` (in any environment) recorded; None if none did."""
    for e in reversed(state.assignments):
        if state.assignment_version(e) != version:
            continue
        recorded = e.record.get("smoke")
        if isinstance(recorded, dict) and all(
            isinstance(x, int | float) and not isinstance(x, bool) for x in recorded.values()
        ):
            return {str(k): float(x) for k, x in recorded.items()}
    return None
