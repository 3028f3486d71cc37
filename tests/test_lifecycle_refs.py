"""refs/gitmodel/lifecycle/MODEL/N are judged by the real server hook and by `verify --all`
(`lifecycle-records`, gitmodel/policy/lifecycle.py): gitmodel's own records pass, forged
ones are refused before any clone can fetch them."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from plugin.registry import Registry, git

from gitmodel.policy import lifecycle

PREFIX = "refs/gitmodel/lifecycle/"
RULE = "[lifecycle-records]"
GOOD = {"action": "deprecate-on", "version": "v1.0.0", "on": "2999-01-01", "reason": None}


def message(record: object, raw: str | None = None) -> str:
    line = raw if raw is not None else json.dumps(record)
    return f"gitmodel: something\n\ngitmodel-record: {line}\n"


@pytest.mark.parametrize(
    ("record", "raw", "why"),
    [
        (GOOD, None, None),
        ({**GOOD, "extra": "new writers may add plain fields"}, None, None),
        (
            {
                "action": "archive",
                "version": "v1.0.0",
                "cold_remote": "cold",
                "objects": 3,
                "hot_remote": None,
            },
            None,
            None,
        ),
        ({"action": "restore", "version": "v1.0.0", "cold_remote": "cold"}, None, None),
        (
            {
                "action": "drill",
                "version": "v1.0.0",
                "env": "prod",
                "seconds": 1.5,
                "passed": True,
                "to": "v0.9.0",
            },
            None,
            None,
        ),
        ({"action": "archive", "version": "v1.0.0"}, None, "lacks 'cold_remote'"),
        (
            {"action": "archive", "version": "v1.0.0", "cold_remote": "c", "objects": True},
            None,
            "lacks 'objects'",
        ),
        ({**GOOD, "on": "soon"}, None, "bad value"),
        ({**GOOD, "version": "1.0"}, None, "bad value"),
        (
            {"action": "drill", "version": "v1.0.0", "env": "Prod!", "seconds": 1, "passed": False},
            None,
            "bad value",
        ),
        ({"action": "promote", "version": "v1.0.0"}, None, "not a lifecycle action"),
        ({**GOOD, "reason": {"nested": 1}}, None, "is nested"),
        ({**GOOD, "reason": "x" * 5000}, None, "over 4096 characters"),
        (None, "[" * 5000 + "]" * 5000, "not JSON"),
        (None, "[1, 2]", "must be a JSON object"),
        (None, "{not json", "not JSON"),
    ],
)
def test_a_record_is_one_flat_object_with_its_actions_fields(
    record: object, raw: str | None, why: str | None
) -> None:
    got = lifecycle._record(message(record, raw))
    if why is None:
        assert isinstance(got, dict)
    else:
        assert isinstance(got, str) and why in got, got


def test_a_message_without_a_record_line_is_refused() -> None:
    assert "no `gitmodel-record:` line" in str(lifecycle._record("gitmodel: hello\n"))


@pytest.mark.parametrize(
    ("ref", "ok"),
    [
        ("support/1", True),
        ("acme=support/12", True),
        ("support/0", False),
        ("support/01", False),
        ("support/x", False),
        ("support/1/2", False),
        ("support", False),
        ("Support/1", False),
        ("acme:support/1", False),
        ("support/1234567890", False),
    ],
)
def test_a_record_ref_is_model_slash_a_positive_counter(ref: str, ok: bool) -> None:
    got = lifecycle._name(PREFIX + ref)
    assert isinstance(got, tuple) is ok, got


# --- end to end: a bare origin with the real server hook ------------------------------


def tag_object(repo: Path, name: str, target: str, text: str) -> str:
    """A tag object named `name` at `target` with message `text`, filed under no ref."""
    head = git(repo, "var", "GIT_COMMITTER_IDENT").stdout.strip()
    body = f"object {target}\ntype commit\ntag {name}\ntagger {head}\n\n{text}"
    proc = subprocess.run(
        ["git", "hash-object", "-t", "tag", "-w", "--stdin"],
        cwd=repo,
        input=body,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def push(repo: Path, *specs: str) -> subprocess.CompletedProcess[str]:
    return git(repo, "push", "--no-verify", "origin", *specs, check=False)


def commit_of(repo: Path, tag: str) -> str:
    return git(repo, "rev-parse", f"{tag}^{{commit}}").stdout.strip()


@pytest.fixture
def guarded(template_copy: Callable[[str], Registry], tmp_path: Path) -> Registry:
    """`released` (v1.0.0 served, v1.1.0 registered, pushed) with the server hook on origin."""
    reg = template_copy("released")
    reg.ok("hooks", "install", "--server", "--path", str(tmp_path / "origin.git"))
    return reg


@pytest.mark.slow
def test_gitmodels_own_records_pass_the_server_hook_and_verify(guarded: Registry, tmp_path: Path) -> None:
    from gitmodel.lifecycle import events

    reg, origin = guarded, tmp_path / "origin.git"
    cold = tmp_path / "cold-remote"
    with (reg.root / ".dvc" / "config").open("a") as fh:
        fh.write(f"['remote \"cold\"']\n    url = {cold}\n")
    with (reg.root / "gitmodel.yaml").open("a") as fh:
        fh.write(
            "retention:\n  cold_remote: cold\n  rollback_window: 1\n  min_retention_days: 0\n"
            "  statuses:\n    development: {max_versions: 0}\n"
        )
    reg.ok("deprecate", "support", "v1.1.0", "--on", "2999-01-01", "--reason", "replaced")
    done = json.loads(reg.ok("gc", "--json").stdout)
    assert [(r["version"], r["action"], r["done"]) for r in done["rows"]] == [("v1.1.0", "archive", True)]
    reg.ok("restore", "support@v1.1.0")
    drill = {
        "action": "drill",
        "env": "production",
        "version": "v1.0.0",
        "to": None,
        "back_seconds": 0.5,
        "forward_seconds": 0.5,
        "seconds": 1.0,
        "limit": 60,
        "passed": True,
        "host": "h1",
    }  # host/drill.py's record, pushed through the client's pre-push and the server's hook
    events.write(
        reg.root, "support", commit_of(reg.root, "support@v1.0.0"), "gitmodel: drill", drill, push=True
    )

    listed = git(origin, "for-each-ref", "--format=%(refname)", PREFIX.rstrip("/")).stdout.split()
    assert listed == [f"{PREFIX}support/{n}" for n in (1, 2, 3, 4)]
    verified = reg.run("verify", "--all")
    assert verified.exit_code == 0, (verified.stdout, verified.stderr)

    # A record is written once: moving or deleting one is refused like a tag.
    before = git(origin, "for-each-ref").stdout
    other = tag_object(reg.root, "x", commit_of(reg.root, "HEAD"), "moved\n")
    for spec in (f":{PREFIX}support/1", f"+{other}:{PREFIX}support/1"):
        proc = push(reg.root, spec)
        assert proc.returncode != 0 and f"refused {PREFIX}support/1 {RULE}" in proc.stderr, proc.stderr
    assert git(origin, "for-each-ref").stdout == before


@pytest.mark.slow
def test_forged_records_are_refused_one_line_each_and_origin_is_unchanged(
    guarded: Registry, tmp_path: Path, fs_guard: Callable[..., Any]
) -> None:
    reg, origin = guarded, tmp_path / "origin.git"
    v1, head = commit_of(reg.root, "support@v1.0.0"), commit_of(reg.root, "HEAD")
    assert v1 != head
    archive = json.dumps({"action": "archive", "version": "v1.0.0"})
    forged = {
        "support/1": tag_object(reg.root, "gitmodel-lifecycle-support-1", v1, message(None, archive)),
        "support/2": tag_object(reg.root, "gitmodel-lifecycle-support-2", v1, message(None, "[" * 5000)),
        "support/3": tag_object(
            reg.root, "gitmodel-lifecycle-support-3", v1, message({**GOOD, "version": "v9.9.9"})
        ),
        "support/4": tag_object(reg.root, "bomb", v1, message(GOOD)),
        "support/5": tag_object(reg.root, "gitmodel-lifecycle-support-5", head, message(GOOD)),
        "support/6": v1,  # a bare commit: no record at all
        "support/0": tag_object(reg.root, "gitmodel-lifecycle-support-0", v1, message(GOOD)),
        "Nope/1": tag_object(reg.root, "gitmodel-lifecycle-Nope-1", v1, message(GOOD)),
    }
    guard = fs_guard(origin)
    proc = push(reg.root, *(f"{oid}:{PREFIX}{ref}" for ref, oid in forged.items()))
    assert proc.returncode != 0
    refused = [line for line in proc.stderr.splitlines() if RULE in line]
    for ref in forged:
        assert sum(f"refused {PREFIX}{ref} {RULE}" in line for line in refused) == 1, (ref, proc.stderr)
    for said in ("lacks 'cold_remote'", "not JSON", "v9.9.9, which is not registered", "named gitmodel-"):
        assert said in proc.stderr
    assert "must point at v1.0.0's commit" in proc.stderr and "names a commit" in proc.stderr
    guard.assert_unchanged()
    assert not git(origin, "for-each-ref", PREFIX.rstrip("/")).stdout

    # The same record, well made, passes: the refusals were about the forgeries alone.
    good = tag_object(reg.root, "gitmodel-lifecycle-support-1", v1, message(GOOD))
    proc = push(reg.root, f"{good}:{PREFIX}support/1")
    assert proc.returncode == 0, proc.stderr


def test_verify_all_reports_a_forged_record_already_in_the_repo(
    template_copy: Callable[[str], Registry],
) -> None:
    # Hosted Git runs no pre-receive: CI's `verify --all` judges the records a repo holds.
    reg = template_copy("pushed")
    v1 = commit_of(reg.root, "support@v1.0.0")
    forged = tag_object(reg.root, "gitmodel-lifecycle-support-1", v1, message(None, '{"action":"archive"}'))
    git(reg.root, "update-ref", f"{PREFIX}support/1", forged)
    result = reg.run("verify", "--all")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert f"refused {PREFIX}support/1 {RULE}: its archive record lacks 'version'" in result.stderr
