"""kill -9 a deploy at each step: `current` stays on a complete, hash-valid version and a
rerun converges.  GITMODEL_TEST_PAUSE_AT stops the deploy process at a named step so
the kill lands there deterministically (gitmodel/testhook.py)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from plugin import forkrun
from plugin.host import (
    BUCKET,
    MIB,
    FollowServer,
    Host,
    _dvc,
    base_env,
    deploy_json,
    gguf_blob,
    invoke,
    wait_until,
)
from plugin.registry import EVIDENCE

from gitmodel import hostlayout

# (step, the version `current` must hold right after the kill)
STEPS = [
    ("fetch", "v1.0.0"),  # about to download
    ("fetched", "v1.0.0"),  # bytes in the cache, nothing built
    ("verified", "v1.0.0"),  # staging built and hashed, no manifest yet
    ("materialised", "v1.0.0"),  # versions/v1.1.0 complete, not swapped
    ("journal-swapped", "v1.1.0"),  # swapped; killed halfway through writing that record
    ("swapped", "v1.1.0"),  # swapped, server not reloaded
    ("reloaded", "v1.1.0"),  # reloaded, not yet confirmed
    ("journal-done", "v1.1.0"),  # confirmed; killed halfway through the last record
]


def deploying(host: Host, *flags: str, env: dict[str, str] | None = None) -> forkrun.Started:
    """`gitmodel deploy production support --root ROOT FLAGS` started on the host clone,
    forked from plugin.forkrun's zygote (DVC imported once per worker)."""
    args = ["deploy", "production", "support", "--root", str(host.root), *flags]
    return forkrun.start("gitmodel", args, host.clone, {**os.environ, **(env or {})})


def kill_at(host: Host, step: str, *flags: str, timeout: float = 60) -> None:
    marker = host.root.parent / f"paused-{step}"
    proc = deploying(
        host, *flags, env={"GITMODEL_TEST_PAUSE_AT": step, "GITMODEL_TEST_PAUSE_MARKER": str(marker)}
    )
    try:
        wait_until(lambda: marker.exists() or proc.poll() is not None, timeout=timeout)
        assert proc.poll() is None, proc.wait(60)
    finally:
        proc.kill()
        proc.wait(60)


@pytest.mark.parametrize(("step", "expected"), STEPS)
def test_kill_at_each_step_then_rerun_converges(
    host: Host, follow: FollowServer, step: str, expected: str
) -> None:
    host.promote("v1.0.0")
    deploy_json(host, *follow.flags())
    host.promote("v1.1.0")
    kill_at(host, step, *follow.flags())
    assert host.current() == expected
    assert host.assert_current_valid() == expected
    if step.startswith("journal-"):
        assert "torn" in host.journal()[-1]  # the half-written record is there, and skipped
    status = json.loads(host.ok("status", "production", "--root", str(host.root), "--json").stdout)
    row = status["models"][0]
    assert row["current"] == expected and row["pointer"] == "v1.1.0"
    if step != "journal-done":
        assert not row["in_sync"]
    done = deploy_json(host, *follow.flags())
    assert done["version"] == "v1.1.0"
    assert host.assert_current_valid() == "v1.1.0" and follow.version == "v1.1.0"
    mroot = host.mroot()
    assert list((mroot / ".staging").iterdir()) == []
    assert not list(mroot.glob(".current-*"))
    status = json.loads(host.ok("status", "production", "--root", str(host.root), "--json").stdout)
    assert status["in_sync"], status


def test_kill_during_first_deploy_leaves_nothing_served(host: Host) -> None:
    host.promote("v1.0.0")
    kill_at(host, "verified")
    assert host.current() is None
    assert hostlayout.versions_dir(host.root, "support").exists()
    assert not (hostlayout.versions_dir(host.root, "support") / "v1.0.0").exists()
    host.ok("deploy", "production", "support", "--root", str(host.root))
    assert host.assert_current_valid() == "v1.0.0"


@pytest.mark.slow
def test_kill_mid_download_of_a_large_artifact_from_s3(
    host: Host, follow: FollowServer, tmp_path: Path
) -> None:
    """An artifact of a few hundred MB through moto; the kill lands while its bytes stream in.

    Only the version the kill interrupts is big: the one served before it need not be.
    """
    size = 200 * 1024 * 1024
    dev = host.dev
    prefix = f"s3://{BUCKET}/big-{tmp_path.name}"
    env = base_env(host.world.home)
    _dvc(dev, env, "remote", "modify", "s3", "url", prefix)
    _dvc(dev, env, "remote", "default", "s3")
    subprocess.run(["git", "commit", "-qam", "big artifacts on S3"], cwd=dev, check=True)
    for version, seed, nbytes in (("v3.0.0", 31, MIB), ("v3.1.0", 32, size)):
        gguf_blob(dev / "support.gguf", nbytes, seed)
        (dev / "models" / "support" / "support.gguf").unlink(missing_ok=True)
        (dev / "meta.yaml").write_text("base_model: mistral-7b\nmetrics: {accuracy: 0.95}\n" + EVIDENCE)
        invoke(
            dev,
            "register",
            "support",
            "support.gguf",
            "--version",
            version,
            "--meta",
            str(dev / "meta.yaml"),
            "--push",
        )
    subprocess.run(["git", "-C", str(host.clone), "pull", "-q", "origin", "main"], check=True)
    host.use_s3()  # the host's own endpoint: it takes none from the registry (docs/host.md)
    host.promote("v3.0.0")
    assert deploy_json(host, *follow.flags())["version"] == "v3.0.0"
    host.promote("v3.1.0")
    cache = host.clone / ".dvc" / "cache" / "files" / "md5"
    before = {p for p in cache.rglob("*") if p.is_file()}
    proc = deploying(host, *follow.flags())
    try:

        def partial() -> bool:
            return any(p.stat().st_size > 0 for p in cache.rglob("*") if p.is_file() and p not in before)

        wait_until(lambda: partial() or proc.poll() is not None, timeout=120, step=0.01)
        assert proc.poll() is None, "the download finished before the kill"
    finally:
        proc.kill()
        proc.wait(60)
    assert host.current() == "v3.0.0" and host.assert_current_valid() == "v3.0.0"
    assert follow.version == "v3.0.0"
    done = deploy_json(host, *follow.flags())
    assert done["version"] == "v3.1.0" and follow.version == "v3.1.0"
    assert host.assert_current_valid() == "v3.1.0"
