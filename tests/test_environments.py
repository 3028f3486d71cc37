"""promote / gate / rollback / deprecate on real tags, real clones and a real bare origin."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from plugin import forkrun
from plugin.registry import Registry, git, random_bytes, refs
from plugin.templates import BAD, GOOD, new_version


@pytest.fixture
def model(released: Registry) -> Registry:
    """support v1.0.0 (pushed) in staging and production, v1.1.0 registered (pushed)."""
    return released


def pointer(registry: Registry, env: str) -> str | None:
    data = json.loads(registry.ok("list", "--json").stdout)
    return data["models"][0]["environments"].get(env)


def test_promote_through_staging_records_the_move(model: Registry) -> None:
    out = model.ok("promote", "support", "v1.1.0", "staging").stdout
    assert "gate PASSED against v1.0.0" in out
    assert "support#staging#3" in out
    model.ok("promote", "support", "v1.1.0", "production")
    assert pointer(model, "production") == "v1.1.0"
    events = json.loads(model.ok("history", "support", "--env", "production", "--json").stdout)["events"]
    assert [(e["action"], e["version"], e["from"]) for e in events] == [
        ("promote", "v1.0.0", None),
        ("promote", "v1.1.0", "v1.0.0"),
    ]
    assert events[-1]["gate"]["passed"] is True
    assert events[-1]["actor"] == "Ada Tester <ada@example.com>"


def test_promotion_order_is_enforced(model: Registry) -> None:
    before = refs(model.root)
    result = model.fails(1, "promote", "support", "v1.1.0", "production")
    assert "has not been in staging" in result.stderr
    assert refs(model.root) == before


def test_gate_refuses_a_bad_model_and_the_pointer_stays(model: Registry) -> None:
    new_version(model, 3, BAD)
    before = refs(model.root)
    result = model.run("promote", "support", "v1.2.0", "staging")
    assert result.exit_code == 1
    assert "accuracy" in result.stdout and "FAIL" in result.stdout and "REFUSED" in result.stdout
    assert (
        "gate refused support v1.2.0 for staging against v1.0.0 (production): accuracy 0.942 -> 0.8"
        in result.stderr
    )
    assert refs(model.root) == before
    assert pointer(model, "staging") == "v1.0.0"
    assert model.run("gate", "support", "v1.2.0", "staging").exit_code == 1
    verdict = json.loads(model.run("gate", "support", "v1.1.0", "staging", "--json").stdout)
    assert verdict["passed"] is True


def test_force_needs_a_reason_and_is_recorded(model: Registry) -> None:
    new_version(model, 3, BAD)
    assert "--reason" in model.fails(2, "promote", "support", "v1.2.0", "staging", "--force").stderr
    model.ok("promote", "support", "v1.2.0", "staging", "--force", "--reason", "known eval bug")
    last = json.loads(model.ok("history", "support", "--json").stdout)["events"][-1]
    assert last["action"] == "force-promote"
    assert last["reason"] == "known eval bug"
    assert last["gate"]["forced"] is True and last["gate"]["passed"] is False


def test_gate_rules_from_config(model: Registry) -> None:
    cfg = (
        (model.root / "gitmodel.yaml")
        .read_text()
        .replace("  metrics: {}", "  metrics:\n    accuracy: {abs_tolerance: 0.2}")
    )
    model.write("gitmodel.yaml", cfg)
    new_version(model, 3, BAD)
    model.ok("promote", "support", "v1.2.0", "staging")  # 0.942 -> 0.80 is within 0.2 absolute


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["promote", "nope", "v1.0.0", "staging"], 2, "unknown model 'nope'"),
        (["promote", "support", "v9.0.0", "staging"], 2, "has no version v9.0.0"),
        (["promote", "support", "v1.0.0", "qa"], 2, "unknown environment 'qa'"),
        (["promote", "support", "1.0", "staging"], 2, "vMAJOR.MINOR.PATCH"),
        (["rollback", "qa", "support"], 2, "unknown environment"),
        (["rollback", "production", "support", "--to", "v7.0.0"], 2, "has no version v7.0.0"),
        (["rollback", "production", "support", "--to", "v1.0.0"], 1, "already serves"),
    ],
)
def test_bad_input_writes_no_tag(model: Registry, args: list[str], code: int, words: str) -> None:
    before = refs(model.root)
    assert words in model.fails(code, *args).stderr
    assert refs(model.root) == before


def test_promote_same_version_is_a_no_op(model: Registry) -> None:
    before = refs(model.root)
    assert "already serves" in model.ok("promote", "support", "v1.0.0", "production").stdout
    assert refs(model.root) == before


def test_rollback_returns_to_previous_and_skips_rolled_back_versions(model: Registry) -> None:
    model.ok("promote", "support", "v1.1.0", "staging")
    model.ok("promote", "support", "v1.1.0", "production")
    out = model.ok("rollback", "production", "--reason", "bad answers").stdout
    assert "support production -> v1.0.0 (was v1.1.0)" in out
    assert pointer(model, "production") == "v1.0.0"
    # v1.1.0 was rolled back away from: it is not a rollback target any more
    assert "no earlier good version" in model.fails(1, "rollback", "production").stderr
    new_version(model, 4, GOOD, "--push")
    model.ok("promote", "support", "v1.2.0", "staging")
    model.ok("promote", "support", "v1.2.0", "production")
    model.ok("rollback", "production")
    assert pointer(model, "production") == "v1.0.0"
    # --to goes anywhere not deprecated, including a version rolled back from
    model.ok("rollback", "production", "support", "--to", "v1.1.0")
    assert pointer(model, "production") == "v1.1.0"
    last = json.loads(model.ok("history", "support", "--json").stdout)["events"][-1]
    assert (last["action"], last["from"], last["version"]) == ("rollback", "v1.0.0", "v1.1.0")


def test_rollback_refuses_target_missing_from_dvc_remote(registry: Registry) -> None:
    registry.write("m.gguf", random_bytes(2000, 1))
    registry.ok("register", "support", "m.gguf", "--meta", str(registry.meta()))  # not pushed
    registry.ok("promote", "support", "v1.0.0", "staging")
    new_version(registry, 2, GOOD, "--push")
    registry.ok("promote", "support", "v1.1.0", "staging")
    before = refs(registry.root)
    result = registry.fails(1, "rollback", "staging")
    assert "missing from the DVC remote" in result.stderr
    assert refs(registry.root) == before


def test_deprecated_version_cannot_come_back(model: Registry) -> None:
    model.ok("promote", "support", "v1.1.0", "staging")
    model.ok("deprecate", "support", "v1.0.0", "--force", "--reason", "leaks PII")  # production serves it
    assert git(model.root, "tag", "-l", "support@v1.0.0!").stdout.strip() == "support@v1.0.0!"
    assert "deprecated" in model.fails(1, "promote", "support", "v1.0.0", "staging").stderr
    assert "deprecated" in model.fails(1, "rollback", "staging", "--to", "v1.0.0").stderr
    assert "no earlier good version" in model.fails(1, "rollback", "staging").stderr
    assert "already deprecated" in model.fails(1, "deprecate", "support", "v1.0.0").stderr
    # One word for it everywhere: `show` says deprecated too (never GTO's "deregistered").
    shown = json.loads(model.ok("show", "support@v1.0.0", "--json").stdout)
    assert shown["deprecated"] is True and "deregistered" not in shown
    assert json.loads(model.ok("show", "support@v1.1.0", "--json").stdout)["deprecated"] is False
    assert re.search(r"^status\s+deprecated$", model.ok("show", "support@v1.0.0").stdout, re.M)


def test_rollback_needs_a_name_with_several_models(model: Registry) -> None:
    model.write("other.gguf", random_bytes(100, 9))
    model.ok("register", "other", "other.gguf", "--meta", str(model.meta()))
    result = model.fails(2, "rollback", "production")
    assert "several models" in result.stderr and "other, support" in result.stderr


def test_history_at_a_time(model: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_COMMITTER_DATE", "2030-01-01T10:00:00Z")
    model.ok("promote", "support", "v1.1.0", "staging")
    monkeypatch.setenv("GIT_COMMITTER_DATE", "2030-01-02T10:00:00Z")
    model.ok("promote", "support", "v1.1.0", "production")
    at = json.loads(model.ok("history", "support", "--at", "2030-01-01T12:00:00Z", "--json").stdout)
    assert at["environments"] == {"staging": "v1.1.0", "production": "v1.0.0"}
    at = json.loads(model.ok("history", "support", "--at", "2030-01-02", "--json").stdout)
    assert at["environments"]["production"] == "v1.1.0"
    assert "ISO 8601" in model.fails(2, "history", "support", "--at", "yesterday").stderr


def smoke_config(registry: Registry, script: str, timeout: float = 10) -> None:
    """gitmodel.yaml names `eval-small`; the promoter's own config file says what it runs."""
    command = f"{shlex.quote(sys.executable)} -c {shlex.quote(script)}"
    user = Path(os.environ["XDG_CONFIG_HOME"]) / "gitmodel" / "config.yaml"
    user.parent.mkdir(parents=True, exist_ok=True)
    user.write_text(f"commands:\n  eval-small: {json.dumps(command)}\n")
    cfg = (registry.root / "gitmodel.yaml").read_text()
    registry.write("gitmodel.yaml", cfg + f"smoke: {{command: eval-small, timeout: {timeout}}}\n")


def test_smoke_test_sees_the_candidate_files_and_its_metrics_count(model: Registry) -> None:
    # The smoke test reads the candidate's bytes and reports a metric from them.
    script = (
        "import os,json; d=os.environ['GITMODEL_ARTIFACT_DIR']; "
        "b=open(os.path.join(d,'m.gguf'),'rb').read(); print(json.dumps({'smoke_size': len(b)}))"
    )
    smoke_config(model, script)
    out = model.ok("promote", "support", "v1.1.0", "staging").stdout
    assert "smoke_size" in out and "2000" in out
    last = json.loads(model.ok("history", "support", "--json").stdout)["events"][-1]
    checks = {c["metric"]: c for c in last["gate"]["checks"]}
    assert checks["smoke_size"]["candidate"] == 2000


@pytest.mark.parametrize(
    ("script", "timeout", "words"),
    [
        ("import sys; sys.exit(3)", 10, "exited 3"),
        ("print('not json')", 10, "JSON"),
        ("import time; time.sleep(30)", 1, "1"),
        ('print(\'{"accuracy": "high"}\')', 10, "accuracy"),
    ],
)
def test_failing_smoke_tests_refuse(model: Registry, script: str, timeout: float, words: str) -> None:
    smoke_config(model, script, timeout)
    before = refs(model.root)
    result = model.fails(1, "promote", "support", "v1.1.0", "staging")
    assert words in result.stderr
    assert refs(model.root) == before


def clone(origin: Path, where: Path) -> Path:
    git(where.parent, "clone", "-q", str(origin), str(where))
    return where


def gitmodel_proc(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gitmodel", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
def test_concurrent_pushes_land_whole_or_exit_3(model: Registry, tmp_path: Path) -> None:
    origin = tmp_path / "origin.git"
    new_version(model, 3, GOOD, "--push")
    for version, env in (("v1.1.0", "staging"), ("v1.1.0", "production"), ("v1.2.0", "staging")):
        model.ok("promote", "support", version, env)
    git(model.root, "push", "-q", "origin", "main", "--tags")
    clones = [clone(origin, tmp_path / f"clone{i}") for i in range(4)]
    # Four different moves, so none can turn into a no-op whatever order they land in
    # (rollback --to only goes back to versions the environment served).
    moves = [
        ("rollback", "staging", "support", "--to", "v1.0.0", "--push"),
        ("rollback", "production", "support", "--to", "v1.0.0", "--push"),
        ("promote", "support", "v1.2.0", "production", "--push"),
        ("rollback", "staging", "support", "--to", "v1.1.0", "--push"),
    ]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda cm: gitmodel_proc(cm[0], *cm[1]), zip(clones, moves, strict=True)))
    codes = [r.returncode for r in results]
    assert set(codes) <= {0, 3}, [(r.returncode, r.stderr) for r in results]
    assert 0 in codes
    for r in results:
        if r.returncode == 3:
            assert "origin refused" in r.stderr
    for c, r in zip(clones, results, strict=True):
        if r.returncode == 3:  # no local tag that disagrees with origin
            local = set(git(c, "tag").stdout.split())
            remote = set(git(origin, "tag").stdout.split())
            assert local <= remote
    remote_tags = git(origin, "tag").stdout.split()
    counters = [t.rsplit("#", 1)[1] for t in remote_tags if "#" in t]
    assert len(counters) == len(set(counters))  # no two tags claim the same #N
    fresh = clone(origin, tmp_path / "fresh")
    # the reads after the race are about their answers: forked (imports paid once)
    listing = json.loads(forkrun.run("gitmodel", ["list", "--json"], fresh, timeout=120).stdout)
    history = json.loads(
        forkrun.run("gitmodel", ["history", "support", "--json"], fresh, timeout=120).stdout
    )["events"]
    replay: dict[str, str] = {}
    for e in history:
        if e["environment"]:
            replay[e["environment"]] = e["version"]
    assert listing["models"][0]["environments"] == replay
    # every move that exited 0 is in origin's history, and nothing else is
    landed = [r.stdout.split("tag     ")[1].split()[0] for r in results if r.returncode == 0]
    assert set(landed) <= set(remote_tags)
    assert len(counters) == 5 + len(landed)


def test_push_race_exits_3_and_leaves_no_local_tag(model: Registry, tmp_path: Path) -> None:
    """Another clone moves the model while our push is in flight: origin refuses ours whole."""
    origin = tmp_path / "origin.git"
    git(model.root, "push", "-q", "origin", "main", "--tags")
    other = clone(origin, tmp_path / "other")
    # Our pre-push hook runs after gitmodel chose its #N and before origin sees the push:
    # there the other clone lands its own move, once, on a different environment.
    hook = model.root / ".git" / "hooks" / "pre-push"
    hook.write_text(
        "#!/bin/sh\n"
        f"[ -e {tmp_path}/raced ] && exit 0\ntouch {tmp_path}/raced\n"
        f"cd {other} && {sys.executable} -m gitmodel canary start support v1.1.0 staging"
        " --percent 5 --push >/dev/null\n"
    )
    hook.chmod(0o755)
    before = set(git(model.root, "tag").stdout.split())
    result = model.fails(3, "promote", "support", "v1.1.0", "staging", "--push")
    assert "origin refused support#staging#3" in result.stderr
    assert "support#staging-canary#3" in result.stderr  # says what changed, and who
    assert set(git(model.root, "tag").stdout.split()) - before <= {"support#staging-canary#3"}
    assert "support#staging#3" not in git(origin, "tag").stdout.split()
    # Retrying is safe and lands with the next counter.
    assert "support#staging#4" in model.ok("promote", "support", "v1.1.0", "staging", "--push").stdout


def test_unreachable_origin_exits_4_and_writes_nothing(model: Registry, tmp_path: Path) -> None:
    git(model.root, "remote", "set-url", "origin", str(tmp_path / "gone.git"))
    before = refs(model.root)
    assert (
        "could not fetch from origin"
        in model.fails(4, "promote", "support", "v1.1.0", "staging", "--push").stderr
    )
    assert "could not fetch" in model.fails(4, "rollback", "production", "--push").stderr
    assert refs(model.root) == before


def test_push_refuses_to_point_origin_at_a_version_it_lacks(model: Registry) -> None:
    new_version(model, 5, GOOD)  # v1.2.0 registered locally only
    before = refs(model.root)
    result = model.fails(1, "promote", "support", "v1.2.0", "staging", "--push")
    assert "origin does not have support@v1.2.0" in result.stderr
    assert refs(model.root) == before
    model.ok("promote", "support", "v1.2.0", "staging")  # a local move is fine


def test_rollback_with_an_expectation_refuses_a_moved_environment(model: Registry) -> None:
    from gitmodel.environments import rollback
    from gitmodel.errors import ConflictError
    from gitmodel.refs import Version

    model.ok("promote", "support", "v1.1.0", "staging")
    before = refs(model.root)
    with pytest.raises(ConflictError, match=r"now serves support v1\.1\.0, not v1\.0\.0"):
        rollback(model.root, "staging", "support", expect=Version(1, 0, 0))
    assert refs(model.root) == before
    move = rollback(model.root, "staging", "support", expect=Version(1, 1, 0))
    assert str(move.version) == "v1.0.0"
