"""Release policy (issue 12): required evidence, an honest gate, smoke figures, deprecate, merge."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest
from plugin.fsguard import Guard
from plugin.registry import Registry, git, random_bytes, refs
from plugin.templates import GOOD, new_version

from gitmodel import config
from gitmodel.errors import UsageError
from gitmodel.gate import GateConfig, Verdict, best_of, evaluate, quantization_gap
from gitmodel.metadata import inherit, merge
from gitmodel.yamlio import loads

# --- pure rules -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "over", "expected"),
    [
        (
            {"inference": {"temperature": 0.2, "top_p": 0.9, "max_tokens": 512}},
            {"inference": {"temperature": 0.1}},
            {"inference": {"temperature": 0.1, "top_p": 0.9, "max_tokens": 512}},
        ),
        (
            {"inference": {"top_p": 0.9, "max_tokens": 5}},
            {"inference": {"top_p": None}},
            {"inference": {"max_tokens": 5}},
        ),
        ({"prompt_template": "v3", "labels": ["a"]}, {"prompt_template": None}, {"labels": ["a"]}),
        ({"labels": ["a", "b"]}, {"labels": ["c"]}, {"labels": ["c"]}),  # lists are values
        (
            {"training": {"a": {"b": 1, "c": 2}}},
            {"training": {"a": {"c": 3}}},
            {"training": {"a": {"b": 1, "c": 3}}},
        ),
        ({"training": "text"}, {"training": {"lr": 1}}, {"training": {"lr": 1}}),
        ({}, {"gone": None}, {}),
    ],
)
def test_merge_deep_merges_mappings_and_null_removes(
    base: dict[str, Any], over: dict[str, Any], expected: dict[str, Any]
) -> None:
    before = json.dumps(base, sort_keys=True)
    assert merge(base, over) == expected
    assert json.dumps(base, sort_keys=True) == before  # the parent's metadata is not touched


def test_inherit_never_carries_metrics_or_the_description() -> None:
    parent = {"metrics": {"accuracy": 0.9}, "description": "old", "inference": {"top_p": 0.9}}
    assert inherit(parent, {"inference": {"temperature": 0.1}}) == {
        "inference": {"top_p": 0.9, "temperature": 0.1}
    }


def test_best_of_takes_each_metrics_best_figure_in_its_direction() -> None:
    cfg = GateConfig.parse({"metrics": {"score": {"direction": "lower"}}})
    figures = [
        {"accuracy": 0.90, "latency_p95_ms": 800, "score": 3},
        {"accuracy": 0.94, "latency_p95_ms": 900, "score": float("nan")},
        {"accuracy": 0.92, "latency_p95_ms": 850, "score": 2, "f1": 0.5},
    ]
    assert best_of(figures, cfg) == {"accuracy": 0.94, "latency_p95_ms": 800, "score": 2, "f1": 0.5}


@pytest.mark.parametrize(
    ("cand", "base", "across", "gap"),
    [
        ("q4_k_m", "q4_k_m", False, None),
        ("Q4_K_M", "q4_k_m", False, None),
        ("q8_0", "q4_k_m", False, "q8_0 vs q4_k_m"),
        (None, "q4_k_m", False, "none vs q4_k_m"),
        (None, None, False, None),
        ("q8_0", "q4_k_m", True, None),
    ],
)
def test_quantization_gap(cand: str | None, base: str | None, across: bool, gap: str | None) -> None:
    assert quantization_gap(cand, base, GateConfig.parse({"across_quantization": across})) == gap


def test_not_comparable_refuses_without_checks_and_round_trips() -> None:
    verdict = evaluate({"accuracy": 0.99}, {"accuracy": 0.5}, GateConfig(), "v1.0.0", "q8_0 vs q4_k_m")
    assert (verdict.passed, verdict.checks, verdict.not_comparable) == (False, [], "q8_0 vs q4_k_m")
    assert Verdict.from_record(json.loads(json.dumps(verdict.to_record()))) == verdict
    # Nothing to compare with: nothing is incomparable either.
    assert evaluate({"accuracy": 0.99}, None, GateConfig(), None, "q8_0 vs q4_k_m").passed


@pytest.mark.parametrize(
    ("points", "current", "candidate", "passed"),
    [(0.01, 0.942, 0.932, True), (0.01, 0.942, 0.9319, False), (0.02, 0.50, 0.48, True)],
)
def test_absolute_tolerance_is_in_the_metrics_unit(
    points: float, current: float, candidate: float, passed: bool
) -> None:
    # For a fraction such as accuracy, abs_tolerance 0.01 is one percentage point.
    cfg = GateConfig.parse({"metrics": {"accuracy": {"abs_tolerance": points}}})
    assert evaluate({"accuracy": candidate}, {"accuracy": current}, cfg).passed is passed


def test_default_template_requires_production_evidence_and_baselines_on_production() -> None:
    cfg = config.default()
    assert cfg.evidence == {"production": ("metrics.accuracy", "training.data_hash", "training", "eval_set")}
    assert cfg.gate.baseline.env_for(cfg.environments, "staging") == "production"
    assert cfg.gate.baseline.best_of == 1 and not cfg.gate.across_quantization
    meta = {"metrics": {"accuracy": 0.9}, "training": {"data_hash": ""}, "eval_set": []}
    assert cfg.missing_evidence("production", meta) == ["training.data_hash", "eval_set"]
    assert cfg.missing_evidence("staging", {}) == []


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("evidence: {prod: [eval_set]}", "gitmodel.yaml: evidence.prod is not in environments"),
        ("evidence: {production: [metrics accuracy]}", "has 'metrics accuracy', not a field path"),
        ("evidence: {production: 3}", "evidence.production must be a list of names"),
        ("gate: {baseline: {best_of: 0}}", "gate.baseline.best_of must be a whole number of at least 1"),
        ("gate: {baseline: {environment: prod}}", "gate.baseline.environment names 'prod'"),
        ("gate: {baseline: {env: production}}", "gate.baseline.env is not a gate baseline setting"),
        ("gate: {across_quantization: 1}", "gate.across_quantization must be true or false"),
    ],
)
def test_bad_evidence_and_baseline_settings_name_the_field(text: str, words: str) -> None:
    with pytest.raises(UsageError) as caught:
        config.parse_text("environments: [staging, production]\n" + text + "\n")
    assert words in str(caught.value)


# --- end to end: real git and DVC --------------------------------------------------------


def set_config(registry: Registry, extra: str, *, commit: bool = False) -> None:
    cfg = registry.root / "gitmodel.yaml"
    cfg.write_text(cfg.read_text() + extra)
    if commit:
        git(registry.root, "commit", "-q", "-am", "policy")


def test_register_for_production_names_the_missing_evidence_and_writes_nothing(registry: Registry) -> None:
    registry.write("m.gguf", random_bytes(2000, 1))
    meta = registry.meta("base_model: llama-3-8b-instruct\nmetrics: {accuracy: 0.9}\n", "thin.yaml")
    before = registry.snapshot()
    err = registry.fails(
        1, "register", "support", "m.gguf", "--meta", str(meta), "--for", "production"
    ).stderr
    assert err == (
        "gitmodel: error: support v1.0.0 lacks evidence gitmodel.yaml requires for production: "
        "training.data_hash, training, eval_set; add them to --meta FILE and retry\n"
    )
    assert registry.snapshot() == before
    assert "unknown environment" in registry.fails(2, "register", "support", "m.gguf", "--for", "prod").stderr
    # Staging requires nothing; production refuses it at promote, --force or not.
    registry.ok("register", "support", "m.gguf", "--meta", str(meta), "--for", "staging")
    registry.ok("promote", "support", "v1.0.0", "staging")
    before = refs(registry.root)
    for extra in ((), ("--force", "--reason", "hotfix")):
        err = registry.fails(1, "promote", "support", "v1.0.0", "production", *extra).stderr
        assert (
            "lacks evidence gitmodel.yaml requires for production: training.data_hash, training, eval_set"
            in err
        )
    assert refs(registry.root) == before


def test_the_policy_refuses_a_hand_made_assignment_lacking_evidence(registry: Registry) -> None:
    registry.write("m.gguf", random_bytes(2000, 1))
    meta = registry.meta("base_model: llama-3-8b-instruct\nmetrics: {accuracy: 0.9}\n", "thin.yaml")
    registry.ok("register", "support", "m.gguf", "--meta", str(meta))
    registry.ok("promote", "support", "v1.0.0", "staging")
    git(registry.root, "tag", "-a", "-m", "x", "support#production#2", "support@v1.0.0^{commit}")
    guard = Guard(registry.root)
    err = registry.fails(1, "verify", "support#production#2").stderr
    assert err.startswith(
        "gitmodel: error: refused support#production#2 [required-evidence]: support v1.0.0 lacks"
    )
    assert "training.data_hash, training, eval_set" in err
    guard.assert_unchanged()


def test_register_for_production_passes_with_inherited_evidence(released: Registry) -> None:
    # training and eval_set come from v1.1.0; metrics are this version's own.
    new_version(released, 3, GOOD, "--for", "production")
    released.ok("promote", "support", "v1.2.0", "staging")


def test_staging_is_judged_against_production_not_against_itself(released: Registry) -> None:
    worse = "metrics: {accuracy: 0.80, hallucination_rate: 0.021, latency_p95_ms: 890}\n"
    new_version(released, 3, worse)  # v1.2.0
    released.ok("promote", "support", "v1.2.0", "staging", "--force", "--reason", "try it")
    nearly = "metrics: {accuracy: 0.81, hallucination_rate: 0.021, latency_p95_ms: 890}\n"
    new_version(released, 4, nearly)  # v1.3.0: better than staging's v1.2.0, far below production's
    err = released.fails(1, "promote", "support", "v1.3.0", "staging").stderr
    assert (
        "gate refused support v1.3.0 for staging against v1.0.0 (production): accuracy 0.942 -> 0.81" in err
    )
    out = released.run("gate", "support", "v1.3.0", "staging").stdout
    assert "gate REFUSED against v1.0.0 (production)" in out


def test_best_of_stops_small_regressions_compounding(released: Registry) -> None:
    step1 = "metrics: {accuracy: 0.92, hallucination_rate: 0.021, latency_p95_ms: 890}\n"  # -2.3%
    step2 = (
        "metrics: {accuracy: 0.90, hallucination_rate: 0.021, latency_p95_ms: 890}\n"  # -2.2%, -4.5% in all
    )
    step3 = (
        "metrics: {accuracy: 0.88, hallucination_rate: 0.021, latency_p95_ms: 890}\n"  # -2.2%, -6.6% in all
    )
    new_version(released, 3, step1)  # v1.2.0
    for env in ("staging", "production"):
        released.ok("promote", "support", "v1.2.0", env)
    new_version(released, 4, step2)  # v1.3.0
    for env in ("staging", "production"):
        released.ok("promote", "support", "v1.3.0", env)
    new_version(released, 5, step3)  # v1.4.0
    released.ok("gate", "support", "v1.4.0", "staging")  # against what production serves: passes
    cfg = (released.root / "gitmodel.yaml").read_text().replace("best_of: 1", "best_of: 3")
    (released.root / "gitmodel.yaml").write_text(cfg)
    git(released.root, "commit", "-q", "-am", "best of 3")
    before = refs(released.root)
    err = released.fails(1, "promote", "support", "v1.4.0", "staging").stderr
    assert "against best of v1.0.0, v1.2.0, v1.3.0 (production): accuracy 0.942 -> 0.88" in err
    assert refs(released.root) == before
    # The server policy recomputes the gate with the same baseline rule.
    git(released.root, "tag", "-a", "-m", "x", "support#staging#10", "support@v1.4.0^{commit}")
    err = released.fails(1, "verify", "support#staging#10").stderr
    assert (
        "[gate]" in err
        and "against best of v1.0.0, v1.2.0, v1.3.0 (production): accuracy 0.942 -> 0.88" in err
    )


def test_other_quantizations_are_not_comparable(released: Registry) -> None:
    new_version(released, 3, GOOD.replace("metrics:", "quantization: q8_0\nmetrics:"))  # v1.2.0
    before = refs(released.root)
    err = released.fails(1, "promote", "support", "v1.2.0", "staging").stderr
    assert err == (
        "gitmodel: error: gate refused support v1.2.0 for staging against v1.0.0 (production): "
        "not comparable (q8_0 vs q4_k_m); metrics of different quantizations say nothing of a regression; "
        "set gate.across_quantization: true if yours do, or override with --force --reason TEXT\n"
    )
    assert (
        "gate REFUSED against v1.0.0 (production): not comparable (q8_0 vs q4_k_m)"
        in released.run("gate", "support", "v1.2.0", "staging").stdout
    )
    assert refs(released.root) == before
    released.ok("promote", "support", "v1.2.0", "staging", "--force", "--reason", "q8 for the GPU hosts")
    last = json.loads(released.ok("history", "support", "--json").stdout)["events"][-1]
    assert last["gate"]["not_comparable"] == "q8_0 vs q4_k_m" and last["gate"]["forced"] is True


def test_across_quantization_compares_the_figures(released: Registry) -> None:
    new_version(released, 3, GOOD.replace("metrics:", "quantization: q8_0\nmetrics:"))
    cfg = (
        (released.root / "gitmodel.yaml")
        .read_text()
        .replace("gate:\n", "gate:\n  across_quantization: true\n")
    )
    (released.root / "gitmodel.yaml").write_text(cfg)
    assert (
        "gate PASSED against v1.0.0 (production)"
        in released.ok("promote", "support", "v1.2.0", "staging").stdout
    )


# --- smoke figures are recorded and compared -------------------------------------------------


def smoke_scores(registry: Registry, scores: dict[int, float]) -> Path:
    """A smoke command (local config) scoring m.gguf by its bytes; `scores` maps new_version seeds."""
    table = registry.root.parent / "scores.json"
    by_hash = {hashlib.sha256(random_bytes(2000, seed)).hexdigest(): s for seed, s in scores.items()}
    table.write_text(json.dumps(by_hash))
    script = (
        "import hashlib,json,os; d=os.environ['GITMODEL_ARTIFACT_DIR']; "
        "h=hashlib.sha256(open(os.path.join(d,'m.gguf'),'rb').read()).hexdigest(); "
        f"print(json.dumps({{'smoke_score': json.load(open({str(table)!r}))[h]}}))"
    )
    user = Path(os.environ["XDG_CONFIG_HOME"]) / "gitmodel" / "config.yaml"
    user.parent.mkdir(parents=True, exist_ok=True)
    command = f"{shlex.quote(sys.executable)} -c {shlex.quote(script)}"
    user.write_text(f"commands:\n  eval-small: {json.dumps(command)}\n")
    set_config(registry, "smoke: {command: eval-small, timeout: 20}\n")
    return table


@pytest.mark.slow
def test_a_smoke_score_falling_from_090_to_050_is_refused(model: Registry) -> None:
    # production serves v1.0.0 (seed 1), promoted before any smoke test: it is tested now.
    smoke_scores(model, {1: 0.90, 2: 0.50})
    before = refs(model.root)
    err = model.fails(1, "promote", "support", "v1.1.0", "production").stderr
    assert (
        "gate refused support v1.1.0 for production against v1.0.0 (production): smoke_score 0.9 -> 0.5"
        in err
    )
    assert refs(model.root) == before


@pytest.mark.slow
def test_smoke_figures_are_recorded_and_the_baselines_record_is_used(released: Registry) -> None:
    table = smoke_scores(released, {1: 0.90, 2: 0.91, 3: 0.50})
    for env in ("staging", "production"):
        released.ok("promote", "support", "v1.1.0", env)
    last = json.loads(released.ok("history", "support", "--json").stdout)["events"][-1]
    checks = {c["metric"]: c for c in last["gate"]["checks"]}
    assert (checks["smoke_score"]["current"], checks["smoke_score"]["candidate"]) == (0.9, 0.91)
    tag = last["tag"]
    record = git(released.root, "tag", "-l", "--format=%(contents)", tag).stdout
    assert '"smoke":{"smoke_score":0.91}' in record
    # v1.1.0 now scores 0.10 if re-run; the gate must use its recorded 0.91, so v1.2.0's 0.50 fails.
    scores = json.loads(table.read_text())
    scores[hashlib.sha256(random_bytes(2000, 2)).hexdigest()] = 0.10
    table.write_text(json.dumps(scores))
    new_version(released, 3)
    err = released.fails(1, "promote", "support", "v1.2.0", "staging").stderr
    assert "against v1.1.0 (production): smoke_score 0.91 -> 0.5" in err


# --- deprecate a served version ----------------------------------------------------------------


def test_deprecating_a_served_version_needs_force_and_says_what_serves(released: Registry) -> None:
    before = refs(released.root)
    err = released.fails(1, "deprecate", "support", "v1.0.0").stderr
    assert err == (
        "gitmodel: error: production, staging serve support v1.0.0; roll them back first "
        "(`gitmodel rollback production support`), or deprecate anyway with --force\n"
    )
    assert "--force needs --reason" in released.fails(2, "deprecate", "support", "v1.0.0", "--force").stderr
    assert refs(released.root) == before
    out = released.ok("deprecate", "support", "v1.0.0", "--force", "--reason", "licence pulled").stdout
    assert "deprecated support v1.0.0 (support@v1.0.0!)" in out
    assert (
        "production still serves support v1.0.0, now deprecated: `gitmodel rollback production support`"
        in out
    )
    assert "staging still serves support v1.0.0" in out
    released.ok("deprecate", "support", "v1.1.0")  # served nowhere: no --force needed


# --- deep merge at register ------------------------------------------------------------------


def test_meta_with_one_inference_key_keeps_the_others(released: Registry) -> None:
    meta = released.meta("inference: {temperature: 0.1}\nprompt_template: null\n", "tweak.yaml")
    released.ok("register", "support", "models/support/m.gguf", "--meta", str(meta))
    doc = loads((released.root / "models/support/model.yaml").read_text(), "model.yaml")
    assert dict(doc["inference"]) == {"temperature": 0.1, "top_p": 0.9, "max_tokens": 512}
    assert "prompt_template" not in doc
    assert doc["eval_set"] == "support-eval-2026q1" and "accuracy" not in (doc.get("metrics") or {})


def test_a_canary_needs_the_evidence_of_its_environment(released: Registry) -> None:
    new_version(released, 3, GOOD.replace("metrics:", "eval_set: null\nmetrics:"))  # v1.2.0 drops eval_set
    released.ok("promote", "support", "v1.2.0", "staging")
    before = refs(released.root)
    err = released.fails(1, "canary", "start", "support", "v1.2.0", "production", "--percent", "5").stderr
    assert "support v1.2.0 lacks evidence gitmodel.yaml requires for production: eval_set" in err
    assert refs(released.root) == before
