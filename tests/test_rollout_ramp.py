"""Canary as policy: `promotion: ENV: canary:` (soak, samples, ramp) in promote, canary promote and monitor.

The readiness rule and the ramp's next move are pure and tested as tables; the moves
run on a real registry, with the monitor reading real Prometheus text from a loopback
/metrics page (the real Prometheus runs in tests/test_rollout_e2e.py).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from plugin.registry import Registry, git, refs
from plugin.rollout import exposition, http_server, metrics_page

from gitmodel import config
from gitmodel.errors import UsageError
from gitmodel.refs import Action, Ref, Version
from gitmodel.registry import Event
from gitmodel.rollout.canary_policy import CanaryRun, ramp_next, unmet
from gitmodel.rollout.canary_state import Canary
from gitmodel.rollout.config import CanaryPolicy, RampStep

HEALTHY = {
    "v1.0.0": {"ok": [0.02] * 900},
    "v1.1.0": {"ok": [0.02] * 200},
}
FAILING = {"v1.0.0": {"ok": [0.02] * 900}, "v1.1.0": {"ok": [0.02] * 140, "errors": [0.02] * 60}}
RAMP = CanaryPolicy(soak=3600, min_samples=100, ramp=(RampStep(10, 600), RampStep(50, 1800)))


def run(percent: float, started: int = 0, step_since: int = 0, samples: float | None = None) -> CanaryRun:
    ref = Ref("support", Action.ASSIGN, stage="production-canary", counter=3)
    event = Event(ref, ref.tag(), "c", "", step_since, "")
    can = Canary("support", "production", Version.parse("v1.1.0"), percent, Version.parse("v1.0.0"), event)
    return CanaryRun(can, started, step_since, samples)


@pytest.mark.parametrize(
    ("percent", "step_since", "now", "samples", "action", "to", "note"),
    [
        (10, 0, 599, 150, "hold", None, "ramp step 1/2 at 10%: healthy for 9m59s of 10m"),
        (10, 0, 600, 150, "set", 50, "ramp step 1/2 at 10% -> step 2/2 at 50% after 10m healthy"),
        (5, 0, 0, 150, "set", 10, "ramp 5%, below step 1 -> step 1/2 at 10% after 0s healthy"),
        (30, 0, 600, 150, "set", 50, "ramp step 1/2 at 30% -> step 2/2 at 50%"),  # set by hand between steps
        (50, 2000, 3799, 150, "hold", None, "ramp step 2/2 at 50%: healthy for 29m59s of 30m"),
        (50, 2000, 3800, 150, "promote", None, "ramp step 2/2 at 50% done after 30m healthy: promoting"),
        (50, 0, 1800, 150, "hold", None, "promotion waits: the canary has run 30m of 1h"),
        (50, 0, 3600, 99, "hold", None, "promotion waits: the canary served 99 of 100 requests"),
        (90, 0, 3600, 150, "promote", None, "ramp step 2/2 at 90% done"),
    ],
)
def test_ramp_next(
    percent: float, step_since: int, now: float, samples: float, action: str, to: float | None, note: str
) -> None:
    move = ramp_next(RAMP, run(percent, 0, step_since), now, samples)
    assert (move.action, move.percent) == (action, to)
    assert note in move.note


@pytest.mark.parametrize(
    ("started", "now", "live", "recorded", "why"),
    [
        (0, 3600, 100, None, None),
        (0, 3599.5, 100, None, "has run 59m59s of 1h"),
        (0, 3600, None, 100, None),  # the count a monitor recorded in the run's tags
        (0, 3600, None, None, "has no request count yet (100 needed; `gitmodel monitor` records it)"),
        (100, 50, 0, None, "has run 0s of 1h and served 0 of 100 requests"),  # a tag dated ahead of the clock
    ],
)
def test_unmet(started: int, now: float, live: float | None, recorded: float | None, why: str | None) -> None:
    found = unmet(RAMP, run(50, started, started, recorded), now, live)
    assert found == why if why is None else why in (found or "")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            "{canary: {ramp: [{percent: 50, soak: 1h}, {percent: 10, soak: 1h}]}}",
            "ramp.1.percent must be above",
        ),
        ("{canary: {ramp: [{percent: 100, soak: 1h}]}}", "ramp.0.percent must be between 0 and 100"),
        ("{canary: {ramp: [{percent: 10}]}}", "ramp.0 must give percent and soak"),
        ("{canary: {soak: soon}}", "canary.soak 'soon' is not a duration"),
        ("{canary: {min_samples: 1.5}}", "canary.min_samples must be a whole number"),
        ("{canary: {soaks: 1h}}", "canary.soaks is not a canary setting; did you mean soak?"),
        ("{after: [qa]}", "promotion.production names 'qa', which is not in environments"),
        ("{before: [staging]}", "promotion.production.before is not a promotion setting"),
    ],
)
def test_canary_policy_errors_name_the_field(text: str, words: str) -> None:
    doc = f"environments: [staging, production]\npromotion:\n  production: {text}\n"
    with pytest.raises(UsageError) as err:
        config.parse_text(doc)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_mapping_form_keeps_the_order_and_the_default() -> None:
    cfg = config.parse_text(
        "environments: [staging, production]\npromotion:\n  production: {canary: {soak: 2s}}\n"
    )
    assert dict(cfg.promotion) == {} and cfg.canary["production"] == CanaryPolicy(soak=2.0)
    cfg = config.parse_text(
        "environments: [staging, production]\npromotion:\n  production:\n    after: [staging]\n"
        "    canary: {soak: 48h, min_samples: 1000,\n"
        "             ramp: [{percent: 10, soak: 24h}, {percent: 50, soak: 24h}]}\n"
    )
    assert dict(cfg.promotion) == {"production": ("staging",)}
    assert cfg.canary["production"].ramp == (RampStep(10, 86400), RampStep(50, 86400))


# --- on a real registry ----------------------------------------------------------------------


def policy(registry: Registry, canary: str, rollout: str = "rollout:\n  min_samples: 100\n") -> None:
    cfg = registry.root / "gitmodel.yaml"
    text = cfg.read_text()
    assert "promotion:\n  production: [staging]\n" in text
    block = f"promotion:\n  production:\n    after: [staging]\n    canary: {canary}\n"
    cfg.write_text(text.replace("promotion:\n  production: [staging]\n", block) + rollout)


def last(registry: Registry, n: int = 1) -> list[dict[str, Any]]:
    return json.loads(registry.ok("history", "support", "--json").stdout)["events"][-n:]  # type: ignore[no-any-return]


def monitor(registry: Registry, url: str, *args: str) -> Any:
    return registry.run("monitor", "support", "production", "--metrics-url", url + "/metrics", *args)


def page(versions: dict[str, Any]) -> Any:
    return http_server(metrics_page(lambda: exposition("support", versions)))


def test_promote_without_the_required_canary_is_refused(model: Registry) -> None:
    policy(model, "{soak: 1h, min_samples: 500, ramp: [{percent: 5, soak: 1h}]}")
    before = refs(model.root)
    err = model.fails(1, "promote", "support", "v1.1.0", "production").stderr
    assert err == (
        "gitmodel: error: gitmodel.yaml requires a canary of at least 1h with 500 requests before "
        "production: start one with `gitmodel canary start support v1.1.0 production --percent 5`, "
        "or promote with --force --reason TEXT\n"
    )
    assert refs(model.root) == before
    model.ok("promote", "support", "v1.1.0", "production", "--force", "--reason", "security fix")
    event = last(model)[0]
    assert (event["action"], event["reason"], event["version"]) == ("promote", "security fix", "v1.1.0")
    tag = model.ok("show", "support#production", "--json")
    assert json.loads(tag.stdout)["version"] == "v1.1.0"


def test_canary_promote_before_the_soak_is_refused_with_the_numbers(model: Registry) -> None:
    policy(model, "{soak: 1h, min_samples: 100}")
    model.ok("canary", "start", "support", "v1.1.0", "production", "--percent", "10")
    before = refs(model.root)
    err = model.fails(1, "promote", "support", "v1.1.0", "production").stderr
    assert (
        "before production: promote the canary running it with `gitmodel canary promote support production`"
        in err
    )
    err = model.fails(1, "canary", "promote", "support", "production").stderr
    assert err.startswith(
        "gitmodel: error: production requires a canary of at least 1h with 100 requests before it takes "
        "support v1.1.0: the canary has run "
    )
    assert "of 1h and has no request count yet (100 needed;" in err and "--force --reason TEXT" in err
    assert refs(model.root) == before
    assert "--reason" in model.fails(2, "canary", "promote", "support", "production", "--force").stderr
    model.ok("canary", "promote", "support", "production", "--force", "--reason", "hotfix")
    promoted, ended = last(model, 2)
    assert (promoted["action"], ended["action"]) == ("canary-promote", "canary-end")
    record = model.ok("history", "support", "--json", "--env", "production")
    assert json.loads(record.stdout)["events"][-1]["version"] == "v1.1.0"


def test_monitor_walks_the_ramp_then_promotes(model: Registry) -> None:
    policy(model, "{soak: 0s, min_samples: 150, ramp: [{percent: 10, soak: 0s}, {percent: 50, soak: 0s}]}")
    model.ok("canary", "start", "support", "v1.1.0", "production", "--percent", "10")
    with page(HEALTHY) as url:
        out = monitor(model, url, "--once")
        assert out.exit_code == 0, out.stdout + out.stderr
        assert (
            "healthy: no rule fired (3 checked)" not in out.stdout
            and "ramp step 1/2 at 10% -> step 2/2 at 50% after" in out.stdout
            and "tag support#production-canary#5" in out.stdout
        )
        step = last(model)[0]
        assert (step["action"], step["percent"]) == ("canary-set", 50)
        assert step["reason"].startswith("monitor: ramp step 1/2 at 10% -> step 2/2 at 50%")
        assert "200 requests to v1.1.0 since the server started" in step["reason"]
        # Fed by the loop until the ramp ends: one more step, then the promotion ends the run.
        rounds = monitor(model, url, "--rounds", "5", "--interval", "0.1", "--json")
    assert rounds.exit_code == 0, rounds.stderr
    seen = [json.loads(line) for line in rounds.stdout.splitlines()]
    assert [r["action"] for r in seen] == ["canary-promote"]
    assert seen[0]["moved_to"] == "v1.1.0" and seen[0]["tags"] == [
        "support#production#6",
        "support#production-canary!#7",
    ]
    promoted = last(model, 2)[0]
    assert promoted["action"] == "canary-promote" and promoted["reason"].startswith(
        "monitor: ramp step 2/2 at 50% done after"
    )
    listing = json.loads(model.ok("list", "--json").stdout)["models"][0]["environments"]
    assert listing["production"] == "v1.1.0"


def test_the_ramp_holds_until_a_step_has_soaked_and_a_trigger_aborts(model: Registry) -> None:
    policy(model, "{soak: 0s, ramp: [{percent: 10, soak: 1h}, {percent: 50, soak: 1h}]}")
    model.ok("canary", "start", "support", "v1.1.0", "production", "--percent", "10")
    before = refs(model.root)
    with page(HEALTHY) as url:
        out = monitor(model, url, "--once")
    assert (
        out.exit_code == 0 and "; ramp step 1/2 at 10%: healthy for " in out.stdout and " of 1h" in out.stdout
    )
    assert refs(model.root) == before
    with page(FAILING) as url:
        out = monitor(model, url, "--once", "--json")
    data = json.loads(out.stdout)
    assert out.exit_code == 1 and data["action"] == "canary-abort" and data["ramp"] is None


# --- the server's policy: a canary is structural, so pre-receive, verify and hosts check it ----


def committed_policy(registry: Registry, canary: str) -> None:
    policy(registry, canary, rollout="")
    git(registry.root, "commit", "-qam", "production only through a canary")


def test_the_policy_refuses_a_hand_made_promotion_past_the_canary(model: Registry) -> None:
    committed_policy(model, "{soak: 1h}")
    git(model.root, "tag", "-a", "-m", "x", "support#production#4", "support@v1.1.0^{commit}")
    err = model.fails(1, "verify", "support#production#4").stderr
    assert err.startswith(
        "gitmodel: error: refused support#production#4 [canary-required]: gitmodel.yaml requires a canary "
        "before production, and support v1.1.0 is not the canary production runs; start one"
    )
    git(model.root, "tag", "-d", "support#production#4")
    # An open override (recorded with its reason) passes, except where overrides are refused.
    model.ok("promote", "support", "v1.1.0", "production", "--force", "--reason", "security fix")
    model.ok("verify", "support#production#4")
    assert "[canary-required]" in model.fails(1, "verify", "--no-overrides", "support#production#4").stderr


def test_the_policy_accepts_the_canarys_own_promotion(model: Registry) -> None:
    committed_policy(model, "{soak: 0s}")
    model.ok("canary", "start", "support", "v1.1.0", "production", "--percent", "10")
    model.ok("canary", "promote", "support", "production")
    assert "the policy holds" in model.ok("verify", "--all").stdout


def test_the_first_version_of_an_environment_needs_no_canary(registered: Registry) -> None:
    committed_policy(registered, "{soak: 1h, min_samples: 100}")
    registered.ok("promote", "support", "v1.0.0", "staging")
    registered.ok("promote", "support", "v1.0.0", "production")  # nothing to run a canary beside
    assert "the policy holds" in registered.ok("verify", "--all").stdout
