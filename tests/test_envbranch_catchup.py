"""Environment branches left behind by tags pushed without them (`git push --tags`, GTO),
with real git, a bare origin and its pre-receive hook: `promote` of the version an
environment already serves catches the model's lagging branches up (one line, no new
tag), and `verify TAG` / `verify OLD..NEW` judge the branches they touch as `--all` does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import Result
from plugin.branches import setup
from plugin.fsguard import Guard
from plugin.registry import Registry, git, refs
from plugin.templates import GOOD, new_version

from gitmodel import git as gitdoor

ON = "branches: {environments: true}\n"
STAGING = "refs/heads/env/staging/support"
PRODUCTION = "refs/heads/env/production/support"


def commit_of(repo: Path, rev: str) -> str:
    return git(repo, "rev-parse", f"{rev}^{{commit}}").stdout.strip()


def branch_on(origin: Path, ref: str) -> str | None:
    return git(origin, "rev-parse", "--verify", "-q", ref, check=False).stdout.strip() or None


def tags_in(repo: Path) -> list[str]:
    return [r for r in refs(repo) if not r.startswith("refs/remotes/")]


def run_in(reg: Registry, where: Path, code: int, *args: str) -> Result:
    result = reg.run(*args, cwd=where)
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    return result


def left_behind(reg: Registry, origin: Path) -> tuple[str, str]:
    """staging#1 (v1.0.0) pushed by gitmodel with its branch; then v1.1.0 into staging (#2) and
    v1.0.0 into production (#3) made without --push and sent by `git push --tags`: origin's
    staging branch lags at v1.0.0 and production has none. (v1.0.0's, v1.1.0's commits.)"""
    setup(reg, origin, ON)
    new_version(reg, 2, GOOD, "--push")
    reg.ok("promote", "support", "v1.1.0", "staging")
    reg.ok("promote", "support", "v1.0.0", "production")
    git(reg.root, "push", "-q", "origin", "--tags")
    v1, v2 = commit_of(reg.root, "support@v1.0.0"), commit_of(reg.root, "support@v1.1.0")
    assert branch_on(origin, STAGING) == v1 and branch_on(origin, PRODUCTION) is None
    return v1, v2


@pytest.mark.slow
def test_promote_of_the_served_version_catches_the_lagging_branches_up(
    template_copy: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reg = template_copy("pushed")  # type: ignore[operator]
    origin = tmp_path / "origin.git"
    v1, v2 = left_behind(reg, origin)
    tags = refs(origin)

    # Without --push: what --push would do, in one line; origin untouched, no tag made.
    guard, here = Guard(origin), refs(reg.root)
    tags_in_here = tags_in(reg.root)
    out = reg.ok("promote", "support", "v1.1.0", "staging").stdout
    assert out.splitlines() == [
        "staging already serves v1.1.0; nothing to promote, but origin's environment branches lag: "
        "env/staging/support behind support#staging#2, env/production/support (none yet) behind "
        "support#production#3; `--push` moves them"
    ], out
    guard.assert_unchanged()
    assert refs(reg.root) == here

    # A branch moved meanwhile (the lease read a value origin no longer has): exit 3, nothing moves.
    root = git(reg.root, "rev-list", "--max-parents=0", "HEAD").stdout.split()[0]
    real = gitdoor.remote_ref_values

    def stale(repo: Path, patterns: list[str], remote: str = "origin") -> dict[str, str]:
        return {**real(repo, patterns, remote), STAGING: root}

    with monkeypatch.context() as patched:
        patched.setattr(gitdoor, "remote_ref_values", stale)
        result = reg.fails(3, "promote", "support", "v1.1.0", "staging", "--push")
    assert "origin refused the push" in result.stderr and "retry" in result.stderr
    guard.assert_unchanged()

    # With --push: both branches caught up through origin's hook, in one line; no new tag.
    out = reg.ok("promote", "support", "v1.1.0", "staging", "--push").stdout
    assert out.splitlines() == [
        "staging already serves v1.1.0; caught up origin's lagging environment branches: "
        "env/staging/support to support#staging#2, env/production/support (new) to support#production#3"
    ], out
    assert branch_on(origin, STAGING) == v2 and branch_on(origin, PRODUCTION) == v1
    assert [r for r in refs(origin) if "refs/heads/env/" not in r] == [
        r for r in tags if "refs/heads/env/" not in r
    ]
    assert tags_in(reg.root) == tags_in_here  # no tag made; the push updated origin/env/* here
    out = reg.ok("promote", "support", "v1.1.0", "staging", "--push").stdout
    assert out.splitlines() == ["staging already serves v1.1.0; nothing to do"]

    # A move kept local (made without --push) is named, not pushed behind the user's back.
    reg.ok("promote", "support", "v1.1.0", "production")
    guard = Guard(origin)
    out = reg.ok("promote", "support", "v1.1.0", "production", "--push").stdout
    assert out.splitlines() == [
        "production already serves v1.1.0 here, by support#production#4, which origin lacks (made "
        "without --push): push it with `git push origin support#production#4`, then run this again "
        "to bring its environment branch along"
    ], out
    guard.assert_unchanged()
    git(reg.root, "push", "-q", "origin", "support#production#4")
    out = reg.ok("promote", "support", "v1.1.0", "production", "--push").stdout
    assert "caught up origin's lagging environment branch: env/production/support to" in out, out
    assert branch_on(origin, PRODUCTION) == v2

    ci = tmp_path / "ci"
    git(tmp_path, "clone", "-q", str(origin), str(ci))
    result = run_in(reg, ci, 0, "verify", "--all")
    assert result.stderr == "" and "the policy holds" in result.stdout


@pytest.mark.slow
def test_verify_of_a_tag_or_a_range_judges_the_branches_it_touches(
    template_copy: object, tmp_path: Path
) -> None:
    reg = template_copy("pushed")  # type: ignore[operator]
    origin = tmp_path / "origin.git"
    v1, v2 = left_behind(reg, origin)
    ci = tmp_path / "ci"  # a plain clone, as CI checks it out
    git(tmp_path, "clone", "-q", str(origin), str(ci))
    lag = (
        f"gitmodel: warning: env/staging/support [environment-branch]: it lags: it points at {v1[:10]} "
        f"(support#staging#1), but staging's newest tag support#staging#2 marks {v2[:10]}"
    )

    # The tag that left the branch behind: accepted, with the same warning as --all.
    result = run_in(reg, ci, 0, "verify", "support#staging#2")
    [line] = result.stderr.splitlines()
    assert line.startswith(lag), line
    assert "verified 1 tags of 1 models" in result.stdout
    doc = json.loads(run_in(reg, ci, 0, "verify", "support#staging#2", "--json").stdout)
    assert doc["ok"] is True and [w["subject"] for w in doc["warnings"]] == ["env/staging/support"]
    # Tags and ranges that touch no environment branch say nothing of them.
    assert run_in(reg, ci, 0, "verify", "support@v1.1.0", "support#production#3").stderr == ""
    assert run_in(reg, ci, 0, "verify", f"{v1}..{v2}").stderr == ""

    # Hosted Git (no pre-receive) let the branch be reset to v1.0.0 again, then pushed at a
    # commit no assignment marks: CI's range for each branch update judges the branch.
    result = run_in(reg, ci, 0, "verify", f"{v2}..origin/env/staging/support")
    assert result.stderr.startswith(lag), result.stderr
    root = git(ci, "rev-list", "--max-parents=0", "HEAD").stdout.split()[0]
    git(ci, "update-ref", "refs/remotes/origin/env/staging/support", root)
    for spec in (f"{v1}..{root}", "support#staging#2"):
        result = run_in(reg, ci, 1, "verify", spec)
        assert result.stderr.startswith(
            f"gitmodel: error: refused env/staging/support [environment-branch]: it points at {root[:10]}, "
            "which no assignment tag of staging marks"
        ), result.stderr
