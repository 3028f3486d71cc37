"""The gateway's OpenAI-compatible endpoints over real HTTP on 127.0.0.1: routing, fallback,
streams, metrics in the names `monitor` reads, and the decision log."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from plugin.gateway import FakeBackend, GatewayThread, Plan, host_versions, request
from plugin.server import make_version, swap_current

from gitmodel import hostlayout
from gitmodel.gateway.decisions import key_hash, request_id
from gitmodel.gateway.proxy import UsageScan
from gitmodel.hostlayout import CanarySplit
from gitmodel.rollout import routing
from gitmodel.rollout.metrics_source import parse_exposition


def set_canary(root: Path, version: str, percent: float, model: str = "support", salt: str = "s1") -> None:
    path = hostlayout.canary_path(root, model)
    path.write_text(hostlayout.canary_text(CanarySplit(version, percent, salt)))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return host_versions(tmp_path / "root", "v1.0.0", "v1.1.0")


def counts(gw: GatewayThread, model: str = "support") -> dict[str, Any]:
    text = request("GET", gw.url + "/metrics").body.decode()
    return parse_exposition(text, model)


def test_stable_answers_with_its_version_in_headers_and_models(
    root: Path, start_gateway: Callable[..., GatewayThread]
) -> None:
    gw = start_gateway(root, FakeBackend())
    reply = gw.complete("user-1")
    assert reply.status == 200
    assert reply.json()["version"] == "v1.0.0"
    assert reply.headers["X-Gitmodel-Version"] == "v1.0.0"
    assert reply.headers["X-Gitmodel-Role"] == "stable"
    assert reply.headers["X-Request-Id"]
    listed = request("GET", gw.url + "/v1/models").json()
    assert [(m["id"], m["version"], m["canary"]) for m in listed["data"]] == [("support", "v1.0.0", None)]
    assert request("GET", gw.url + "/health").json()["models"] == {
        "support": {"stable": "v1.0.0", "canary": None}
    }


def test_keys_split_as_the_routing_library_says_and_stick(
    root: Path, start_gateway: Callable[..., GatewayThread]
) -> None:
    set_canary(root, "v1.1.0", 30.0)
    gw = start_gateway(root, FakeBackend())
    keys = [f"user-{i}" for i in range(120)]
    got = {key: gw.complete(key).headers["X-Gitmodel-Version"] for key in keys}
    want = {key: "v1.1.0" if routing.route(key, 30.0, "s1") == "canary" else "v1.0.0" for key in keys}
    assert got == want
    assert 15 < sum(v == "v1.1.0" for v in got.values()) < 60
    again = gw.complete("user-7")
    assert again.headers["X-Gitmodel-Version"] == got["user-7"]
    assert again.headers["X-Gitmodel-Role"] == ("canary" if got["user-7"] == "v1.1.0" else "stable")
    # No key: a random one per request, so anonymous traffic reaches both versions.
    anonymous = {gw.complete().headers["X-Gitmodel-Version"] for _ in range(60)}
    assert anonymous == {"v1.0.0", "v1.1.0"}


def test_a_canary_5xx_is_retried_on_stable_and_counted_against_the_canary(
    root: Path, start_gateway: Callable[..., GatewayThread], tmp_path: Path
) -> None:
    set_canary(root, "v1.1.0", 100.0)
    log = tmp_path / "decisions.jsonl"
    gw = start_gateway(root, FakeBackend({"v1.1.0": Plan(status=503)}), decision_log=log)
    replies = [gw.complete(f"k{i}") for i in range(10)]
    assert {r.status for r in replies} == {200}
    assert {r.headers["X-Gitmodel-Version"] for r in replies} == {"v1.0.0"}
    assert {r.headers["X-Gitmodel-Fallback-From"] for r in replies} == {"v1.1.0"}
    seen = counts(gw)
    assert (seen["v1.1.0"].requests, seen["v1.1.0"].errors) == (10, 10)  # what monitor judges
    assert (seen["v1.0.0"].requests, seen["v1.0.0"].errors) == (10, 0)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(lines) == 10
    first = lines[0]
    assert first["version"] == "v1.0.0" and first["role"] == "stable" and first["fallback_from"] == "v1.1.0"
    assert first["status"] == 200 and first["key"] == key_hash("k0") and first["model"] == "support"
    assert first["id"] == replies[0].headers["X-Request-Id"] and first["ms"] > 0
    assert "k0" not in log.read_text()  # keys are hashed, never written


def test_a_canary_that_does_not_answer_falls_back_too(
    root: Path, start_gateway: Callable[..., GatewayThread]
) -> None:
    set_canary(root, "v1.1.0", 100.0)
    backend = FakeBackend()
    gw = start_gateway(root, backend)
    assert gw.complete("k").headers["X-Gitmodel-Version"] == "v1.1.0"
    backend.server("v1.1.0").stop()  # dies behind the gateway's back: connection refused
    replies = [gw.complete(f"k{i}") for i in range(5)]
    assert [r.status for r in replies] == [200] * 5
    assert {r.headers["X-Gitmodel-Version"] for r in replies} == {"v1.0.0"}
    assert counts(gw)["v1.1.0"].errors == 5


def test_a_stable_failure_is_the_clients_answer(
    root: Path, start_gateway: Callable[..., GatewayThread]
) -> None:
    backend = FakeBackend({"v1.0.0": Plan(status=500)})
    gw = start_gateway(root, backend)
    reply = gw.complete("k")
    assert reply.status == 500 and reply.headers["X-Gitmodel-Role"] == "stable"
    backend.server("v1.0.0").stop()
    reply = gw.complete("k")
    assert reply.status == 502
    assert reply.json()["error"] == "support v1.0.0 did not answer"
    assert counts(gw)["v1.0.0"].errors == 2


def test_streams_pass_through_chunk_by_chunk_and_their_usage_counts(
    root: Path, start_gateway: Callable[..., GatewayThread]
) -> None:
    gate = threading.Event()
    gw = start_gateway(root, FakeBackend({"v1.0.0": Plan(gate=gate)}))
    url = urlsplit(gw.url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    conn.request("POST", "/v1/chat/completions", json.dumps({"messages": [], "stream": True}))
    answer = conn.getresponse()
    assert answer.status == 200
    assert answer.getheader("Content-Type", "").startswith("text/event-stream")
    assert answer.getheader("X-Gitmodel-Version") == "v1.0.0"
    first = answer.read1(65536)  # arrives while the backend still holds the rest at its gate
    assert b"v1.0.0 first" in first and not gate.is_set()
    gate.set()
    rest = answer.read()
    conn.close()
    assert b" last" in rest and rest.endswith(b"data: [DONE]\n\n")
    tokens = counts(gw)["v1.0.0"].tokens
    assert tokens == 9  # prompt 2 + completion 7, from the last event's usage


def test_the_body_model_picks_the_model_and_is_rewritten_for_the_backend(
    tmp_path: Path, start_gateway: Callable[..., GatewayThread]
) -> None:
    root = host_versions(tmp_path / "root", "v1.0.0", "v1.1.0")
    host_versions(root, "v1.0.0", "v1.1.0", model="acme/support")
    backend = FakeBackend({"v1.1.0": Plan(upstream_model="support-adapter")})
    swap_current(root, "acme/support", "v1.1.0")
    gw = start_gateway(root, backend)
    reply = gw.complete("k", model="acme/support")
    assert reply.status == 200 and reply.headers["X-Gitmodel-Version"] == "v1.1.0"
    assert backend.server("v1.1.0", "acme:support").seen[-1]["body"]["model"] == "support-adapter"
    assert reply.json()["model"] == "support-adapter"
    reply = gw.complete("k", model="support")
    assert reply.headers["X-Gitmodel-Version"] == "v1.0.0"
    assert backend.server("v1.0.0").seen[-1]["body"]["model"] == "support"  # no upstream name: as sent
    unknown = gw.complete("k", model="gpt-4")
    assert unknown.status == 404 and "acme:support, support" in unknown.json()["error"]
    assert counts(gw, "acme:support")["v1.1.0"].requests == 1


@pytest.mark.parametrize(
    ("body", "why"),
    [(b"{not json", "the body is not JSON"), (b"[1, 2]", "the body must be a JSON object")],
)
def test_a_malformed_body_is_a_400_that_reaches_no_backend(
    root: Path, start_gateway: Callable[..., GatewayThread], body: bytes, why: str
) -> None:
    backend = FakeBackend()
    gw = start_gateway(root, backend)
    conn = http.client.HTTPConnection("127.0.0.1", urlsplit(gw.url).port, timeout=10)
    conn.request("POST", "/v1/completions", body)
    answer = conn.getresponse()
    assert answer.status == 400 and json.loads(answer.read())["error"].startswith(why)
    assert backend.server("v1.0.0").seen == []


def test_nothing_deployed_is_a_503_naming_the_fix(
    tmp_path: Path, start_gateway: Callable[..., GatewayThread]
) -> None:
    root = tmp_path / "root"
    make_version(root, "support", "v1.0.0", artifact="model.bin", data=b"x")  # no `current` yet
    gw = start_gateway(root, FakeBackend())
    reply = gw.complete("k")
    assert reply.status == 503 and "gitmodel deploy" in reply.json()["error"]
    assert request("GET", gw.url + "/health").status == 503


@pytest.mark.parametrize("cut", [1, 7, 20, 40, 61])
def test_usage_is_found_in_a_stream_cut_anywhere(cut: int) -> None:
    stream = b'data: {"choices": []}\n\ndata: {"usage": {"prompt_tokens": 4, "completion_tokens": 9}}\n\n'
    scan = UsageScan()
    for start in range(0, len(stream), cut):
        scan.feed(stream[start : start + cut])
    assert scan.usage == {"prompt_tokens": 4, "completion_tokens": 9}


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("req-42.a:b_c", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("a b", False),
        ("ä", False),
        (None, False),
    ],
)
def test_a_client_request_id_is_kept_only_when_it_is_a_plain_token(given: str | None, kept: bool) -> None:
    rid = request_id(given)
    assert (rid == given) is kept and len(rid) <= 128
