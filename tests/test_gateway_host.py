"""Host deploys through the gateway: `gitmodel deploy`/`rollback`/canary with the host's reload
and info URLs pointing at /-/gitmodel/, a real registry and root, a prober counting failures."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from plugin.gateway import FakeBackend, GatewayThread, Plan, Prober
from plugin.host import Host, md5_of
from plugin.server import wait_for

from gitmodel import hostlayout

pytestmark = pytest.mark.slow


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend(
        {"v2.0.0": Plan(refuse="llama-server exited 1 at once: missing tensor 'output.weight'")}
    )


@pytest.fixture
def gateway(host: Host, backend: FakeBackend) -> Iterator[GatewayThread]:
    host.root.mkdir()
    gw = GatewayThread(host.root, backend)
    yield gw
    gw.stop()


def flags(gw: GatewayThread) -> list[str]:
    control = f"{gw.url}/-/gitmodel/"
    return ["--reload-url", f"{control}reload?model=support", "--info-url", f"{control}info?model=support"]


def deploy(host: Host, gw: GatewayThread) -> dict[str, Any]:
    out = host.ok("deploy", "production", "support", "--root", str(host.root), "--json", *flags(gw)).stdout
    return json.loads(out)["deployed"][0]  # type: ignore[no-any-return]


def test_deploy_refusal_rollback_and_canary_through_the_gateway(
    host: Host, gateway: GatewayThread, backend: FakeBackend
) -> None:
    host.promote("v1.0.0")
    done = deploy(host, gateway)
    assert done["version"] == "v1.0.0" and "reports v1.0.0" in done["verified"]
    prober = Prober(lambda: gateway.complete("prober"), interval=0.02)
    host.promote("v1.1.0")
    assert deploy(host, gateway)["version"] == "v1.1.0"
    info = gateway.info().json()
    assert (info["version"], info["content_hash"]) == ("v1.1.0", md5_of(host, "v1.1.0"))

    host.promote("v2.0.0")
    refused = host.fails(1, "deploy", "production", "support", "--root", str(host.root), *flags(gateway))
    assert "support v2.0.0 not confirmed: reload URL" in refused.stderr
    assert "HTTP 409: support v2.0.0 did not start: llama-server exited 1 at once" in refused.stderr
    assert "reverted `current` to v1.1.0 and reloaded" in refused.stderr
    assert host.current() == "v1.1.0" and gateway.info().json()["version"] == "v1.1.0"

    host.ok("rollback", "production", "support", "--to", "v1.0.0", "--reason", "drill", "--push")
    assert deploy(host, gateway)["version"] == "v1.0.0"
    wait_for(lambda: prober.outcomes[-1][1] == "v1.0.0")
    outcomes = prober.stop()
    assert prober.failures() == []
    served = [v for _, v in outcomes]
    assert "v1.1.0" in served and "v2.0.0" not in served
    assert [e[1] for e in backend.events if e[0] != "stop"] == ["v1.0.0", "v1.1.0", "v2.0.0", "v1.0.0"]

    host.ok("promote", "support", "v1.1.0", "staging", "--push", cwd=host.dev)
    host.ok("canary", "start", "support", "v1.1.0", "production", "--percent", "40", "--push", cwd=host.dev)
    done = deploy(host, gateway)
    assert done["canary"]["version"] == "v1.1.0"
    assert f"{flags(gateway)[3]} reports canary v1.1.0 at 40%" in done["canary"]["verified"]
    split = hostlayout.read_canary(host.root, "support")
    assert split is not None
    canary = gateway.info().json()["canary"]
    assert (canary["version"], canary["percent"], canary["salt"]) == ("v1.1.0", 40.0, split.salt)
    roles = {gateway.complete(f"user-{i}").headers["X-Gitmodel-Role"] for i in range(40)}
    assert roles == {"stable", "canary"}
    status = host.ok(
        "status", "production", "support", "--root", str(host.root), "--json", "--info-url", flags(gateway)[3]
    ).stdout
    assert json.loads(status)["models"][0]["in_sync"]
