"""Host-side writes never follow a symlink that is not gitmodel's own.

Someone who can write into a host root (another service's user, a compromised model
server) plants symlinks where gitmodel writes: `.staging`, `versions/vX`, the journal,
the lock file, a file inside a version folder.  A deploy must refuse in one line (exit
1) and leave the link targets alone, or, inside a version folder, rebuild the version
rather than serve through the link.  A folder registered with a symlink inside is
refused before anything is written.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from plugin.attacks import World, refused, run_git
from plugin.registry import random_bytes

from gitmodel import hostlayout

pytestmark = pytest.mark.slow


@pytest.fixture(name="world")
def world_fixture(deployed: World) -> World:
    """support v1.0.0 registered, pushed, in production, and deployed on a host (a copy)."""
    return deployed


def victim_dir(world: World) -> Path:
    victim = world.tmp / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_bytes(b"precious")
    os.chmod(victim, 0o700)
    return victim


def new_version(world: World) -> None:
    """support v1.1.0 (new bytes), registered honestly and promoted to production."""
    reg = world.reg
    reg.write("support.gguf", random_bytes(20_000, 8))
    meta = reg.meta("metrics: {accuracy: 0.95}\n", "v110.yaml")  # production requires metrics.accuracy
    reg.ok("register", "support", "support.gguf", "--meta", str(meta), "--push")
    reg.ok("promote", "support", "v1.1.0", "staging", "--push")
    reg.ok("promote", "support", "v1.1.0", "production", "--push")
    run_git(world.host, "fetch", "-q", "--tags", "origin")


def plant(link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, link)


def deploy_refused(world: World, guard: Any, name: str) -> None:
    result = world.deploy()
    guard.assert_only(world.mroot / "journal.jsonl")
    assert world.current() == "versions/v1.0.0"
    refused(result, 1, name, "symlink")


def test_staging_as_a_symlink_is_not_emptied(world: World, fs_guard: Callable[..., Any]) -> None:
    victim = victim_dir(world)
    staging = world.mroot / ".staging"
    staging.rmdir()
    plant(staging, victim)
    guard = fs_guard(world.tmp)
    deploy_refused(world, guard, ".staging")
    assert (victim / "precious.txt").read_bytes() == b"precious"


def test_a_version_folder_that_is_a_symlink_is_not_touched(
    world: World, fs_guard: Callable[..., Any]
) -> None:
    new_version(world)
    victim = victim_dir(world)
    plant(world.mroot / "versions" / "v1.1.0", victim)
    guard = fs_guard(world.tmp)
    deploy_refused(world, guard, "versions/v1.1.0")
    assert stat.S_IMODE(victim.stat().st_mode) == 0o700


@pytest.mark.parametrize("name", ["journal.jsonl", ".deploy.lock"])
def test_journal_or_lock_as_a_symlink_is_not_written_through(
    world: World, fs_guard: Callable[..., Any], name: str
) -> None:
    new_version(world)
    victim = world.tmp / "victim.txt"
    victim.write_bytes(b"precious\n")
    path = world.mroot / name
    path.unlink()
    plant(path, victim)
    guard = fs_guard(world.tmp)
    result = world.deploy()
    guard.assert_unchanged()
    assert world.current() == "versions/v1.0.0"
    refused(result, 1, name, "symlink")


def test_a_symlink_inside_a_version_folder_is_never_served(
    world: World, fs_guard: Callable[..., Any]
) -> None:
    served = world.mroot / "versions" / "v1.0.0" / "support.gguf"
    victim = world.tmp / "victim.bin"
    victim.write_bytes(b"x" * served.stat().st_size)  # same size: only content tells them apart
    vdir = served.parent
    os.chmod(vdir, 0o755)
    served.unlink()
    plant(served, victim)
    guard = fs_guard(world.tmp)
    result = world.deploy()
    assert result.exit_code == 0, result.stderr
    # Rebuilt from the DVC cache: a regular file with v1.0.0's bytes, the link gone.
    assert not served.is_symlink() and served.read_bytes() == world.payload
    assert world.current() == "versions/v1.0.0"
    assert victim.read_bytes() == b"x" * len(world.payload)
    guard.assert_only(
        world.mroot / "versions" / "v1.0.0",
        world.mroot / ".staging",
        world.mroot / "journal.jsonl",
        world.host / ".dvc" / "cache" / ".gitmodel-claims",  # what this root needs kept (cache prune)
    )


def test_register_refuses_a_folder_with_a_symlink_inside(world: World, fs_guard: Callable[..., Any]) -> None:
    reg = world.reg
    secret = world.tmp / "secret.key"
    secret.write_bytes(b"-----BEGIN PRIVATE KEY-----\n")
    reg.write("adapter/config.json", "{}")
    os.symlink(secret, reg.root / "adapter" / "weights.bin")
    meta = str(reg.meta())
    guard = fs_guard(world.tmp)
    result = reg.run("register", "support", "adapter", "--meta", meta)
    guard.assert_unchanged()
    refused(result, 1, "weights.bin", "symlink")


def test_deploys_still_work_with_an_operator_symlinked_root(world: World, tmp_path: Path) -> None:
    """The root itself (or a parent) may be a symlink the operator made: that is theirs."""
    real = tmp_path / "disk"
    real.mkdir()
    link = tmp_path / "linked-root"
    link.symlink_to(real)
    result = world.reg.run(
        "deploy", "production", "support", "--root", str(link), "--no-fetch", cwd=world.host
    )
    assert result.exit_code == 0, result.stderr
    assert hostlayout.current_version(real, "support") is not None
