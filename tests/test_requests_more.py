"""Promotion requests, continued, with real git, a bare origin and its pre-receive hook:
a request the gate refuses opened with --force (and carried out as a forced move, or
refused where overrides are), request branches deleted once carried out or superseded,
and environment branches left behind by a tag pushed without them."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import Result
from plugin.branches import clone, setup
from plugin.clients import gto_json, run_client
from plugin.fsguard import Guard
from plugin.registry import Registry, git, refs
from plugin.templates import BAD, GOOD, new_version

from gitmodel.envbranches.apply import status
from gitmodel.envbranches.requestfile import Request, format_request, read_request
from gitmodel.records import parse as parse_record
from gitmodel.refs import Action, Ref, Version
from gitmodel.registry import Event, ModelState

V1 = ".gitmodel/requests/production/support/v1.0.0"
V2 = ".gitmodel/requests/production/support/v1.1.0"
B1 = "gitmodel/request/production/support/v1.0.0"
B2 = "gitmodel/request/production/support/v1.1.0"


def run_in(reg: Registry, where: Path, code: int, *args: str) -> Result:
    result = reg.run(*args, cwd=where)
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    return result


def merge(hosting: Path, branch: str) -> None:
    """The hosting's merge button: a merge commit on main, pushed."""
    git(hosting, "fetch", "-q", "origin")
    git(hosting, "merge", "-q", "--no-ff", "-m", f"Merge {branch}", f"origin/{branch}")
    git(hosting, "push", "-q", "origin", "main")


def commit_of(repo: Path, rev: str) -> str:
    return git(repo, "rev-parse", f"{rev}^{{commit}}").stdout.strip()


def heads(origin: Path, prefix: str) -> list[str]:
    return git(origin, "for-each-ref", "--format=%(refname:short)", f"refs/heads/{prefix}").stdout.split()


# --- request.yaml (pure) ------------------------------------------------------------------


def request(**kw: object) -> Request:
    fields: dict[str, object] = {
        "model": "support",
        "version": Version(1, 1, 0),
        "env": "production",
        "commit": "a" * 40,
        "previous": Version(1, 0, 0),
        "counter": 3,
    }
    return Request(**{**fields, **kw})  # type: ignore[arg-type]


def test_a_forced_request_round_trips_and_an_edited_one_is_not_a_request() -> None:
    forced = request(forced=True, reason="eval set changed")
    text = format_request(forced, {})
    assert "forced: true" in text and "reason: eval set changed" in text
    assert read_request(text, "r") == forced
    assert read_request(format_request(request(), {}), "r") == request()
    # Forced with no reason, a reason that is not one line of text, a forced that is no flag.
    for bad in (
        text.replace("reason: eval set changed\n", ""),
        text.replace("reason: eval set changed", 'reason: "two\\nlines"'),
        text.replace("reason: eval set changed", "reason: [a, b]"),
        text.replace("forced: true", "forced: yes please"),
    ):
        assert read_request(bad, "r") is None, bad


def state_with(*moves: tuple[str, int, str]) -> ModelState:
    """support with v1.0.0..v1.2.0 registered (commit c0, c1, c2) and `moves` (stage, #N, commit)."""
    versions = {
        Version(1, i, 0): Event(
            Ref("support", Action.REGISTER, version=Version(1, i, 0)), "", f"c{i}", "", 0, ""
        )
        for i in range(3)
    }
    assignments = [
        Event(Ref("support", Action.ASSIGN, stage=s, counter=n), f"support#{s}#{n}", c, "", 0, "")
        for s, n, c in moves
    ]
    return ModelState("support", versions, assignments)


@pytest.mark.parametrize(
    ("moves", "expected"),
    [
        ([("production", 2, "c0")], ("waiting", None)),  # nothing since #3
        ([("staging", 4, "c1")], ("waiting", None)),  # another environment moved: still waiting
        ([("production", 4, "c1")], ("done", "support#production#4")),
        ([("production-canary", 4, "c1")], ("done", "support#production-canary#4")),  # its canary
        ([("production", 4, "c2")], ("superseded", "support#production#4")),
        ([("production-canary", 4, "c2"), ("production", 5, "c0")], ("superseded", "support#production#5")),
        (
            [("production", 4, "c1"), ("production", 5, "c0")],
            ("done", "support#production#4"),
        ),  # then rolled back
    ],
)
def test_a_request_is_waiting_done_or_superseded_by_the_tags_after_its_counter(
    moves: list[tuple[str, int, str]], expected: tuple[str, str | None]
) -> None:
    found, by = status(state_with(*moves), request())  # v1.1.0 into production, counter 3
    assert (found, by.tag if by else None) == expected


# --- item 1: --force past a refusing gate --------------------------------------------


@pytest.mark.slow
def test_a_forced_request_says_so_and_ci_writes_a_forced_move_unless_it_refuses_overrides(
    template_copy: object, tmp_path: Path
) -> None:
    reg = template_copy("pushed")  # type: ignore[operator]
    origin = tmp_path / "origin.git"
    setup(reg, origin)
    hosting, ci = clone(origin, tmp_path / "hosting"), clone(origin, tmp_path / "ci")
    reg.ok("request", "promote", "support", "v1.0.0", "production")
    merge(hosting, B1)
    git(ci, "pull", "-q", "--ff-only")
    run_in(reg, ci, 0, "verify", "--apply-requests")  # production serves v1.0.0
    git(reg.root, "pull", "-q", "--ff-only", "origin", "main")
    new_version(reg, 2, BAD, "--push")  # accuracy 0.942 -> 0.80
    reg.ok("promote", "support", "v1.1.0", "staging", "--push", "--force", "--reason", "staging only")

    # Without --force the refusal is unchanged: exit 1 with the numbers, nothing pushed.
    guard, on_origin, before = Guard(origin), refs(origin), reg.snapshot()
    err = reg.fails(1, "request", "promote", "support", "v1.1.0", "production").stderr
    assert (
        "gate refused support v1.1.0 for production against v1.0.0 (production): accuracy 0.942 -> 0.8" in err
    )
    # --force needs a one-line reason (exit 2), judged before anything is read or written.
    err = reg.fails(2, "request", "promote", "support", "v1.1.0", "production", "--force").stderr
    assert "--force needs --reason TEXT" in err
    reg.fails(2, "request", "promote", "support", "v1.1.0", "production", "--force", "--reason", "a\nb")
    assert refs(origin) == on_origin and reg.snapshot() == before
    guard.assert_unchanged()

    why = "the eval set changed; accuracy is not comparable"
    result = reg.ok("request", "promote", "support", "v1.1.0", "production", "--force", "--reason", why)
    assert "gate OVERRIDDEN against v1.0.0 (production)" in result.stdout
    assert f"forced  the gate refused it; requested with --force: {why}" in result.stdout
    tip = f"refs/heads/{B2}"
    stored = git(origin, "show", f"{tip}:{V2}/request.yaml").stdout
    req = read_request(stored, "request.yaml")
    assert req is not None and req.forced and req.reason == why
    assert "passed: false" in stored and "forced: true" in stored
    changelog = git(origin, "show", f"{tip}:{V2}/CHANGELOG.md").stdout
    assert changelog.startswith("## The gate REFUSED this promotion: requested with --force\n")
    assert f"because: {why}" in changelog
    assert "| accuracy | 0.942 | 0.8 | -15.1% |" in changelog
    assert (
        "The gate REFUSED it; requested with --force" in git(origin, "log", "-1", "--format=%B", tip).stdout
    )

    # CI that refuses overrides refuses it: exit 1, one line, nothing on origin changes.
    merge(hosting, B2)
    git(ci, "pull", "-q", "--ff-only")
    guard, on_origin = Guard(origin), refs(origin)
    result = run_in(reg, ci, 1, "verify", "--no-overrides", "--apply-requests")
    assert result.stderr.count("\n") == 1, result.stderr
    assert f"{V2}/request.yaml: the gate refused support v1.1.0 for production" in result.stderr
    assert "this run refuses overrides (--no-overrides), so nothing moved" in result.stderr
    assert refs(origin) == on_origin
    guard.assert_unchanged()

    # CI that accepts overrides writes the forced move, as `promote --force` records it.
    out = run_in(reg, ci, 0, "verify", "--apply-requests").stdout
    assert (
        f"applied {V2}/request.yaml: support production -> v1.1.0 (was v1.0.0), forced past the gate" in out
    )
    assert f"request branch {B2} deleted on origin" in out
    assert heads(origin, "gitmodel/request/") == []
    tag = "refs/tags/" + out.split(", tag ")[1].split()[0]
    record = parse_record(git(origin, "cat-file", "-p", tag).stdout)
    assert record["action"] == "force-promote" and record["reason"] == why
    assert record["gate"]["forced"] is True and record["gate"]["passed"] is False
    assert commit_of(origin, "refs/heads/env/production/support") == commit_of(origin, "support@v1.1.0")
    # The server's policy took it as a declared override; GTO reads the move from the tags.
    host = clone(origin, tmp_path / "host")
    assert gto_json(host, "show")["support"]["stage"]["production"] == "v1.1.0"
    assert "no merged promotion request is waiting" in run_in(reg, ci, 0, "verify", "--apply-requests").stdout


# --- item 2: request branches deleted once carried out or superseded -----------------


@pytest.mark.slow
def test_request_branches_are_deleted_once_carried_out_or_superseded(
    template_copy: object, tmp_path: Path
) -> None:
    reg = template_copy("pushed")  # type: ignore[operator]
    origin = tmp_path / "origin.git"
    setup(reg, origin)
    reg.ok("request", "promote", "support", "v1.0.0", "production")  # made when production was empty
    new_version(reg, 2, GOOD, "--push")
    reg.ok("promote", "support", "v1.1.0", "staging", "--push")
    reg.ok("request", "promote", "support", "v1.1.0", "production")
    hosting, ci = clone(origin, tmp_path / "hosting"), clone(origin, tmp_path / "ci")

    # Origin refuses deletes: the move still lands, the delete is a warning line.
    git(origin, "config", "receive.denyDeletes", "true")
    merge(hosting, B2)
    git(ci, "pull", "-q", "--ff-only")
    result = run_in(reg, ci, 0, "verify", "--apply-requests")
    assert (
        f"applied {V2}/request.yaml: support production -> v1.1.0, tag support#production#" in result.stdout
    )
    assert "deleted" not in result.stdout
    [warning] = result.stderr.splitlines()
    assert warning.startswith(f"gitmodel: warning: could not delete the request branch {B2} on origin (")
    assert f"`git push origin --delete {B2}`" in warning
    assert heads(origin, "gitmodel/request/") == [B1, B2]

    # v1.0.0's request is merged after production moved on: superseded, reported, deleted;
    # v1.1.0's, carried out already, now loses its branch too. Nothing moves.
    git(origin, "config", "--unset", "receive.denyDeletes")
    merge(hosting, B1)
    git(ci, "pull", "-q", "--ff-only")
    tags = [r for r in refs(origin) if "refs/tags/" in r]
    doc = json.loads(run_in(reg, ci, 0, "verify", "--apply-requests", "--json").stdout)
    assert doc["ok"] is True
    by_path = {r["path"]: r for r in doc["requests"]}
    old, new = by_path[f"{V1}/request.yaml"], by_path[f"{V2}/request.yaml"]
    assert old["status"] == "superseded" and old["from"] == "v1.1.0" and old["branch_deleted"] is True
    assert new["status"] == "done" and new["branch"] == B2 and new["branch_deleted"] is True
    assert new["tag"].startswith("support#production#") and new["warning"] is None
    assert heads(origin, "gitmodel/request/") == []
    assert [r for r in refs(origin) if "refs/tags/" in r] == tags
    # Said once: with the branches gone, the next run has nothing to report.
    assert "no merged promotion request is waiting" in run_in(reg, ci, 0, "verify", "--apply-requests").stdout

    # A request opened again under a merged request's name is not deleted by CI: it is
    # not the request HEAD holds (its request.yaml differs), so it is not reported either.
    reg.ok("request", "promote", "support", "v1.0.0", "production", "--reason", "go back")
    assert run_in(reg, ci, 0, "verify", "--apply-requests", "--json").stdout.count('"status"') == 0
    assert heads(origin, "gitmodel/request/") == [B1]


# --- item 3: environment branches left behind by a tag pushed without them --------------


@pytest.mark.slow
def test_a_branch_left_behind_by_a_tag_pushed_alone_catches_up_and_verify_says_so(
    template_copy: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reg = template_copy("pushed")  # type: ignore[operator]
    origin = tmp_path / "origin.git"
    setup(reg, origin, "branches: {environments: true}\n")
    new_version(reg, 2, GOOD, "--push")
    v1, v2 = commit_of(reg.root, "support@v1.0.0"), commit_of(reg.root, "support@v1.1.0")
    staging = "refs/heads/env/staging/support"

    # A move made without --push, sent by `git push --tags`: origin takes the tag alone.
    reg.ok("promote", "support", "v1.1.0", "staging")
    git(reg.root, "push", "-q", "origin", "--tags")
    assert commit_of(origin, "support#staging#2") == v2 and commit_of(origin, staging) == v1

    # CI's verify says the branch lags (exit 0: the policy accepts a tag pushed alone). Its
    # clone is a plain one, as actions/checkout makes it (origin's seq ref, left at #1 by
    # the tag pushed without it, would add a warning: tests/test_seq_behind.py).
    ci = tmp_path / "ci"
    git(tmp_path, "clone", "-q", str(origin), str(ci))
    result = run_in(reg, ci, 0, "verify", "--all")
    [line] = result.stderr.splitlines()
    assert line.startswith(
        f"gitmodel: warning: env/staging/support [environment-branch]: it lags: it points at {v1[:10]} "
        f"(support#staging#1), but staging's newest tag support#staging#2 marks {v2[:10]}"
    ), line
    assert f"`git push origin +support#staging#2^{{commit}}:{staging}`" in line
    doc = json.loads(run_in(reg, ci, 0, "verify", "--all", "--json").stdout)
    assert doc["ok"] is True and [w["subject"] for w in doc["warnings"]] == ["env/staging/support"]
    # A branch at a commit no assignment marks (hosted Git runs no pre-receive) is a violation.
    root = git(ci, "rev-list", "--max-parents=0", "HEAD").stdout.split()[0]
    git(ci, "update-ref", "refs/remotes/origin/env/staging/support", root)
    result = run_in(reg, ci, 1, "verify", "--all")
    assert (
        f"refused env/staging/support [environment-branch]: it points at {root[:10]}, which no"
        in result.stderr
    )

    # The next gitmodel move of the model, here into production, brings staging's branch along.
    reg.ok("promote", "support", "v1.1.0", "production", "--push")
    assert commit_of(origin, staging) == v2 and commit_of(origin, "refs/heads/env/production/support") == v2
    fresh = clone(origin, tmp_path / "fresh")  # with the seq ref, which that push moved on
    result = run_in(reg, fresh, 0, "verify", "--all")
    assert result.stderr == "" and "the policy holds" in result.stdout

    # GTO moves staging back to v1.0.0 (its own tag, dated after gitmodel's), pushed alone.
    monkeypatch.setenv("GIT_COMMITTER_DATE", f"{int(time.time()) + 3600} +0000")
    run_client(reg.root, "gto", "assign", "support", "--version", "v1.0.0", "--stage", "staging", "--force")
    monkeypatch.delenv("GIT_COMMITTER_DATE")
    gto_tag = next(
        t for t in git(reg.root, "tag", "-l", "support#staging#*").stdout.split() if t.endswith("#4")
    )
    git(reg.root, "push", "-q", "origin", gto_tag)
    assert commit_of(origin, staging) == v2  # left behind
    assert gto_json(reg.root, "show")["support"]["stage"]["staging"] == "v1.0.0"
    # Alone, the branch may catch up with that tag, by plain git through the server hook;
    # anywhere else it is still refused.
    guard, before = Guard(origin), refs(origin)
    proc = git(reg.root, "push", "--no-verify", "origin", f"+{v2}~1:{staging}", check=False)
    assert proc.returncode != 0 and "alone it may only catch up with support#staging#4" in proc.stderr
    assert refs(origin) == before
    guard.assert_unchanged()
    git(reg.root, "push", "-q", "origin", f"+{gto_tag}^{{commit}}:{staging}")
    assert commit_of(origin, staging) == v1
    fresh = tmp_path / "fresh2"
    git(tmp_path, "clone", "-q", str(origin), str(fresh))
    assert run_in(reg, fresh, 0, "verify", "--all").stderr == ""
    assert gto_json(fresh, "show")["support"]["stage"] == {"staging": "v1.0.0", "production": "v1.1.0"}
