"""Stale clones and fetch races: a root never goes back to an older pointer by accident,
and two fetches into one clone are not an outage."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from plugin.host import Host, git

from gitmodel import git as gitmod
from gitmodel.errors import ConflictError

FETCH = "from gitmodel import git; from pathlib import Path; git.fetch_tags(Path('.'))"


@pytest.mark.slow
def test_a_stale_clone_does_not_move_a_shared_root_back(
    host: Host, tmp_path: Path, fs_guard: Callable[..., object]
) -> None:
    host.promote("v1.0.0")
    stale = tmp_path / "stale"
    git(tmp_path, "clone", "-q", str(host.origin), str(stale))  # knows production -> v1.0.0
    host.promote("v1.1.0")
    host.ok("deploy", "production", "support", "--root", str(host.root))
    assert host.current() == "v1.1.0"
    guard = fs_guard(host.root)
    result = host.fails(
        3, "deploy", "production", "support", "--root", str(host.root), "--no-fetch", cwd=stale
    )
    served = host.journal()[-1]["tag"]
    assert f"serves {served}, newer than production's support#production#" in result.stderr
    assert "fetch (deploy without --no-fetch)" in result.stderr
    guard.assert_unchanged()  # type: ignore[attr-defined]
    assert host.current() == "v1.1.0"
    # The same clone after a fetch agrees with the root: nothing to do.
    out = host.ok("deploy", "production", "support", "--root", str(host.root), cwd=stale)
    assert "unchanged" in out.stdout or "already" in out.stdout, out.stdout
    assert host.current() == "v1.1.0"


@pytest.mark.slow
def test_a_rollback_is_a_newer_event_and_deploys(host: Host, tmp_path: Path) -> None:
    host.promote("v1.0.0")
    host.promote("v1.1.0")
    host.ok("deploy", "production", "support", "--root", str(host.root))
    host.ok("rollback", "production", "support", "--push", cwd=host.dev)
    host.ok("deploy", "production", "support", "--root", str(host.root))
    assert host.current() == "v1.0.0"
    assert host.journal()[-1]["op"] == "rollback"


def _advance(origin_clone: Path, i: int) -> None:
    """origin gains tags and a moved sequence ref, as a move by another clone does."""
    git(origin_clone, "commit", "-q", "--allow-empty", "-m", f"move {i}")
    for name in (f"race-a{i}", f"race-b{i}"):
        git(origin_clone, "tag", "-a", "-m", "m", name)
    git(origin_clone, "update-ref", "refs/gitmodel/seq/race", "HEAD")
    git(origin_clone, "push", "-q", "-f", "origin", "--tags", "refs/gitmodel/*:refs/gitmodel/*")


@pytest.mark.slow
def test_two_fetches_into_one_clone_both_succeed(tmp_path: Path) -> None:
    origin, writer, clone = tmp_path / "o.git", tmp_path / "w", tmp_path / "c"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    git(tmp_path, "clone", "-q", str(origin), str(writer))
    _advance(writer, 0)
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    failures = []
    for i in range(1, 16):
        _advance(writer, i)
        procs = [
            subprocess.Popen([sys.executable, "-c", FETCH], cwd=clone, stderr=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        failures += [p.communicate()[1] for p in procs if p.wait() != 0]
    assert failures == []
    assert git(clone, "rev-parse", "refs/gitmodel/seq/race") == git(writer, "rev-parse", "HEAD")


def test_a_lock_that_stays_held_is_a_conflict_naming_it(tmp_path: Path) -> None:
    origin, writer, clone = tmp_path / "o.git", tmp_path / "w", tmp_path / "c"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    git(tmp_path, "clone", "-q", str(origin), str(writer))
    _advance(writer, 0)
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    _advance(writer, 1)
    lock = clone / ".git" / "refs" / "gitmodel" / "seq" / "race.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text("held by a dead process\n")
    with pytest.raises(ConflictError) as err:  # a local lock is no outage of origin: exit 3
        gitmod.fetch_tags(clone)
    assert f"{lock} is held (another git is running in this clone" in str(err.value)


def test_a_local_tag_that_origin_has_differently_is_a_conflict(tmp_path: Path) -> None:
    origin, writer, clone = tmp_path / "o.git", tmp_path / "w", tmp_path / "c"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    git(tmp_path, "clone", "-q", str(origin), str(writer))
    _advance(writer, 0)
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    git(clone, "commit", "-q", "--allow-empty", "-m", "mine")
    git(clone, "tag", "-a", "-m", "mine", "support#production#3")
    git(writer, "tag", "-a", "-m", "theirs", "support#production#3")
    git(writer, "push", "-q", "origin", "--tags")
    with pytest.raises(ConflictError) as err:
        gitmod.fetch_tags(clone)
    assert str(err.value).startswith("origin's tag support#production#3 differs from this clone's")
    assert "`git tag -d support#production#3`" in str(err.value)
