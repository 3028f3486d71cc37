"""Every network git call has a deadline: an origin that accepts and never answers.

The hung origin is a real TCP listener on 127.0.0.1 that accepts connections and never
writes a byte; `git://` waits on it forever without our deadline.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from plugin.host import FollowServer, Host, git

from gitmodel import git as gitmod
from gitmodel.errors import RemoteUnreachable
from gitmodel.host.agent import Agent

DEADLINE = 1.0
LIMIT = 6.0  # seconds a command may take in all against a 1 s deadline (a loaded 2-core box)


@pytest.fixture(name="hung_url")
def hung_url_fixture(silent_port: int) -> str:
    """git://127.0.0.1:PORT/x on a listener that accepts and then says nothing, ever."""
    return f"git://127.0.0.1:{silent_port}/registry.git"


@pytest.fixture(autouse=True)
def short_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(gitmod.TIMEOUT_ENV, str(DEADLINE))


def timed(call: Callable[[], object]) -> tuple[object, float]:
    began = time.monotonic()
    result = call()
    return result, time.monotonic() - began


def refs(repo: Path) -> str:
    return git(repo, "for-each-ref", "--format=%(refname) %(objectname)")


@pytest.mark.slow
def test_deploy_against_a_hung_origin_exits_4_quickly_and_touches_nothing(
    host: Host, hung_url: str, fs_guard: Callable[..., object]
) -> None:
    host.promote("v1.0.0")
    host.ok("deploy", "production", "support", "--root", str(host.root))
    git(host.clone, "remote", "set-url", "origin", hung_url)
    guard = fs_guard(host.root, host.clone / ".git" / "refs")
    result, took = timed(lambda: host.fails(4, "deploy", "production", "support", "--root", str(host.root)))
    assert took < LIMIT, took
    assert f"origin did not answer within {DEADLINE:g} s (git fetch)" in result.stderr  # type: ignore[attr-defined]
    assert "--no-fetch" in result.stderr  # type: ignore[attr-defined]
    guard.assert_unchanged()  # type: ignore[attr-defined]
    assert host.current() == "v1.0.0"


@pytest.mark.slow
def test_pushed_moves_against_a_hung_origin_exit_4_and_leave_no_tag(host: Host, hung_url: str) -> None:
    host.promote("v1.0.0")
    host.promote("v1.1.0")
    git(host.dev, "remote", "set-url", "origin", hung_url)
    before = refs(host.dev)
    for args in (
        ("rollback", "production", "support", "--push"),
        ("promote", "support", "v2.0.0", "staging", "--push"),
        ("deprecate", "support", "v1.0.0", "--push"),
    ):
        result, took = timed(lambda args=args: host.fails(4, *args, cwd=host.dev))  # type: ignore[misc]
        assert took < LIMIT, (args, took)
        assert "origin did not answer" in result.stderr, result.stderr  # type: ignore[attr-defined]
        assert refs(host.dev) == before, args


@pytest.mark.slow
def test_rollback_on_a_host_against_a_hung_origin_says_how_to_roll_back_alone(
    host: Host, hung_url: str
) -> None:
    host.promote("v1.0.0")
    host.ok("deploy", "production", "support", "--root", str(host.root))
    git(host.clone, "remote", "set-url", "origin", hung_url)
    result, took = timed(lambda: host.fails(4, "rollback", "production", "support", "--root", str(host.root)))
    assert took < LIMIT
    assert "--local --root" in result.stderr  # type: ignore[attr-defined]


@pytest.mark.slow
def test_status_against_a_hung_origin_answers_from_local_refs(host: Host, hung_url: str) -> None:
    host.promote("v1.0.0")
    host.ok("deploy", "production", "support", "--root", str(host.root))
    git(host.clone, "remote", "set-url", "origin", hung_url)
    result, took = timed(lambda: host.ok("status", "production", "--root", str(host.root)))
    assert took < LIMIT
    assert "origin: unreachable (origin did not answer within 1 s" in result.stdout  # type: ignore[attr-defined]


@pytest.mark.slow
def test_agent_keeps_serving_and_backs_off_a_hung_origin(
    host: Host, hung_url: str, follow: FollowServer, caplog: pytest.LogCaptureFixture
) -> None:
    host.promote("v1.0.0")
    options = {"reload_url": f"{follow.url}/reload", "info_url": f"{follow.url}/info"}
    agent = Agent(host.clone, "production", host.root, interval=30.0, options=options)
    assert agent.tick(fetch=True) == 0
    assert host.current() == "v1.0.0"
    git(host.clone, "remote", "set-url", "origin", hung_url)
    caplog.set_level(logging.INFO, logger="gitmodel.agent")
    code, took = timed(agent.tick)
    assert code == 0 and took < LIMIT, took
    assert "next look at origin in 30 s" in caplog.text
    # Within the backoff the agent does not ask origin at all: the tick is instant.
    code, took = timed(agent.tick)
    assert code == 0 and took < DEADLINE / 2, took
    assert host.current() == "v1.0.0" and follow.version == "v1.0.0"
    # The backoff doubles, bounded by MAX_BACKOFF; origin answering again resets it.
    agent._origin = (agent._origin[0], 0.0)
    agent.tick()
    assert "next look at origin in 60 s" in caplog.text
    git(host.clone, "remote", "set-url", "origin", str(host.origin))
    agent._origin = (agent._origin[0], 0.0)
    agent.tick()
    assert "origin answers again" in caplog.text
    assert agent._origin == (0, 0.0)


def test_timeout_kills_every_process_git_started(tmp_path: Path) -> None:
    """git's helpers (here: a transport command and the sleep it runs) die with it."""
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", str(repo))
    pidfile = tmp_path / "helper.pid"
    git(repo, "config", "protocol.ext.allow", "always")
    git(repo, "remote", "add", "origin", f"ext::sh -c echo% $$>{pidfile};exec% sleep% 60")
    began = time.monotonic()
    with pytest.raises(RemoteUnreachable) as err:
        gitmod.ls_remote_tags(repo)
    assert time.monotonic() - began < LIMIT
    assert str(err.value).startswith("origin did not answer within 1 s (git ls-remote)")
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.02)
    else:
        pytest.fail(f"git's helper {pid} outlived the timeout")


@pytest.mark.parametrize("value", ["soon", "0", "-3", "nan", "inf"])
def test_a_bad_timeout_setting_is_a_usage_error(
    value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(gitmod.TIMEOUT_ENV, value)
    git(tmp_path, "init", "-q", str(tmp_path / "r"))
    with pytest.raises(Exception) as err:
        gitmod.ls_remote_tags(tmp_path / "r")
    assert getattr(err.value, "exit_code", None) == 2
    assert f"GITMODEL_GIT_TIMEOUT={value!r}" in str(err.value)
