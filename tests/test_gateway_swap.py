"""Blue/green swaps through POST /-/gitmodel/reload: a new version takes traffic only once it
started, confirmed and passed the check; a refused one never does, and no request fails."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request
from plugin.gateway import FakeBackend, GatewayThread, Plan, Prober, host_versions, request
from plugin.server import swap_current, wait_for

from gitmodel import hostlayout
from gitmodel.backends.base import Instance
from gitmodel.checkrun import CheckResult, Outcome
from gitmodel.gateway.control import is_loopback, refusal
from gitmodel.hostlayout import CanarySplit


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return host_versions(tmp_path / "root", "v1.0.0", "v1.1.0", "v1.2.0")


def probe(gw: GatewayThread) -> Prober:
    return Prober(lambda: gw.complete("prober"), interval=0.01)


def test_a_swap_starts_beside_switches_then_stops_the_old(
    root: Path, start_gateway: Callable[..., GatewayThread]
) -> None:
    backend = FakeBackend()
    gw = start_gateway(root, backend)
    prober = probe(gw)
    wait_for(lambda: len(prober.outcomes) > 5)
    swap_current(root, "support", "v1.1.0")
    reply = gw.reload()
    wait_for(lambda: ("stop", "v1.0.0", 0) in backend.events)
    wait_for(lambda: prober.outcomes[-1][1] == "v1.1.0")
    outcomes = prober.stop()
    body = reply.json()
    assert reply.status == 200
    manifest = hostlayout.read_manifest(hostlayout.version_dir(root, "support", "v1.1.0"))
    assert body == {
        "model": "support",
        "status": "reloaded",
        "version": "v1.1.0",
        "content_hash": manifest["dvc_md5"],
        "previous": "v1.0.0",
    }
    assert backend.events == [("start", "v1.0.0", 0), ("start", "v1.1.0", 1), ("stop", "v1.0.0", 0)]
    assert prober.failures() == []
    served = [version for _, version in outcomes]
    switch = served.index("v1.1.0")
    assert set(served[:switch]) == {"v1.0.0"} and set(served[switch:]) == {"v1.1.0"}  # one clean switch
    info = gw.info().json()
    assert (info["model"], info["version"], info["content_hash"], info["role"]) == (
        "support",
        "v1.1.0",
        manifest["dvc_md5"],
        "stable",
    )
    assert gw.reload().json()["status"] == "unchanged"


@pytest.mark.parametrize(
    ("plan", "check", "why"),
    [
        (
            Plan(refuse="llama-server exited 1 at once: missing tensor output.weight"),
            None,
            "did not start: llama",
        ),
        (
            Plan(unconfirmed="PID 4242 maps another file"),
            None,
            "is not confirmed: PID 4242 maps another file",
        ),
        (
            Plan(),
            "expected ' hello', got ' hullo'",
            "failed the functional check: 1 of 2 checks failed: check 2: expected",
        ),
    ],
    ids=["refused-start", "not-confirmed", "functional-check"],
)
def test_a_refused_version_never_takes_traffic_and_the_old_keeps_serving(
    root: Path, start_gateway: Callable[..., GatewayThread], plan: Plan, check: str | None, why: str
) -> None:
    backend = FakeBackend({"v1.1.0": plan})
    checked: list[str] = []

    def functional_check(instance: Instance) -> CheckResult:
        checked.append(instance.files.version)
        failing = check if instance.files.version == "v1.1.0" else None
        return CheckResult((Outcome(1, None, " ok"), Outcome(2, failing, " hullo")))

    gw = start_gateway(root, backend, check=functional_check)
    prober = probe(gw)
    wait_for(lambda: len(prober.outcomes) > 5)
    swap_current(root, "support", "v1.1.0")
    reply = gw.reload()
    time.sleep(0.1)
    prober.stop()
    assert reply.status == 409
    body = reply.json()
    assert body["status"] == "refused" and body["version"] == "v1.0.0" and body["previous"] == "v1.0.0"
    assert body["error"].startswith("support v1.1.0 ") and why in body["error"]
    assert body["error"].endswith("; it took no traffic")
    assert "\n" not in body["error"]
    if check:  # the report goes to the host, which journals it (host/confirm.py)
        assert body["check"] == {"passed": False, "failed": [{"prompt": 2, "why": check}], "total": 2}
    assert prober.failures() == [] and {v for _, v in prober.outcomes} == {"v1.0.0"}
    assert backend.running() == ["v1.0.0"]
    assert gw.info().json()["version"] == "v1.0.0"
    # The host swaps `current` back and reloads: nothing to do, the old one never stopped.
    swap_current(root, "support", "v1.0.0")
    assert gw.reload().json()["status"] == "unchanged"
    assert "v1.0.0" in checked  # the check ran at the first start too


def test_requests_in_flight_finish_on_the_old_version(
    root: Path, start_gateway: Callable[..., GatewayThread]
) -> None:
    backend = FakeBackend({"v1.0.0": Plan(delay=0.8)})
    gw = start_gateway(root, backend)
    slow: list[Any] = []
    thread = threading.Thread(target=lambda: slow.append(gw.complete("slow")))
    thread.start()
    wait_for(lambda: backend.server("v1.0.0").seen)
    metrics = request("GET", gw.url + "/metrics").body.decode()
    assert 'gitmodel_inflight_requests{model="support",version="v1.0.0"} 1.0' in metrics
    swap_current(root, "support", "v1.1.0")
    assert gw.reload().status == 200
    assert ("stop", "v1.0.0", 0) not in backend.events  # still draining
    thread.join(10)
    assert slow[0].status == 200 and slow[0].headers["X-Gitmodel-Version"] == "v1.0.0"
    wait_for(lambda: ("stop", "v1.0.0", 0) in backend.events)


def test_a_rollback_right_after_a_swap_reuses_the_freed_slot(
    root: Path, start_gateway: Callable[..., GatewayThread]
) -> None:
    backend = FakeBackend()
    gw = start_gateway(root, backend)
    for version in ("v1.1.0", "v1.0.0", "v1.2.0"):
        swap_current(root, "support", version)
        assert gw.reload().json()["version"] == version
        assert gw.complete("k").headers["X-Gitmodel-Version"] == version
    wait_for(lambda: backend.running() == ["v1.2.0"])
    assert [e for e in backend.events if e[0] == "start"] == [
        ("start", "v1.0.0", 0),
        ("start", "v1.1.0", 1),
        ("start", "v1.0.0", 0),
        ("start", "v1.2.0", 1),
    ]


def test_canary_on_promote_and_off(root: Path, start_gateway: Callable[..., GatewayThread]) -> None:
    backend = FakeBackend()
    gw = start_gateway(root, backend)
    path = hostlayout.canary_path(root, "support")
    path.write_text(hostlayout.canary_text(CanarySplit("v1.1.0", 100.0, "salt", "production", "v1.0.0")))
    reply = gw.reload().json()
    assert reply["status"] == "unchanged"
    assert reply["canary"] == {"status": "reloaded", "version": "v1.1.0", "percent": 100.0}
    canary = gw.info().json()["canary"]
    assert (canary["version"], canary["percent"], canary["salt"]) == ("v1.1.0", 100.0, "salt")
    assert gw.complete("k").headers["X-Gitmodel-Role"] == "canary"
    path.write_text(hostlayout.canary_text(CanarySplit("v1.1.0", 0.0, "salt")))
    assert gw.reload().json()["canary"]["status"] == "reweighted"
    assert gw.complete("k").headers["X-Gitmodel-Version"] == "v1.0.0"
    # Promote: `current` moves to the canary's version and canary.json goes: no new start.
    swap_current(root, "support", "v1.1.0")
    path.unlink()
    reply = gw.reload().json()
    assert reply["status"] == "promoted" and reply["version"] == "v1.1.0"
    assert gw.info().json()["canary"] is None
    wait_for(lambda: backend.running() == ["v1.1.0"])
    assert [e for e in backend.events if e[0] == "start"] == [("start", "v1.0.0", 0), ("start", "v1.1.0", 1)]


def test_a_refused_canary_leaves_stable_serving_everyone(
    root: Path, start_gateway: Callable[..., GatewayThread]
) -> None:
    backend = FakeBackend({"v1.1.0": Plan(refuse="exited at once")})
    gw = start_gateway(root, backend)
    path = hostlayout.canary_path(root, "support")
    path.write_text(hostlayout.canary_text(CanarySplit("v1.1.0", 50.0, "salt")))
    reply = gw.reload()
    assert reply.status == 409
    body = reply.json()
    assert body["canary"]["status"] == "refused" and "exited at once" in body["canary"]["error"]
    assert body["error"].startswith("canary: support v1.1.0 did not start")
    assert {gw.complete(f"k{i}").headers["X-Gitmodel-Version"] for i in range(20)} == {"v1.0.0"}
    assert gw.info().json()["canary"] is None


def test_a_stable_swap_while_a_canary_runs_keeps_both_roles(
    root: Path, start_gateway: Callable[..., GatewayThread]
) -> None:
    backend = FakeBackend()
    gw = start_gateway(root, backend)
    path = hostlayout.canary_path(root, "support")
    path.write_text(hostlayout.canary_text(CanarySplit("v1.2.0", 50.0, "salt")))
    gw.reload()
    swap_current(root, "support", "v1.1.0")
    reply = gw.reload().json()
    assert reply["status"] == "reloaded" and reply["canary"]["version"] == "v1.2.0"
    wait_for(lambda: backend.running() == ["v1.1.0", "v1.2.0"])
    assert gw.info().json()["roles"] == {"stable": "v1.1.0", "canary": "v1.2.0"}


def test_a_broken_manifest_is_refused_in_one_line(
    root: Path, start_gateway: Callable[..., GatewayThread]
) -> None:
    gw = start_gateway(root, FakeBackend())
    hostlayout.manifest_path(hostlayout.version_dir(root, "support", "v1.1.0")).write_text("{")
    swap_current(root, "support", "v1.1.0")
    reply = gw.reload()
    assert reply.status == 409
    assert "gitmodel-version.json: not valid JSON" in reply.json()["error"]
    assert gw.complete("k").headers["X-Gitmodel-Version"] == "v1.0.0"


def test_control_needs_the_token_when_one_is_set(
    root: Path, start_gateway: Callable[..., GatewayThread]
) -> None:
    gw = start_gateway(root, FakeBackend(), token="s3cret-token")
    url = f"{gw.url}/-/gitmodel/reload?model=support"
    missing = request("POST", url)
    assert missing.status == 401 and "needs the gateway's token" in missing.json()["error"]
    assert request("POST", url, headers={"Authorization": "Bearer wrong"}).status == 401
    assert request("GET", f"{gw.url}/-/gitmodel/info?model=support").status == 401
    assert request("POST", url, headers={"Authorization": "Bearer s3cret-token"}).status == 200
    basic = base64.b64encode(b"gitmodel:s3cret-token").decode()
    assert (
        request("GET", f"{gw.url}/-/gitmodel/info", headers={"Authorization": f"Basic {basic}"}).status == 200
    )
    assert gw.complete("k").status == 200  # inference takes no token


def test_control_is_loopback_only_without_a_token() -> None:
    def peer(address: str) -> Any:
        class Transport:
            def get_extra_info(self, name: str, default: Any = None) -> Any:
                return (address, 50000) if name == "peername" else default

        return make_mocked_request("POST", "/-/gitmodel/reload", transport=Transport())

    assert refusal(peer("127.0.0.1"), None) is None
    assert refusal(peer("::1"), None) is None
    outside = refusal(peer("10.0.0.7"), None)
    assert outside is not None and outside.status == 403
    assert "loopback only" in json.loads(outside.body)["error"]  # type: ignore[arg-type]
    assert is_loopback("::ffff:127.0.0.1") and not is_loopback("::ffff:10.0.0.1") and not is_loopback(None)


@pytest.mark.parametrize(
    ("query", "status", "words"),
    [
        ("?model=Bad..Name", 400, "invalid model name 'Bad..Name'"),
        ("?model=other", 404, "no model other here"),
    ],
)
def test_control_names_a_bad_model_in_one_line(
    root: Path, start_gateway: Callable[..., GatewayThread], query: str, status: int, words: str
) -> None:
    gw = start_gateway(root, FakeBackend())
    reply = request("POST", f"{gw.url}/-/gitmodel/reload{query}")
    assert reply.status == status
    assert words in reply.json()["error"]


def test_the_watchdog_starts_a_dead_instance_again(
    root: Path, start_gateway: Callable[..., GatewayThread]
) -> None:
    backend = FakeBackend()
    gw = start_gateway(root, backend, watch=0.1)
    backend.server("v1.0.0").stop()  # llama-server crashed
    wait_for(lambda: ("start", "v1.0.0", 1) in backend.events)
    reply = gw.complete("k")
    assert reply.status == 200 and reply.headers["X-Gitmodel-Version"] == "v1.0.0"
    assert gw.info().json()["slot"] == 1
    wait_for(lambda: ("stop", "v1.0.0", 0) in backend.events)  # the dead one's slot is cleaned up
