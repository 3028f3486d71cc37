"""DVC transfers have a deadline: an S3 endpoint that accepts and never answers.

The hung remote is a real TCP listener on 127.0.0.1 that accepts connections and never
writes a byte, set as the host clone's S3 `endpointurl`; boto would wait on it for
minutes (read timeouts, retries).  GITMODEL_DVC_TIMEOUT=1 ends the transfer after one
second without a byte moved.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from plugin.host import FollowServer, Host, _dvc, base_env

from gitmodel import dvc
from gitmodel.host.agent import Agent

LIMIT = 8.0  # seconds a deploy may take in all against a 1 s deadline (a loaded 2-core box)


@pytest.fixture(name="hung_endpoint")
def hung_endpoint_fixture(silent_port: int) -> str:
    return f"http://127.0.0.1:{silent_port}"


def hang_dvc(host: Host, endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    env = base_env(Path(os.environ["HOME"]))
    _dvc(host.clone, env, "remote", "modify", "--local", "s3", "endpointurl", endpoint)
    _dvc(host.clone, env, "remote", "default", "--local", "s3")
    monkeypatch.setenv(dvc.TIMEOUT_ENV, "1")


def partials(cache: Path) -> list[Path]:
    return [p for p in cache.rglob("*.tmp") if p.is_file()]


@pytest.mark.slow
def test_a_hung_dvc_remote_ends_the_deploy_with_exit_4_naming_it(
    host: Host, hung_endpoint: str, monkeypatch: pytest.MonkeyPatch, fs_guard: Callable[..., object]
) -> None:
    host.promote("v1.0.0")
    host.ok("deploy", "production", "support", "--root", str(host.root))
    host.promote("v1.1.0")
    hang_dvc(host, hung_endpoint, monkeypatch)
    guard = fs_guard(host.root / "support" / "versions")
    began = time.monotonic()
    result = host.fails(4, "deploy", "production", "support", "--root", str(host.root))
    took = time.monotonic() - began
    assert took < LIMIT, took
    assert "the DVC remote 's3' (s3://" in result.stderr and "moved no byte within 1 s" in result.stderr
    assert "GITMODEL_DVC_TIMEOUT" in result.stderr
    assert host.current() == "v1.0.0"
    guard.assert_unchanged()  # type: ignore[attr-defined]
    assert partials(host.clone / ".dvc" / "cache") == []


@pytest.mark.slow
def test_the_agent_keeps_serving_past_a_hung_dvc_remote(
    host: Host, hung_endpoint: str, follow: FollowServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    host.promote("v1.0.0")
    options = {"reload_url": f"{follow.url}/reload", "info_url": f"{follow.url}/info"}
    agent = Agent(host.clone, "production", host.root, interval=30.0, options=options)
    assert agent.tick(fetch=True) == 0
    host.promote("v1.1.0")
    hang_dvc(host, hung_endpoint, monkeypatch)
    began = time.monotonic()
    code = agent.tick(fetch=True)
    assert time.monotonic() - began < LIMIT
    assert code == 4
    assert host.current() == "v1.0.0" and follow.version == "v1.0.0"


def test_a_bad_dvc_timeout_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from gitmodel.errors import UsageError

    for bad in ("0", "-3", "soon", "inf"):
        monkeypatch.setenv(dvc.TIMEOUT_ENV, bad)
        with pytest.raises(UsageError, match="GITMODEL_DVC_TIMEOUT"):
            dvc._transfer_timeout()
