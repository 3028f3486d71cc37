"""agent: watches origin with `git ls-remote`, deploys when a pointer moves, survives failures."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time

import pytest
from plugin.host import FollowServer, Host, deploy_json, wait_until

from gitmodel.host import Agent, rollback_local


def agent_args(host: Host, follow: FollowServer, *extra: str) -> list[str]:
    return ["agent", "production", "--root", str(host.root), *follow.flags(), *extra]


def test_once_converges_then_does_nothing(host: Host, follow: FollowServer) -> None:
    host.promote("v1.0.0")
    host.promote("v1.1.0", model="acme/adapter")
    host.ok(*agent_args(host, follow, "support", "--once"))
    assert host.current() == "v1.0.0" and follow.version == "v1.0.0"
    assert host.current("acme:adapter") is None  # only the model named
    lines = len(host.journal())
    host.ok(*agent_args(host, follow, "support", "--once"))
    assert len(host.journal()) == lines and follow.reloads == 1


def test_once_reports_a_failed_deploy_in_its_exit_code(host: Host, follow: FollowServer) -> None:
    host.promote("v1.0.0")
    follow.mode = "stuck"
    result = host.run(*agent_args(host, follow, "--once", "--health-timeout", "0.3"))
    assert result.exit_code == 1
    assert "deploy of support (support#production#2) failed" in result.stderr


def test_failed_target_is_retried_with_backoff(host: Host, follow: FollowServer) -> None:
    host.promote("v1.0.0")
    follow.mode = "stuck"
    agent = Agent(
        host.clone,
        "production",
        host.root,
        interval=60.0,
        options={
            "reload_url": f"{follow.url}/reload",
            "info_url": f"{follow.url}/info",
            "health_timeout": 0.2,
        },
    )
    assert agent.tick(fetch=True) == 1
    attempts = follow.reloads
    assert agent.tick() == 0  # backing off: the server is not made to flap every tick
    assert follow.reloads == attempts
    follow.mode = "ok"
    host.promote("v1.1.0")  # a new pointer is tried at once
    assert agent.tick() == 0
    assert follow.version == "v1.1.0"


def test_agent_leaves_a_local_rollback_alone(host: Host, follow: FollowServer) -> None:
    for version in ("v1.0.0", "v1.1.0"):
        host.promote(version)
        deploy_json(host, *follow.flags())
    rollback_local(
        host.clone,
        "production",
        "support",
        host.root,
        reload_url=f"{follow.url}/reload",
        info_url=f"{follow.url}/info",
    )
    assert follow.version == "v1.0.0"
    host.ok(*agent_args(host, follow, "--once"))
    assert host.current() == "v1.0.0"  # the pointer did not move, so the agent does not act
    host.promote("v2.0.0")
    host.ok(*agent_args(host, follow, "--once"))
    assert host.current() == "v2.0.0" and follow.version == "v2.0.0"


@pytest.mark.slow
def test_agent_process_follows_pointer_moves_and_stops_on_sigterm(host: Host, follow: FollowServer) -> None:
    host.promote("v1.0.0")
    interval = 0.5
    log = (host.root.parent / "agent.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gitmodel",
            *agent_args(host, follow),
            "--interval",
            str(interval),
            "--health-timeout",
            "1",
        ],
        cwd=host.clone,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        wait_until(lambda: follow.version == "v1.0.0", timeout=30)
        start = time.monotonic()
        host.promote("v1.1.0")
        wait_until(lambda: follow.version == "v1.1.0", timeout=30)
        assert time.monotonic() - start < interval + 5
        # a version the server will not take: logged, reverted, and the agent keeps going
        follow.mode = "stuck"
        host.promote("v2.0.0")
        text = wait_until(lambda: "failed" in (t := _read(host)) and t, timeout=30)
        assert "deploy of support (support#production#" in text
        assert proc.poll() is None and host.current() == "v1.1.0"
        # origin gone for a while: a warning, not an exit
        moved = host.origin.with_name("away.git")
        shutil.move(host.origin, moved)
        wait_until(lambda: "could not list the tags of origin" in _read(host), timeout=30)
        assert proc.poll() is None
        shutil.move(moved, host.origin)
        follow.mode = "ok"
        host.promote("v2.1.0")
        wait_until(lambda: follow.version == "v2.1.0", timeout=30)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
    text = _read(host)
    assert "deployed support v2.1.0 in production" in text
    assert text.rstrip().endswith("stopped")


def _read(host: Host) -> str:
    return (host.root.parent / "agent.log").read_text()
