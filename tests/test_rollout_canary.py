"""canary start / set / promote / abort on real tags, a real bare origin and real GTO."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from plugin.registry import Registry, git, random_bytes, refs
from plugin.templates import BAD, GOOD, new_version


def pointer(registry: Registry, env: str) -> str | None:
    data = json.loads(registry.ok("list", "--json").stdout)
    return data["models"][0]["environments"].get(env)


def status(registry: Registry, env: str = "production") -> dict[str, object]:
    return json.loads(registry.ok("canary", "status", "support", env, "--json").stdout)


def events(registry: Registry) -> list[dict[str, object]]:
    return json.loads(registry.ok("history", "support", "--json").stdout)["events"]


def test_canary_lifecycle_start_set_promote(model: Registry) -> None:
    out = model.ok(
        "canary", "start", "support", "v1.1.0", "production", "--percent", "5", "--reason", "try Q1 model"
    ).stdout
    assert "gate PASSED against v1.0.0" in out
    assert "canary-start: support production canary v1.1.0 at 5% (stable v1.0.0)" in out
    assert "support#production-canary#4" in out
    assert status(model) == {
        "model": "support",
        "environment": "production",
        "stable": "v1.0.0",
        "canary": "v1.1.0",
        "percent": 5.0,
        "salt": "support#production#v1.1.0",
    }
    assert pointer(model, "production") == "v1.0.0"

    assert "5% -> 25%" not in model.ok("canary", "set", "support", "production", "--percent", "25").stdout
    assert status(model)["percent"] == 25.0
    assert "already gets 25%" in model.ok("canary", "set", "support", "production", "--percent", "25").stdout

    before = set(git(model.root, "tag").stdout.split())
    out = model.ok("canary", "promote", "support", "production").stdout
    new = set(git(model.root, "tag").stdout.split()) - before
    assert new == {"support#production#6", "support#production-canary!#7"}
    assert "canary-promote: support production -> v1.1.0 (was v1.0.0); canary ended" in out
    assert pointer(model, "production") == "v1.1.0"
    assert status(model)["canary"] is None and status(model)["stable"] == "v1.1.0"

    rows = [
        (e["action"], e["version"], e["environment"], e["from"], e["reason"])
        for e in events(model)
        if e["counter"] and int(str(e["counter"])) >= 4
    ]
    assert rows[0] == ("canary-start", "v1.1.0", "production-canary", "v1.0.0", "try Q1 model")
    assert rows[1][:3] == ("canary-set", "v1.1.0", "production-canary")
    assert rows[2][:4] == ("canary-promote", "v1.1.0", "production", "v1.0.0")
    assert rows[3][:3] == ("canary-end", "v1.1.0", "production-canary")


def test_start_records_gate_percent_and_stable(model: Registry) -> None:
    model.ok("canary", "start", "support", "v1.1.0", "production", "--percent", "12.5")
    msg = git(model.root, "tag", "-l", "--format=%(contents)", "support#production-canary#4").stdout
    record = json.loads(msg.split("gitmodel-record: ")[1])
    assert record["action"] == "canary-start"
    assert (record["version"], record["stable"], record["percent"], record["env"]) == (
        "v1.1.0",
        "v1.0.0",
        12.5,
        "production",
    )
    assert record["gate"]["passed"] is True and record["actor"] == "Ada Tester <ada@example.com>"


def test_abort_returns_traffic_to_stable_and_records_why(model: Registry) -> None:
    model.ok("canary", "start", "support", "v1.1.0", "production", "--percent", "5")
    out = model.ok("canary", "abort", "support", "production", "--reason", "bad answers").stdout
    assert "back to v1.0.0 for all traffic" in out and "support#production-canary!#5" in out
    assert status(model)["canary"] is None
    assert pointer(model, "production") == "v1.0.0"
    last = events(model)[-1]
    assert (last["action"], last["reason"], last["environment"]) == (
        "canary-abort",
        "bad answers",
        "production-canary",
    )
    # a new canary may start after an abort
    model.ok("canary", "start", "support", "v1.1.0", "production", "--percent", "5")
    assert status(model)["canary"] == "v1.1.0"


@pytest.mark.parametrize("percent", ["0", "100", "-5", "150", "nan"])
def test_percent_out_of_range_is_a_usage_error(model: Registry, percent: str) -> None:
    before = refs(model.root)
    result = model.fails(2, "canary", "start", "support", "v1.1.0", "production", "--percent", percent)
    assert "between 0 and 100" in result.stderr
    model.ok("canary", "start", "support", "v1.1.0", "production", "--percent", "5")
    after_start = refs(model.root)
    assert (
        "between 0 and 100"
        in model.fails(2, "canary", "set", "support", "production", "--percent", percent).stderr
    )
    assert refs(model.root) == after_start != before


def test_refusals_write_nothing(model: Registry) -> None:
    new_version(model, 3, BAD)  # v1.2.0: gate refuses it
    before = refs(model.root)
    cases = [
        (
            1,
            ["canary", "start", "support", "v1.0.0", "production", "--percent", "5"],
            "not newer than v1.0.0",
        ),
        (1, ["canary", "set", "support", "production", "--percent", "5"], "no active canary in production"),
        (1, ["canary", "promote", "support", "production"], "no active canary"),
        (1, ["canary", "abort", "support", "production"], "no active canary"),
        (2, ["canary", "start", "support", "v1.1.0", "qa", "--percent", "5"], "unknown environment 'qa'"),
        (2, ["canary", "start", "support", "v9.0.0", "production", "--percent", "5"], "has no version"),
        (2, ["canary", "start", "nope", "v1.1.0", "production", "--percent", "5"], "unknown model"),
        (
            1,
            ["canary", "start", "support", "v1.2.0", "production", "--percent", "5"],
            "has not been in staging",
        ),
        (2, ["canary", "start", "support", "v1.1.0", "production", "--percent", "5", "--force"], "--reason"),
    ]
    for code, args, words in cases:
        assert words in model.fails(code, *args).stderr, args
    assert refs(model.root) == before


def test_gate_refusal_shows_the_verdict_and_force_records_it(model: Registry) -> None:
    new_version(model, 3, BAD)
    model.ok("promote", "support", "v1.2.0", "staging", "--force", "--reason", "eval bug")
    before = refs(model.root)
    result = model.run("canary", "start", "support", "v1.2.0", "production", "--percent", "5")
    assert result.exit_code == 1 and "REFUSED" in result.stdout
    assert "gate refused support v1.2.0 for production against v1.0.0" in result.stderr
    assert refs(model.root) == before
    model.ok(
        "canary",
        "start",
        "support",
        "v1.2.0",
        "production",
        "--percent",
        "5",
        "--force",
        "--reason",
        "eval bug",
    )
    last = events(model)[-1]
    assert last["gate"]["forced"] is True and last["reason"] == "eval bug"


def test_second_canary_is_refused(model: Registry) -> None:
    model.ok("canary", "start", "support", "v1.1.0", "production", "--percent", "5")
    new_version(model, 3, GOOD)
    model.ok("promote", "support", "v1.2.0", "staging")
    before = refs(model.root)
    result = model.fails(1, "canary", "start", "support", "v1.2.0", "production", "--percent", "5")
    assert "already has a canary of support: v1.1.0 at 5%" in result.stderr
    assert refs(model.root) == before


def test_canary_on_an_empty_environment_is_refused(registry: Registry) -> None:
    registry.write("m.gguf", random_bytes(100, 0))
    registry.ok("register", "support", "m.gguf", "--meta", str(registry.meta()))
    assert (
        "serves no version"
        in registry.fails(1, "canary", "start", "support", "v1.0.0", "staging", "--percent", "5").stderr
    )


def test_canary_without_promotion_rule_in_staging(model: Registry) -> None:
    new_version(model, 3, GOOD)
    model.ok("canary", "start", "support", "v1.2.0", "staging", "--percent", "50")
    assert status(model, "staging")["canary"] == "v1.2.0"
    assert status(model)["canary"] is None  # production's canary is another stage


def test_push_lands_promote_atomically_on_origin(model: Registry, tmp_path: Path) -> None:
    origin = tmp_path / "origin.git"
    model.ok("canary", "start", "support", "v1.1.0", "production", "--percent", "5", "--push")
    model.ok("canary", "promote", "support", "production", "--push")
    remote = set(git(origin, "tag").stdout.split())
    assert {"support#production-canary#4", "support#production#5", "support#production-canary!#6"} <= remote
    seq = git(origin, "for-each-ref", "--format=%(objectname)", "refs/gitmodel/seq/support").stdout.strip()
    assert seq == git(model.root, "rev-parse", "support#production-canary!#6").stdout.strip()


def test_promote_race_exits_3_and_lands_nothing(model: Registry, tmp_path: Path) -> None:
    origin = tmp_path / "origin.git"
    model.ok("canary", "start", "support", "v1.1.0", "production", "--percent", "5")
    # Our race hook replaces the installed pre-push hook (as in test_environments), so
    # publish the start with plain git.
    git(model.root, "push", "-q", "--no-verify", "origin", "main", "--tags")
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(origin), str(other))
    # Between our counter choice and our push, another clone aborts the canary.
    hook = model.root / ".git" / "hooks" / "pre-push"
    hook.write_text(
        "#!/bin/sh\n"
        f"[ -e {tmp_path}/raced ] && exit 0\ntouch {tmp_path}/raced\n"
        f"cd {other} && {sys.executable} -m gitmodel canary abort support production --push >/dev/null\n"
    )
    hook.chmod(0o755)
    result = model.fails(3, "canary", "promote", "support", "production", "--push")
    assert "origin refused" in result.stderr
    remote = set(git(origin, "tag").stdout.split())
    assert "support#production-canary!#5" in remote  # the other clone's abort
    assert "support#production#5" not in remote and "support#production-canary!#6" not in remote
    assert "support#production#5" not in git(model.root, "tag").stdout.split()
    # the retry sees the abort and refuses: nothing half-promoted anywhere
    assert "no active canary" in model.fails(1, "canary", "promote", "support", "production", "--push").stderr
    assert pointer(model, "production") == "v1.0.0"


def gto(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("gto")
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_gto_reads_the_canary_stage(model: Registry) -> None:
    model.ok("canary", "start", "support", "v1.1.0", "production", "--percent", "5")
    shown = gto(model.root, "show", "--json")
    assert shown.returncode == 0, shown.stderr
    stages = json.loads(shown.stdout)["support"]["stage"]
    assert stages.get("production-canary") == "v1.1.0", stages
    assert stages.get("production") == "v1.0.0"
    one = gto(model.root, "show", "support#production-canary", "--version")
    assert one.returncode == 0 and one.stdout.strip() == "v1.1.0", one.stderr
    model.ok("canary", "promote", "support", "production")
    stages = json.loads(gto(model.root, "show", "--json").stdout)["support"]["stage"]
    assert stages.get("production") == "v1.1.0"
    assert not stages.get("production-canary"), stages  # unassigned: GTO shows no version
    hist = gto(model.root, "history", "support", "--json")
    assert hist.returncode == 0, hist.stderr


def test_promote_after_a_direct_promote_only_ends_the_canary(model: Registry) -> None:
    model.ok("canary", "start", "support", "v1.1.0", "production", "--percent", "5")
    model.ok("promote", "support", "v1.1.0", "production")  # someone skipped the canary
    before = set(git(model.root, "tag").stdout.split())
    model.ok("canary", "promote", "support", "production")
    assert set(git(model.root, "tag").stdout.split()) - before == {"support#production-canary!#6"}
    assert pointer(model, "production") == "v1.1.0" and status(model)["canary"] is None
